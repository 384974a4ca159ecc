//! The Deployment controller: one ReplicaSet per pod template, `<deployment>-<pod-template-hash>`,
//! owned by the Deployment, with the `pod-template-hash` label on itself, its selector and its
//! template; the new ReplicaSet is scaled to `spec.replicas` and older ones to 0 once the new one
//! is available, each change a `ScalingReplicaSet` event from `deployment-controller`; the
//! Deployment's status and conditions from the ReplicaSets' pods.
//!
//! Checked against a real 1.20.2 controller-manager by `sim/tests/differential.rs`. Wording is the
//! kind node's (v1.33) `Scaled up replica set web-<hash> from 0 to 2`; 1.20 says `… to 2`
//! (docs/real-apiserver-facts.md, allowed divergences). Harsher than upstream: no surge, the new
//! ReplicaSet gets every replica at once; `revisionHistoryLimit` is not applied.

use serde_json::{Value, json};

use super::pods::{ByOwner, owned, replicas, template_hash};
use crate::control::context::Ctx;
use crate::control::events::record_event;
use crate::control::objects::{
    condition, deleting, name, namespace, owner_ref, pod_ready, res, set_status,
};

/// The `pod-template-hash` label.
const HASH_LABEL: &str = "pod-template-hash";

/// Keeps each Deployment's ReplicaSets at the sizes its rollout calls for.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    let (deps, _) = ctx.store.list(res("Deployment"), None);
    for d in deps.iter().filter(|d| !deleting(d)) {
        reconcile_one(ctx, d);
    }
}

fn with_hash(v: &Value, hash: &str) -> Value {
    let mut v = if v.is_object() { v.clone() } else { json!({}) };
    v[HASH_LABEL] = json!(hash);
    v
}

fn max_surge(d: &Value, want: usize) -> usize {
    match &d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] {
        Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
        Value::String(s) if s.ends_with('%') => s
            .trim_end_matches('%')
            .parse::<usize>()
            .map(|p| (want * p).div_ceil(100))
            .unwrap_or(0),
        _ if d["spec"]["strategy"]["type"] == "Recreate" => 0,
        _ => want.div_ceil(4),
    }
}

fn scale(ctx: &Ctx, d: &Value, rs: &Value, to: usize) {
    let from = rs["spec"]["replicas"].as_i64().unwrap_or(0).max(0) as usize;
    if from == to {
        return;
    }
    let mut next = rs.clone();
    next["spec"]["replicas"] = json!(to);
    next["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(replicas(d).to_string());
    if ctx.store.update(res("ReplicaSet"), next).is_ok() {
        let dir = if to > from { "up" } else { "down" };
        record_event(
            &ctx.store,
            d,
            "Normal",
            "ScalingReplicaSet",
            &format!("Scaled {dir} replica set {} from {from} to {to}", name(rs)),
            "deployment-controller",
        );
    }
}

fn reconcile_one(ctx: &mut Ctx, d: &Value) {
    let ns = namespace(d).to_string();
    let template = &d["spec"]["template"];
    let hash = template_hash(template);
    let rs_name = format!("{}-{hash}", name(d));
    let want = replicas(d);
    let sets = owned(ctx, "ReplicaSet", d);
    let revision = sets
        .iter()
        .filter_map(|r| {
            r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    let current = match sets.iter().find(|r| name(r) == rs_name) {
        Some(rs) => rs.clone(),
        None => {
            let mut tpl = template.clone();
            tpl["metadata"]["labels"] = with_hash(&template["metadata"]["labels"], &hash);
            let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns,
                    "labels": with_hash(&template["metadata"]["labels"], &hash),
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": want.to_string(),
                        "deployment.kubernetes.io/max-replicas": (want + max_surge(d, want)).to_string(),
                        "deployment.kubernetes.io/revision": (revision + 1).to_string()},
                    "ownerReferences": [owner_ref(d)]},
                "spec": {"replicas": 0,
                    "selector": {"matchLabels": with_hash(&d["spec"]["selector"]["matchLabels"], &hash)},
                    "template": tpl}});
            match ctx.store.create(res("ReplicaSet"), rs) {
                Ok(rs) => rs,
                Err(e) => {
                    tracing::debug!(error = %e, "creating ReplicaSet {rs_name} failed");
                    return;
                }
            }
        }
    };
    scale(ctx, d, &current, want);
    let available = current["status"]["availableReplicas"].as_i64().unwrap_or(0) as usize;
    if available >= want {
        for old in sets.iter().filter(|r| name(r) != rs_name && !deleting(r)) {
            scale(ctx, d, old, 0);
        }
    }
}

/// Brings every Deployment's `status` in line with its ReplicaSets' pods.
pub(crate) fn update_status(ctx: &mut Ctx, sets_by_owner: &ByOwner, pods_by_owner: &ByOwner) {
    let (deps, _) = ctx.store.list(res("Deployment"), None);
    for d in &deps {
        let hash = template_hash(&d["spec"]["template"]);
        let rs_name = format!("{}-{hash}", name(d));
        let want = replicas(d);
        let sets = sets_by_owner.owned(d);
        let pods: Vec<&Value> = sets
            .iter()
            .flat_map(|rs| pods_by_owner.owned(rs))
            .filter(|p| !deleting(p))
            .collect();
        let available = pods.iter().filter(|p| pod_ready(p)).count();
        let updated = pods
            .iter()
            .filter(|p| p["metadata"]["labels"][HASH_LABEL] == hash.as_str())
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
        // The new ReplicaSet's ReplicaFailure condition is copied onto the Deployment.
        if let Some(f) = sets
            .iter()
            .find(|r| name(r) == rs_name)
            .and_then(|r| r["status"]["conditions"].as_array())
            .and_then(|cs| cs.iter().find(|c| c["type"] == "ReplicaFailure"))
        {
            conditions.push(with_update_time(
                prev,
                condition(
                    prev,
                    "ReplicaFailure",
                    true,
                    "FailedCreate",
                    f["message"].as_str().unwrap_or_default(),
                ),
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
