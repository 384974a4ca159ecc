//! The proven-to-catch table: for each check, the documented platform behaviours it relies on,
//! and so the embedded platform's defects it must catch. `suites/tests/mutations.rs` proves the
//! table (exactly these checks fail under each defect, every other check passes).

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

/// The behaviours a check relies on: a defect breaking any of them must make the check fail, and
/// no other defect may.
fn relies_on(scenario: &Scenario, check: &Check) -> Vec<Behaviour> {
    use crate::scenario::{Expectation as E, NegativeCase, Outcome};
    let mut out = Vec::new();
    match &check.expect {
        E::RuntimeReady(n) => namespace_needs(scenario, &n.namespace, &mut out),
        E::RuntimeNotReady(r) => {
            namespace_needs(scenario, &r.namespace, &mut out);
            if crate::scenario::seldon::KAFKA_COMPONENTS.contains(&r.component.as_str()) {
                out.push(Behaviour::KafkaRequired);
            }
        }
        E::ServerReady(s) => {
            namespace_needs(scenario, &s.namespace, &mut out);
            server_needs(scenario, &s.namespace, &mut out);
            if !s.capabilities.is_empty() {
                out.push(Behaviour::ServerCapabilities);
            }
        }
        E::ModelReady(m) => model_needs(scenario, &m.namespace, &m.model, &mut out),
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
        E::NetworkPolicyEnforced(_) => out.push(Behaviour::NetworkPolicy),
        E::Connectivity(c) => {
            // Until the canary proves enforcement every connectivity verdict is withheld.
            out.push(Behaviour::NetworkPolicy);
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
            if !f.expect_blocked.is_empty() {
                out.push(Behaviour::NetworkPolicy);
            }
        }
        E::SecretsApplied(_) | E::SealedSecretsUnsealed(_) => out.push(Behaviour::PackagedSecrets),
        E::SealedSecretScope(_) => out.push(Behaviour::SealedSecretScope),
    }
    out
}

/// Whether a defect of the embedded platform must make a check fail. `suites/tests/mutations.rs`
/// proves this table (exactly these checks fail under each defect, the others pass), so
/// `harness run` reports it as what each check is proven to catch.
pub fn meant_to_catch(defect: Defect, scenario: &Scenario, check: &Check) -> bool {
    relies_on(scenario, check).contains(&broken_by(defect))
}

/// The defects a check is proven to catch, by name (for reports).
pub fn proven_to_catch(scenario: &Scenario, check: &Check) -> Vec<&'static str> {
    Defect::ALL
        .into_iter()
        .filter(|d| meant_to_catch(*d, scenario, check))
        .map(Defect::name)
        .collect()
}
