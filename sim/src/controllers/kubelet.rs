//! The "kubelet": admitted pods start (Running, Ready, pod IP); connectivity probe pods run to
//! completion with the outcome `network::probe_outcome` predicts; a runtime's Kafka components
//! crash-loop while no Kafka broker is reachable from them (docs/seldon-behaviour.md §14).

use std::sync::Arc;

use serde_json::{Value, json};

use super::volumes::Binding;
use crate::control::context::Ctx;
use crate::control::memory::ENVOY_INITIAL_FETCH_TIMEOUT;
use crate::control::netview::network_view;
use crate::control::objects::{deleting, name, namespace, now, res, set_status};
use crate::faults::Defect;
use crate::network::{NetworkView, PROBE_LABEL, probe_outcome};
use crate::seldon::{
    COMPONENT_NAMES, KAFKA_COMPONENTS, NAME_LABEL, agent_crash, agent_unconnected,
    bootstrap_servers, kafka_unreachable,
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
    // Pods being started see the network as it was when this pass began.
    let mut view: Option<Arc<NetworkView>> = None;
    let mut first = Vec::new();
    for pod in pending {
        if starting(ctx, pod, &mut first) {
            continue;
        }
        match super::volumes::binding(ctx, pod) {
            Binding::Ready => {}
            Binding::Waiting => continue,
            Binding::Unschedulable(why) => {
                super::volumes::mark_unschedulable(ctx, pod, &why);
                continue;
            }
        }
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
        let view = view.get_or_insert_with(|| network_view(ctx)).clone();
        let crash = kafka_crash(ctx, &view, &with_ip).or_else(|| agent_crash(&ctx.store, &with_ip));
        let unready = agent_unready(ctx, &view, &with_ip).or_else(|| envoy_unready(ctx, pod));
        let status = running_status(ctx, pod, &ip, &ts, crash.as_deref(), unready.as_deref());
        set_status(&ctx.store, res("Pod"), pod, status);
    }
    // Pods of one pass all count as first pods of their workload (a 2-replica Server's pods).
    ctx.memory.started.extend(first);
    recheck_kafka_components(ctx, &pods);
    recheck_agents(ctx, &pods);
    recheck_envoys(ctx, &pods);
}

/// Whether a pod replacing another of its workload is still starting: such pods take
/// `POD_RESTART` from when the kubelet first sees them (image present, container start, first
/// readiness probe; docs/seldon-behaviour.md §25). A workload's first pods start at once.
fn starting(ctx: &mut Ctx, pod: &Value, first: &mut Vec<String>) -> bool {
    // Only workload controllers replace pods (probe pods and the like start at once).
    let Some(owner) = pod["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|o| o.first())
        .filter(|o| o["kind"] == "ReplicaSet" || o["kind"] == "StatefulSet")
    else {
        return false;
    };
    let mut owner_name = owner["name"].as_str().unwrap_or_default().to_string();
    // A ReplicaSet's pods belong to its Deployment: strip the template hash.
    if let Some(hash) = pod["metadata"]["labels"]["pod-template-hash"].as_str() {
        owner_name = owner_name
            .strip_suffix(&format!("-{hash}"))
            .unwrap_or(&owner_name)
            .to_string();
    }
    let key = format!("{}/{}", namespace(pod), owner_name);
    let uid = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let memory = &mut ctx.memory;
    if !memory.started.contains(&key) {
        first.push(key);
        return false;
    }
    memory.replacements.insert(uid.clone());
    let since = *memory
        .pending_since
        .entry(uid.clone())
        .or_insert(ctx.pass_started);
    let ready_at = since + crate::control::memory::POD_RESTART;
    if ready_at > ctx.pass_started {
        memory.wake_at(ready_at);
        return true;
    }
    memory.pending_since.remove(&uid);
    false
}

/// The Server pods' label value (`app.kubernetes.io/name`).
const SERVER_POD: &str = "seldon-server";

/// Why a Server pod's agent is not Ready: it is Ready only once connected to the API server and
/// the scheduler (docs/seldon-behaviour.md §17).
fn agent_unready(ctx: &Ctx, view: &NetworkView, pod: &Value) -> Option<String> {
    if pod["metadata"]["labels"][NAME_LABEL] != SERVER_POD {
        return None;
    }
    agent_unconnected(view, pod, ctx.faults.seldon_traffic_unpoliced())
}

/// Server pods follow their agent's connections: Ready once it connects, not Ready when it cannot.
fn recheck_agents(ctx: &mut Ctx, pods: &[Value]) {
    let mut view: Option<Arc<NetworkView>> = None;
    for pod in pods.iter().filter(|p| {
        p["status"]["phase"] == "Running"
            && !deleting(p)
            && p["metadata"]["labels"][NAME_LABEL] == SERVER_POD
    }) {
        let view = view.get_or_insert_with(|| network_view(ctx)).clone();
        // An agent that exited over a missing preloaded Secret reads the Secrets again on its
        // next restart; a running one never does (docs/seldon-behaviour.md §12).
        let crashing = pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["state"]["waiting"]["reason"] == "CrashLoopBackOff");
        let crash = if crashing {
            agent_crash(&ctx.store, pod)
        } else {
            None
        };
        let ready_now = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        // An agent stays Ready once it connected: losing the scheduler later does not fail its
        // readiness (agent_svc_manager.go `Ready`: only `isStartup` or draining; §25).
        let unready = if ready_now && !crashing {
            None
        } else {
            agent_unready(ctx, &view, pod)
        };
        if crash.is_some() == crashing && (crashing || unready.is_none() == ready_now) {
            continue;
        }
        let ip = pod["status"]["podIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = running_status(ctx, pod, &ip, &now(), crash.as_deref(), unready.as_deref());
        set_status(&ctx.store, res("Pod"), pod, status);
    }
}

/// Envoy pods' label value (`app.kubernetes.io/name`).
const ENVOY_POD: &str = "seldon-envoy";

/// Why an envoy pod is not Ready: envoy starts its listeners, the readiness one (`/ready` on 9003)
/// included, only once initialized, which waits for the first xDS configuration from the
/// scheduler or `initial_fetch_timeout` (docs/seldon-behaviour.md §26). Asks for a pass at the
/// timeout.
fn envoy_unready(ctx: &mut Ctx, pod: &Value) -> Option<String> {
    if pod["metadata"]["labels"][NAME_LABEL] != ENVOY_POD {
        return None;
    }
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    if ctx.memory.configured_envoys.contains(uid) {
        ctx.memory.envoys_started.remove(uid);
        return None;
    }
    let since = *ctx
        .memory
        .envoys_started
        .entry(uid.to_string())
        .or_insert(ctx.pass_started);
    let live_at = since + ENVOY_INITIAL_FETCH_TIMEOUT;
    if live_at <= ctx.pass_started {
        return None;
    }
    ctx.memory.wake_at(live_at);
    Some("envoy is initializing: no configuration from seldon-scheduler:9002 (xDS) yet".into())
}

/// Envoy pods become Ready once configured (or past the initial fetch timeout), and stay so.
fn recheck_envoys(ctx: &mut Ctx, pods: &[Value]) {
    for pod in pods.iter().filter(|p| {
        p["status"]["phase"] == "Running"
            && !deleting(p)
            && p["metadata"]["labels"][NAME_LABEL] == ENVOY_POD
            && !crate::control::objects::pod_ready(p)
    }) {
        if envoy_unready(ctx, pod).is_some() {
            continue;
        }
        let ip = pod["status"]["podIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = running_status(ctx, pod, &ip, &now(), None, None);
        // Under RuntimeNeverReady it stays un-Ready: nothing to write.
        let ready = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready {
            set_status(&ctx.store, res("Pod"), pod, status);
        }
    }
}

/// The container whose readiness probe a pod's `unready` reason is about.
fn probed_container(pod: &Value) -> &'static str {
    if pod["metadata"]["labels"][NAME_LABEL] == ENVOY_POD {
        "envoy"
    } else {
        "agent"
    }
}

/// The running status of a started pod; `crash` is why its container keeps failing,
/// `unready` why its probed container (the agent; envoy) does not pass readiness.
fn running_status(
    ctx: &Ctx,
    pod: &Value,
    ip: &str,
    ts: &str,
    crash: Option<&str>,
    unready: Option<&str>,
) -> Value {
    // Defect RuntimeNeverReady: the runtime's component pods run but never pass readiness.
    let component = pod["metadata"]["labels"]["app.kubernetes.io/name"]
        .as_str()
        .unwrap_or_default();
    let ready = crash.is_none()
        && unready.is_none()
        && !(ctx.faults.has(Defect::RuntimeNeverReady) && COMPONENT_NAMES.contains(&component));
    let r = if ready { "True" } else { "False" };
    let names: Vec<&str> = containers(pod).filter_map(|c| c["name"].as_str()).collect();
    // A Server pod's crash is its agent's (docs/seldon-behaviour.md §12); its siblings run.
    let server = pod["metadata"]["labels"][NAME_LABEL] == SERVER_POD;
    let statuses: Vec<Value> = containers(pod)
        .map(|c| match crash.filter(|_| !server || c["name"] == "agent") {
            // What the kubelet shows for a container that exits and is restarted with back-off.
            Some(why) => json!({
                "name": c["name"], "image": c["image"], "ready": false, "restartCount": 1, "started": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                    "back-off 10s restarting failed container={} pod={}_{}({})",
                    c["name"].as_str().unwrap_or_default(), name(pod), namespace(pod),
                    pod["metadata"]["uid"].as_str().unwrap_or_default())}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": why, "startedAt": ts, "finishedAt": ts}},
            }),
            // The agent answers its readiness probe (9008 /ready) only once connected (agent_svc_manager.go `Ready`).
            None if unready.is_some() && c["name"] == probed_container(pod) => json!({
                "name": c["name"], "image": c["image"], "ready": false, "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": ts}},
            }),
            None => json!({
                "name": c["name"], "image": c["image"], "ready": ready || unready.is_some() || (crash.is_some() && server), "restartCount": 0, "started": true,
                "state": {"running": {"startedAt": ts}},
            }),
        })
        .collect();
    let mut not_ready = json!({"type": "Ready", "status": r, "lastTransitionTime": ts});
    let mut containers_ready =
        json!({"type": "ContainersReady", "status": r, "lastTransitionTime": ts});
    let unready_names = if crash.is_some() && !server {
        names.join(" ")
    } else {
        probed_container(pod).to_string()
    };
    if crash.is_some() || unready.is_some() {
        let msg = format!("containers with unready status: [{unready_names}]");
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

/// Why a Kafka component pod (with its IP) cannot run: no reachable Kafka broker.
fn kafka_crash(ctx: &Ctx, view: &NetworkView, pod: &Value) -> Option<String> {
    let component = pod["metadata"]["labels"]["app.kubernetes.io/name"]
        .as_str()
        .unwrap_or_default();
    let spared = match component {
        "seldon-dataflow-engine" => Defect::DataflowEngineReadyWithoutKafka,
        _ => Defect::GatewaysReadyWithoutKafka,
    };
    // Defect ModelGatewayFailsAfterRestart: fenced by the consumer session of the pod it replaced.
    if component == "seldon-modelgateway"
        && ctx.faults.has(Defect::ModelGatewayFailsAfterRestart)
        && pod["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| ctx.memory.replacements.contains(u))
    {
        return Some(
            "Fatal error: Broker: Static consumer fenced by other consumer with same group.instance.id"
                .into(),
        );
    }
    if !KAFKA_COMPONENTS.contains(&component)
        || ctx.faults.has(Defect::KafkaComponentsReadyWithoutKafka)
        || ctx.faults.has(spared)
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
    kafka_unreachable(
        view,
        &external,
        pod,
        &servers,
        ctx.faults.seldon_traffic_unpoliced(),
    )
}

/// Kafka components follow their broker: they crash-loop when it becomes unreachable (liveness
/// fails) and run again once it answers (the next restart succeeds).
fn recheck_kafka_components(ctx: &mut Ctx, pods: &[Value]) {
    let mut view: Option<Arc<NetworkView>> = None;
    for pod in pods.iter().filter(|p| {
        p["status"]["phase"] == "Running"
            && !deleting(p)
            && KAFKA_COMPONENTS.contains(
                &p["metadata"]["labels"]["app.kubernetes.io/name"]
                    .as_str()
                    .unwrap_or_default(),
            )
    }) {
        let view = view.get_or_insert_with(|| network_view(ctx)).clone();
        let crash = kafka_crash(ctx, &view, pod);
        let crashing = pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            == "CrashLoopBackOff";
        if crash.is_some() == crashing {
            continue;
        }
        let ip = pod["status"]["podIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = running_status(ctx, pod, &ip, &now(), crash.as_deref(), None);
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
