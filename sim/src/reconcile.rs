//! The reconcile loop: one task watches every store change and runs a level-triggered pass over
//! the whole store (Seldon control plane, workload controllers, "kubelet", SealedSecrets, quota
//! status). Each pass writes only differences, so passes stop once the platform has converged.
//! Pod creations rejected by admission are retried on the controllers' rate-limiter backoff
//! (5 ms doubling, `control::context::FailedCreate`), and at once when something that could
//! change the verdict changed (the pod template, or a ResourceQuota/LimitRange of the namespace).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinHandle;

use crate::control::context::{Ctx, PlatformState};
use crate::control::objects::{namespace, res, set_status};
use crate::faults::Faults;
use crate::store::{RESOURCES, ResourceType, Store};

/// Starts every controller; they run until the returned tasks are aborted.
pub fn spawn(store: Store, faults: Faults, state: Arc<PlatformState>) -> Vec<JoinHandle<()>> {
    let mut rx = store.subscribe();
    let mut ctx = Ctx::new(store, faults, state);
    vec![tokio::spawn(async move {
        pass(&mut ctx).await;
        loop {
            // Refused pod creations are retried on the controllers' backoff, not only on changes.
            let retry = ctx.next_retry();
            let received = match retry {
                Some(at) => {
                    tokio::select! {
                        r = rx.recv() => Some(r),
                        _ = tokio::time::sleep_until(at.into()) => None,
                    }
                }
                None => Some(rx.recv().await),
            };
            let mut relevant = match received {
                None => true,
                Some(Ok(c)) => c.resource.kind != "Event",
                Some(Err(RecvError::Lagged(_))) => true,
                Some(Err(RecvError::Closed)) => return,
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
                pass(&mut ctx).await;
            }
        }
    })]
}

/// One reconcile pass over the whole store, in dependency order.
async fn pass(ctx: &mut Ctx) {
    ctx.pass_started = std::time::Instant::now();
    ctx.memory.wake.clear();
    crate::seldon::reconcile(ctx).await;
    crate::controllers::workloads(ctx);
    crate::controllers::volumes(ctx);
    crate::controllers::kubelet(ctx);
    crate::controllers::workload_status(ctx);
    crate::sealed::reconcile(ctx);
    update_quota_status(ctx);
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
