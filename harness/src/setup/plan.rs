//! What a scenario applies, in order: namespaces (labelled `name: <namespace>` unless given: the
//! seed's NetworkPolicy selects on it), ResourceQuotas, LimitRanges, ServiceAccounts/Roles/
//! RoleBindings, NetworkPolicies, secret packages, each team's SeldonRuntime, its Servers (Seldon
//! does not create them from the runtime), then Models, Experiments and Pipelines.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::scenario::{Scenario, SecretPackageRef};

/// Setup phases, in apply order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Namespaces.
    Namespaces,
    /// ResourceQuotas.
    ResourceQuotas,
    /// LimitRanges.
    LimitRanges,
    /// ServiceAccounts, Roles, RoleBindings.
    Rbac,
    /// NetworkPolicies.
    NetworkPolicies,
    /// Secret packages.
    SecretPackages,
    /// The teams' SeldonRuntimes.
    Runtime,
    /// Servers.
    Servers,
    /// Models, then Experiments and Pipelines (whose candidates and steps are Models).
    Models,
    /// Objects the checks create (canary namespaces, probe pods), recorded before each is created
    /// and deleted first.
    Checks,
}

impl Phase {
    /// Every phase in apply order.
    pub const ALL: [Phase; 10] = [
        Phase::Namespaces,
        Phase::ResourceQuotas,
        Phase::LimitRanges,
        Phase::Rbac,
        Phase::NetworkPolicies,
        Phase::SecretPackages,
        Phase::Runtime,
        Phase::Servers,
        Phase::Models,
        Phase::Checks,
    ];

    /// The kinds (apiVersion, kind) objects of this phase have, for label-based cleanup.
    pub fn kinds(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Phase::Namespaces => &[("v1", "Namespace")],
            Phase::ResourceQuotas => &[("v1", "ResourceQuota")],
            Phase::LimitRanges => &[("v1", "LimitRange")],
            Phase::Rbac => &[
                ("v1", "ServiceAccount"),
                ("rbac.authorization.k8s.io/v1", "Role"),
                ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ],
            Phase::NetworkPolicies => &[("networking.k8s.io/v1", "NetworkPolicy")],
            Phase::SecretPackages => &[
                ("v1", "Secret"),
                ("v1", "ConfigMap"),
                ("bitnami.com/v1alpha1", "SealedSecret"),
            ],
            Phase::Runtime => &[
                ("mlops.seldon.io/v1alpha1", "SeldonRuntime"),
                ("v1", "Secret"),
            ],
            Phase::Servers => &[("mlops.seldon.io/v1alpha1", "Server")],
            Phase::Models => &[
                ("mlops.seldon.io/v1alpha1", "Model"),
                ("mlops.seldon.io/v1alpha1", "Experiment"),
                ("mlops.seldon.io/v1alpha1", "Pipeline"),
            ],
            // Canary namespaces are found with the namespaces, canary policies with the policies.
            Phase::Checks => &[("v1", "Pod")],
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Namespaces => "namespaces",
            Phase::ResourceQuotas => "resource quotas",
            Phase::LimitRanges => "limit ranges",
            Phase::Rbac => "service accounts and RBAC",
            Phase::NetworkPolicies => "network policies",
            Phase::SecretPackages => "secret packages",
            Phase::Runtime => "SeldonRuntimes",
            Phase::Servers => "Servers",
            Phase::Models => "Models",
            Phase::Checks => "objects the checks created",
        })
    }
}

/// One step of a plan.
#[derive(Debug, Clone)]
pub enum Step {
    /// An object from the scenario (namespace set), without ownership labels.
    Object {
        /// Its phase.
        phase: Phase,
        /// The object.
        object: Value,
    },
    /// A secret package for a namespace.
    Package {
        /// The team namespace.
        namespace: String,
        /// The package reference from the scenario.
        package: SecretPackageRef,
    },
}

impl Step {
    /// The step's phase.
    pub fn phase(&self) -> Phase {
        match self {
            Step::Object { phase, .. } => *phase,
            Step::Package { .. } => Phase::SecretPackages,
        }
    }
}

fn namespace_object(name: &str, labels: &BTreeMap<String, String>) -> Value {
    let mut labels = labels.clone();
    labels
        .entry("name".to_string())
        .or_insert_with(|| name.to_string());
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn in_namespace(obj: &Value, ns: &str) -> Value {
    let mut o = obj.clone();
    if o["metadata"]["namespace"].as_str().is_none() {
        o["metadata"]["namespace"] = Value::String(ns.to_string());
    }
    o
}

/// The Secret Seldon's runtime chart creates next to its SeldonRuntime
/// (`seldon-core-v2-runtime/templates/rclone-gs-public.yaml`). Every agent preloads it (the
/// default SeldonConfig's `config_secrets`, which a runtime's own list extends) and exits at
/// startup without it (docs/seldon-behaviour.md §10), so the harness creates it wherever it
/// creates a runtime.
pub fn runtime_chart_secret() -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": GS_PUBLIC_SECRET},
        "type": "Opaque",
        "stringData": {"gs": "type: \"google cloud storage\"\nname: gs\nparameters:\n  anonymous: true\n"},
    })
}

/// The runtime chart's preloaded rclone Secret for Seldon's public sample bucket.
pub const GS_PUBLIC_SECRET: &str = "seldon-rclone-gs-public";

/// Everything a scenario applies, in order (phase by phase across teams).
pub fn plan(scenario: &Scenario) -> Vec<Step> {
    let spec = &scenario.doc.spec;
    let mut steps = Vec::new();
    for ns in &spec.namespaces {
        steps.push(Step::Object {
            phase: Phase::Namespaces,
            object: namespace_object(&ns.name, &ns.labels),
        });
    }
    for t in &spec.teams {
        steps.push(Step::Object {
            phase: Phase::Namespaces,
            object: namespace_object(&t.namespace, &t.labels),
        });
    }
    for phase in Phase::ALL.into_iter().skip(1) {
        for t in &spec.teams {
            let ns = t.namespace.as_str();
            let objects: Vec<&Value> = match phase {
                Phase::ResourceQuotas => t.resource_quotas.iter().collect(),
                Phase::LimitRanges => t.limit_ranges.iter().collect(),
                Phase::Rbac => t.rbac.iter().collect(),
                Phase::NetworkPolicies => t.network_policies.iter().collect(),
                Phase::SecretPackages => {
                    for p in &t.secret_packages {
                        steps.push(Step::Package {
                            namespace: ns.to_string(),
                            package: p.clone(),
                        });
                    }
                    Vec::new()
                }
                Phase::Runtime => {
                    if t.runtime.is_some() {
                        steps.push(Step::Object {
                            phase,
                            object: in_namespace(&runtime_chart_secret(), ns),
                        });
                    }
                    t.runtime.iter().collect()
                }
                Phase::Servers => t.servers.iter().collect(),
                // Experiments after their models, so cleanup (in reverse) deletes them first.
                Phase::Models => t
                    .models
                    .iter()
                    .chain(&t.experiments)
                    .chain(&t.pipelines)
                    .collect(),
                Phase::Namespaces | Phase::Checks => Vec::new(),
            };
            for o in objects {
                steps.push(Step::Object {
                    phase,
                    object: in_namespace(o, ns),
                });
            }
        }
    }
    steps
}
