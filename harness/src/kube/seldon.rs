//! Seldon Core v2 objects as the checks read them: runtime components and their readiness, Model
//! readiness (the one model-ready wait), and Server capabilities.
//!
//! Seldon's own readiness is not enough on its own: its component and Server conditions compare
//! `readyReplicas >= status.replicas`, so a workload whose pods were all rejected (0 >= 0) is
//! reported Ready. Runtime readiness therefore also waits for every desired pod of the workloads
//! to be Ready, and a failure names the workload and its latest Warning event.

use futures::future::join_all;
use kube::Client;
use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::condition::{Condition, ObservedCondition, condition_true, current_condition, exists};
use super::object::Watched;
use super::observe::WaitError;
use super::settle::{ModelDecision, PodsNotReady, Settling, model_decision, pods_ready_or_refused};
use super::wait::{Deadline, wait_for};
use super::workload::{Readiness, Workload, all_pods_ready, describe};

/// A SeldonRuntime component: its name, its condition on the runtime, its workload kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Component name (also the workload's name).
    pub name: &'static str,
    /// The SeldonRuntime condition reporting it.
    pub condition: &'static str,
    /// Whether it runs as a StatefulSet (else a Deployment).
    pub stateful: bool,
}

/// The six components a SeldonRuntime reconciles (SeldonConfig component names).
pub const COMPONENTS: [Component; 6] = [
    Component {
        name: "seldon-scheduler",
        condition: "SchedulerReady",
        stateful: true,
    },
    Component {
        name: "seldon-envoy",
        condition: "EnvoyReady",
        stateful: false,
    },
    Component {
        name: "seldon-modelgateway",
        condition: "ModelGatewayReady",
        stateful: false,
    },
    Component {
        name: "seldon-pipelinegateway",
        condition: "PipelineGatewayReady",
        stateful: false,
    },
    Component {
        name: "hodometer",
        condition: "HodometerReady",
        stateful: false,
    },
    Component {
        name: "seldon-dataflow-engine",
        condition: "DataflowEngineReady",
        stateful: false,
    },
];

impl Component {
    /// The component's workload in a namespace.
    pub fn workload(&self, namespace: &str) -> Workload {
        if self.stateful {
            Workload::stateful_set(namespace, self.name)
        } else {
            Workload::deployment(namespace, self.name)
        }
    }
}
/// How long a Model expected not to be scheduled (or served) must stay so once its placements
/// are up: Seldon retries failed models when a Server's agent connects, so an early failure
/// proves nothing on its own.
pub const SETTLE_WINDOW: std::time::Duration = std::time::Duration::from_secs(20);
/// Model states (the `ModelReady` message) after which scheduling has been decided.
pub const SCHEDULED_STATES: [&str; 3] = ["ModelAvailable", "ModelFailed", "LoadFailed"];
/// `Type=Status `message`: reason`, for messages.
pub fn describe_condition(c: &ObservedCondition) -> String {
    let mut s = format!("{}={}", c.type_, c.status);
    if !c.message.is_empty() {
        s.push_str(&format!(" `{}`", c.message));
    }
    if !c.reason.is_empty() {
        s.push_str(&format!(": {}", c.reason));
    }
    s
}
/// A namespace's SeldonRuntime name: the declared one (the scenario's), else the one live there.
pub async fn runtime_name(
    client: &Client,
    ns: &str,
    declared: Option<&str>,
) -> Result<String, String> {
    if let Some(name) = declared {
        return Ok(name.to_string());
    }
    let target = Watched::seldon("SeldonRuntime", ns, "-");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &target.resource);
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| format!("cannot list SeldonRuntimes in {ns}: {e}"))?;
    list.items
        .into_iter()
        .find_map(|o| o.metadata.name)
        .ok_or_else(|| {
            format!("namespace {ns} has no SeldonRuntime (the scenario gives its team none)")
        })
}
/// Why nothing reconciles a runtime in `ns`: the controller's scope, from its Deployment.
pub async fn controller_scope(client: &Client, controller_ns: &str, ns: &str) -> String {
    match super::controller_scope::read(client, controller_ns).await {
        Ok(scope) if scope.watches(ns) => format!(
            "{}, which should include namespace {ns}, yet nothing reconciles it: the controller does not act on its flags as a cluster-wide one does (check that controller.clusterwide=true took effect, and its logs)",
            scope.flags()
        ),
        Ok(scope) => scope.explain(ns),
        Err(e) => e,
    }
}
/// The SeldonRuntime `ns/name` is Ready for its current generation and every enabled component
/// has all its desired pods Ready: `Ok` says what was observed, `Err` names the components that
/// are not and why (`controller_ns` explains a runtime nothing reconciles).
///
/// Upstream sets no condition for a disabled component, and the aggregate `Ready` depends on all
/// six (Knative condition set, `seldonruntime_types.go`), so with a component disabled `Ready`
/// never becomes True: then exactly the enabled components' conditions are judged.
pub async fn runtime_readiness(
    client: &Client,
    ns: &str,
    name: &str,
    controller_ns: &str,
    deadline: Deadline,
) -> Result<String, String> {
    let name = name.to_string();
    let target = Watched::seldon("SeldonRuntime", ns, &name);
    let declared = match wait_for(client, &target, &exists(), deadline.remaining()).await {
        Ok(Some(obj)) => obj,
        Ok(None) => return Err(format!("SeldonRuntime {ns}/{name} vanished")),
        Err(e) => {
            return Err(runtime_not_ready(client, ns, &name, controller_ns, &e, &COMPONENTS).await);
        }
    };
    let components = enabled_components(&declared);
    let disabled: Vec<&str> = COMPONENTS
        .iter()
        .filter(|c| !components.contains(c))
        .map(|c| c.name)
        .collect();
    let judged = if disabled.is_empty() {
        condition_true("Ready")
    } else {
        components_ready(&components)
    };
    let runtime = match wait_for(client, &target, &judged, deadline.remaining()).await {
        Ok(Some(obj)) => obj,
        Ok(None) => return Err(format!("SeldonRuntime {ns}/{name} vanished")),
        Err(e) => {
            return Err(runtime_not_ready(client, ns, &name, controller_ns, &e, &components).await);
        }
    };
    let aggregate = if disabled.is_empty() {
        String::new()
    } else {
        format!(
            " (disabled: {}; upstream sets no condition for a disabled component, so the aggregate Ready can never become True: judged the enabled components' conditions)",
            disabled.join(", ")
        )
    };
    let components = enabled_components(&runtime);
    let waits = components.iter().map(|c| {
        let w = c.workload(ns);
        async move {
            let res = pods_ready_or_refused(client, &w, deadline).await;
            (c, w, res)
        }
    });
    let mut ready = Vec::new();
    let mut problems = Vec::new();
    for (c, w, res) in join_all(waits).await {
        match res {
            Ok(obj) => ready.push(format!(
                "{} {}",
                c.name,
                obj.map(|o| Readiness::of(&o).to_string())
                    .unwrap_or_default()
            )),
            Err(e) => {
                let cond = current_condition(&runtime, c.condition)
                    .map(|c| describe_condition(&c))
                    .unwrap_or_else(|| format!("{} not reported", c.condition));
                let refused = match e {
                    PodsNotReady::Refused(ev) => format!(
                        " (final: its pods are refused on every retry: {} {}: {})",
                        ev.type_, ev.reason, ev.message
                    ),
                    PodsNotReady::Wait(_) => String::new(),
                };
                problems.push(format!(
                    "component {} (SeldonRuntime condition {cond}): {}{refused}",
                    c.name,
                    describe(client, &w).await
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "SeldonRuntime {ns}/{name} Ready (generation {}){aggregate}; {}",
            runtime.metadata.generation.unwrap_or_default(),
            ready.join("; ")
        ))
    } else {
        Err(format!(
            "SeldonRuntime {ns}/{name} reports Ready, but not every pod of its components is Ready (waited up to {}):\n  {}",
            humantime::format_duration(deadline.total()),
            problems.join("\n  ")
        ))
    }
}

/// Every given component's SeldonRuntime condition is True for the current generation.
fn components_ready(components: &[Component]) -> Condition {
    let types: Vec<&'static str> = components.iter().map(|c| c.condition).collect();
    Condition::new(format!("conditions {}=True", types.join(", ")), move |o| {
        o.is_some_and(|o| {
            types
                .iter()
                .all(|t| current_condition(o, t).is_some_and(|c| c.status == "True"))
        })
    })
}

/// Components not disabled by an override of the runtime.
pub fn enabled_components(runtime: &DynamicObject) -> Vec<Component> {
    let overrides = runtime.data["spec"]["overrides"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    COMPONENTS
        .into_iter()
        .filter(|c| {
            !overrides
                .iter()
                .any(|o| o["name"] == c.name && o["disable"] == true)
        })
        .collect()
}

/// Workloads that exist for components the runtime `ns/name` disables (upstream reconciles none:
/// `runtime_reconciler.go` skips a component whose override has `disable: true`).
pub async fn disabled_workloads(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Vec<String>, String> {
    let target = Watched::seldon("SeldonRuntime", ns, name);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &target.resource);
    let runtime = api
        .get(name)
        .await
        .map_err(|e| format!("cannot read SeldonRuntime {ns}/{name}: {e}"))?;
    let enabled = enabled_components(&runtime);
    let mut present = Vec::new();
    for c in COMPONENTS.iter().filter(|c| !enabled.contains(c)) {
        let w = c.workload(ns);
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &w.target().resource);
        match api.get_opt(c.name).await {
            Ok(Some(_)) => present.push(format!("{:?} {ns}/{}", w.kind, c.name)),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot read {:?} {ns}/{}: {e}", w.kind, c.name)),
        }
    }
    Ok(present)
}

/// The failure of a runtime that never became Ready: which components, which workloads, why.
async fn runtime_not_ready(
    client: &Client,
    ns: &str,
    name: &str,
    controller_ns: &str,
    err: &WaitError,
    enabled: &[Component],
) -> String {
    let Some(report) = err.report() else {
        return format!("SeldonRuntime {ns}/{name}: {err}");
    };
    let Some(last) = &report.last else {
        return format!(
            "SeldonRuntime {ns}/{name} does not exist (setup did not create it?)\n{err}"
        );
    };
    if last.conditions.is_empty() {
        return format!(
            "SeldonRuntime {ns}/{name} has no status at all: no Seldon controller reconciles namespace {ns}; {}\n{err}",
            controller_scope(client, controller_ns, ns).await
        );
    }
    let mut lines = Vec::new();
    for c in enabled {
        match last.conditions.iter().find(|x| x.type_ == c.condition) {
            Some(cond) if cond.status == "True" && !cond.stale => {}
            cond => {
                let state = cond
                    .map(describe_condition)
                    .unwrap_or_else(|| format!("{} not set", c.condition));
                lines.push(format!(
                    "component {} ({state}): {}",
                    c.name,
                    describe(client, &c.workload(ns)).await
                ));
            }
        }
    }
    if lines.is_empty() {
        lines.push(format!(
            "every component condition is True but Ready is not ({})",
            last.state()
        ));
    }
    format!(
        "SeldonRuntime {ns}/{name} is not Ready after {}:\n  {}\n{err}",
        humantime::format_duration(report.waited),
        lines.join("\n  ")
    )
}
/// Capabilities a Server declares: the ServerConfig's agent `SELDON_SERVER_CAPABILITIES`,
/// replaced by `spec.capabilities` when given, plus `spec.extraCapabilities` (Seldon's docs).
pub fn declared_capabilities(server: &Value, server_config: Option<&Value>) -> Vec<String> {
    let list = |v: &Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
    };
    let mut caps = list(&server["spec"]["capabilities"]).unwrap_or_else(|| {
        server_config
            .and_then(|sc| sc["spec"]["podSpec"]["containers"].as_array())
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == "agent")
            .flat_map(|c| c["env"].as_array().cloned().unwrap_or_default())
            .find(|e| e["name"] == "SELDON_SERVER_CAPABILITIES")
            .and_then(|e| e["value"].as_str().map(str::to_string))
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    });
    caps.extend(list(&server["spec"]["extraCapabilities"]).unwrap_or_default());
    caps
}
/// Waits until the Model is Ready and `seldon-mesh` has a Ready envoy, so inference running
/// concurrently with setup does not race the model's load; the failure names the state, and comes
/// at once when the Model has failed for good ([`model_decision`]).
pub async fn model_served(
    client: &Client,
    namespace: &str,
    model: &str,
    settling: &Settling,
    deadline: Deadline,
) -> Result<(), String> {
    match model_decision(client, namespace, model, settling, deadline).await {
        Ok(ModelDecision::Ready(_)) => {}
        Ok(ModelDecision::Final { condition, proof }) => {
            return Err(format!(
                "inference not attempted: Model {namespace}/{model} is {}; {proof}",
                describe_condition(&condition)
            ));
        }
        Err(e) => {
            return Err(format!(
                "inference not attempted: Model {namespace}/{model} is not Ready\n{e}"
            ));
        }
    }
    // seldon-mesh answers only through a Ready envoy pod.
    let envoy = Workload::deployment(namespace, "seldon-envoy");
    if let Err(e) = wait_for(
        client,
        &envoy.target(),
        &all_pods_ready(),
        deadline.remaining(),
    )
    .await
    {
        return Err(format!(
            "inference not attempted: seldon-mesh of {namespace} has no Ready envoy: {}\n{e}",
            describe(client, &envoy).await
        ));
    }
    Ok(())
}
