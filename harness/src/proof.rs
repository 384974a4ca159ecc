//! The proven-to-catch table: for each check, the documented platform behaviours it relies on,
//! and so the embedded platform's defects it must catch. `suites/tests/mutations.rs` proves the
//! table (exactly these checks fail under each defect, every other check passes).

use crate::flows::{Partial, blocked_serving_flows, connectivity_allowed, evaluate_partial};
use crate::scenario::{Check, Scenario};
use crate::target::embedded::Defect;

/// A documented platform behaviour a check relies on; each defect of the embedded platform breaks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// The controller reconciles runtimes in this (non-controller) namespace: cluster-wide.
    ClusterWideController,
    /// Runtime component pods become Ready.
    RuntimeReady,
    /// LimitRange defaults are applied (this namespace relies on them to satisfy its quota).
    LimitRangeDefaults,
    /// Servers carry their capabilities.
    ServerCapabilities,
    /// Schedulable models become Ready.
    ModelReady,
    /// Models stay in their namespace.
    NamespaceScheduling,
    /// Secrets from packages are stored.
    PackagedSecrets,
    /// ResourceQuota is enforced.
    Quota,
    /// NetworkPolicy is enforced.
    NetworkPolicy,
    /// `seldon-model` routes requests.
    ModelHeaderRouting,
    /// Inference returns the model's numbers.
    InferenceOutput,
    /// Unknown models are refused.
    UnknownModelRefused,
    /// Inputs that do not fit the model are refused.
    InvalidInputRefused,
    /// Access reviews evaluate RBAC (deny side).
    RbacDenies,
    /// Access reviews evaluate RBAC (allow side).
    RbacAllows,
    /// The sealed-secrets controller unseals a value only in the scope it was sealed for.
    SealedSecretScope,
    /// The Kafka components fail without a reachable Kafka.
    KafkaRequired,
    /// `overrides[].podSpec` reaches the runtime's components.
    PodSpecOverrides,
    /// A runtime runs no Server of its own: only Server objects do.
    NoImplicitServers,
    /// `ScheduleFailed` carries the scheduler's own reason text.
    ScheduleReason,
    /// The dataflow engine fails without a reachable Kafka.
    DataflowEngineNeedsKafka,
    /// The model and pipeline gateways fail without a reachable Kafka.
    GatewaysNeedKafka,
    /// A component disabled by `overrides[].disable` gets no workload.
    DisableOverrides,
    /// The sealed-secrets controller opens namespace-wide values in their namespace.
    SealedNamespaceWide,
    /// The sealed-secrets controller opens strict values under their name and namespace.
    SealedStrict,
    /// NetworkPolicy egress rules are enforced (not only ingress).
    EgressPolicy,
    /// A peer's `namespaceSelector` selects only the namespaces it matches.
    NamespaceSelectors,
    /// Seldon's own connections (agent, envoy, controller, rclone) obey NetworkPolicy.
    SeldonTrafficPolicy,
    /// The controller writes a SeldonRuntime's status conditions.
    RuntimeStatus,
    /// A NetworkPolicy applies to the pods it selects that were already running (the canary's).
    PolicyOnRunningPods,
    /// An edit of an Experiment's weights replaces the route's weights.
    ExperimentWeights,
    /// Existing objects stay valid across an in-place upgrade (the new CRDs accept them).
    ExistingObjectsSurviveUpgrade,
    /// The scheduler counts the memory Models use against a replica's (overcommitted) memory.
    MemoryAccounted,
    /// `controller.watchNamespaces` narrows a cluster-wide controller.
    WatchNamespaces,
    /// A failed model download reaches the Model as `ModelFailed` with the agent's reason.
    LoadFailuresReported,
    /// A pipeline runs every step (the answer is the output steps', not the first step's).
    PipelineSteps,
    /// A restarted scheduler learns the Models again (controller re-sends them on reconnect).
    SchedulerRelearnsModels,
    /// Envoy keeps routing to a model's loaded replicas while its Server rolls out.
    RoutesKeptDuringRollout,
    /// A Model's status carries `availableReplicas` (the installed CRD's schema keeps it).
    AvailableReplicasReported,
    /// Envoy keeps its last configuration while the scheduler (its xDS server) restarts.
    EnvoyKeepsConfig,
    /// A restarted envoy serves once it reports Ready.
    EnvoyRoutesOnRestart,
    /// A restarted model gateway comes back Ready.
    ModelGatewayRestarts,
    /// A restarted Server pod gets its models back when its agent registers.
    ServerReloadsOnRegister,
    /// A Model scaled beyond its Server's replicas keeps serving from the replicas it has.
    LiveReplicasKept,
}

fn broken_by(d: Defect) -> Behaviour {
    match d {
        Defect::ControllerNotClusterWide => Behaviour::ClusterWideController,
        Defect::RuntimeNeverReady => Behaviour::RuntimeReady,
        Defect::LimitRangeIgnored => Behaviour::LimitRangeDefaults,
        Defect::ServerCapabilitiesMissing => Behaviour::ServerCapabilities,
        Defect::ModelNeverReady => Behaviour::ModelReady,
        Defect::CrossNamespaceScheduling => Behaviour::NamespaceScheduling,
        Defect::SecretPackageObjectsDropped => Behaviour::PackagedSecrets,
        Defect::QuotaNotEnforced => Behaviour::Quota,
        Defect::NetworkPolicyIgnored => Behaviour::NetworkPolicy,
        Defect::MeshIgnoresModelHeader => Behaviour::ModelHeaderRouting,
        Defect::WrongInferenceOutput => Behaviour::InferenceOutput,
        Defect::UnknownModelAnswered200 => Behaviour::UnknownModelRefused,
        Defect::InvalidInputAnswered200 => Behaviour::InvalidInputRefused,
        Defect::AccessReviewAllowsAll => Behaviour::RbacDenies,
        Defect::AccessReviewDeniesAll => Behaviour::RbacAllows,
        Defect::SealedSecretsScopeIgnored => Behaviour::SealedSecretScope,
        Defect::KafkaComponentsReadyWithoutKafka => Behaviour::KafkaRequired,
        Defect::PodSpecOverridesIgnored => Behaviour::PodSpecOverrides,
        Defect::RuntimeCreatesServers => Behaviour::NoImplicitServers,
        Defect::WrongScheduleReason => Behaviour::ScheduleReason,
        Defect::DataflowEngineReadyWithoutKafka => Behaviour::DataflowEngineNeedsKafka,
        Defect::GatewaysReadyWithoutKafka => Behaviour::GatewaysNeedKafka,
        Defect::DisableOverridesIgnored => Behaviour::DisableOverrides,
        Defect::SealedNamespaceWideUnsupported => Behaviour::SealedNamespaceWide,
        Defect::SealedStrictLabelWithoutName => Behaviour::SealedStrict,
        Defect::EgressPolicyIgnored => Behaviour::EgressPolicy,
        Defect::NamespaceSelectorIgnored => Behaviour::NamespaceSelectors,
        Defect::PolicyIgnoredForSeldonTraffic => Behaviour::SeldonTrafficPolicy,
        Defect::RuntimeStatusNotWritten => Behaviour::RuntimeStatus,
        Defect::PolicyOnlyForNewPods => Behaviour::PolicyOnRunningPods,
        Defect::ExperimentWeightsIgnored => Behaviour::ExperimentWeights,
        Defect::UpgradeBreaksExistingModels => Behaviour::ExistingObjectsSurviveUpgrade,
        Defect::MemoryNotAccounted => Behaviour::MemoryAccounted,
        Defect::WatchNamespacesIgnored => Behaviour::WatchNamespaces,
        Defect::StorageErrorsHidden => Behaviour::LoadFailuresReported,
        Defect::PipelineStepSkipped => Behaviour::PipelineSteps,
        Defect::SchedulerForgetsModelsOnRestart => Behaviour::SchedulerRelearnsModels,
        Defect::EnvoyDropsDuringRollout => Behaviour::RoutesKeptDuringRollout,
        Defect::AvailableReplicasPruned => Behaviour::AvailableReplicasReported,
        Defect::EnvoyForgetsConfigWithoutScheduler => Behaviour::EnvoyKeepsConfig,
        Defect::EnvoyRoutesLateAfterRestart => Behaviour::EnvoyRoutesOnRestart,
        Defect::ModelGatewayFailsAfterRestart => Behaviour::ModelGatewayRestarts,
        Defect::ServerReloadDelayed => Behaviour::ServerReloadsOnRegister,
        Defect::ScalingBeyondServerUnloads => Behaviour::LiveReplicasKept,
    }
}

/// What a team namespace needs before anything in it runs: a reconciled, Ready runtime.
fn namespace_needs(scenario: &Scenario, ns: &str, out: &mut Vec<Behaviour>) {
    if ns != scenario.doc.spec.seldon.controller_namespace {
        out.push(Behaviour::ClusterWideController);
    }
    out.push(Behaviour::RuntimeReady);
    // A quota with LimitRange defaults: without the defaults the quota rejects the runtime.
    if scenario
        .team(ns)
        .is_some_and(|t| !t.limit_ranges.is_empty() && !t.resource_quotas.is_empty())
    {
        out.push(Behaviour::LimitRangeDefaults);
    }
    // A quota satisfied only by resources in the runtime's podSpec overrides (no LimitRange).
    if scenario.team(ns).is_some_and(|t| {
        t.limit_ranges.is_empty()
            && !t.resource_quotas.is_empty()
            && t.runtime.as_ref().is_some_and(|rt| {
                rt["spec"]["overrides"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["podSpec"].is_object())
            })
    }) {
        out.push(Behaviour::PodSpecOverrides);
    }
}

/// What a Server needs beyond its namespace: its agent exits at startup unless every rclone
/// Secret the runtime preloads exists (docs/seldon-behaviour.md §10), and packages deliver them.
fn server_needs(scenario: &Scenario, ns: &str, out: &mut Vec<Behaviour>) {
    let preloads = scenario
        .team(ns)
        .and_then(|t| t.runtime.as_ref())
        .is_some_and(|rt| {
            rt["spec"]["config"]["agentConfig"]["rclone"]["config_secrets"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        });
    if preloads {
        out.push(Behaviour::PackagedSecrets);
    }
}

/// Sealed packages of a namespace open only if the controller reads their scope's label right.
fn sealed_scopes(scenario: &Scenario, ns: &str, out: &mut Vec<Behaviour>) {
    use crate::scenario::SealScope;
    let seals = scenario
        .team(ns)
        .into_iter()
        .flat_map(|t| &t.secret_packages)
        .filter_map(|p| p.seal);
    for seal in seals {
        match seal {
            SealScope::Strict => out.push(Behaviour::SealedStrict),
            SealScope::NamespaceWide => out.push(Behaviour::SealedNamespaceWide),
            SealScope::ClusterWide => {}
        }
    }
}

/// What a Model needs to become Ready in its namespace.
fn model_needs(scenario: &Scenario, ns: &str, model: &str, out: &mut Vec<Behaviour>) {
    namespace_needs(scenario, ns, out);
    server_needs(scenario, ns, out);
    out.extend([Behaviour::ServerCapabilities, Behaviour::ModelReady]);
    let spec = scenario
        .team(ns)
        .and_then(|t| t.models.iter().find(|m| m["metadata"]["name"] == model))
        .map(|m| m["spec"].clone())
        .unwrap_or_default();
    if spec["secretName"].is_string() {
        out.push(Behaviour::PackagedSecrets);
    }
}

/// A Model's spec as the scenario declares it (null when it does not).
fn model_spec(scenario: &Scenario, ns: &str, model: &str) -> serde_json::Value {
    scenario
        .team(ns)
        .and_then(|t| t.models.iter().find(|m| m["metadata"]["name"] == model))
        .map(|m| m["spec"].clone())
        .unwrap_or_default()
}

/// Whether a `ScheduleFailed` Model fails for its memory: it declares `memory` and asks for no
/// more replicas than a Server of its namespace has (else the replica count decides alone).
fn memory_decides(scenario: &Scenario, ns: &str, spec: &serde_json::Value) -> bool {
    let most = scenario
        .team(ns)
        .into_iter()
        .flat_map(|t| &t.servers)
        .map(|s| s["spec"]["replicas"].as_i64().unwrap_or(1))
        .max()
        .unwrap_or(0);
    spec["memory"].is_string() && spec["replicas"].as_i64().unwrap_or(1) <= most
}

/// The step (Model) names of a scenario's Pipeline.
fn pipeline_steps(scenario: &Scenario, ns: &str, name: &str) -> Vec<String> {
    scenario
        .team(ns)
        .and_then(|t| t.pipelines.iter().find(|p| p["metadata"]["name"] == name))
        .and_then(|p| p["spec"]["steps"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}

/// Whether the team's runtime runs `component` (not disabled by an override).
fn runs(scenario: &Scenario, ns: &str, component: &str) -> bool {
    scenario
        .team(ns)
        .and_then(|t| t.runtime.as_ref())
        .is_some_and(|rt| {
            !rt["spec"]["overrides"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["name"] == component && o["disable"] == true)
        })
}

/// The two partial-enforcement behaviours, with the "what if" each defect asks of the policies.
fn partial_enforcement() -> [(Behaviour, Partial); 2] {
    [
        (
            Behaviour::EgressPolicy,
            Partial {
                egress_ignored: true,
                ..Partial::default()
            },
        ),
        (
            Behaviour::NamespaceSelectors,
            Partial {
                namespace_selector_ignored: true,
                ..Partial::default()
            },
        ),
    ]
}

/// The behaviours a check relies on: a defect breaking any of them must make the check fail, and
/// no other defect may.
fn relies_on(scenario: &Scenario, check: &Check) -> Vec<Behaviour> {
    use crate::scenario::{Expectation as E, NegativeCase, Outcome};
    let mut out = Vec::new();
    match &check.expect {
        E::RuntimeReady(n) => {
            namespace_needs(scenario, &n.namespace, &mut out);
            // Readiness is judged by the runtime's conditions first.
            out.push(Behaviour::RuntimeStatus);
            // The check also finds no workload for a component the runtime disables.
            let disables = scenario
                .team(&n.namespace)
                .and_then(|t| t.runtime.as_ref())
                .is_some_and(|rt| {
                    rt["spec"]["overrides"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|o| o["disable"] == true)
                });
            if disables {
                out.push(Behaviour::DisableOverrides);
            }
        }
        E::RuntimeNotReady(r) => {
            namespace_needs(scenario, &r.namespace, &mut out);
            // The failing component is named by its False condition.
            out.push(Behaviour::RuntimeStatus);
            if crate::scenario::seldon::KAFKA_COMPONENTS.contains(&r.component.as_str()) {
                out.push(Behaviour::KafkaRequired);
                out.push(if r.component == "seldon-dataflow-engine" {
                    Behaviour::DataflowEngineNeedsKafka
                } else {
                    Behaviour::GatewaysNeedKafka
                });
            }
        }
        E::ServerReady(s) => {
            namespace_needs(scenario, &s.namespace, &mut out);
            server_needs(scenario, &s.namespace, &mut out);
            if !s.capabilities.is_empty() {
                out.push(Behaviour::ServerCapabilities);
            }
        }
        E::ModelReady(m) => {
            model_needs(scenario, &m.namespace, &m.model, &mut out);
            if m.available_replicas.is_some() {
                out.push(Behaviour::AvailableReplicasReported);
            }
        }
        E::ModelNotServed(m) => {
            namespace_needs(scenario, &m.namespace, &mut out);
            // Policies ignored (entirely, or for Seldon's traffic) serve the model.
            out.extend([Behaviour::NetworkPolicy, Behaviour::SeldonTrafficPolicy]);
            // A partial CNI that unblocks every serving flow serves it too.
            for (b, partial) in partial_enforcement() {
                if blocked_serving_flows(scenario, &m.namespace, partial).is_empty() {
                    out.push(b);
                }
            }
        }
        E::ScheduleFailed(f) => {
            namespace_needs(scenario, &f.namespace, &mut out);
            // Cross-namespace scheduling shows only if another namespace has a Server for it.
            let elsewhere = scenario
                .doc
                .spec
                .teams
                .iter()
                .any(|t| t.namespace != f.namespace && !t.servers.is_empty());
            if elsewhere {
                out.push(Behaviour::NamespaceScheduling);
            }
            out.push(Behaviour::ScheduleReason);
            // An MLServer Server the runtime made by itself would take a model MLServer can run.
            let spec = scenario
                .team(&f.namespace)
                .and_then(|t| t.models.iter().find(|m| m["metadata"]["name"] == f.model))
                .map(|m| m["spec"].clone())
                .unwrap_or_default();
            let mlserver = crate::scenario::known_capabilities("mlserver").unwrap_or(&[]);
            let fits = spec["requirements"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|r| r.as_str().is_some_and(|r| mlserver.contains(&r)))
                && spec["server"].as_str().is_none_or(|s| s == "mlserver");
            if fits {
                out.push(Behaviour::NoImplicitServers);
            }
            if memory_decides(scenario, &f.namespace, &spec) {
                out.push(Behaviour::MemoryAccounted);
            }
        }
        E::ModelLoadFails(f) => {
            namespace_needs(scenario, &f.namespace, &mut out);
            server_needs(scenario, &f.namespace, &mut out);
            out.push(Behaviour::LoadFailuresReported);
            let spec = model_spec(scenario, &f.namespace, &f.model);
            if spec["requirements"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                out.push(Behaviour::ServerCapabilities);
            }
            // A Secret a package delivers: dropped, the load fails for another reason.
            let packaged = scenario.team(&f.namespace).is_some_and(|t| {
                t.secret_packages
                    .iter()
                    .any(|p| p.provides.iter().any(|s| spec["secretName"] == s.as_str()))
            });
            if packaged {
                out.push(Behaviour::PackagedSecrets);
            }
        }
        E::ModelsFit(f) => {
            for m in &f.models {
                model_needs(scenario, &f.namespace, m, &mut out);
            }
            out.extend([Behaviour::MemoryAccounted, Behaviour::ScheduleReason]);
        }
        E::RuntimeIgnored(r) => {
            // The watched runtime must be reconciled first; any status counts, Ready or not.
            if r.watched != scenario.doc.spec.seldon.controller_namespace {
                out.push(Behaviour::ClusterWideController);
            }
            // "Reconciled" is read from the runtime's status conditions.
            out.extend([Behaviour::WatchNamespaces, Behaviour::RuntimeStatus]);
        }
        E::Inference(i) => {
            model_needs(scenario, &i.namespace, &i.model, &mut out);
            // Readiness endpoints carry no model in the path: through seldon-mesh only the
            // `seldon-model` header routes them, over REST as over gRPC.
            out.extend([Behaviour::InferenceOutput, Behaviour::ModelHeaderRouting]);
        }
        E::InferenceRejected(r) => {
            model_needs(scenario, &r.namespace, &r.model, &mut out);
            out.push(match r.case {
                NegativeCase::UnknownModel => Behaviour::UnknownModelRefused,
                NegativeCase::WrongShape | NegativeCase::WrongDatatype => {
                    Behaviour::InvalidInputRefused
                }
            });
        }
        // The canary's deny-all policy is created after its listeners are running.
        E::NetworkPolicyEnforced(_) => {
            out.extend([Behaviour::NetworkPolicy, Behaviour::PolicyOnRunningPods])
        }
        E::Connectivity(c) => {
            // Until the canary proves enforcement every connectivity verdict is withheld.
            out.extend([Behaviour::NetworkPolicy, Behaviour::PolicyOnRunningPods]);
            // A denial that a partial CNI would let through relies on that part being enforced.
            if c.expect == Outcome::Denied {
                for (b, partial) in partial_enforcement() {
                    if connectivity_allowed(scenario, c, partial) == Some(true) {
                        out.push(b);
                    }
                }
            }
            if scenario
                .team(&c.to.namespace)
                .is_some_and(|t| t.runtime.is_some())
            {
                namespace_needs(scenario, &c.to.namespace, &mut out);
            }
        }
        E::Access(a) => out.push(if a.expect == Outcome::Denied {
            Behaviour::RbacDenies
        } else {
            Behaviour::RbacAllows
        }),
        E::QuotaRejects(q) => {
            out.push(Behaviour::Quota);
            if q.namespace != scenario.doc.spec.seldon.controller_namespace {
                out.push(Behaviour::ClusterWideController);
            }
            // A namespace relying on LimitRange defaults is rejected for the missing limits first.
            if scenario
                .team(&q.namespace)
                .is_some_and(|t| !t.limit_ranges.is_empty())
            {
                out.push(Behaviour::LimitRangeDefaults);
            }
        }
        E::RequiredFlows(f) => {
            namespace_needs(scenario, &f.namespace, &mut out);
            // The flows are probed once the runtime is Ready, judged by its conditions.
            out.push(Behaviour::RuntimeStatus);
            if !f.expect_blocked.is_empty() {
                out.push(Behaviour::NetworkPolicy);
            }
            // A required flow the policies block but a partial CNI lets through: its live probe
            // connects and disagrees with the static answer.
            let normal = evaluate_partial(scenario, &f.namespace, Partial::default());
            for (b, partial) in partial_enforcement() {
                let unblocked = evaluate_partial(scenario, &f.namespace, partial)
                    .iter()
                    .zip(&normal)
                    .any(|(p, n)| n.required && !n.allowed && p.allowed);
                if unblocked {
                    out.push(b);
                }
            }
        }
        E::SecretsApplied(s) | E::SealedSecretsUnsealed(s) => {
            out.push(Behaviour::PackagedSecrets);
            sealed_scopes(scenario, &s.namespace, &mut out);
        }
        E::Experiment(x) => {
            // Every candidate and the mirror must be served for the Experiment to be Ready;
            // answers through seldon-mesh; the edit of the weights.
            let shape = scenario
                .team(&x.namespace)
                .and_then(|t| {
                    t.experiments
                        .iter()
                        .find(|e| e["metadata"]["name"] == x.experiment.as_str())
                })
                .map(crate::scenario::experiment::ExperimentShape::of)
                .unwrap_or_default();
            for m in shape.candidates.iter().map(|(m, _)| m).chain(&shape.mirror) {
                model_needs(scenario, &x.namespace, m, &mut out);
            }
            out.extend([Behaviour::InferenceOutput, Behaviour::ExperimentWeights]);
            // Addressed by its default model, path and header name the same route; only the
            // `.experiment` route exists in the `seldon-model` header alone.
            if x.via == crate::scenario::ExperimentVia::Experiment {
                out.push(Behaviour::ModelHeaderRouting);
            }
        }
        E::Pipeline(p) => {
            for step in pipeline_steps(scenario, &p.namespace, &p.pipeline) {
                model_needs(scenario, &p.namespace, &step, &mut out);
            }
            out.extend([Behaviour::InferenceOutput, Behaviour::PipelineSteps]);
        }
        E::PipelineNotReady(p) => {
            // The reason is the scheduler's: its runtime must run; a dataflow engine Ready
            // without Kafka would take the pipeline and drop "no dataflow engines" from it.
            namespace_needs(scenario, &p.namespace, &mut out);
            let reason = p.reason.to_lowercase();
            for (component, phrase, needs) in [
                (
                    "seldon-dataflow-engine",
                    "dataflow engine",
                    Behaviour::DataflowEngineNeedsKafka,
                ),
                (
                    "seldon-pipelinegateway",
                    "pipeline gateway",
                    Behaviour::GatewaysNeedKafka,
                ),
            ] {
                if reason.contains(phrase) && runs(scenario, &p.namespace, component) {
                    out.extend([Behaviour::KafkaRequired, needs]);
                }
            }
        }
        // No defect of the embedded platform is proven against an upgrade (none runs there).
        E::Continuity(_) if check.expect.needs_upgrade() => {}
        E::Continuity(c) => {
            use crate::scenario::Action;
            for m in &c.models {
                model_needs(scenario, &c.namespace, &m.model, &mut out);
            }
            out.push(Behaviour::InferenceOutput);
            use crate::scenario::RuntimeComponent as C;
            match &c.action {
                Action::DeleteTogether(_) => out.extend([
                    Behaviour::SchedulerRelearnsModels,
                    Behaviour::ServerReloadsOnRegister,
                ]),
                Action::Rollout(r) => {
                    out.push(Behaviour::RoutesKeptDuringRollout);
                    // A pod down is a replica short: a Model on every replica must keep serving
                    // from the others while it cannot be rescheduled.
                    let replicas = scenario
                        .team(&c.namespace)
                        .into_iter()
                        .flat_map(|t| &t.servers)
                        .find(|s| s["metadata"]["name"] == r.server.as_str())
                        .map_or(1, |s| s["spec"]["replicas"].as_i64().unwrap_or(1));
                    let full = c.models.iter().any(|m| {
                        model_spec(scenario, &c.namespace, &m.model)["replicas"]
                            .as_i64()
                            .unwrap_or(1)
                            >= replicas
                    });
                    if full && replicas > 1 {
                        out.push(Behaviour::LiveReplicasKept);
                    }
                }
                Action::Restart(r) => out.push(match (r.component, &r.server) {
                    (Some(C::Scheduler), _) => Behaviour::EnvoyKeepsConfig,
                    (Some(C::Envoy), _) => Behaviour::EnvoyRoutesOnRestart,
                    (Some(C::ModelGateway), _) => Behaviour::ModelGatewayRestarts,
                    (None, _) => Behaviour::ServerReloadsOnRegister,
                }),
                Action::KillAgentDuringLoad(_) => out.push(Behaviour::ServerReloadsOnRegister),
                // Scaled beyond the Server's replicas, it must keep serving (#5124).
                Action::ScaleModel(s) => {
                    let most = scenario
                        .team(&c.namespace)
                        .into_iter()
                        .flat_map(|t| &t.servers)
                        .map(|s| s["spec"]["replicas"].as_i64().unwrap_or(1))
                        .max()
                        .unwrap_or(0);
                    if s.replicas.iter().any(|&r| i64::from(r) > most) {
                        out.push(Behaviour::LiveReplicasKept);
                    }
                }
                Action::HelmUpgrade(_) => {}
            }
        }
        E::SealedSecretScope(s) => {
            out.push(Behaviour::SealedSecretScope);
            // The scope is judged only once the package opened in its own namespace.
            sealed_scopes(scenario, &s.from, &mut out);
        }
    }
    out
}

/// Whether a defect of the embedded platform must make a check fail. `suites/tests/mutations.rs`
/// proves this table (exactly these checks fail under each defect, the others pass), so
/// `harness run` reports it as what each check is proven to catch.
pub fn meant_to_catch(defect: Defect, scenario: &Scenario, check: &Check) -> bool {
    relies_on(scenario, check).contains(&broken_by(defect))
}

/// Whether the upgrade flow (`run::upgrade`: its server-side dry-run of every existing Seldon
/// object against the new CRDs, before the components are upgraded) must refuse the upgrade
/// under a defect; no check relies on it, since none upgrades. `suites/tests/mutations.rs`
/// proves it.
pub fn upgrade_refused_under(defect: Defect) -> bool {
    broken_by(defect) == Behaviour::ExistingObjectsSurviveUpgrade
}

/// The defects a check is proven to catch, by name (for reports).
pub fn proven_to_catch(scenario: &Scenario, check: &Check) -> Vec<&'static str> {
    // What the check relies on, worked out once rather than once per defect (for a
    // `requiredFlows` check that is three evaluations of the scenario's policies).
    let relies = relies_on(scenario, check);
    Defect::ALL
        .into_iter()
        .filter(|d| relies.contains(&broken_by(*d)))
        .map(Defect::name)
        .collect()
}
