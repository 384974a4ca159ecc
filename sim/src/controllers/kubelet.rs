//! The "kubelet": admitted pods start (Running, Ready, pod IP); connectivity probe pods run to
//! completion with the outcome `network::probe_outcome` predicts; a runtime's Kafka components
//! crash-loop while no Kafka broker is reachable from them (docs/seldon-behaviour.md §14).

use serde_json::{Value, json};

use crate::control::context::Ctx;
use crate::control::objects::{deleting, name, namespace, now, res, set_status};
use crate::faults::Defect;
use crate::network::{NetworkView, PROBE_LABEL, probe_outcome};
use crate::seldon::{
    COMPONENT_NAMES, KAFKA_COMPONENTS, SERVER_LABEL, agent_crash, bootstrap_servers,
    kafka_unreachable,
};

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
    let mut view: Option<NetworkView> = None;
    let mut kafka_views = Views::new();
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
        let mut with_ip = pod.clone();
        with_ip["status"]["podIP"] = json!(ip);
        let crash = kafka_crash(ctx, &mut kafka_views, &with_ip)
            .or_else(|| agent_crash(&ctx.store, &with_ip));
        let status = running_status(ctx, pod, &ip, &ts, crash.as_deref());
        set_status(&ctx.store, res("Pod"), pod, status);
    }
    recheck_crashing_programs(ctx, &pods);
}

/// The running status of a started pod; `crash` is why its container keeps failing.
fn running_status(ctx: &Ctx, pod: &Value, ip: &str, ts: &str, crash: Option<&str>) -> Value {
    // Defect RuntimeNeverReady: the runtime's component pods run but never pass readiness.
    let component = pod["metadata"]["labels"]["app.kubernetes.io/name"]
        .as_str()
        .unwrap_or_default();
    let ready = crash.is_none()
        && !(ctx.faults.has(Defect::RuntimeNeverReady) && COMPONENT_NAMES.contains(&component));
    let r = if ready { "True" } else { "False" };
    let names: Vec<&str> = containers(pod).filter_map(|c| c["name"].as_str()).collect();
    // A Server pod's crash is its agent's (docs/seldon-behaviour.md §10); its siblings run.
    let crashing = pod["metadata"]["labels"][SERVER_LABEL]
        .is_string()
        .then_some("agent");
    let statuses: Vec<Value> = containers(pod)
        .map(|c| match crash.filter(|_| crashing.is_none_or(|n| c["name"] == n)) {
            // What the kubelet shows for a container that exits and is restarted with back-off.
            Some(why) => json!({
                "name": c["name"], "image": c["image"], "ready": false, "restartCount": 1, "started": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                    "back-off 10s restarting failed container={} pod={}_{}({})",
                    c["name"].as_str().unwrap_or_default(), name(pod), namespace(pod),
                    pod["metadata"]["uid"].as_str().unwrap_or_default())}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": why, "startedAt": ts, "finishedAt": ts}},
            }),
            None => json!({
                "name": c["name"], "image": c["image"], "ready": ready || (crash.is_some() && crashing.is_some()), "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": ts}},
            }),
        })
        .collect();
    let mut not_ready = json!({"type": "Ready", "status": r, "lastTransitionTime": ts});
    let mut containers_ready =
        json!({"type": "ContainersReady", "status": r, "lastTransitionTime": ts});
    if crash.is_some() {
        let unready: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| crashing.is_none_or(|c| c == *n))
            .collect();
        let msg = format!("containers with unready status: [{}]", unready.join(" "));
        for c in [&mut not_ready, &mut containers_ready] {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(msg);
        }
    }
    json!({
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.2", "startTime": ts,
        "qosClass": qos_class(pod),
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts},
            {"type": "Initialized", "status": "True", "lastTransitionTime": ts},
            containers_ready,
            not_ready,
        ],
        "containerStatuses": statuses,
    })
}

/// Network views by the namespaces whose pods they hold, built once per kubelet pass.
type Views = std::collections::HashMap<String, NetworkView>;

/// Why a Kafka component pod (with its IP) cannot run: no reachable Kafka broker.
fn kafka_crash(ctx: &Ctx, views: &mut Views, pod: &Value) -> Option<String> {
    let component = pod["metadata"]["labels"]["app.kubernetes.io/name"]
        .as_str()
        .unwrap_or_default();
    if !KAFKA_COMPONENTS.contains(&component)
        || ctx.faults.has(Defect::KafkaComponentsReadyWithoutKafka)
    {
        return None;
    }
    let servers = bootstrap_servers(&ctx.store, namespace(pod));
    let external = ctx
        .state
        .external_addresses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // Only the pods that can matter: cluster DNS and the brokers' namespaces (this runs every pass).
    let mut namespaces = vec![
        crate::network::DNS_NAMESPACE.to_string(),
        namespace(pod).to_string(),
    ];
    for s in &servers {
        let host = s.rsplit_once(':').map(|(h, _)| h).unwrap_or(s);
        if let Some(ns) = host.split('.').nth(1) {
            namespaces.push(ns.to_string());
        }
    }
    namespaces.sort();
    namespaces.dedup();
    let view = views
        .entry(namespaces.join(","))
        .or_insert_with(|| network_view_of(ctx, &namespaces));
    kafka_unreachable(
        view,
        &external,
        pod,
        &servers,
        ctx.faults.has(Defect::NetworkPolicyIgnored),
    )
}

/// Kafka components follow their broker: they crash-loop when it becomes unreachable (liveness
/// fails) and run again once it answers (the next restart succeeds). A Server's agent restarts
/// until its preloaded rclone Secrets exist (it reads them only at startup, so a Secret deleted
/// later does not stop a running agent).
fn recheck_crashing_programs(ctx: &mut Ctx, pods: &[Value]) {
    let mut views = Views::new();
    for pod in pods.iter().filter(|p| {
        let labels = &p["metadata"]["labels"];
        p["status"]["phase"] == "Running"
            && !deleting(p)
            && (KAFKA_COMPONENTS.contains(
                &labels["app.kubernetes.io/name"]
                    .as_str()
                    .unwrap_or_default(),
            ) || labels[SERVER_LABEL].is_string())
    }) {
        let crashing = pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["state"]["waiting"]["reason"] == "CrashLoopBackOff");
        let crash = match kafka_crash(ctx, &mut views, pod) {
            Some(why) => Some(why),
            // Only a restarting agent reads its Secrets again.
            None if crashing || !pod["metadata"]["labels"][SERVER_LABEL].is_string() => {
                agent_crash(&ctx.store, pod)
            }
            None => None,
        };
        if crash.is_some() == crashing {
            continue;
        }
        let ip = pod["status"]["podIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = running_status(ctx, pod, &ip, &now(), crash.as_deref());
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

/// Like [`network_view`], with only the pods of `namespaces`.
fn network_view_of(ctx: &Ctx, namespaces: &[String]) -> NetworkView {
    fn typed<T: serde::de::DeserializeOwned>(objs: Vec<Value>) -> Vec<T> {
        objs.into_iter()
            .filter_map(|o| serde_json::from_value(o).ok())
            .collect()
    }
    let mut pods = Vec::new();
    for ns in namespaces {
        pods.extend(ctx.store.list(res("Pod"), Some(ns)).0);
    }
    NetworkView::new(
        typed(ctx.store.list(res("Namespace"), None).0),
        typed(pods),
        typed(ctx.store.list(res("Service"), None).0),
        typed(ctx.store.list(res("NetworkPolicy"), None).0),
    )
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
