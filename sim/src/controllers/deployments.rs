//! The Deployment controller: one ReplicaSet per pod template, `<deployment>-<pod-template-hash>`,
//! owned by the Deployment, with the `pod-template-hash` label on itself, its selector and its
//! template; the new ReplicaSet is scaled to `spec.replicas` and older ones to 0 once the new one
//! is available, each change a `ScalingReplicaSet` event from `deployment-controller`; the
//! Deployment's status and conditions from the ReplicaSets' pods.
//!
//! A template change rolls out as kubernetes `pkg/controller/deployment/rolling.go` does
//! (`rolloutRolling`): one step per pass, the new ReplicaSet scaled up within `maxSurge`
//! (`reconcileNewReplicaSet`, `NewRSNewReplicas`), else old ones scaled down within
//! `maxUnavailable`, unhealthy replicas first (`reconcileOldReplicaSets`); both default to 25 %,
//! surge rounded up and unavailability down (`ResolveFenceposts`), so one replica rolls with a
//! surge of 1 and none unavailable: the new pod is Ready before the old one goes. `Recreate`
//! (`rollout_recreate.go`) scales the old ones to 0 and the new one up once their pods are gone.
//! docs/seldon-behaviour.md §26.
//!
//! Checked against a real 1.20.2 controller-manager by `sim/tests/differential.rs`. Wording is the
//! kind node's (v1.33) `Scaled up replica set web-<hash> from 0 to 2`; 1.20 says `… to 2`
//! (docs/real-apiserver-facts.md, allowed divergences). `revisionHistoryLimit` and
//! `minReadySeconds` are not applied (available = Ready).

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

/// An int-or-percent of `want`, rounded up or down (`intstr.GetScaledValueFromIntOrPercent`).
fn scaled(v: &Value, want: usize, round_up: bool, default_percent: usize) -> usize {
    let percent = |p: usize| {
        if round_up {
            (want * p).div_ceil(100)
        } else {
            want * p / 100
        }
    };
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
        Value::String(s) if s.ends_with('%') => s
            .trim_end_matches('%')
            .parse::<usize>()
            .map(percent)
            .unwrap_or(0),
        _ => percent(default_percent),
    }
}

/// `(maxSurge, maxUnavailable)` in pods (`deploymentutil.ResolveFenceposts`): 25 % each by
/// default, surge rounded up, unavailability down, never both 0, unavailability at most `want`;
/// `(0, 0)` for `Recreate`.
fn fenceposts(d: &Value, want: usize) -> (usize, usize) {
    if d["spec"]["strategy"]["type"] == "Recreate" {
        return (0, 0);
    }
    let rolling = &d["spec"]["strategy"]["rollingUpdate"];
    let surge = scaled(&rolling["maxSurge"], want, true, 25);
    let mut unavailable = scaled(&rolling["maxUnavailable"], want, false, 25);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable.min(want))
}

/// Scales a ReplicaSet to `to` with the controller's event; the stored ReplicaSet when it changed.
fn scale(ctx: &Ctx, d: &Value, rs: &Value, to: usize) -> Option<Value> {
    let from = spec_replicas(rs);
    if from == to {
        return None;
    }
    let mut next = rs.clone();
    next["spec"]["replicas"] = json!(to);
    next["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(replicas(d).to_string());
    let stored = ctx.store.update(res("ReplicaSet"), next).ok()?;
    {
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
    Some(stored)
}

fn spec_replicas(rs: &Value) -> usize {
    rs["spec"]["replicas"].as_i64().unwrap_or(0).max(0) as usize
}

fn available(rs: &Value) -> usize {
    rs["status"]["availableReplicas"]
        .as_i64()
        .unwrap_or(0)
        .max(0) as usize
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
                        "deployment.kubernetes.io/max-replicas": (want + fenceposts(d, want).0).to_string(),
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
    let mut olds: Vec<Value> = sets
        .iter()
        .filter(|r| name(r) != rs_name && !deleting(r))
        .cloned()
        .collect();
    // Oldest first (`controller.ReplicaSetsByCreationTimestamp`, ties by name).
    olds.sort_by(|a, b| {
        let key = |r: &Value| {
            (
                r["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                name(r).to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    if d["spec"]["strategy"]["type"] == "Recreate" {
        recreate(ctx, d, &current, &olds, want);
    } else {
        rolling(ctx, d, &current, &mut olds, want);
    }
}

/// `rollout_recreate.go`: old ReplicaSets to 0, and the new one up once none of their pods is left.
fn recreate(ctx: &mut Ctx, d: &Value, current: &Value, olds: &[Value], want: usize) {
    let mut scaled = false;
    for old in olds {
        scaled |= scale(ctx, d, old, 0).is_some();
    }
    let old_pods = olds
        .iter()
        .any(|old| owned(ctx, "Pod", old).iter().any(|p| !deleting(p)));
    if scaled || old_pods {
        return;
    }
    scale(ctx, d, current, want);
}

/// `rolling.go` `rolloutRolling`: scale the new ReplicaSet up if it can, else old ones down.
fn rolling(ctx: &mut Ctx, d: &Value, current: &Value, olds: &mut [Value], want: usize) {
    let (surge, unavailable) = fenceposts(d, want);
    let new = spec_replicas(current);
    let old_count: usize = olds.iter().map(spec_replicas).sum();
    let all = old_count + new;
    // reconcileNewReplicaSet / NewRSNewReplicas: never more than want + maxSurge pods in all.
    if new > want {
        scale(ctx, d, current, want);
        return;
    }
    if new < want && all < want + surge {
        let up = (want + surge - all).min(want - new);
        if scale(ctx, d, current, new + up).is_some() {
            return;
        }
    }
    // reconcileOldReplicaSets: never fewer than want - maxUnavailable available, counting the
    // new ReplicaSet's unavailable pods against it.
    if old_count == 0 {
        return;
    }
    let min_available = want.saturating_sub(unavailable);
    let new_unavailable = new.saturating_sub(available(current));
    let max_scaled_down = all as i64 - min_available as i64 - new_unavailable as i64;
    if max_scaled_down <= 0 {
        return;
    }
    let max_scaled_down = max_scaled_down as usize;
    // cleanupUnhealthyReplicas: old replicas that are not available go first.
    let mut cleaned = 0;
    for old in olds.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let (n, a) = (spec_replicas(old), available(old));
        if n == 0 || n <= a {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(n - a);
        if let Some(stored) = scale(ctx, d, old, n - down) {
            *old = stored;
            cleaned += down;
        }
    }
    // scaleDownOldReplicaSetsForRollingUpdate: only what is available beyond minAvailable.
    let available_all: usize = olds.iter().map(available).sum::<usize>() + available(current);
    if available_all <= min_available {
        return;
    }
    let total = available_all - min_available;
    let mut done = 0;
    for old in olds.iter() {
        if done >= total {
            break;
        }
        let n = spec_replicas(old);
        if n == 0 {
            continue;
        }
        let down = n.min(total - done);
        scale(ctx, d, old, n - down);
        done += down;
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
        let min_available = want.saturating_sub(fenceposts(d, want).1);
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
