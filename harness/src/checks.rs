//! Running one check of a scenario against a target that is already set up, and its verdict.
//!
//! Checks are target-agnostic: they see the cluster only through a `kube::Client` and reach a
//! namespace's `seldon-mesh` only through [`MeshAccess`], which each target implements.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use tokio::time::Instant;

use crate::apply::{Applier, RunLabels};
use crate::inference::{self, InferenceClient, InferenceRequest, Sample, SampleSet, Tolerance};
use crate::scenario::{
    Check, Expectation, Inference, InferenceRejected, Protocol, Scenario, SecretsApplied,
};
use crate::wait::{self, Target};

/// How to reach a namespace's `seldon-mesh` (REST and gRPC share one port, as Seldon's envoy does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshEndpoint {
    /// Base URL for V2 REST, e.g. `http://127.0.0.1:41234`.
    pub rest_base: String,
    /// `host:port` for V2 gRPC (plaintext h2c).
    pub grpc_addr: String,
}

/// A boxed future, so targets can implement [`MeshAccess`] without async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Gives checks a way to reach `seldon-mesh` in a namespace; implemented by each target.
pub trait MeshAccess: Send + Sync {
    /// The endpoint of the namespace's `seldon-mesh`, opening a port-forward if the target needs one.
    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>>;
}

/// What a check needs to run.
pub struct CheckContext<'a> {
    /// Client for the target's API server.
    pub client: kube::Client,
    /// The scenario the check belongs to (already set up on the target).
    pub scenario: &'a Scenario,
    /// Access to the namespaces' inference endpoints.
    pub mesh: &'a dyn MeshAccess,
    /// The run's id (labels every object the run creates, probes included).
    pub run_id: &'a str,
}

impl CheckContext<'_> {
    /// The apply path for objects a check creates (probes, canaries), labelled with this run.
    pub fn applier(&self) -> Applier {
        Applier::new(
            self.client.clone(),
            RunLabels::new(self.scenario.name(), self.run_id),
        )
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The platform does what the check expects; `detail` says what was observed.
    Pass {
        /// What was observed.
        detail: String,
    },
    /// The platform does not; `reason` names the cause (object, condition, event, numbers).
    Fail {
        /// Why, in words a platform engineer can act on.
        reason: String,
    },
    /// The check cannot give a verdict on this target (e.g. NetworkPolicy not enforced at all).
    Skip {
        /// Why not.
        reason: String,
    },
}

impl Verdict {
    /// Whether the verdict counts as success.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass { .. })
    }
}

impl Verdict {
    /// A pass with what was observed.
    pub fn pass(detail: impl Into<String>) -> Verdict {
        Verdict::Pass {
            detail: detail.into(),
        }
    }

    /// A failure naming the cause.
    pub fn fail(reason: impl Into<String>) -> Verdict {
        Verdict::Fail {
            reason: reason.into(),
        }
    }

    /// No verdict possible on this target, and why.
    pub fn skip(reason: impl Into<String>) -> Verdict {
        Verdict::Skip {
            reason: reason.into(),
        }
    }

    /// The text of the verdict (detail, reason).
    pub fn message(&self) -> &str {
        match self {
            Verdict::Pass { detail } => detail,
            Verdict::Fail { reason } | Verdict::Skip { reason } => reason,
        }
    }
}

/// One deadline shared by every wait of a check, so a check never takes longer than its timeout.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
            total: timeout,
        }
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The whole timeout, for messages.
    pub fn total(&self) -> Duration {
        self.total
    }
}

/// Runs one check within its timeout; errors talking to the cluster become `Fail` with the error chain.
pub async fn run(ctx: &CheckContext<'_>, check: &Check) -> Verdict {
    let timeout = check
        .timeout
        .unwrap_or_else(|| check.expect.default_timeout());
    run_expectation(ctx, check, timeout).await
}

async fn run_expectation(ctx: &CheckContext<'_>, check: &Check, timeout: Duration) -> Verdict {
    use crate::{isolation, quota, scheduling};
    let deadline = Deadline::after(timeout);
    match &check.expect {
        Expectation::RuntimeReady(r) => scheduling::runtime_ready(ctx, r, deadline).await,
        Expectation::ServerReady(s) => scheduling::server_ready(ctx, s, deadline).await,
        Expectation::ModelReady(m) => scheduling::model_ready(ctx, m, deadline).await,
        Expectation::ScheduleFailed(s) => scheduling::schedule_failed(ctx, s, deadline).await,
        Expectation::QuotaRejects(q) => quota::quota_rejects(ctx, q, deadline).await,
        Expectation::NetworkPolicyEnforced(n) => {
            isolation::network_policy_enforced(ctx, n, deadline).await
        }
        Expectation::Connectivity(c) => isolation::connectivity(ctx, check, c, deadline).await,
        Expectation::Access(a) => isolation::access(ctx, a).await,
        Expectation::RequiredFlows(r) => isolation::required_flows(ctx, r, deadline).await,
        Expectation::SecretsApplied(s) => secrets_applied(ctx, s).await,
        Expectation::Inference(i) => inference_check(ctx, i, deadline).await,
        Expectation::InferenceRejected(i) => inference_rejected(ctx, i, deadline).await,
    }
}

/// `secretsApplied`: every named Secret exists in the namespace. Only metadata is read: values
/// never leave the API server.
async fn secrets_applied(ctx: &CheckContext<'_>, s: &SecretsApplied) -> Verdict {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &s.namespace);
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for name in &s.secrets {
        match api.get_metadata_opt(name).await {
            Ok(Some(_)) => present.push(name.as_str()),
            Ok(None) => missing.push(name.as_str()),
            Err(e) => {
                return Verdict::fail(format!("could not read Secret {}/{name}: {e}", s.namespace));
            }
        }
    }
    if missing.is_empty() {
        Verdict::pass(format!(
            "Secrets [{}] exist in namespace {}",
            present.join(", "),
            s.namespace
        ))
    } else {
        let providers = package_providers(ctx.scenario, &s.namespace, &missing);
        Verdict::fail(format!(
            "Secrets [{}] do not exist in namespace {} although setup applied {providers}; present: [{}]",
            missing.join(", "),
            s.namespace,
            present.join(", ")
        ))
    }
}

/// Names the secret packages of a namespace that provide any of `secrets`, for messages.
fn package_providers(scenario: &Scenario, namespace: &str, secrets: &[&str]) -> String {
    let packages: Vec<String> = scenario
        .team(namespace)
        .map(|t| {
            t.secret_packages
                .iter()
                .filter(|p| p.provides.iter().any(|n| secrets.contains(&n.as_str())))
                .map(|p| format!("{} (overlay {})", p.path.display(), p.overlay))
                .collect()
        })
        .unwrap_or_default();
    if packages.is_empty() {
        "the team's objects (no secret package of this namespace declares them in `provides`)"
            .to_string()
    } else {
        format!("the secret package {}", packages.join(", "))
    }
}

/// Waits until the Model is Ready and `seldon-mesh` has a Ready envoy, so inference checks
/// running concurrently with setup do not race the model's load; the failure names the state.
async fn await_model(
    ctx: &CheckContext<'_>,
    namespace: &str,
    model: &str,
    deadline: Deadline,
) -> Result<(), Verdict> {
    let target = Target::seldon("Model", namespace, model);
    match wait::wait_for(
        &ctx.client,
        &target,
        &wait::condition_true("ModelReady"),
        deadline.remaining(),
    )
    .await
    {
        Ok(_) => {}
        Err(e) => {
            return Err(Verdict::fail(format!(
                "inference not attempted: Model {namespace}/{model} is not Ready\n{e}"
            )));
        }
    }
    // seldon-mesh answers only through a Ready envoy pod.
    let envoy = crate::quota::Workload::deployment(namespace, "seldon-envoy");
    if let Err(e) = wait::wait_for(
        &ctx.client,
        &envoy.target(),
        &crate::quota::all_pods_ready(),
        deadline.remaining(),
    )
    .await
    {
        return Err(Verdict::fail(format!(
            "inference not attempted: seldon-mesh of {namespace} has no Ready envoy: {}\n{e}",
            crate::quota::describe(&ctx.client, &envoy).await
        )));
    }
    Ok(())
}

/// A V2 client for the namespace's `seldon-mesh` over the check's protocol.
async fn mesh_client(
    ctx: &CheckContext<'_>,
    namespace: &str,
    protocol: Protocol,
    deadline: Deadline,
) -> Result<InferenceClient, Verdict> {
    let endpoint = ctx.mesh.endpoint(namespace).await.map_err(|e| {
        Verdict::fail(format!(
            "cannot reach seldon-mesh of namespace {namespace}: {e:#}"
        ))
    })?;
    let client = match protocol {
        Protocol::Rest => InferenceClient::rest(&endpoint.rest_base),
        Protocol::Grpc => InferenceClient::grpc(&endpoint.grpc_addr),
    }
    .map_err(|e| Verdict::fail(format!("cannot build a V2 client for {namespace}: {e}")))?;
    let per_call = deadline
        .remaining()
        .min(inference::DEFAULT_TIMEOUT)
        .max(Duration::from_secs(1));
    Ok(client.with_timeout(per_call))
}

/// The requests an `inference` check sends: its samples file, or its inline request.
fn sample_set(scenario: &Scenario, i: &Inference) -> Result<SampleSet, String> {
    if let Some(path) = &i.samples {
        let file = scenario.resolve(path);
        return SampleSet::load(&file).map_err(|e| e.to_string());
    }
    let request = i
        .request
        .as_ref()
        .ok_or("the check has neither `samples` nor `request`: give one")?;
    let inputs = request_inputs(request)?;
    let outputs = match &i.outputs {
        Some(v) => {
            let outs: Vec<oip::rest::ResponseOutput> = serde_json::from_value(v.clone())
                .map_err(|e| format!("`outputs` is not a list of V2 output tensors: {e}"))?;
            outs.iter()
                .map(oip::NamedTensor::from_rest_output)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`outputs`: {e}"))?
        }
        None => Vec::new(),
    };
    let expected_argmax = i.argmax.as_ref().map(|a| inference::ExpectedArgmax {
        output: a.output.clone(),
        index: a.index,
    });
    if outputs.is_empty() && expected_argmax.is_none() {
        return Err("the inline request checks nothing: give `outputs` or `argmax`".into());
    }
    Ok(SampleSet {
        model: i.model.clone(),
        tolerance: Tolerance {
            relative: i.tolerance,
            absolute: 0.0,
        },
        samples: vec![Sample {
            name: "request".into(),
            inputs,
            outputs,
            expected_argmax,
        }],
    })
}

/// The input tensors of an inline V2 request (`{"inputs": [...]}`).
fn request_inputs(request: &serde_json::Value) -> Result<Vec<oip::NamedTensor>, String> {
    let req: oip::rest::InferenceRequest = serde_json::from_value(request.clone())
        .map_err(|e| format!("`request` is not a V2 inference request: {e}"))?;
    req.inputs
        .iter()
        .map(oip::NamedTensor::from_rest_input)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`request`: {e}"))
}

/// `inference`: every sample through the namespace's `seldon-mesh`, outputs compared.
async fn inference_check(ctx: &CheckContext<'_>, i: &Inference, deadline: Deadline) -> Verdict {
    let set = match sample_set(ctx.scenario, i) {
        Ok(s) => s,
        Err(e) => return Verdict::fail(format!("cannot build the requests: {e}")),
    };
    if let Err(v) = await_model(ctx, &i.namespace, &i.model, deadline).await {
        return v;
    }
    let client = match mesh_client(ctx, &i.namespace, i.protocol, deadline).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    if let Err(why) = v2_ready_and_described(&client, &i.model, &set).await {
        return Verdict::fail(format!(
            "model {} through seldon-mesh of {} over {} ({}): {why}",
            i.model,
            i.namespace,
            client.transport(),
            client.endpoint()
        ));
    }
    let failures = inference::check_samples(&client, &i.model, &set).await;
    let how = format!(
        "{} samples to model {} over {} through seldon-mesh of {} ({})",
        set.samples.len(),
        i.model,
        client.transport(),
        i.namespace,
        client.endpoint()
    );
    if failures.is_empty() {
        if i.protocol == Protocol::Grpc {
            let endpoint = client.endpoint().to_string();
            if let Err(why) =
                grpc_routes_by_header(&endpoint, &i.model, &set.samples[0], deadline).await
            {
                return Verdict::fail(format!("{how}: every output matched, but {why}"));
            }
        }
        Verdict::pass(format!("{how}: every output matched ({})", set.tolerance))
    } else {
        let lines: Vec<String> = failures.iter().map(|f| format!("  {f}")).collect();
        Verdict::fail(format!(
            "{how}: {} of {} wrong\n{}",
            failures.len(),
            set.samples.len(),
            lines.join("\n")
        ))
    }
}

/// The V2 readiness and metadata endpoints agree with the samples: server ready, model ready, and
/// the metadata lists every input the samples send (with their datatypes) and every output they
/// expect.
async fn v2_ready_and_described(
    client: &inference::InferenceClient,
    model: &str,
    set: &SampleSet,
) -> Result<(), String> {
    match client.server_ready(model).await {
        Ok(true) => {}
        Ok(false) => return Err("the V2 server readiness endpoint says not ready".into()),
        Err(e) => return Err(format!("server readiness: {e}")),
    }
    match client.model_ready(model).await {
        Ok(true) => {}
        Ok(false) => return Err("the V2 model readiness endpoint says not ready".into()),
        Err(e) => return Err(format!("model readiness: {e}")),
    }
    let meta = client
        .model_metadata(model)
        .await
        .map_err(|e| format!("model metadata: {e}"))?;
    let mut problems = Vec::new();
    for sample in &set.samples {
        for t in &sample.inputs {
            match meta.inputs.iter().find(|m| m.name == t.name) {
                None => problems.push(format!("metadata has no input `{}`", t.name)),
                Some(m) if m.datatype != t.datatype => problems.push(format!(
                    "metadata says input `{}` is {}, the samples send {}",
                    t.name, m.datatype, t.datatype
                )),
                Some(_) => {}
            }
        }
        let expected = sample
            .outputs
            .iter()
            .map(|o| o.name.as_str())
            .chain(sample.expected_argmax.iter().map(|a| a.output.as_str()));
        for name in expected {
            if !meta.outputs.iter().any(|m| m.name == name) {
                problems.push(format!("metadata has no output `{name}`"));
            }
        }
    }
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// A valid request for `model`, taken from an `inference` check of the same model.
fn valid_request(scenario: &Scenario, r: &InferenceRejected) -> Option<InferenceRequest> {
    scenario
        .doc
        .spec
        .checks
        .iter()
        .find_map(|c| match &c.expect {
            Expectation::Inference(i) if i.namespace == r.namespace && i.model == r.model => {
                sample_set(scenario, i)
                    .ok()
                    .and_then(|s| s.samples.first().map(Sample::request))
            }
            _ => None,
        })
}

/// `inferenceRejected`: the bad request is refused with the documented status, never a 200.
async fn inference_rejected(
    ctx: &CheckContext<'_>,
    r: &InferenceRejected,
    deadline: Deadline,
) -> Verdict {
    use crate::scenario::NegativeCase as Case;
    let case = match r.case {
        Case::UnknownModel => inference::NegativeCase::UnknownModel,
        Case::WrongShape => inference::NegativeCase::WrongShape,
        Case::WrongDatatype => inference::NegativeCase::WrongDatatype,
    };
    let valid = match valid_request(ctx.scenario, r) {
        Some(v) => v,
        None if r.case == Case::UnknownModel => {
            // Any well-formed request will do: the model name is what is wrong.
            InferenceRequest::new(vec![oip::NamedTensor::new(
                "input-0",
                vec![1, 1],
                oip::TensorData::F32(vec![0.0]),
            )])
        }
        None => {
            return Verdict::fail(format!(
                "no `inference` check of model {}/{} gives a valid request to derive the {case} request from: add one",
                r.namespace, r.model
            ));
        }
    };
    if let Err(v) = await_model(ctx, &r.namespace, &r.model, deadline).await {
        return v;
    }
    let client = match mesh_client(ctx, &r.namespace, r.protocol, deadline).await {
        Ok(c) => c,
        Err(v) => return v,
    };
    let verdict = inference::negative_case(&client, &r.model, &valid, case).await;
    let text = format!("through seldon-mesh of {}: {verdict}", r.namespace);
    if verdict.passed {
        Verdict::pass(text)
    } else {
        Verdict::fail(text)
    }
}

/// Seldon's envoy routes gRPC only by the `seldon-model` metadata (there is no model in a gRPC
/// path), so the same request without it must not be answered. A mesh that answers it routes by
/// something else, e.g. the request body's model name.
async fn grpc_routes_by_header(
    endpoint: &str,
    model: &str,
    sample: &Sample,
    deadline: Deadline,
) -> Result<(), String> {
    use oip::grpc::grpc_inference_service_client::GrpcInferenceServiceClient;
    let uri = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    let timeout = deadline
        .remaining()
        .min(inference::DEFAULT_TIMEOUT)
        .max(Duration::from_secs(1));
    let channel = tonic::transport::Endpoint::from_shared(uri.clone())
        .map_err(|e| format!("{uri} is not a gRPC endpoint: {e}"))?
        .connect_timeout(timeout)
        .connect()
        .await
        .map_err(|e| format!("could not connect to {uri} again: {e}"))?;
    let msg = oip::grpc::ModelInferRequest {
        model_name: model.to_string(),
        inputs: sample
            .inputs
            .iter()
            .map(oip::NamedTensor::to_grpc_input)
            .collect(),
        ..Default::default()
    };
    let mut req = tonic::Request::new(msg);
    req.set_timeout(timeout);
    match GrpcInferenceServiceClient::new(channel)
        .model_infer(req)
        .await
    {
        Ok(_) => Err(format!(
            "a ModelInfer for `{model}` WITHOUT the `seldon-model` metadata was answered too: the mesh does not route gRPC by the `seldon-model` header as Seldon's envoy does (it routed by the request body's model name)"
        )),
        Err(status) => {
            tracing::debug!(
                "header-less ModelInfer refused as expected: {} {}",
                inference::grpc_code_name(status.code()),
                status.message()
            );
            Ok(())
        }
    }
}
