//! The reconcile loop: one task watches every store change and runs a level-triggered pass over
//! the whole store (Seldon control plane, workload controllers, "kubelet", SealedSecrets, quota
//! status). Each pass writes only differences, so passes stop once the platform has converged.
//! Pod creations rejected by admission are retried on the controllers' rate-limiter backoff
//! (5 ms doubling, `control::context::FailedCreate`), and at once when something that could
//! change the verdict changed (the pod template, or a ResourceQuota/LimitRange of the namespace).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinHandle;

use crate::control::context::{Ctx, PlatformState};
use crate::control::objects::{namespace, res, set_status};
use crate::faults::Faults;
use crate::store::Store;

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
    let stall = Stall::start();
    let seen = ctx.store.resource_version();
    ctx.pass_started = std::time::Instant::now();
    ctx.memory.wake.clear();
    crate::seldon::reconcile(ctx).await;
    crate::controllers::workloads(ctx);
    crate::controllers::volumes(ctx);
    crate::controllers::kubelet(ctx);
    crate::controllers::workload_status(ctx);
    crate::sealed::reconcile(ctx);
    update_quota_status(ctx);
    stall.finish(&ctx.state.stalled_nanos);
    ctx.state.reconciled_rv.send_if_modified(|rv| {
        let newer = seen > *rv;
        *rv = (*rv).max(seen);
        newer
    });
}

/// Time a reconcile pass was kept from running: its wall time less the CPU time its thread spent
/// on it. Passes run in this process, so a starved machine (a build beside the tests) or a
/// contended lock slows the platform itself; a client's deadlines may credit that time
/// (`Platform::stalled`), as a cluster on its own machines would not have lost it.
pub struct Stall {
    wall: std::time::Instant,
    cpu: Duration,
    thread: std::thread::ThreadId,
}

impl Stall {
    /// Starts measuring on the current thread.
    pub fn start() -> Stall {
        Stall {
            wall: std::time::Instant::now(),
            cpu: thread_cpu_time(),
            thread: std::thread::current().id(),
        }
    }

    /// Adds the stall since [`Stall::start`] to `total` (nanoseconds). A measurement that moved
    /// threads (a pass that awaited and resumed elsewhere) is dropped: its CPU time is unknown.
    pub fn finish(self, total: &AtomicU64) {
        if std::thread::current().id() != self.thread {
            return;
        }
        let cpu = thread_cpu_time().saturating_sub(self.cpu);
        let stalled = self.wall.elapsed().saturating_sub(cpu);
        total.fetch_add(
            u64::try_from(stalled.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// CPU time the current thread has used (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Keeps every ResourceQuota's `status.hard` and `status.used` current.
fn update_quota_status(ctx: &Ctx) {
    let (quotas, _) = ctx.store.list(res("ResourceQuota"), None);
    for q in quotas {
        let hard = crate::admission::quota_hard(&q);
        let keys = hard.keys().cloned().collect();
        // Counted in place: copying the namespace's objects for each quota in each pass was
        // much of the platform's CPU time.
        let used = ctx
            .store
            .read(|r| crate::admission::namespace_usage(r, namespace(&q), &keys));
        let status = json!({
            "hard": q["spec"]["hard"].clone(),
            "used": used.iter().map(|(k, v)| (k.clone(), json!(v.to_string()))).collect::<serde_json::Map<_, _>>(),
        });
        set_status(&ctx.store, res("ResourceQuota"), &q, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_off_the_cpu_is_stall() {
        let total = AtomicU64::new(0);
        let stall = Stall::start();
        // Asleep: the thread uses no CPU, as when the machine gives it none.
        std::thread::sleep(Duration::from_millis(50));
        stall.finish(&total);
        let stalled = Duration::from_nanos(total.load(Ordering::Relaxed));
        assert!(stalled >= Duration::from_millis(45), "{stalled:?}");
    }

    #[test]
    fn time_on_the_cpu_is_not_stall() {
        let total = AtomicU64::new(0);
        let wall = std::time::Instant::now();
        let stall = Stall::start();
        let start = thread_cpu_time();
        while thread_cpu_time() - start < Duration::from_millis(50) {
            std::hint::black_box(0u64);
        }
        stall.finish(&total);
        let wall = wall.elapsed();
        let stalled = Duration::from_nanos(total.load(Ordering::Relaxed));
        // Whatever the machine's load, the 50 ms of CPU are not counted.
        assert!(
            stalled + Duration::from_millis(50) <= wall,
            "{stalled:?} of {wall:?}"
        );
    }
}
