//! Scheduling checks: `runtimeReady`, `serverReady`, `modelReady` and `scheduleFailed`.
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
use serde_json::json;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::seldon::{
    SCHEDULED_STATES, declared_capabilities, describe_condition, disabled_workloads, runtime_name,
    runtime_readiness,
};
use crate::kube::settle::{ModelDecision, PodsNotReady, model_decision, pods_ready_or_refused};
use crate::kube::wait::{self, Deadline};
use crate::kube::workload::{Readiness, Workload, all_pods_ready, describe};
use crate::kube::{Condition, ObservedCondition, Watched, condition_true, current_condition};
use crate::names::object_name;
use crate::scenario::{ModelRef, NamespaceRef, ScheduleFailed, ServerReady};

/// `runtimeReady`: the SeldonRuntime is Ready for its current generation and every enabled
/// component has all its desired pods Ready.
pub async fn runtime_ready(
    ctx: &CheckContext<'_>,
    r: &NamespaceRef,
    deadline: Deadline,
) -> Verdict {
    let ns = r.namespace.as_str();
    let name = match runtime_name(&ctx.client, ns, ctx.declared_runtime(ns)).await {
        Ok(n) => n,
        Err(e) => return Verdict::fail(e),
    };
    let controller_ns = &ctx.scenario.doc.spec.seldon.controller_namespace;
    let detail = match runtime_readiness(&ctx.client, ns, &name, controller_ns, deadline).await {
        Ok(detail) => detail,
        Err(reason) => return Verdict::fail(reason),
    };
    // A disabled component must not run at all (docs/seldon-behaviour.md §14).
    match disabled_workloads(&ctx.client, ns, &name).await {
        Ok(present) if present.is_empty() => Verdict::pass(detail),
        Ok(present) => Verdict::fail(format!(
            "SeldonRuntime {ns}/{name} disables components in overrides[] but their workloads exist: {} (upstream reconciles no workload for a disabled component)",
            present.join(", ")
        )),
        Err(e) => Verdict::fail(e),
    }
}

/// `serverReady`: the Server is Ready, all its pods are, and its scheduler accepts its capabilities.
pub async fn server_ready(ctx: &CheckContext<'_>, s: &ServerReady, deadline: Deadline) -> Verdict {
    let (ns, name) = (s.namespace.as_str(), s.server.as_str());
    let sts = Workload::stateful_set(ns, name);
    let target = Watched::seldon("Server", ns, name);
    // Pods refused on every retry (quota without a limit they lack) end the wait at once.
    let refused = async {
        match pods_ready_or_refused(&ctx.client, &sts, deadline).await {
            Err(PodsNotReady::Refused(e)) => e,
            _ => std::future::pending().await,
        }
    };
    let server_ready = condition_true("Ready");
    let ready = wait::wait_for(&ctx.client, &target, &server_ready, deadline.remaining());
    let server = tokio::select! {
        r = ready => r,
        e = refused => {
            return Verdict::fail(format!(
                "Server {ns}/{name} is not Ready, and cannot become so: its pods are refused on every retry: {} {}: {} ({})",
                e.type_, e.reason, e.message, describe(&ctx.client, &sts).await
            ));
        }
    };
    let server = match server {
        Ok(Some(o)) => o,
        Ok(None) => return Verdict::fail(format!("Server {ns}/{name} vanished")),
        Err(e) => {
            return Verdict::fail(format!(
                "Server {ns}/{name} is not Ready: {}\n{e}",
                describe(&ctx.client, &sts).await
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
                describe(&ctx.client, &sts).await
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
    let config_target = Watched::seldon("ServerConfig", controller_ns, config_name);
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
    let name = object_name(&["caps", server], ctx.run_id);
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
    let target = Watched::seldon("Model", ns, &name);
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

/// `modelReady`: `ModelReady` True for the current generation; fails at once, with the proof,
/// when the Model has failed for good (`kube::settle::model_decision`).
pub async fn model_ready(ctx: &CheckContext<'_>, m: &ModelRef, deadline: Deadline) -> Verdict {
    let (ns, name) = (m.namespace.as_str(), m.model.as_str());
    match model_decision(&ctx.client, ns, name, &ctx.settling(), deadline).await {
        Ok(ModelDecision::Ready(Some(o))) => match m.available_replicas {
            Some(n) => available_replicas(ctx, ns, name, n, deadline).await,
            None => Verdict::pass(format!(
                "Model {ns}/{name} {}; availableReplicas {}",
                current_condition(&o, "ModelReady")
                    .map(|c| describe_condition(&c))
                    .unwrap_or_default(),
                o.data["status"]["availableReplicas"].as_i64().unwrap_or(0)
            )),
        },
        Ok(ModelDecision::Ready(None)) => Verdict::fail(format!("Model {ns}/{name} vanished")),
        Ok(ModelDecision::Final { condition, proof }) => Verdict::fail(format!(
            "Model {ns}/{name} is not Ready: {}; {proof}",
            state_and_reason(&condition)
        )),
        Err(e) => {
            let state = e.report().and_then(|r| r.last.as_ref()).and_then(|l| {
                l.conditions
                    .iter()
                    .find(|c| c.type_ == "ModelReady")
                    .cloned()
            });
            let unscheduled = state
                .as_ref()
                .is_some_and(|c| c.message == "ScheduleFailed");
            let head = match state {
                Some(c) => format!("Model {ns}/{name} is not Ready: {}", state_and_reason(&c)),
                None if e.report().is_some_and(|r| r.last.is_none()) => {
                    format!("Model {ns}/{name} does not exist")
                }
                None => format!(
                    "Model {ns}/{name} has no ModelReady condition: no controller reconciles it"
                ),
            };
            let mut text = format!("{head}\n{e}");
            // Not scheduled: the Servers' pods usually say why (an agent that exits at startup,
            // e.g. over a missing preloaded rclone Secret, never registers with the scheduler).
            if unscheduled {
                for server in servers_in(ctx, ns).await {
                    let w = Workload::stateful_set(ns, &server);
                    text.push_str(&format!("\nServer {}", describe(&ctx.client, &w).await));
                }
            }
            Verdict::fail(text)
        }
    }
}

/// A Ready Model reaches `status.availableReplicas` = `n` (replicas load one by one, so the first
/// Ready may report fewer): with `minReplicas` the scheduler places what fits and reports it.
async fn available_replicas(
    ctx: &CheckContext<'_>,
    ns: &str,
    name: &str,
    n: i64,
    deadline: Deadline,
) -> Verdict {
    let target = Watched::seldon("Model", ns, name);
    let cond = Condition::new(
        format!("ModelReady=True with status.availableReplicas {n}"),
        move |o| {
            o.is_some_and(|o| {
                current_condition(o, "ModelReady").is_some_and(|c| c.status == "True")
                    && o.data["status"]["availableReplicas"].as_i64() == Some(n)
            })
        },
    );
    match wait::wait_for(&ctx.client, &target, &cond, deadline.remaining()).await {
        Ok(Some(o)) => Verdict::pass(format!(
            "Model {ns}/{name} Ready with availableReplicas {n} of spec.replicas {} (status.replicas {})",
            o.data["spec"]["replicas"], o.data["status"]["replicas"]
        )),
        Ok(None) => Verdict::fail(format!("Model {ns}/{name} vanished")),
        Err(e) => Verdict::fail(format!(
            "Model {ns}/{name} is Ready but does not report availableReplicas {n}\n{e}"
        )),
    }
}

/// `state `X`, scheduler/agent reason: …`, for messages.
fn state_and_reason(c: &ObservedCondition) -> String {
    format!(
        "state `{}`{}",
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
    )
}

/// Names of the Servers in a namespace, for messages.
async fn servers_in(ctx: &CheckContext<'_>, ns: &str) -> BTreeSet<String> {
    let target = Watched::seldon("Server", ns, "-");
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

/// `scheduleFailed`: `ModelReady` False with `ScheduleFailed` and the expected reason once the
/// scheduler and every Server are up, and final: no Server is left to connect and trigger a
/// retry, and no placement showed within the settle window (`kube::settle`). A Model that becomes
/// Ready instead fails the check (it was placed where it must not be).
pub async fn schedule_failed(
    ctx: &CheckContext<'_>,
    s: &ScheduleFailed,
    deadline: Deadline,
) -> Verdict {
    let (ns, name) = (s.namespace.as_str(), s.model.as_str());
    let unsettled = placements_settled(ctx, ns, deadline).await;
    let note = if unsettled.is_empty() {
        String::new()
    } else {
        format!(" (not every placement was up: {})", unsettled.join("; "))
    };
    match model_decision(&ctx.client, ns, name, &ctx.settling(), deadline).await {
        Ok(ModelDecision::Ready(Some(o))) => {
            let servers = servers_in(ctx, ns).await;
            let placed = o.data["status"]["selector"]
                .as_str()
                .unwrap_or("not reported");
            Verdict::fail(format!(
                "Model {ns}/{name} became Ready, but it must fail to schedule (`{}`): Servers in namespace {ns}: {servers:?}; status.selector: {placed}. If no Server of {ns} can serve it, the scheduler placed it on a Server of another namespace, which breaks team isolation",
                s.reason
            ))
        }
        Ok(ModelDecision::Ready(None)) => Verdict::fail(format!("Model {ns}/{name} vanished")),
        Ok(ModelDecision::Final {
            condition: c,
            proof,
        }) if c.message == "ScheduleFailed" && c.reason.contains(&s.reason) => {
            Verdict::pass(format!(
                "Model {ns}/{name} {}; {proof}{note}",
                describe_condition(&c)
            ))
        }
        Ok(ModelDecision::Final {
            condition: c,
            proof,
        }) => Verdict::fail(format!(
            "Model {ns}/{name} did not fail to schedule with `{}`: it is {}; {proof}{note}",
            s.reason,
            describe_condition(&c)
        )),
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
                        "Model {ns}/{name} {} and stayed unscheduled for {}{note}",
                        describe_condition(&c),
                        humantime::format_duration(Duration::from_secs(deadline.total().as_secs()))
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
