//! The StatefulSet controller: ordinal pods (OrderedReady or Parallel), one PersistentVolumeClaim
//! per `volumeClaimTemplates` entry and ordinal (`<template>-<set>-<ordinal>`, created before the
//! pod, never deleted with it), rolling updates one pod at a time, and the status.
//!
//! A template change rolls out as kubernetes `pkg/controller/statefulset/stateful_set_control.go`
//! `updateStatefulSet` does for `RollingUpdate` with partition 0 (the default; Seldon's operator
//! sets no update strategy): the pod with the largest ordinal not at the update revision is
//! deleted, one at a time, each time only once the pods above it run the new revision and are
//! Ready (here, harsher, once every pod is Ready); Server pods drain first
//! (docs/seldon-behaviour.md §25, §26).
//!
//! Wording from kubernetes v1.20.2 `pkg/controller/statefulset/stateful_pod_control.go`
//! (`create Pod web-0 in StatefulSet web successful`, `create Claim data-web-0 Pod web-0 in
//! StatefulSet web success`), checked against a real 1.20.2 controller-manager by
//! `sim/tests/differential.rs`.

use serde_json::{Value, json};

use super::pods::{
    ByOwner, Wording, admission_fingerprint, owned, pod_from_template, replicas, template_hash,
    try_create_pod,
};
use crate::control::context::Ctx;
use crate::control::events::record_event;
use crate::control::objects::{deleting, name, namespace, pod_ready, res, set_status};

fn ordinal(p: &Value) -> usize {
    name(p)
        .rsplit_once('-')
        .and_then(|(_, i)| i.parse::<usize>().ok())
        .unwrap_or(usize::MAX)
}

/// Creates and deletes pods (and claims) so every StatefulSet has what its spec asks for.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    let (sets, _) = ctx.store.list(res("StatefulSet"), None);
    for sts in sets.iter().filter(|s| !deleting(s)) {
        reconcile_one(ctx, sts);
    }
}

/// The claims pod `pod_name` needs; creates the missing ones. False when one could not be created.
fn ensure_claims(ctx: &mut Ctx, sts: &Value, pod_name: &str, pod: &mut Value) -> bool {
    let ns = namespace(sts).to_string();
    let sts_name = name(sts).to_string();
    for t in sts["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let tname = t["metadata"]["name"].as_str().unwrap_or_default();
        let claim = format!("{tname}-{pod_name}");
        // The pod mounts the claim under the template's name, replacing a template volume.
        let vols = pod["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut vols: Vec<Value> = vols.into_iter().filter(|v| v["name"] != tname).collect();
        vols.push(json!({"name": tname, "persistentVolumeClaim": {"claimName": claim}}));
        pod["spec"]["volumes"] = json!(vols);
        if ctx
            .store
            .get(res("PersistentVolumeClaim"), Some(&ns), &claim)
            .is_some()
        {
            continue;
        }
        let mut labels = sts["spec"]["selector"]["matchLabels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": ns, "labels": labels}, "spec": t["spec"].clone()});
        match ctx.store.create(res("PersistentVolumeClaim"), pvc) {
            Ok(_) => record_event(
                &ctx.store,
                sts,
                "Normal",
                "SuccessfulCreate",
                &format!("create Claim {claim} Pod {pod_name} in StatefulSet {sts_name} success"),
                "statefulset-controller",
            ),
            Err(e) => {
                record_event(
                    &ctx.store,
                    sts,
                    "Warning",
                    "FailedCreate",
                    &format!(
                        "create Claim {claim} for Pod {pod_name} in StatefulSet {sts_name} failed error: {}",
                        e.message
                    ),
                    "statefulset-controller",
                );
                return false;
            }
        }
    }
    true
}

fn reconcile_one(ctx: &mut Ctx, sts: &Value) {
    let (ns, sts_name) = (namespace(sts).to_string(), name(sts).to_string());
    let template = &sts["spec"]["template"];
    let revision = format!("{sts_name}-{}", template_hash(template));
    let want = replicas(sts);
    let parallel = sts["spec"]["podManagementPolicy"] == "Parallel";
    let pods = owned(ctx, "Pod", sts);
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
        // A Server pod drains first (preStop `/terminate`): the scheduler moves its models and
        // waits until they are loaded elsewhere (agent server.go `drainServerReplicaImpl`).
        if let Some(server) = old["metadata"]["labels"][crate::seldon::SERVER_LABEL].as_str()
            && let Some(at) = ctx.memory.loads_running(&ns, server, ctx.pass_started)
        {
            ctx.memory.wake_at(at);
            return;
        }
        let _ = ctx.store.delete(res("Pod"), Some(&ns), name(old));
        return;
    }
    let key = format!("StatefulSet/{ns}/{sts_name}");
    if live.len() >= want {
        return;
    }
    let fingerprint = admission_fingerprint(ctx, &ns, &revision);
    let wording = Wording {
        component: "statefulset-controller",
        created: format!("create Pod {{pod}} in StatefulSet {sts_name} successful"),
        failed: format!("create Pod {{pod}} in StatefulSet {sts_name} failed error: {{error}}"),
    };
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
        if !ensure_claims(ctx, sts, &pod_name, &mut pod) {
            return;
        }
        let created = try_create_pod(ctx, &key, &fingerprint, pod, sts, &wording);
        if created.is_none() || !parallel {
            return;
        }
    }
}

/// Brings every StatefulSet's `status` in line with its pods.
pub(crate) fn update_status(ctx: &mut Ctx, by_owner: &ByOwner) {
    let (sets, _) = ctx.store.list(res("StatefulSet"), None);
    for sts in &sets {
        let revision = format!("{}-{}", name(sts), template_hash(&sts["spec"]["template"]));
        let pods: Vec<&Value> = by_owner
            .owned(sts)
            .iter()
            .filter(|p| !deleting(p))
            .collect();
        let ready = pods.iter().filter(|p| pod_ready(p)).count();
        let at = |rev: &str| {
            pods.iter()
                .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == rev)
                .count()
        };
        let updated = at(&revision);
        // The current revision becomes the update revision once every pod runs it and is Ready
        // (stateful_set_control.go `completeRollingUpdate`); until then it names the old one.
        let current = match sts["status"]["currentRevision"].as_str() {
            Some(c) if !c.is_empty() && (updated < pods.len() || ready < pods.len()) => {
                c.to_string()
            }
            _ => revision.clone(),
        };
        let mut status = json!({
            "observedGeneration": sts["metadata"]["generation"], "replicas": pods.len(),
            "currentRevision": current, "updateRevision": revision, "collisionCount": 0,
        });
        for (k, v) in [
            ("readyReplicas", ready),
            ("availableReplicas", ready),
            ("currentReplicas", at(&current)),
            ("updatedReplicas", updated),
        ] {
            if v > 0 {
                status[k] = json!(v);
            }
        }
        set_status(&ctx.store, res("StatefulSet"), sts, status);
    }
}
