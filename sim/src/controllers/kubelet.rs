//! The "kubelet": admitted pods start (Running, Ready, pod IP); connectivity probe pods run to
//! completion with the outcome `network::probe_outcome` predicts.

use serde_json::{Value, json};

use super::context::Ctx;
use super::objects::{deleting, now, res, set_status};
use crate::faults::Defect;
use crate::network::{NetworkView, PROBE_LABEL, probe_outcome};
use crate::seldon::COMPONENT_NAMES;

/// Pod annotation holding the pod's container log, which the API serves at `pods/<name>/log`.
pub const LOG_ANNOTATION: &str = "sim.platform/log";

/// Starts every pod that has not started yet.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    let (pods, _) = ctx.store.list(res("Pod"), None);
    let pending: Vec<&Value> = pods
        .iter()
        // Not started yet: no phase, or a client-sent Pending without an IP (the API server drops client status).
        .filter(|p| {
            (p["status"]["phase"].is_null()
                || (p["status"]["phase"] == "Pending" && p["status"]["podIP"].is_null()))
                && !deleting(p)
        })
        .collect();
    if pending.is_empty() {
        return;
    }
    let mut view: Option<NetworkView> = None;
    for pod in pending {
        let ip = ctx.next_pod_ip();
        let ts = now();
        if pod["metadata"]["labels"][PROBE_LABEL] == "true" {
            // Probes see the network as it is when they run, with this pod's IP assigned.
            let view = view.get_or_insert_with(|| network_view(ctx));
            let mut with_ip = pod.clone();
            with_ip["status"]["podIP"] = json!(ip);
            let Ok(typed) = serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(with_ip)
            else {
                continue;
            };
            let outcome = probe_outcome(view, &typed, ctx.faults.has(Defect::NetworkPolicyIgnored));
            let mut logged = pod.clone();
            logged["metadata"]["annotations"][LOG_ANNOTATION] = json!(outcome.log);
            let Ok(logged) = ctx.store.update(res("Pod"), logged) else {
                continue;
            };
            let code = if outcome.succeeded { 0 } else { 1 };
            let statuses: Vec<Value> = containers(pod)
                .map(|c| json!({
                    "name": c["name"], "image": c["image"], "ready": false, "restartCount": 0, "started": false,
                    "state": {"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "startedAt": ts, "finishedAt": ts}},
                }))
                .collect();
            let status = json!({
                "phase": if outcome.succeeded { "Succeeded" } else { "Failed" },
                "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.2", "startTime": ts,
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": ts},
                    {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": ts},
                    {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": ts},
                ],
                "containerStatuses": statuses,
            });
            set_status(&ctx.store, res("Pod"), &logged, status);
            continue;
        }
        // Defect RuntimeNeverReady: the runtime's component pods run but never pass readiness.
        let component = pod["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .unwrap_or_default();
        let ready =
            !(ctx.faults.has(Defect::RuntimeNeverReady) && COMPONENT_NAMES.contains(&component));
        let r = if ready { "True" } else { "False" };
        let statuses: Vec<Value> = containers(pod)
            .map(|c| json!({
                "name": c["name"], "image": c["image"], "ready": ready, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": ts}},
            }))
            .collect();
        let status = json!({
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.2", "startTime": ts,
            "qosClass": qos_class(pod),
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts},
                {"type": "Initialized", "status": "True", "lastTransitionTime": ts},
                {"type": "ContainersReady", "status": r, "lastTransitionTime": ts},
                {"type": "Ready", "status": r, "lastTransitionTime": ts},
            ],
            "containerStatuses": statuses,
        });
        set_status(&ctx.store, res("Pod"), pod, status);
    }
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    pod["spec"]["containers"].as_array().into_iter().flatten()
}

/// Kubernetes QoS class: Guaranteed (requests = limits for cpu and memory everywhere), BestEffort, Burstable.
fn qos_class(pod: &Value) -> &'static str {
    let cs: Vec<&Value> = containers(pod).collect();
    let none = cs.iter().all(|c| {
        c["resources"]["requests"]
            .as_object()
            .is_none_or(|m| m.is_empty())
            && c["resources"]["limits"]
                .as_object()
                .is_none_or(|m| m.is_empty())
    });
    if none {
        return "BestEffort";
    }
    let guaranteed = cs.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let l = &c["resources"]["limits"][*r];
            !l.is_null()
                && (c["resources"]["requests"][*r].is_null()
                    || &c["resources"]["requests"][*r] == l)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The objects that decide connectivity, typed for `network`.
fn network_view(ctx: &Ctx) -> NetworkView {
    fn typed<T: serde::de::DeserializeOwned>(ctx: &Ctx, kind: &str) -> Vec<T> {
        ctx.store
            .list(res(kind), None)
            .0
            .into_iter()
            .filter_map(|o| serde_json::from_value(o).ok())
            .collect()
    }
    NetworkView::new(
        typed(ctx, "Namespace"),
        typed(ctx, "Pod"),
        typed(ctx, "Service"),
        typed(ctx, "NetworkPolicy"),
    )
}
