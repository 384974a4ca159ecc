//! Scheduling checks: models Ready or ScheduleFailed with the expected reason; runtimes and servers Ready.
//!
//! Seldon's own readiness is not enough on its own: its component and Server conditions compare
//! `readyReplicas >= status.replicas`, so a workload whose pods were all rejected (0 >= 0) is
//! reported Ready. `runtimeReady` and `serverReady` therefore also wait for every desired pod of
//! the workloads to be Ready, and a failure names the workload and its latest Warning event.
//!
//! Seldon publishes a Server's capabilities only to its scheduler (the Server status has
//! `replicas`, `loadedModels`, `selector` and conditions, see the CRD), so `serverReady` compares
//! the declared capabilities (ServerConfig `SELDON_SERVER_CAPABILITIES`, replaced by
//! `spec.capabilities`, plus `spec.extraCapabilities`) and then asks the scheduler itself: a
//! canary Model requiring them, pinned to the Server, must get past scheduling.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use kube::api::{Api, DeleteParams, DynamicObject};
use serde_json::{Value, json};

use crate::checks::{CheckContext, Deadline, Verdict};
use crate::quota::{self, Readiness, Workload, all_pods_ready};
use crate::scenario::{ModelRef, NamespaceRef, ScheduleFailed, ServerReady};
use crate::wait::{self, Condition, ObservedCondition, Target, WaitError, current_condition};

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

/// Model states (the `ModelReady` message) after which scheduling has been decided.
const SCHEDULED_STATES: [&str; 3] = ["ModelAvailable", "ModelFailed", "LoadFailed"];

fn describe_condition(c: &ObservedCondition) -> String {
    let mut s = format!("{}={}", c.type_, c.status);
    if !c.message.is_empty() {
        s.push_str(&format!(" `{}`", c.message));
    }
    if !c.reason.is_empty() {
        s.push_str(&format!(": {}", c.reason));
    }
    s
}

/// The team's SeldonRuntime name: from the scenario, else the one live in the namespace.
async fn runtime_name(ctx: &CheckContext<'_>, ns: &str) -> Result<String, String> {
    if let Some(name) = ctx
        .scenario
        .team(ns)
        .and_then(|t| t.runtime.as_ref())
        .and_then(|r| r["metadata"]["name"].as_str())
    {
        return Ok(name.to_string());
    }
    let target = Target::seldon("SeldonRuntime", ns, "-");
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &target.resource);
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

/// Why nothing reconciles a runtime: the controller's scope, from its Deployment.
async fn controller_scope(ctx: &CheckContext<'_>) -> String {
    let ns = &ctx.scenario.doc.spec.seldon.controller_namespace;
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(ctx.client.clone(), ns);
    let dep = match api.get_opt("seldon-v2-controller-manager").await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return format!(
                "there is no Deployment {ns}/seldon-v2-controller-manager: the Seldon controller is not installed there"
            );
        }
        Err(e) => return format!("the controller Deployment could not be read: {e}"),
    };
    let env = |key: &str| {
        dep.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.iter().find(|c| c.name == "manager"))
            .and_then(|c| c.env.as_ref())
            .and_then(|e| e.iter().find(|v| v.name == key))
            .and_then(|v| v.value.clone())
            .unwrap_or_default()
    };
    format!(
        "the controller {ns}/seldon-v2-controller-manager runs with CLUSTERWIDE={:?} WATCH_NAMESPACES={:?}; a controller that only watches its own namespace never reconciles runtimes elsewhere (install with controller.clusterwide=true)",
        env("CLUSTERWIDE"),
        env("WATCH_NAMESPACES")
    )
}

/// `runtimeReady`: the SeldonRuntime is Ready for its current generation and every enabled
/// component has all its desired pods Ready.
pub async fn runtime_ready(
    ctx: &CheckContext<'_>,
    r: &NamespaceRef,
    deadline: Deadline,
) -> Verdict {
    let ns = r.namespace.as_str();
    let name = match runtime_name(ctx, ns).await {
        Ok(n) => n,
        Err(e) => return Verdict::fail(e),
    };
    let target = Target::seldon("SeldonRuntime", ns, &name);
    let runtime = match wait::wait_for(
        &ctx.client,
        &target,
        &wait::condition_true("Ready"),
        deadline.remaining(),
    )
    .await
    {
        Ok(Some(obj)) => obj,
        Ok(None) => return Verdict::fail(format!("SeldonRuntime {ns}/{name} vanished")),
        Err(e) => return runtime_not_ready(ctx, ns, &name, &e).await,
    };
    let components = enabled_components(&runtime);
    let waits = components.iter().map(|c| {
        let w = c.workload(ns);
        async move {
            let res = wait::wait_for(
                &ctx.client,
                &w.target(),
                &all_pods_ready(),
                deadline.remaining(),
            )
            .await;
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
            Err(_) => {
                let cond = current_condition(&runtime, c.condition)
                    .map(|c| describe_condition(&c))
                    .unwrap_or_else(|| format!("{} not reported", c.condition));
                problems.push(format!(
                    "component {} (SeldonRuntime condition {cond}): {}",
                    c.name,
                    quota::describe(&ctx.client, &w).await
                ));
            }
        }
    }
    if problems.is_empty() {
        Verdict::pass(format!(
            "SeldonRuntime {ns}/{name} Ready (generation {}); {}",
            runtime.metadata.generation.unwrap_or_default(),
            ready.join("; ")
        ))
    } else {
        Verdict::fail(format!(
            "SeldonRuntime {ns}/{name} reports Ready, but not every pod of its components is Ready after {}:\n  {}",
            humantime::format_duration(deadline.total()),
            problems.join("\n  ")
        ))
    }
}

/// Components not disabled by an override of the runtime.
fn enabled_components(runtime: &DynamicObject) -> Vec<Component> {
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

/// The failure of a runtime that never became Ready: which components, which workloads, why.
async fn runtime_not_ready(
    ctx: &CheckContext<'_>,
    ns: &str,
    name: &str,
    err: &WaitError,
) -> Verdict {
    let Some(report) = err.report() else {
        return Verdict::fail(format!("SeldonRuntime {ns}/{name}: {err}"));
    };
    let Some(last) = &report.last else {
        return Verdict::fail(format!(
            "SeldonRuntime {ns}/{name} does not exist (setup did not create it?)\n{err}"
        ));
    };
    if last.conditions.is_empty() {
        return Verdict::fail(format!(
            "SeldonRuntime {ns}/{name} has no status at all: no Seldon controller reconciles namespace {ns}; {}\n{err}",
            controller_scope(ctx).await
        ));
    }
    let mut lines = Vec::new();
    for c in COMPONENTS {
        match last.conditions.iter().find(|x| x.type_ == c.condition) {
            Some(cond) if cond.status == "True" && !cond.stale => {}
            cond => {
                let state = cond
                    .map(describe_condition)
                    .unwrap_or_else(|| format!("{} not set", c.condition));
                lines.push(format!(
                    "component {} ({state}): {}",
                    c.name,
                    quota::describe(&ctx.client, &c.workload(ns)).await
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
    Verdict::fail(format!(
        "SeldonRuntime {ns}/{name} is not Ready after {}:\n  {}\n{err}",
        humantime::format_duration(report.waited),
        lines.join("\n  ")
    ))
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

/// `serverReady`: the Server is Ready, all its pods are, and its scheduler accepts its capabilities.
pub async fn server_ready(ctx: &CheckContext<'_>, s: &ServerReady, deadline: Deadline) -> Verdict {
    let (ns, name) = (s.namespace.as_str(), s.server.as_str());
    let sts = Workload::stateful_set(ns, name);
    let target = Target::seldon("Server", ns, name);
    let server = match wait::wait_for(
        &ctx.client,
        &target,
        &wait::condition_true("Ready"),
        deadline.remaining(),
    )
    .await
    {
        Ok(Some(o)) => o,
        Ok(None) => return Verdict::fail(format!("Server {ns}/{name} vanished")),
        Err(e) => {
            return Verdict::fail(format!(
                "Server {ns}/{name} is not Ready: {}\n{e}",
                quota::describe(&ctx.client, &sts).await
            ));
        }
    };
    let pods = match wait::wait_for(
        &ctx.client,
        &sts.target(),
        &all_pods_ready(),
        deadline.remaining(),
    )
    .await
    {
        Ok(o) => o.map(|o| Readiness::of(&o)),
        Err(_) => {
            return Verdict::fail(format!(
                "Server {ns}/{name} reports Ready, but its pods are not: {}",
                quota::describe(&ctx.client, &sts).await
            ));
        }
    };
    let pods = pods.map(|p| p.to_string()).unwrap_or_default();
    if s.capabilities.is_empty() {
        return Verdict::pass(format!("Server {ns}/{name} Ready; StatefulSet {pods}"));
    }
    let config_name = server.data["spec"]["serverConfig"]
        .as_str()
        .unwrap_or_default();
    let controller_ns = &ctx.scenario.doc.spec.seldon.controller_namespace;
    let config_target = Target::seldon("ServerConfig", controller_ns, config_name);
    let config_api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), controller_ns, &config_target.resource);
    let config = match config_api.get_opt(config_name).await {
        Ok(c) => c.map(|c| serde_json::to_value(c).unwrap_or_default()),
        Err(e) => {
            return Verdict::fail(format!(
                "cannot read ServerConfig {controller_ns}/{config_name}: {e}"
            ));
        }
    };
    let server_json = serde_json::to_value(&server).unwrap_or_default();
    let declared = declared_capabilities(&server_json, config.as_ref());
    let missing: Vec<&String> = s
        .capabilities
        .iter()
        .filter(|c| !declared.contains(c))
        .collect();
    if !missing.is_empty() {
        return Verdict::fail(format!(
            "Server {ns}/{name} does not declare capabilities {missing:?}: it declares {declared:?} (ServerConfig {controller_ns}/{config_name} SELDON_SERVER_CAPABILITIES, spec.capabilities, spec.extraCapabilities)"
        ));
    }
    match capability_canary(ctx, ns, name, &s.capabilities, deadline).await {
        Ok(state) => Verdict::pass(format!(
            "Server {ns}/{name} Ready; StatefulSet {pods}; declares {declared:?}; the scheduler placed a canary Model requiring {:?} on it ({state})",
            s.capabilities
        )),
        Err(v) => v,
    }
}

/// Applies a Model requiring `capabilities`, pinned to the Server, and reads the scheduler's
/// decision; the Model is deleted afterwards. `Ok` carries the state it reached.
async fn capability_canary(
    ctx: &CheckContext<'_>,
    ns: &str,
    server: &str,
    capabilities: &[String],
    deadline: Deadline,
) -> Result<String, Verdict> {
    let name = crate::isolation::object_name(&["caps", server], ctx.run_id);
    let model = json!({
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            // Never loaded successfully on purpose: only the scheduling decision matters.
            "storageUri": "gs://seldon-conformance-harness/capability-canary",
            "requirements": capabilities,
            "server": server,
        },
    });
    if let Err(e) = ctx.applier().apply(&model).await {
        return Err(Verdict::fail(format!(
            "cannot create the capability canary Model: {e}"
        )));
    }
    let target = Target::seldon("Model", ns, &name);
    let decided = Condition::new(
        "scheduling decided (ScheduleFailed, or loading started)",
        |o| {
            o.and_then(|o| current_condition(o, "ModelReady"))
                .is_some_and(|c| {
                    c.status == "True"
                        || c.message == "ScheduleFailed"
                        || SCHEDULED_STATES.contains(&c.message.as_str())
                })
        },
    );
    let res = wait::wait_for(&ctx.client, &target, &decided, deadline.remaining()).await;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &target.resource);
    if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
        tracing::warn!("could not delete the capability canary Model {ns}/{name}: {e}");
    }
    let obj = match res {
        Ok(Some(o)) => o,
        Ok(None) => return Err(Verdict::fail(format!("canary Model {ns}/{name} vanished"))),
        Err(e) => {
            return Err(Verdict::fail(format!(
                "the scheduler did not decide on a canary Model requiring {capabilities:?} on Server {ns}/{server}\n{e}"
            )));
        }
    };
    let cond = current_condition(&obj, "ModelReady").expect("the condition held");
    if cond.message == "ScheduleFailed" {
        return Err(Verdict::fail(format!(
            "Server {ns}/{server} is Ready but the scheduler does not see capabilities {capabilities:?} on it: a canary Model requiring them, pinned to the Server, was ScheduleFailed: {} (Seldon's agents announce capabilities only to the scheduler; check the agent's SELDON_SERVER_CAPABILITIES and its connection to seldon-scheduler)",
            cond.reason
        )));
    }
    Ok(describe_condition(&cond))
}

/// `modelReady`: `ModelReady` True for the current generation.
pub async fn model_ready(ctx: &CheckContext<'_>, m: &ModelRef, deadline: Deadline) -> Verdict {
    let (ns, name) = (m.namespace.as_str(), m.model.as_str());
    let target = Target::seldon("Model", ns, name);
    match wait::wait_for(
        &ctx.client,
        &target,
        &wait::condition_true("ModelReady"),
        deadline.remaining(),
    )
    .await
    {
        Ok(Some(o)) => Verdict::pass(format!(
            "Model {ns}/{name} {}; availableReplicas {}",
            current_condition(&o, "ModelReady")
                .map(|c| describe_condition(&c))
                .unwrap_or_default(),
            o.data["status"]["availableReplicas"].as_i64().unwrap_or(0)
        )),
        Ok(None) => Verdict::fail(format!("Model {ns}/{name} vanished")),
        Err(e) => {
            let state = e.report().and_then(|r| r.last.as_ref()).and_then(|l| {
                l.conditions
                    .iter()
                    .find(|c| c.type_ == "ModelReady")
                    .cloned()
            });
            let head = match state {
                Some(c) => format!(
                    "Model {ns}/{name} is not Ready: state `{}`{}",
                    if c.message.is_empty() {
                        "(none)"
                    } else {
                        &c.message
                    },
                    if c.reason.is_empty() {
                        String::new()
                    } else {
                        format!(", scheduler/agent reason: {}", c.reason)
                    }
                ),
                None if e.report().is_some_and(|r| r.last.is_none()) => {
                    format!("Model {ns}/{name} does not exist")
                }
                None => format!(
                    "Model {ns}/{name} has no ModelReady condition: no controller reconciles it"
                ),
            };
            Verdict::fail(format!("{head}\n{e}"))
        }
    }
}

/// Names of the Servers in a namespace, for messages.
async fn servers_in(ctx: &CheckContext<'_>, ns: &str) -> BTreeSet<String> {
    let target = Target::seldon("Server", ns, "-");
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &target.resource);
    api.list(&Default::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|o| o.metadata.name)
                .collect()
        })
        .unwrap_or_default()
}

/// How long a `scheduleFailed` Model must stay unscheduled once every Server could take it.
/// Seldon retries failed models when a Server's agent connects, so an early ScheduleFailed
/// proves nothing; proving "never scheduled" needs a window, and this is it.
pub const SETTLE_WINDOW: Duration = Duration::from_secs(20);

/// Waits (within the deadline) until the namespace's scheduler and every Server of the scenario
/// are up, so a scheduling decision is final; returns what did not come up, for messages.
async fn placements_settled(ctx: &CheckContext<'_>, ns: &str, deadline: Deadline) -> Vec<String> {
    let mut workloads = Vec::new();
    if ctx.scenario.team(ns).is_some_and(|t| t.runtime.is_some()) {
        workloads.push(Workload::stateful_set(ns, "seldon-scheduler"));
    }
    for team in &ctx.scenario.doc.spec.teams {
        for server in &team.servers {
            if let Some(name) = server["metadata"]["name"].as_str() {
                workloads.push(Workload::stateful_set(&team.namespace, name));
            }
        }
    }
    let waits = workloads.iter().map(|w| async move {
        wait::wait_for(
            &ctx.client,
            &w.target(),
            &all_pods_ready(),
            deadline.remaining(),
        )
        .await
        .err()
        .map(|_| format!("{w} never had all its pods Ready"))
    });
    join_all(waits).await.into_iter().flatten().collect()
}

/// `scheduleFailed`: `ModelReady` False with `ScheduleFailed` and the expected reason, and it
/// stays so for [`SETTLE_WINDOW`] once every Server is up; a Model that becomes Ready instead
/// fails the check (it was placed where it must not be).
pub async fn schedule_failed(
    ctx: &CheckContext<'_>,
    s: &ScheduleFailed,
    deadline: Deadline,
) -> Verdict {
    let (ns, name) = (s.namespace.as_str(), s.model.as_str());
    let target = Target::seldon("Model", ns, name);
    let unsettled = placements_settled(ctx, ns, deadline).await;
    let window = deadline.remaining().min(SETTLE_WINDOW);
    let note = if unsettled.is_empty() {
        String::new()
    } else {
        format!(" (not every placement was up: {})", unsettled.join("; "))
    };
    match wait::wait_for(
        &ctx.client,
        &target,
        &wait::condition_true("ModelReady"),
        window,
    )
    .await
    {
        Ok(Some(o)) => {
            let servers = servers_in(ctx, ns).await;
            let placed = o.data["status"]["selector"]
                .as_str()
                .unwrap_or("not reported");
            Verdict::fail(format!(
                "Model {ns}/{name} became Ready, but it must fail to schedule (`{}`): Servers in namespace {ns}: {servers:?}; status.selector: {placed}. If no Server of {ns} can serve it, the scheduler placed it on a Server of another namespace, which breaks team isolation",
                s.reason
            ))
        }
        Ok(None) => Verdict::fail(format!("Model {ns}/{name} vanished")),
        Err(e) => {
            let last = e.report().and_then(|r| r.last.as_ref()).and_then(|l| {
                l.conditions
                    .iter()
                    .find(|c| c.type_ == "ModelReady" && !c.stale)
                    .cloned()
            });
            match last {
                Some(c)
                    if c.status == "False"
                        && c.message == "ScheduleFailed"
                        && c.reason.contains(&s.reason) =>
                {
                    Verdict::pass(format!(
                        "Model {ns}/{name} {} and stayed unscheduled for {} with every Server up{note}",
                        describe_condition(&c),
                        humantime::format_duration(Duration::from_secs(window.as_secs()))
                    ))
                }
                Some(c) => Verdict::fail(format!(
                    "Model {ns}/{name} did not fail to schedule with `{}`: it is {}{note}\n{e}",
                    s.reason,
                    describe_condition(&c)
                )),
                None => Verdict::fail(format!(
                    "Model {ns}/{name} has no current ModelReady condition: nothing scheduled it{note}\n{e}"
                )),
            }
        }
    }
}
