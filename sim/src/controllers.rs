//! Workload controllers: StatefulSets and Deployments create pods; failures become events.
//!
//! One task watches every store change and runs a level-triggered reconcile pass over the whole
//! store (Seldon control plane, workload controllers, "kubelet", quota status). Each pass writes
//! only differences, so passes stop once the platform has converged. Pod creations rejected by
//! admission are retried only when something that could change the verdict changed (the pod
//! template, or a ResourceQuota/LimitRange of the namespace), as the controllers' backoff would.

mod events;
mod kubelet;
mod workloads;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinHandle;

use crate::faults::Faults;
use crate::store::{RESOURCES, ResourceType, Store};

pub use events::record_event;
pub use kubelet::LOG_ANNOTATION;

/// State the controllers share with the platform handle, beyond stored objects.
pub struct PlatformState {
    /// Inference endpoint address per namespace with a ready runtime.
    pub mesh_addrs: Mutex<HashMap<String, SocketAddr>>,
    /// Model artifacts by storage URI (what a model store would hold).
    pub artifacts: Mutex<HashMap<String, PathBuf>>,
    /// Running inference endpoints, by namespace (kept alive here; dropped when the runtime goes).
    pub(crate) meshes: Mutex<HashMap<String, crate::seldon::MeshSlot>>,
    /// Bumped whenever an endpoint starts, stops or changes its models (endpoints are not
    /// stored objects, so waiters cannot watch the store for them).
    pub mesh_changes: tokio::sync::watch::Sender<u64>,
}

impl Default for PlatformState {
    fn default() -> Self {
        PlatformState {
            mesh_addrs: Mutex::default(),
            artifacts: Mutex::default(),
            meshes: Mutex::default(),
            mesh_changes: tokio::sync::watch::channel(0).0,
        }
    }
}

/// Starts every controller; they run until the returned tasks are aborted.
pub fn spawn(store: Store, faults: Faults, state: Arc<PlatformState>) -> Vec<JoinHandle<()>> {
    let mut rx = store.subscribe();
    let mut ctx = Ctx::new(store, faults, state);
    vec![tokio::spawn(async move {
        ctx.pass().await;
        loop {
            let mut relevant = match rx.recv().await {
                Ok(c) => c.resource.kind != "Event",
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            };
            // Coalesce a burst of changes into one pass.
            loop {
                match rx.try_recv() {
                    Ok(c) => relevant |= c.resource.kind != "Event",
                    Err(TryRecvError::Lagged(_)) => relevant = true,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
            if relevant {
                ctx.pass().await;
            }
        }
    })]
}

/// A pod creation admission rejected: what it was tried against, and why it failed.
#[derive(Debug, Clone)]
pub(crate) struct FailedCreate {
    /// Template hash plus quota/limit-range versions of the namespace at the attempt.
    pub fingerprint: String,
    /// The admission message.
    pub message: String,
}

/// Everything a reconcile pass needs.
pub(crate) struct Ctx {
    pub store: Store,
    pub faults: Faults,
    pub state: Arc<PlatformState>,
    /// Last rejected pod creation per workload (`<kind>/<ns>/<name>`).
    pub failed: HashMap<String, FailedCreate>,
    /// Model artifacts loaded so far, by folder.
    pub loaded: HashMap<PathBuf, Arc<dyn crate::dataplane::Predictor>>,
    next_ip: u32,
    rng: u64,
}

impl Ctx {
    fn new(store: Store, faults: Faults, state: Arc<PlatformState>) -> Ctx {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7);
        // Start at 10.244.1.1: 10.244.0.x is left to cluster add-ons (cluster DNS is 10.244.0.2).
        Ctx {
            store,
            faults,
            state,
            failed: HashMap::new(),
            loaded: HashMap::new(),
            next_ip: 256,
            rng: seed | 1,
        }
    }

    async fn pass(&mut self) {
        crate::seldon::reconcile(self).await;
        workloads::reconcile(self);
        kubelet::reconcile(self);
        workloads::update_status(self);
        update_quota_status(self);
    }

    /// The next pod IP from 10.244.0.0/16 (skipping .0 and .255 host parts).
    pub fn next_pod_ip(&mut self) -> String {
        loop {
            self.next_ip = self.next_ip.wrapping_add(1);
            let (hi, lo) = ((self.next_ip >> 8) & 0xff, self.next_ip & 0xff);
            if lo != 0 && lo != 255 {
                return format!("10.244.{hi}.{lo}");
            }
        }
    }

    /// A pseudo-random number (xorshift), for generated name suffixes.
    pub fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

/// The catalogue entry of a kind (kinds are unique in the catalogue).
pub(crate) fn res(kind: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .expect("kind in catalogue")
}

/// RFC 3339 timestamp with second precision, as Kubernetes writes them.
pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// `metadata.namespace`.
pub(crate) fn namespace(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// A controller ownerReference to `owner`.
pub(crate) fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

/// Whether `obj` is controlled by the object with `uid`.
pub(crate) fn owned_by(obj: &Value, uid: &Value) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| &r["uid"] == uid))
}

/// Whether a pod's `Ready` condition is True.
pub(crate) fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether the object is being deleted.
pub(crate) fn deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// Creates `desired` or brings the stored object's spec/data/labels/annotations/owners in line.
///
/// Returns the stored object. Failures are logged and retried on the next pass.
pub(crate) fn ensure(store: &Store, rt: &'static ResourceType, desired: Value) -> Option<Value> {
    let ns = desired["metadata"]["namespace"]
        .as_str()
        .map(str::to_string);
    let nm = desired["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let result = match store.get(rt, ns.as_deref(), &nm) {
        None => store.create(rt, desired),
        Some(existing) => {
            let mut merged = existing.clone();
            for (k, v) in desired.as_object().into_iter().flatten() {
                match k.as_str() {
                    "metadata" | "status" | "apiVersion" | "kind" => {}
                    _ => merged[k] = v.clone(),
                }
            }
            for f in ["labels", "annotations", "ownerReferences"] {
                if let Some(v) = desired["metadata"].get(f) {
                    merged["metadata"][f] = v.clone();
                }
            }
            if merged == existing {
                return Some(existing);
            }
            store.update(rt, merged)
        }
    };
    result
        .map_err(|e| tracing::debug!(kind = rt.kind, name = nm, error = %e, "ensure failed"))
        .ok()
}

/// Writes `status` through the status subresource when it differs from the stored one.
pub(crate) fn set_status(store: &Store, rt: &'static ResourceType, obj: &Value, status: Value) {
    if obj["status"] == status {
        return;
    }
    let mut o = obj.clone();
    o["status"] = status;
    // Last writer wins: the controllers are the only status writers.
    o["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    if let Err(e) = store.update_status(rt, o) {
        tracing::debug!(kind = rt.kind, name = name(obj), error = %e, "status update failed");
    }
}

/// A condition keeping its `lastTransitionTime` when the status did not change.
pub(crate) fn condition(
    previous: &Value,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
) -> Value {
    let status_s = if status { "True" } else { "False" };
    let prev = previous
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_));
    let ltt = match prev {
        Some(p) if p["status"] == status_s => p["lastTransitionTime"].clone(),
        _ => json!(now()),
    };
    let mut c = json!({"type": type_, "status": status_s, "lastTransitionTime": ltt});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}

/// Keeps every ResourceQuota's `status.hard` and `status.used` current.
fn update_quota_status(ctx: &Ctx) {
    let (quotas, _) = ctx.store.list(res("ResourceQuota"), None);
    for q in quotas {
        let ns = namespace(&q).to_string();
        let snap = Snapshot::of_namespace(&ctx.store, &ns);
        let hard = crate::admission::quota_hard(&q);
        let used = crate::admission::namespace_usage(&snap, &ns, &hard.keys().cloned().collect());
        let status = json!({
            "hard": q["spec"]["hard"].clone(),
            "used": used.iter().map(|(k, v)| (k.clone(), json!(v.to_string()))).collect::<serde_json::Map<_, _>>(),
        });
        set_status(&ctx.store, res("ResourceQuota"), &q, status);
    }
}

/// A copy of one namespace's objects, readable by admission-side helpers.
pub(crate) struct Snapshot {
    objects: HashMap<&'static str, Vec<Value>>,
}

impl Snapshot {
    /// Every namespaced object of `ns`.
    pub fn of_namespace(store: &Store, ns: &str) -> Snapshot {
        let objects = RESOURCES
            .iter()
            .filter(|r| r.namespaced)
            .map(|r| (r.kind, store.list(r, Some(ns)).0))
            .collect();
        Snapshot { objects }
    }
}

impl crate::store::Reader for Snapshot {
    fn get(&self, rt: &ResourceType, _: Option<&str>, name: &str) -> Option<&Value> {
        self.objects
            .get(rt.kind)?
            .iter()
            .find(|o| o["metadata"]["name"] == name)
    }
    fn list(&self, rt: &ResourceType, _: Option<&str>) -> Vec<&Value> {
        self.objects
            .get(rt.kind)
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }
}
