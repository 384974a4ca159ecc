//! Documented Seldon Core v2 control-plane behaviour: runtimes, servers, model scheduling.
//!
//! Sources (docs/seldon-behaviour.md §1–§6, §10 and the operator code it cites):
//! - The controller (Deployment `seldon-v2-controller-manager`) reads `CLUSTERWIDE` and
//!   `WATCH_NAMESPACES` from its env; not cluster-wide it only sees its own namespace.
//!   SeldonConfig/ServerConfig are always read from the controller's namespace.
//! - Runtime component conditions follow `GetConditions` of the operator's component
//!   reconcilers: `readyReplicas >= status.replicas` — so a component whose pods are all
//!   rejected (0 >= 0) reports Ready. Check the workloads, not only the SeldonRuntime.
//! - Servers get a StatefulSet (`Parallel`, label `seldon-server-name`); `StatefulSetOrDeploymentReady`
//!   compares `readyReplicas >= spec.replicas` (the desired count, unlike the components).
//! - Models are scheduled by the namespace's own scheduler onto Servers whose agents connected
//!   (Ready server pods while the scheduler pod is Ready); see [`model`].

mod agent;
mod components;
pub mod defaults;
mod endpoint;
mod experiment;
mod install;
mod kafka;
mod model;
mod pipeline;
mod placement;
mod podspec;
mod runtime;
mod scope;
mod server;
pub mod storage;
mod traffic;
mod upgrade;

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use crate::control::context::Ctx;
use crate::control::netview::network_view;
use crate::control::objects::{deleting, namespace, res, set_status};
use crate::faults::Defect;
use runtime::{RuntimeView, reconcile_runtime, runtime_view};
use scope::controller;
use server::reconcile_server;
use traffic::envoys_configured;

pub use crate::control::context::StoreKeys;
pub(crate) use agent::agent_crash;
pub use components::{
    COMPONENT_NAMES, CONTROLLER_DEPLOYMENT, MESH_SERVICE, NAME_LABEL, SERVER_LABEL, condition_type,
};
pub use install::{InstallOptions, Kafka, install};
pub use kafka::{KAFKA_BOOTSTRAP_SERVICE, KAFKA_COMPONENTS, KAFKA_PORT};
pub(crate) use kafka::{bootstrap_servers, unreachable as kafka_unreachable};
pub use pipeline::{NO_DATAFLOW_ENGINE, NO_PIPELINE_GATEWAY};
pub use podspec::merge_pod_spec;
pub(crate) use traffic::agent_unconnected;
pub use traffic::{AGENT_PROXY_PORTS, AGENT_SCHEDULER, API_SERVER, ENVOY_XDS};
pub use upgrade::{restore_crds, roll_components, upgrade_crds};

/// One reconcile pass of the Seldon control plane.
/// The envoy pods that may take their configuration now: under defect EnvoyRoutesLateAfterRestart
/// a replacement envoy gets it only `LATE` after it first reached the scheduler, so it goes live
/// on its `initial_fetch_timeout` without routes.
fn late_envoys_wait(ctx: &mut Ctx, envoys: Vec<String>) -> Vec<String> {
    if !ctx.faults.has(Defect::EnvoyRoutesLateAfterRestart) {
        return envoys;
    }
    let now = ctx.pass_started;
    let memory = &mut ctx.memory;
    envoys
        .into_iter()
        .filter(|u| {
            if !memory.replacements.contains(u) {
                return true;
            }
            let due = *memory.envoy_reached_since.entry(u.clone()).or_insert(now)
                + crate::control::memory::LATE;
            if due > now {
                memory.wake_at(due);
            }
            due <= now
        })
        .collect()
}

pub(crate) async fn reconcile(ctx: &mut Ctx) {
    let Some(ctl) = controller(ctx) else {
        endpoint::sync(
            ctx,
            &HashMap::new(),
            &HashMap::new(),
            &HashMap::new(),
            &BTreeMap::new(),
        );
        return;
    };
    let mut runtimes: BTreeMap<String, RuntimeView> = BTreeMap::new();
    let (list, _) = ctx.store.list(res("SeldonRuntime"), None);
    let mut view = None;
    for rt in list
        .iter()
        .filter(|r| ctl.watches(namespace(r)) && !deleting(r))
    {
        reconcile_runtime(ctx, &ctl, rt);
        let view = view.get_or_insert_with(|| network_view(ctx));
        // A running envoy that reaches the scheduler gets its configuration; envoy keeps it
        // while the scheduler is away (docs/seldon-behaviour.md §25, §26).
        let reached = envoys_configured(
            &ctx.store,
            view,
            namespace(rt),
            ctx.faults.seldon_traffic_unpoliced(),
        );
        // Defect EnvoyRoutesLateAfterRestart: a replacement envoy's first configuration is late.
        let reached = late_envoys_wait(ctx, reached);
        let ready: Vec<String> =
            traffic::ready_pods(&ctx.store, namespace(rt), NAME_LABEL, "seldon-envoy")
                .iter()
                .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string))
                .collect();
        let forget = ctx.faults.has(Defect::EnvoyForgetsConfigWithoutScheduler);
        let configured = &mut ctx.memory.configured_envoys;
        if forget {
            // The defect: an envoy that lost its xDS connection drops its configuration.
            for u in ready.iter().filter(|u| !reached.contains(u)) {
                configured.remove(u);
            }
        }
        configured.extend(reached);
        let xds_ok = ready.iter().any(|u| configured.contains(u));
        runtimes.insert(
            namespace(rt).to_string(),
            runtime_view(&ctx.store, namespace(rt), xds_ok),
        );
    }
    let view = view.unwrap_or_else(|| network_view(ctx));
    model::finalize(ctx, &ctl, &view, &runtimes);
    let mut servers = Vec::new();
    let (list, _) = ctx.store.list(res("Server"), None);
    for s in list
        .iter()
        .filter(|s| ctl.watches(namespace(s)) && !deleting(s))
    {
        let up = runtimes.get(namespace(s)).is_some_and(|r| r.scheduler_up);
        if let Some(info) = reconcile_server(ctx, &ctl, s, up) {
            servers.push(info);
        }
    }
    let (served, model_statuses) = model::reconcile(ctx, &ctl, &view, &runtimes, &mut servers);
    for s in &servers {
        if let Some(obj) = ctx.store.get(res("Server"), Some(&s.namespace), &s.name) {
            let mut status = obj["status"].clone();
            if status.is_object() {
                status["loadedModels"] = json!(s.loaded_models);
                set_status(&ctx.store, res("Server"), &obj, status);
            }
        }
    }
    let (routes, experiment_statuses) = experiment::reconcile(ctx, &ctl, &runtimes, &served);
    let (pipelines, pipeline_statuses) = pipeline::reconcile(ctx, &ctl, &runtimes, &model_statuses);
    endpoint::sync(ctx, &served, &routes, &pipelines, &runtimes);
    model::publish(ctx, model_statuses);
    experiment::publish(ctx, experiment_statuses);
    pipeline::publish(ctx, pipeline_statuses);
}

#[cfg(test)]
mod tests;
