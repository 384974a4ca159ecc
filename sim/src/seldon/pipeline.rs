//! Pipelines, as Seldon's operator, scheduler, pipeline gateway and dataflow engine report them
//! (docs/seldon-behaviour.md §24).
//!
//! - No scheduler to talk to: the operator's `LoadPipeline` fails and `updateStatusFromError`
//!   sets `PipelineReady` False with message `PipelineCreating` and the gRPC error as reason.
//! - Otherwise the scheduler's state: the pipeline gateway's status is `PipelineReady` once a
//!   pipeline gateway pod serves it, else `PipelineCreate` with "No pipeline gateway available to
//!   handle pipeline"; the dataflow engine's likewise with "no dataflow engines available to handle
//!   pipeline". Both need Kafka, so without it a Pipeline is never Ready. The operator writes
//!   `PipelineGwReady` and `PipelineReady` with reason = status name and message = `<gateway
//!   reason> | <dataflow reason>` (empty ones as "Empty reason"), then `ModelsReady` ("Models all
//!   available" / "Some models are not available": every step's Model available on the model
//!   gateway, which needs Kafka too). `Ready` follows knative's living condition set.
//! - A Ready pipeline is served by its namespace's endpoint as `<name>.pipeline`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::components::NAME_LABEL;
use super::model::{PendingStatus, scheduler_error};
use super::runtime::RuntimeView;
use super::scope::Controller;
use super::traffic::ready_pods;
use crate::control::context::Ctx;
use crate::control::objects::{condition, deleting, name, namespace, res, set_status};
use crate::dataplane::{PipelineStep, ServedPipeline};

/// The scheduler's reason while no pipeline gateway serves the pipeline (`pipeline_status.go`).
pub const NO_PIPELINE_GATEWAY: &str = "No pipeline gateway available to handle pipeline";
/// The scheduler's reason while no dataflow engine serves the pipeline (`dataflow/server.go`).
pub const NO_DATAFLOW_ENGINE: &str = "no dataflow engines available to handle pipeline";

/// The pipelines each namespace's endpoint serves, and the statuses to write once it does.
pub(crate) fn reconcile(
    ctx: &Ctx,
    ctl: &Controller,
    runtimes: &BTreeMap<String, RuntimeView>,
    model_statuses: &[PendingStatus],
) -> (HashMap<String, Vec<ServedPipeline>>, Vec<PendingStatus>) {
    let (pipelines, _) = ctx.store.list(res("Pipeline"), None);
    let mut served: HashMap<String, Vec<ServedPipeline>> = HashMap::new();
    let mut statuses = Vec::new();
    for p in pipelines
        .iter()
        .filter(|p| ctl.watches(namespace(p)) && !deleting(p))
    {
        let ns = namespace(p);
        let prev = &p["status"]["conditions"];
        let runtime = runtimes.get(ns).cloned().unwrap_or_default();
        if !runtime.scheduler_up {
            let why = scheduler_error(ctx, ns);
            let status = json!({"conditions": [
                condition(prev, "PipelineReady", false, &why, "PipelineCreating"),
                condition(prev, "Ready", false, &why, "PipelineCreating"),
            ]});
            statuses.push((p.clone(), status));
            continue;
        }
        let up = |component: &str| !ready_pods(&ctx.store, ns, NAME_LABEL, component).is_empty();
        let (gw_ready, gw_reason) = if up("seldon-pipelinegateway") {
            (true, "")
        } else {
            (false, NO_PIPELINE_GATEWAY)
        };
        let (df_ready, df_reason) = if up("seldon-dataflow-engine") {
            (true, "")
        } else {
            (false, NO_DATAFLOW_ENGINE)
        };
        let or_empty = |r: &'static str| if r.is_empty() { "Empty reason" } else { r };
        let message = format!("{} | {}", or_empty(gw_reason), or_empty(df_reason));
        let state = |ready: bool| {
            if ready {
                "PipelineReady"
            } else {
                "PipelineCreate"
            }
        };
        let models_ready = up("seldon-modelgateway")
            && steps(p)
                .iter()
                .all(|s| model_available(model_statuses, ns, &s.name));
        let models_message = if models_ready {
            "Models all available"
        } else {
            "Some models are not available"
        };
        // Set in the operator's order; knative's living set: a False dependent makes Ready False
        // with its reason and message, Ready becomes True only once all three are True.
        let set = [
            (
                "PipelineGwReady",
                gw_ready,
                state(gw_ready),
                message.as_str(),
            ),
            ("PipelineReady", df_ready, state(df_ready), message.as_str()),
            ("ModelsReady", models_ready, "", models_message),
        ];
        let ready = set.iter().all(|(_, ok, _, _)| *ok);
        let (ready_reason, ready_message) = match set.iter().rev().find(|(_, ok, _, _)| !ok) {
            Some((_, _, r, m)) => (*r, *m),
            None => ("", models_message),
        };
        let mut conditions: Vec<Value> = set
            .iter()
            .map(|(t, ok, r, m)| condition(prev, t, *ok, r, m))
            .collect();
        conditions.push(condition(prev, "Ready", ready, ready_reason, ready_message));
        if ready && runtime.mesh_up {
            served
                .entry(ns.to_string())
                .or_default()
                .push(ServedPipeline {
                    name: name(p).to_string(),
                    steps: steps(p),
                    output_steps: strings(&p["spec"]["output"]["steps"]),
                    output_tensor_map: string_map(&p["spec"]["output"]["tensorMap"]),
                });
        }
        statuses.push((p.clone(), json!({"conditions": conditions})));
    }
    (served, statuses)
}

/// Writes the statuses `reconcile` computed (after the endpoints were synced).
pub(crate) fn publish(ctx: &Ctx, statuses: Vec<PendingStatus>) {
    for (p, status) in statuses {
        set_status(&ctx.store, res("Pipeline"), &p, status);
    }
}

/// Whether the Model `name` of `ns` is available in this pass.
fn model_available(model_statuses: &[PendingStatus], ns: &str, model: &str) -> bool {
    model_statuses.iter().any(|(m, status)| {
        namespace(m) == ns
            && name(m) == model
            && status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "ModelReady" && c["status"] == "True")
    })
}

fn steps(p: &Value) -> Vec<PipelineStep> {
    p["spec"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| PipelineStep {
            name: s["name"].as_str().unwrap_or_default().to_string(),
            inputs: strings(&s["inputs"]),
            tensor_map: string_map(&s["tensorMap"]),
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}
