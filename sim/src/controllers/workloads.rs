//! StatefulSet and Deployment controllers (ReplicaSets are folded into Deployments: pods carry
//! `pod-template-hash` and are owned by the Deployment; events name the ReplicaSet
//! `<deployment>-<hash>` as `kubectl get events` shows it).

use serde_json::{Value, json};

use crate::control::context::{Ctx, FailedCreate};
use crate::control::events::record_event;
use crate::control::objects::{
    condition, deleting, name, namespace, owned_by, owner_ref, pod_ready, res, set_status,
};

/// Kubernetes' `rand.SafeEncodeString` alphabet (no vowels, no confusable characters).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x01000193)
    })
}

/// The template hash as Kubernetes derives it: FNV-32a, printed in decimal, safe-encoded.
pub(crate) fn template_hash(template: &Value) -> String {
    let h = fnv32a(template.to_string().as_bytes()).to_string();
    h.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

fn replicas(obj: &Value) -> usize {
    obj["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize
}

/// What pod admission depends on in a namespace, besides the pod itself (ServiceAccounts: a
/// Server's pods are refused until the runtime has created `seldon-server`).
fn admission_fingerprint(ctx: &Ctx, ns: &str, template_hash: &str) -> String {
    let mut f = template_hash.to_string();
    for kind in ["ResourceQuota", "LimitRange", "ServiceAccount", "Namespace"] {
        let (objs, _) = if kind == "Namespace" {
            ctx.store.list(res(kind), None)
        } else {
            ctx.store.list(res(kind), Some(ns))
        };
        for o in objs.iter().filter(|o| kind != "Namespace" || name(o) == ns) {
            f.push_str(&format!(
                "|{kind}/{}@{}",
                name(o),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            ));
        }
    }
    f
}

fn owned_pods(ctx: &Ctx, owner: &Value) -> Vec<Value> {
    let (pods, _) = ctx.store.list(res("Pod"), Some(namespace(owner)));
    pods.into_iter()
        .filter(|p| owned_by(p, &owner["metadata"]["uid"]))
        .collect()
}

/// Creates a pod unless the same attempt already failed; records the events either way.
fn try_create_pod(
    ctx: &mut Ctx,
    key: &str,
    fingerprint: &str,
    pod: Value,
    involved: &Value,
    component: &str,
    messages: (&str, &str),
) -> bool {
    if ctx
        .failed
        .get(key)
        .is_some_and(|f| f.fingerprint == fingerprint)
    {
        return false;
    }
    let pod_name = name(&pod).to_string();
    match ctx.store.create(res("Pod"), pod) {
        Ok(_) => {
            ctx.failed.remove(key);
            record_event(
                &ctx.store,
                involved,
                "Normal",
                "SuccessfulCreate",
                &messages.0.replace("{pod}", &pod_name),
                component,
            );
            true
        }
        Err(e) => {
            let msg = messages
                .1
                .replace("{pod}", &pod_name)
                .replace("{error}", &e.message);
            record_event(
                &ctx.store,
                involved,
                "Warning",
                "FailedCreate",
                &msg,
                component,
            );
            ctx.failed.insert(
                key.to_string(),
                FailedCreate {
                    fingerprint: fingerprint.to_string(),
                    message: e.message,
                },
            );
            false
        }
    }
}

fn pod_from_template(
    template: &Value,
    ns: &str,
    pod_name: &str,
    owner: &Value,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    let mut meta = json!({"name": pod_name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(owner)]});
    if let Some(a) = template["metadata"]["annotations"]
        .as_object()
        .filter(|a| !a.is_empty())
    {
        meta["annotations"] = json!(a);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"].clone()})
}

/// Creates and deletes pods so every StatefulSet and Deployment has what its spec asks for.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    let (sets, _) = ctx.store.list(res("StatefulSet"), None);
    for sts in sets.iter().filter(|s| !deleting(s)) {
        reconcile_statefulset(ctx, sts);
    }
    let (deps, _) = ctx.store.list(res("Deployment"), None);
    for d in deps.iter().filter(|d| !deleting(d)) {
        reconcile_deployment(ctx, d);
    }
}

fn reconcile_statefulset(ctx: &mut Ctx, sts: &Value) {
    let (ns, sts_name) = (namespace(sts).to_string(), name(sts).to_string());
    let template = &sts["spec"]["template"];
    let revision = format!("{sts_name}-{}", template_hash(template));
    let want = replicas(sts);
    let parallel = sts["spec"]["podManagementPolicy"] == "Parallel";
    let pods = owned_pods(ctx, sts);
    let ordinal = |p: &Value| {
        name(p)
            .rsplit_once('-')
            .and_then(|(_, i)| i.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    };
    // Scale down, and roll outdated pods one at a time once the others are ready.
    for p in pods.iter().filter(|p| ordinal(p) >= want && !deleting(p)) {
        let _ = ctx.store.delete(res("Pod"), Some(&ns), name(p));
    }
    let live: Vec<&Value> = pods
        .iter()
        .filter(|p| ordinal(p) < want && !deleting(p))
        .collect();
    if live.len() == want
        && live.iter().all(|p| pod_ready(p))
        && let Some(old) = live
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] != revision.as_str())
            .max_by_key(|p| ordinal(p))
    {
        let _ = ctx.store.delete(res("Pod"), Some(&ns), name(old));
        return;
    }
    let key = format!("StatefulSet/{ns}/{sts_name}");
    let fingerprint = admission_fingerprint(ctx, &ns, &revision);
    for i in 0..want {
        let pod_name = format!("{sts_name}-{i}");
        if let Some(p) = live.iter().find(|p| name(p) == pod_name) {
            if !parallel && !pod_ready(p) {
                return; // OrderedReady: wait for this one.
            }
            continue;
        }
        if pods.iter().any(|p| name(p) == pod_name) {
            return; // Still terminating.
        }
        let mut pod = pod_from_template(
            template,
            &ns,
            &pod_name,
            sts,
            &[
                ("controller-revision-hash", revision.clone()),
                ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                ("apps.kubernetes.io/pod-index", i.to_string()),
            ],
        );
        pod["spec"]["hostname"] = json!(pod_name);
        if let Some(svc) = sts["spec"]["serviceName"].as_str() {
            pod["spec"]["subdomain"] = json!(svc);
        }
        let created = try_create_pod(
            ctx,
            &key,
            &fingerprint,
            pod,
            sts,
            "statefulset-controller",
            (
                &format!("create Pod {{pod}} in StatefulSet {sts_name} successful"),
                &format!("create Pod {{pod}} in StatefulSet {sts_name} failed error: {{error}}"),
            ),
        );
        if !created || !parallel {
            return;
        }
    }
}

fn reconcile_deployment(ctx: &mut Ctx, d: &Value) {
    let (ns, d_name) = (namespace(d).to_string(), name(d).to_string());
    let template = &d["spec"]["template"];
    let hash = template_hash(template);
    let rs_name = format!("{d_name}-{hash}");
    let want = replicas(d);
    let pods: Vec<Value> = owned_pods(ctx, d)
        .into_iter()
        .filter(|p| !deleting(p))
        .collect();
    let (current, old): (Vec<&Value>, Vec<&Value>) = pods
        .iter()
        .partition(|p| p["metadata"]["labels"]["pod-template-hash"] == hash.as_str());
    for extra in current.iter().skip(want) {
        let _ = ctx.store.delete(res("Pod"), Some(&ns), name(extra));
    }
    if current.iter().filter(|p| pod_ready(p)).count() >= want {
        for p in &old {
            let _ = ctx.store.delete(res("Pod"), Some(&ns), name(p));
        }
    }
    // The ReplicaSet as events and conditions name it.
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": rs_name, "namespace": ns}});
    let key = format!("Deployment/{ns}/{d_name}");
    let fingerprint = admission_fingerprint(ctx, &ns, &hash);
    for _ in current.len()..want {
        let suffix: String = (0..5)
            .map(|_| ALPHANUMS[(ctx.random() % ALPHANUMS.len() as u64) as usize] as char)
            .collect();
        let pod = pod_from_template(
            template,
            &ns,
            &format!("{rs_name}-{suffix}"),
            d,
            &[("pod-template-hash", hash.clone())],
        );
        if !try_create_pod(
            ctx,
            &key,
            &fingerprint,
            pod,
            &rs,
            "replicaset-controller",
            ("Created pod: {pod}", "Error creating: {error}"),
        ) {
            break;
        }
    }
}

/// Brings workload `status` in line with their pods.
pub(crate) fn update_status(ctx: &mut Ctx) {
    let (sets, _) = ctx.store.list(res("StatefulSet"), None);
    for sts in &sets {
        let revision = format!("{}-{}", name(sts), template_hash(&sts["spec"]["template"]));
        let pods: Vec<Value> = owned_pods(ctx, sts)
            .into_iter()
            .filter(|p| !deleting(p))
            .collect();
        let ready = pods.iter().filter(|p| pod_ready(p)).count();
        let updated = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == revision.as_str())
            .count();
        let mut status = json!({
            "observedGeneration": sts["metadata"]["generation"], "replicas": pods.len(),
            "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
        });
        for (k, v) in [
            ("readyReplicas", ready),
            ("availableReplicas", ready),
            ("currentReplicas", updated),
            ("updatedReplicas", updated),
        ] {
            if v > 0 {
                status[k] = json!(v);
            }
        }
        set_status(&ctx.store, res("StatefulSet"), sts, status);
    }
    let (deps, _) = ctx.store.list(res("Deployment"), None);
    for d in &deps {
        let hash = template_hash(&d["spec"]["template"]);
        let rs_name = format!("{}-{hash}", name(d));
        let want = replicas(d);
        let pods: Vec<Value> = owned_pods(ctx, d)
            .into_iter()
            .filter(|p| !deleting(p))
            .collect();
        let available = pods.iter().filter(|p| pod_ready(p)).count();
        let updated = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["pod-template-hash"] == hash.as_str())
            .count();
        let min_available = want.saturating_sub(max_unavailable(d, want));
        let prev = &d["status"]["conditions"];
        let is_available = available >= min_available;
        let mut conditions = vec![
            with_update_time(
                prev,
                condition(
                    prev,
                    "Available",
                    is_available,
                    if is_available {
                        "MinimumReplicasAvailable"
                    } else {
                        "MinimumReplicasUnavailable"
                    },
                    if is_available {
                        "Deployment has minimum availability."
                    } else {
                        "Deployment does not have minimum availability."
                    },
                ),
            ),
            with_update_time(
                prev,
                if updated == want && available >= want {
                    condition(
                        prev,
                        "Progressing",
                        true,
                        "NewReplicaSetAvailable",
                        &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                    )
                } else {
                    condition(
                        prev,
                        "Progressing",
                        true,
                        "ReplicaSetUpdated",
                        &format!("ReplicaSet \"{rs_name}\" is progressing."),
                    )
                },
            ),
        ];
        let key = format!("Deployment/{}/{}", namespace(d), name(d));
        if let Some(f) = ctx.failed.get(&key) {
            conditions.push(with_update_time(
                prev,
                condition(prev, "ReplicaFailure", true, "FailedCreate", &f.message),
            ));
        }
        let mut status = json!({
            "observedGeneration": d["metadata"]["generation"], "replicas": pods.len(), "conditions": conditions,
        });
        for (k, v) in [
            ("readyReplicas", available),
            ("availableReplicas", available),
            ("updatedReplicas", updated),
            ("unavailableReplicas", want.saturating_sub(available)),
        ] {
            if v > 0 {
                status[k] = json!(v);
            }
        }
        set_status(&ctx.store, res("Deployment"), d, status);
    }
}

/// Deployment conditions also carry `lastUpdateTime`; keep it stable while nothing changes.
fn with_update_time(prev: &Value, mut c: Value) -> Value {
    let same = prev
        .as_array()
        .and_then(|cs| cs.iter().find(|p| p["type"] == c["type"]))
        .filter(|p| {
            p["status"] == c["status"] && p["reason"] == c["reason"] && p["message"] == c["message"]
        });
    c["lastUpdateTime"] = match same {
        Some(p) => p["lastUpdateTime"].clone(),
        None => c["lastTransitionTime"].clone(),
    };
    c
}

/// `spec.strategy.rollingUpdate.maxUnavailable` (default 25%, rounded down) in pods.
fn max_unavailable(d: &Value, want: usize) -> usize {
    let v = &d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"];
    if d["spec"]["strategy"]["type"] == "Recreate" {
        return 0;
    }
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
        Value::String(s) if s.ends_with('%') => s
            .trim_end_matches('%')
            .parse::<usize>()
            .map(|p| want * p / 100)
            .unwrap_or(0),
        _ => want / 4,
    }
}
