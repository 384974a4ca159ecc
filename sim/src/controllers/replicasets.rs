//! The ReplicaSet controller: pods named `<replicaset>-<5 random characters>` (`generateName`),
//! owned by the ReplicaSet, `Created pod: …` / `Error creating: …` events from
//! `replicaset-controller` (kubernetes v1.20.2 `pkg/controller/controller_utils.go`), the
//! `ReplicaFailure` condition while creations are refused, and the status.

use serde_json::{Value, json};

use super::pods::{
    ByOwner, Wording, admission_fingerprint, owned, pod_from_template, try_create_pod,
};
use crate::control::context::Ctx;
use crate::control::objects::{condition, deleting, name, namespace, pod_ready, res, set_status};

/// Creates and deletes pods so every ReplicaSet has `spec.replicas` of them.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    let (sets, _) = ctx.store.list(res("ReplicaSet"), None);
    for rs in sets.iter().filter(|r| !deleting(r)) {
        reconcile_one(ctx, rs);
    }
}

fn reconcile_one(ctx: &mut Ctx, rs: &Value) {
    let (ns, rs_name) = (namespace(rs).to_string(), name(rs).to_string());
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let mut pods: Vec<Value> = owned(ctx, "Pod", rs)
        .into_iter()
        .filter(|p| !deleting(p))
        .collect();
    // Not-ready pods go first when scaling down, as the controller ranks them.
    pods.sort_by_key(pod_ready);
    for extra in pods.iter().take(pods.len().saturating_sub(want)) {
        let _ = ctx.store.delete(res("Pod"), Some(&ns), name(extra));
    }
    let key = format!("ReplicaSet/{ns}/{rs_name}");
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if pods.len() >= want {
        return;
    }
    let fingerprint = admission_fingerprint(ctx, &ns, &format!("{rs_name}/{hash}"));
    let wording = Wording {
        component: "replicaset-controller",
        created: "Created pod: {pod}".into(),
        failed: "Error creating: {error}".into(),
    };
    for _ in pods.len()..want {
        let pod = pod_from_template(
            &rs["spec"]["template"],
            &ns,
            &format!("{rs_name}-"),
            rs,
            &[],
        );
        if try_create_pod(ctx, &key, &fingerprint, pod, rs, &wording).is_none() {
            break;
        }
    }
}

/// Brings every ReplicaSet's `status` in line with its pods.
pub(crate) fn update_status(ctx: &mut Ctx, by_owner: &ByOwner) {
    let (sets, _) = ctx.store.list(res("ReplicaSet"), None);
    for rs in &sets {
        let pods: Vec<&Value> = by_owner.owned(rs).iter().filter(|p| !deleting(p)).collect();
        let ready = pods.iter().filter(|p| pod_ready(p)).count();
        let mut status =
            json!({"observedGeneration": rs["metadata"]["generation"], "replicas": pods.len()});
        for (k, v) in [
            ("fullyLabeledReplicas", pods.len()),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
        ] {
            if v > 0 {
                status[k] = json!(v);
            }
        }
        let key = format!("ReplicaSet/{}/{}", namespace(rs), name(rs));
        if let Some(f) = ctx.failed.get(&key) {
            status["conditions"] = json!([condition(
                &rs["status"]["conditions"],
                "ReplicaFailure",
                true,
                "FailedCreate",
                &f.message
            )]);
        }
        set_status(&ctx.store, res("ReplicaSet"), rs, status);
    }
}
