//! The scenario file format: every type a scenario file is made of, with serde's shape rules
//! (unknown fields are errors everywhere the harness defines the shape).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diagnostic::Diagnostic;
use super::yaml::Positions;

/// The `apiVersion` every scenario file declares.
pub const API_VERSION: &str = "conformance.harness/v1alpha1";
/// The `kind` every scenario file declares.
pub const KIND: &str = "Scenario";

/// A scenario file as written (unknown fields are errors everywhere we define the shape).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioFile {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// Name, description and the seed lessons the scenario turns into checks.
    pub metadata: ScenarioMeta,
    /// What to set up and what to check.
    pub spec: ScenarioSpec,
}

/// Who the scenario is and why it exists.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioMeta {
    /// RFC 1123 label; also names the run's objects and tests.
    pub name: String,
    /// What the scenario shows, for reports.
    #[serde(default)]
    pub description: String,
    /// The sections of `lessons-learned.md` this scenario turns into checks.
    #[serde(default)]
    pub seed: Vec<String>,
}

/// Where a scenario may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// The embedded simulated platform.
    Sim,
    /// A kind cluster the harness provisions.
    Kind,
    /// An existing cluster by kubeconfig context.
    Existing,
}

impl TargetKind {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Sim => "sim",
            TargetKind::Kind => "kind",
            TargetKind::Existing => "existing",
        }
    }
}

/// What to set up and what to check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Targets the scenario can run on; empty means all.
    #[serde(default)]
    pub targets: Vec<TargetKind>,
    /// The Seldon Core v2 install the scenario expects.
    pub seldon: SeldonInstall,
    /// Images to preload into kind (`kind load docker-image`).
    #[serde(default)]
    pub images: Vec<String>,
    /// Model artifacts the model store must hold, by storage URI.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// Namespaces that are not teams, e.g. the one labelled `name: seldon-system`.
    #[serde(default)]
    pub namespaces: Vec<NamespaceSpec>,
    /// The teams, one namespace each.
    pub teams: Vec<Team>,
    /// The expected outcomes, each a named test.
    pub checks: Vec<Check>,
}

/// The Seldon Core v2 install: the settings the Helm installer uses (one definition for both).
pub use super::seldon::InstallSettings as SeldonInstall;

/// A model artifact folder published to the model store under a storage URI.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Artifact {
    /// The URI models use in `spec.storageUri`, e.g. `s3://models/credit-risk`.
    pub storage_uri: String,
    /// The folder, relative to the scenario file.
    pub path: PathBuf,
}

/// A namespace that is not a team's.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSpec {
    /// Namespace name.
    pub name: String,
    /// Labels, e.g. `name: seldon-system` for the seed's NetworkPolicy to select.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One team: its namespace and everything in it. Objects are Kubernetes/Seldon objects as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Team {
    /// The team's namespace.
    pub namespace: String,
    /// Namespace labels; the harness adds `name: <namespace>` unless given.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `v1 ResourceQuota` objects.
    #[serde(default)]
    pub resource_quotas: Vec<Value>,
    /// `v1 LimitRange` objects.
    #[serde(default)]
    pub limit_ranges: Vec<Value>,
    /// `networking.k8s.io/v1 NetworkPolicy` objects.
    #[serde(default)]
    pub network_policies: Vec<Value>,
    /// ServiceAccount, Role and RoleBinding objects.
    #[serde(default)]
    pub rbac: Vec<Value>,
    /// Secret packages to apply in this namespace.
    #[serde(default)]
    pub secret_packages: Vec<SecretPackageRef>,
    /// The team's dedicated `SeldonRuntime`, if any.
    #[serde(default)]
    pub runtime: Option<Value>,
    /// `Server` objects (Seldon never creates them from the runtime).
    #[serde(default)]
    pub servers: Vec<Value>,
    /// `Model` objects.
    #[serde(default)]
    pub models: Vec<Value>,
    /// `Experiment` objects (applied after the models, deleted before them).
    #[serde(default)]
    pub experiments: Vec<Value>,
    /// `Pipeline` objects (they need Kafka: docs/seldon-behaviour.md §24).
    #[serde(default)]
    pub pipelines: Vec<Value>,
}

/// A secret package: a dated tar.gz of kustomize overlays, or the folder it is packed from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretPackageRef {
    /// A `.tar.gz` package, or a folder packed at run time; relative to the scenario file.
    pub path: PathBuf,
    /// The kustomize overlay to apply.
    #[serde(default = "default_overlay")]
    pub overlay: String,
    /// The Secrets the package provides (checked when it is applied).
    #[serde(default)]
    pub provides: Vec<String>,
    /// Seal the package's Secrets for its namespace with the cluster's sealed-secrets controller
    /// before applying, as an infrastructure team does with `harness secrets pack --seal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<SealScope>,
    /// Provided rclone Secrets that are wrong on purpose, each with the one part that stays wrong
    /// (scenarios/README.md, "Secrets broken on purpose"). A target with its own model store
    /// (embedded, kind) points them at that store and gives them its working values for every
    /// other part; an existing cluster applies them as packaged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub broken_on_purpose: BTreeMap<String, BrokenPart>,
}

/// The part of a storage Secret broken on purpose that keeps the package's (wrong) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BrokenPart {
    /// `parameters.access_key_id` and `parameters.secret_access_key`: keys the store does not
    /// know (upstream #5139).
    Keys,
    /// The remote's `name`, which is not the Models' storageUri scheme (upstream #4947).
    RemoteName,
}

impl BrokenPart {
    /// The name written in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokenPart::Keys => "keys",
            BrokenPart::RemoteName => "remoteName",
        }
    }
}

/// Where a sealed value may be unsealed (kubeseal's `--scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SealScope {
    /// Only under its name in its namespace (kubeseal's default).
    Strict,
    /// Under any name, in its namespace only.
    NamespaceWide,
    /// Anywhere in the cluster.
    ClusterWide,
}

fn default_overlay() -> String {
    "production".into()
}

/// One expected outcome: a named test with a timeout.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Check {
    /// RFC 1123 label, unique in the scenario; the test is named `<scenario>::<check>`.
    pub name: String,
    /// Why this check exists.
    #[serde(default)]
    pub description: String,
    /// How long the check may wait, e.g. `90s`; defaults per kind of check.
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// Tags for selecting checks (`harness run --tag T`) and in results, e.g. `isolation`, `smoke`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What must hold.
    pub expect: Expectation,
}

/// What a check asserts. Exactly one key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Expectation {
    /// The team's SeldonRuntime and its components become Ready.
    RuntimeReady(NamespaceRef),
    /// One component of the team's runtime crash-loops while the others become Ready (e.g. the
    /// Kafka components on a platform without Kafka); the runtime's condition names it.
    RuntimeNotReady(RuntimeNotReady),
    /// A Server becomes Ready, optionally with these capabilities.
    ServerReady(ServerReady),
    /// A Model reaches `ModelReady` True.
    ModelReady(ModelRef),
    /// A Model reaches `ModelReady` False with `ScheduleFailed` and a reason containing `reason`.
    ScheduleFailed(ScheduleFailed),
    /// The team's NetworkPolicies cut a flow serving needs, so a Model is not served: it stays in
    /// `state` with a reason containing `reason`, and `seldon-mesh` does not serve it.
    ModelNotServed(ModelNotServed),
    /// V2 inference answers with the expected outputs.
    Inference(Inference),
    /// V2 inference rejects a bad request (never a 200).
    InferenceRejected(InferenceRejected),
    /// The target enforces NetworkPolicy at all (deny-all canary in this namespace).
    NetworkPolicyEnforced(NamespaceRef),
    /// A connection between namespaces is allowed or denied.
    Connectivity(Connectivity),
    /// An RBAC access review answers allowed or denied.
    Access(Access),
    /// The quota rejects a workload's pods with this message (the known Seldon default behaviour).
    QuotaRejects(QuotaRejects),
    /// Every flow a Seldon runtime needs is allowed by the namespace's NetworkPolicies, except those listed.
    RequiredFlows(RequiredFlows),
    /// The Secrets a package provides exist in the namespace after it is applied.
    SecretsApplied(SecretsApplied),
    /// The team's SealedSecrets are unsealed by the controller into Secrets they own.
    SealedSecretsUnsealed(SecretsApplied),
    /// A team's SealedSecrets applied in another team's namespace are refused: no Secret appears.
    SealedSecretScope(SealedSecretScope),
    /// An Experiment splits traffic by its weights, each answer right for the model that served
    /// it, and an edit of the weights takes effect (`scenario::experiment`).
    Experiment(ExperimentCheck),
    /// A Model's download fails: `ModelReady` False, `ModelFailed`, the agent's reason; never Ready.
    ModelLoadFails(ScheduleFailed),
    /// Of Models competing for one Server's memory, exactly `fit` become Ready and the rest are
    /// `ScheduleFailed` with `reason`, whatever order the scheduler takes them in.
    ModelsFit(ModelsFit),
    /// A runtime in a namespace the controller does not watch (`watchNamespaces`) is never
    /// reconciled, while the runtime of a watched namespace is.
    RuntimeIgnored(RuntimeIgnored),
    /// A Pipeline is Ready (with its conditions) and answers its samples through `seldon-mesh` as
    /// `<name>.pipeline` (needs Kafka).
    Pipeline(PipelineCheck),
    /// A Pipeline reports not ready with a clear reason within the deadline (e.g. without Kafka).
    PipelineNotReady(PipelineNotReady),
    /// V2 traffic keeps being answered correctly, within a budget, while an action disrupts the
    /// platform; afterwards every object is as before (disruptive: see [`Expectation::disruptive`]).
    Continuity(Continuity),
}

/// Traffic through an Experiment (docs/seldon-behaviour.md §19): `requests` requests over
/// `protocol` before and after its candidates' weights are edited to `reweight`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExperimentCheck {
    /// The Experiment's namespace (requests go through its `seldon-mesh`).
    pub namespace: String,
    /// The Experiment's name.
    pub experiment: String,
    /// REST or gRPC.
    pub protocol: Protocol,
    /// How requests name it: `experiment` (`seldon-model: <name>.experiment`, the default) or
    /// `default` (`seldon-model: <its default model>`, whose route the Experiment takes over).
    #[serde(default)]
    pub via: ExperimentVia,
    /// Requests per phase (before and after the edit).
    #[serde(default = "default_experiment_requests")]
    pub requests: u32,
    /// The samples file of every candidate (its inputs are sent, its outputs expected).
    pub samples: Vec<ModelSamples>,
    /// The candidates' weights after the edit, as in the Experiment: `[{name, weight}]`.
    pub reweight: Vec<CandidateWeight>,
}

fn default_experiment_requests() -> u32 {
    400
}

/// How an `experiment` check addresses the Experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentVia {
    /// `seldon-model: <experiment>.experiment`.
    #[default]
    Experiment,
    /// `seldon-model: <default model>`.
    Default,
}

/// A model and its samples file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelSamples {
    /// The Model's name.
    pub model: String,
    /// Its samples file, relative to the scenario file.
    pub file: PathBuf,
}

/// A candidate's weight, as in an Experiment's `spec.candidates`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CandidateWeight {
    /// The candidate Model.
    pub name: String,
    /// Its weight (share = weight / sum of weights).
    pub weight: u32,
}

/// Models sharing a Server's memory: how many of them fit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelsFit {
    /// The Models' namespace.
    pub namespace: String,
    /// The Models, by name.
    pub models: Vec<String>,
    /// How many of them must become Ready.
    pub fit: usize,
    /// A substring of the others' `ScheduleFailed` reason.
    pub reason: String,
}

/// A runtime the controller must ignore, and one it must reconcile meanwhile.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeIgnored {
    /// The namespace left out of `watchNamespaces`.
    pub namespace: String,
    /// A watched namespace whose runtime must be reconciled first (the controller is alive).
    pub watched: String,
}

/// A Pipeline that must be Ready and answer with the composed outputs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineCheck {
    /// The Pipeline's namespace (requests go through that namespace's `seldon-mesh`).
    pub namespace: String,
    /// The Pipeline's name (sent as `seldon-model: <name>.pipeline`).
    pub pipeline: String,
    /// REST or gRPC.
    pub protocol: Protocol,
    /// A samples file (requests with the pipeline's expected outputs), relative to the scenario file.
    pub samples: PathBuf,
}

/// A Pipeline that must report why it is not Ready.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineNotReady {
    /// The Pipeline's namespace.
    pub namespace: String,
    /// The Pipeline's name.
    pub pipeline: String,
    /// A substring of the message of `PipelineReady` (dataflow engine) or `PipelineGwReady`
    /// (pipeline gateway) while False, e.g. `no dataflow engines available to handle pipeline`.
    pub reason: String,
}

/// A namespace, for checks about a whole team.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceRef {
    /// The namespace.
    pub namespace: String,
}

/// A runtime component that must fail while the rest of the runtime comes up.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeNotReady {
    /// The team's namespace.
    pub namespace: String,
    /// The component that must fail, e.g. `seldon-dataflow-engine`.
    pub component: String,
}

/// A Server that must become Ready.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerReady {
    /// The Server's namespace.
    pub namespace: String,
    /// The Server's name.
    pub server: String,
    /// Capabilities the Server must report.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// A Model in a namespace.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelRef {
    /// The Model's namespace.
    pub namespace: String,
    /// The Model's name.
    pub model: String,
    /// `status.availableReplicas` the Ready Model must report (e.g. fewer than `replicas` when
    /// scheduled with `minReplicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i64>,
}

/// A Model that must fail to schedule, for a documented reason.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleFailed {
    /// The Model's namespace.
    pub namespace: String,
    /// The Model's name.
    pub model: String,
    /// A substring of the condition's reason, e.g. `no matching servers are available`.
    pub reason: String,
}

/// A Model the namespace's NetworkPolicies keep from being served.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelNotServed {
    /// The Model's namespace.
    pub namespace: String,
    /// The Model's name.
    pub model: String,
    /// The Seldon state the Model must stay in (`ModelReady` message), e.g. `ScheduleFailed`.
    pub state: String,
    /// A substring of the condition's reason, e.g. `no matching servers are available`.
    pub reason: String,
}

pub use super::continuity::*;
pub use super::protocol::Protocol;

/// An inference request and what must come back.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inference {
    /// The Model's namespace (requests go through that namespace's `seldon-mesh`).
    pub namespace: String,
    /// The Model's name (sent as the `seldon-model` header).
    pub model: String,
    /// REST or gRPC.
    pub protocol: Protocol,
    /// A samples file (requests with expected outputs), relative to the scenario file.
    #[serde(default)]
    pub samples: Option<PathBuf>,
    /// An inline V2 request (`{"inputs": [...]}`), instead of `samples`.
    #[serde(default)]
    pub request: Option<Value>,
    /// Expected outputs for the inline request (`[{"name", "datatype", "shape", "data"}]`).
    #[serde(default)]
    pub outputs: Option<Value>,
    /// Instead of exact outputs: the index of the largest value of an output (a class).
    #[serde(default)]
    pub argmax: Option<Argmax>,
    /// Relative tolerance for numeric comparison.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
}

fn default_tolerance() -> f64 {
    1e-6
}

/// The expected class of a classifier's output.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Argmax {
    /// Output tensor name.
    pub output: String,
    /// Expected index of the largest value.
    pub index: usize,
}

/// Bad requests that must be rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NegativeCase {
    /// A model name nobody serves: 404 / NOT_FOUND.
    UnknownModel,
    /// An input with the wrong shape: 4xx / INVALID_ARGUMENT.
    WrongShape,
    /// An input with the wrong datatype: 4xx / INVALID_ARGUMENT.
    WrongDatatype,
}

/// An inference request that must be rejected.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferenceRejected {
    /// The namespace whose `seldon-mesh` is asked.
    pub namespace: String,
    /// A served Model the bad request is derived from.
    pub model: String,
    /// REST or gRPC.
    pub protocol: Protocol,
    /// Which bad request.
    pub case: NegativeCase,
}

/// Whether something must be allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Must be allowed.
    Allowed,
    /// Must be denied.
    Denied,
}

/// A connection from a probe pod in one namespace to a Service in another.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connectivity {
    /// Namespace the probe pod runs in.
    pub from: String,
    /// Labels of the probe pod (to match policies that select pods).
    #[serde(default)]
    pub from_labels: BTreeMap<String, String>,
    /// The destination Service.
    pub to: ServiceTarget,
    /// Allowed or denied.
    pub expect: Outcome,
}

/// A Service port.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceTarget {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name, e.g. `seldon-mesh`.
    pub service: String,
    /// The Service port.
    pub port: u16,
}

/// An RBAC question.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Access {
    /// `<namespace>/<name>` of the ServiceAccount asking.
    pub service_account: String,
    /// The verb, e.g. `get`.
    pub verb: String,
    /// API group of the resource; empty for core.
    #[serde(default)]
    pub group: String,
    /// The resource, e.g. `secrets`.
    pub resource: String,
    /// The namespace asked about.
    pub namespace: String,
    /// Allowed or denied.
    pub expect: Outcome,
}

/// Pods of a workload rejected by a quota.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaRejects {
    /// The namespace.
    pub namespace: String,
    /// `<Kind>/<name>` of the workload, e.g. `StatefulSet/seldon-scheduler`.
    pub workload: String,
    /// A substring of the rejection event, e.g. `must specify limits.cpu`.
    pub message: String,
}

/// The runtime's required flows under the namespace's NetworkPolicies.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequiredFlows {
    /// The team namespace.
    pub namespace: String,
    /// Flows (by name, see `harness flows`) the scenario expects to be blocked.
    #[serde(default)]
    pub expect_blocked: Vec<String>,
}

/// Secrets that must exist after packages are applied.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsApplied {
    /// The namespace.
    pub namespace: String,
    /// Secret names.
    pub secrets: Vec<String>,
}

/// Another team's SealedSecrets applied in a namespace, which must not unseal them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealedSecretScope {
    /// The team the SealedSecrets were sealed for (strict or namespace-wide).
    pub from: String,
    /// The team namespace they are applied in, as a team would copy another's package.
    pub to: String,
    /// The SealedSecrets (by name) of `from` to copy.
    pub secrets: Vec<String>,
}

impl Expectation {
    /// The camelCase key naming this kind of check in files and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Expectation::RuntimeReady(_) => "runtimeReady",
            Expectation::RuntimeNotReady(_) => "runtimeNotReady",
            Expectation::ServerReady(_) => "serverReady",
            Expectation::ModelReady(_) => "modelReady",
            Expectation::ScheduleFailed(_) => "scheduleFailed",
            Expectation::ModelNotServed(_) => "modelNotServed",
            Expectation::Inference(_) => "inference",
            Expectation::InferenceRejected(_) => "inferenceRejected",
            Expectation::NetworkPolicyEnforced(_) => "networkPolicyEnforced",
            Expectation::Connectivity(_) => "connectivity",
            Expectation::Access(_) => "access",
            Expectation::QuotaRejects(_) => "quotaRejects",
            Expectation::RequiredFlows(_) => "requiredFlows",
            Expectation::SecretsApplied(_) => "secretsApplied",
            Expectation::SealedSecretsUnsealed(_) => "sealedSecretsUnsealed",
            Expectation::SealedSecretScope(_) => "sealedSecretScope",
            Expectation::Experiment(_) => "experiment",
            Expectation::ModelLoadFails(_) => "modelLoadFails",
            Expectation::ModelsFit(_) => "modelsFit",
            Expectation::RuntimeIgnored(_) => "runtimeIgnored",
            Expectation::Pipeline(_) => "pipeline",
            Expectation::PipelineNotReady(_) => "pipelineNotReady",
            Expectation::Continuity(_) => "continuity",
        }
    }

    /// Whether the check disrupts serving (restarts, rollouts, upgrades): `--mode non-disruptive`
    /// skips it. Creating objects of its own (probe pods, canary namespaces, quota test pods)
    /// disrupts no one's serving, so no existing kind is disruptive.
    pub fn disruptive(&self) -> bool {
        match self {
            Expectation::RuntimeReady(_)
            | Expectation::RuntimeNotReady(_)
            | Expectation::ServerReady(_)
            | Expectation::ModelReady(_)
            | Expectation::ScheduleFailed(_)
            | Expectation::ModelNotServed(_)
            | Expectation::Inference(_)
            | Expectation::InferenceRejected(_)
            | Expectation::NetworkPolicyEnforced(_)
            | Expectation::Connectivity(_)
            | Expectation::Access(_)
            | Expectation::QuotaRejects(_)
            | Expectation::RequiredFlows(_)
            | Expectation::SecretsApplied(_)
            | Expectation::SealedSecretsUnsealed(_)
            | Expectation::SealedSecretScope(_)
            // Edits only the weights of the scenario's own Experiment.
            | Expectation::Experiment(_) => false,
            // Observe or break only the scenario's own objects.
            Expectation::ModelLoadFails(_)
            | Expectation::ModelsFit(_)
            | Expectation::RuntimeIgnored(_)
            | Expectation::Pipeline(_)
            | Expectation::PipelineNotReady(_) => false,
            // Restarts, rollouts, scaling and upgrades under traffic.
            Expectation::Continuity(_) => true,
        }
    }

    /// Whether the check needs `harness run --upgrade-to` (a `helmUpgrade` action): without it
    /// the check cannot run, and the test suites leave it out.
    pub fn needs_upgrade(&self) -> bool {
        matches!(self, Expectation::Continuity(c) if matches!(c.action, Action::HelmUpgrade(_)))
    }

    /// Time a check spends beyond its waits (a continuity check's traffic window), added to its
    /// timeout so a timeout cap never cuts the traffic short.
    pub fn traffic_time(&self) -> Duration {
        match self {
            Expectation::Continuity(c) => c.traffic.window(),
            _ => Duration::ZERO,
        }
    }

    /// How long the check waits unless the scenario says otherwise.
    pub fn default_timeout(&self) -> Duration {
        match self {
            Expectation::RuntimeReady(_) | Expectation::ServerReady(_) => Duration::from_secs(300),
            Expectation::ModelReady(_)
            | Expectation::ScheduleFailed(_)
            | Expectation::ModelNotServed(_)
            | Expectation::ModelLoadFails(_)
            | Expectation::ModelsFit(_)
            | Expectation::Pipeline(_) => Duration::from_secs(180),
            Expectation::RuntimeIgnored(_) => Duration::from_secs(300),
            Expectation::Connectivity(_) | Expectation::NetworkPolicyEnforced(_) => {
                Duration::from_secs(120)
            }
            _ => Duration::from_secs(60),
        }
    }
}

mod duration_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like `90s` or `5m`: {e}"
            ))
        })
    }
}

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it was read from.
    pub file: PathBuf,
    /// Its contents.
    pub doc: ScenarioFile,
    /// Where each node is in the file, for messages about it.
    pub positions: Positions,
    /// Non-fatal findings (e.g. a NetworkPolicy that blocks a required flow).
    pub warnings: Vec<Diagnostic>,
}
