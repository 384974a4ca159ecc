//! Time that is not the platform's: a check's deadline measures how long the platform takes,
//! not how long this process was kept from running or chose to wait. Three kinds of time are
//! credited back to a check's deadline ([`credit`]), all counted per check ([`metering`]):
//!
//! - **lateness**: a meter polled in the check's own task sleeps [`TICK`] at a time and counts
//!   how much later than asked it ran again; on a starved machine (a 2-core runner building while
//!   tests run) or a congested runtime that is the time the check, and the embedded platform in
//!   the same process, could not run;
//! - **backoff**: time the harness slept before retrying a transient API error inside the check
//!   ([`add_backoff`]), which a throttling API server asks for;
//! - **shared prerequisites**: time spent awaiting a result the run computes once for several
//!   checks ([`prerequisite`]: the NetworkPolicy canary), which the check computing it measures
//!   under its own deadline; without the credit every check waiting for it would pay for it again.
//!
//! On a target that runs in this process (the embedded platform), the platform itself is slowed
//! by a starved machine, and the meter, a sleeper the OS wakes promptly, does not see it: the
//! target's own stall clock ([`PlatformStall`], the time its controllers were kept from running)
//! is credited instead whenever it is larger than the check's lateness ([`metering_on`]).
//!
//! Credit is capped by the callers ([`MAX_CREDIT_FACTOR`] times the deadline's own length), so a
//! failing check still ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How often the meter wakes up.
pub const TICK: Duration = Duration::from_millis(10);
/// Lateness below this is ordinary timer slack, not starvation.
const SLACK: Duration = Duration::from_millis(2);
/// At most this many times a deadline's length is credited back.
pub const MAX_CREDIT_FACTOR: u32 = 4;

/// A target's stall clock: how long, in total so far, the platform was kept from running by this
/// process's machine (only for targets running in this process).
pub type PlatformStall = Arc<dyn Fn() -> Duration + Send + Sync>;

#[derive(Default)]
struct Counters {
    late_nanos: AtomicU64,
    backoff_nanos: AtomicU64,
    prerequisite_nanos: AtomicU64,
    /// The target's stall clock and its reading when the check started.
    platform: Option<(PlatformStall, Duration)>,
}

impl Counters {
    fn platform_stall(&self) -> Duration {
        self.platform
            .as_ref()
            .map_or(Duration::ZERO, |(clock, start)| {
                clock().saturating_sub(*start)
            })
    }
}

tokio::task_local! {
    static COUNTERS: Arc<Counters>;
}

/// Runs `fut` (a check) with its lateness and retry backoff counted: a meter is polled in the
/// same task, so its lateness is the check's.
pub async fn metering<F: std::future::Future>(fut: F) -> F::Output {
    metering_on(None, fut).await
}

/// [`metering`] on a target with a stall clock: the platform's stall meanwhile is credited when
/// it exceeds the check's own lateness (both measure the same starved machine, so not both).
pub async fn metering_on<F: std::future::Future>(
    platform: Option<PlatformStall>,
    fut: F,
) -> F::Output {
    let counters = Arc::new(Counters {
        platform: platform.map(|clock| {
            let start = clock();
            (clock, start)
        }),
        ..Counters::default()
    });
    let meter_counters = counters.clone();
    let meter = async move {
        loop {
            let t = Instant::now();
            tokio::time::sleep(TICK).await;
            let late = t.elapsed().saturating_sub(TICK);
            if late > SLACK {
                meter_counters
                    .late_nanos
                    .fetch_add(late.as_nanos() as u64, Ordering::Relaxed);
            }
        }
    };
    COUNTERS
        .scope(counters, async move {
            tokio::pin!(fut);
            tokio::select! {
                biased;
                out = &mut fut => out,
                never = meter => never,
            }
        })
        .await
}

/// Notes that the running check slept `d` before retrying a request.
pub fn add_backoff(d: Duration) {
    let _ = COUNTERS.try_with(|c| {
        c.backoff_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed)
    });
}

/// Awaits `fut`, a result shared by several checks of the run (another check may be computing it
/// under its own deadline), and credits the time waited to the running check, less what the meter
/// and retries already credited meanwhile.
pub async fn prerequisite<F: std::future::Future>(fut: F) -> F::Output {
    let start = Instant::now();
    let credited = credit();
    let out = fut.await;
    let waited = start
        .elapsed()
        .saturating_sub(credit().saturating_sub(credited));
    let _ = COUNTERS.try_with(|c| {
        c.prerequisite_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed)
    });
    out
}

fn read(f: impl Fn(&Counters) -> u64) -> Duration {
    Duration::from_nanos(COUNTERS.try_with(|c| f(c)).unwrap_or(0))
}

/// Backoff slept so far by the running check (zero outside [`metering`]).
pub fn backoff() -> Duration {
    read(|c| c.backoff_nanos.load(Ordering::Relaxed))
}

/// How late the running check's task ran so far (zero outside [`metering`]).
pub fn lateness() -> Duration {
    read(|c| c.late_nanos.load(Ordering::Relaxed))
}

/// How long the target's platform was kept from running since the check started (zero without a
/// stall clock or outside [`metering_on`]).
pub fn platform_stall() -> Duration {
    COUNTERS
        .try_with(|c| c.platform_stall())
        .unwrap_or(Duration::ZERO)
}

/// The credit so far: the larger of the running check's lateness and its platform's stall, its
/// backoff and its waits for shared prerequisites.
pub fn credit() -> Duration {
    lateness().max(platform_stall())
        + backoff()
        + read(|c| c.prerequisite_nanos.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backoff_is_counted_per_check() {
        add_backoff(Duration::from_secs(5));
        assert_eq!(
            backoff(),
            Duration::ZERO,
            "outside a check nothing is counted"
        );
        let inside = metering(async {
            add_backoff(Duration::from_millis(300));
            add_backoff(Duration::from_millis(200));
            backoff()
        })
        .await;
        assert_eq!(inside, Duration::from_millis(500));
    }

    #[tokio::test]
    async fn waiting_for_a_shared_prerequisite_leaves_the_deadline_whole() {
        use crate::kube::wait::Deadline;
        // Another check computes the shared result (the canary) for 300 ms; this check's
        // 100 ms deadline must still be whole once it has the result.
        let (waited, plain) = metering(async {
            let d = Deadline::after(Duration::from_millis(100));
            prerequisite(tokio::time::sleep(Duration::from_millis(300))).await;
            let waited = d.remaining();
            let d = Deadline::after(Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(300)).await;
            (waited, d.remaining())
        })
        .await;
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert_eq!(
            plain,
            Duration::ZERO,
            "time not awaited as a prerequisite is the check's own"
        );
    }

    #[tokio::test]
    async fn a_stalled_platform_is_credited_once_beside_lateness() {
        use crate::kube::wait::Deadline;
        let stalled = Arc::new(AtomicU64::new(Duration::from_secs(7).as_nanos() as u64));
        let reading = stalled.clone();
        let clock: PlatformStall =
            Arc::new(move || Duration::from_nanos(reading.load(Ordering::Relaxed)));
        let (before, after, credited) = metering_on(Some(clock), async {
            let d = Deadline::after(Duration::from_millis(100));
            let before = platform_stall();
            // The platform is kept from running for 300 ms while the check waits.
            stalled.fetch_add(300_000_000, Ordering::Relaxed);
            (before, platform_stall(), d.remaining())
        })
        .await;
        assert_eq!(before, Duration::ZERO, "stall before the check is not its");
        assert_eq!(after, Duration::from_millis(300));
        assert!(credited > Duration::from_millis(300), "{credited:?}");
        assert!(credited <= Duration::from_millis(400), "{credited:?}");
        // Lateness larger than the stall is credited instead, not added to it, and the other way
        // round.
        let with = |late_ms: u64, stalled_ms: u64| {
            let clock: PlatformStall = Arc::new(move || Duration::from_millis(stalled_ms));
            let c = Counters {
                late_nanos: AtomicU64::new(late_ms * 1_000_000),
                platform: Some((clock, Duration::ZERO)),
                ..Counters::default()
            };
            COUNTERS.sync_scope(Arc::new(c), credit)
        };
        assert_eq!(with(500, 200), Duration::from_millis(500));
        assert_eq!(with(200, 500), Duration::from_millis(500));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_check_kept_from_running_is_credited() {
        let late = metering(async {
            // Let the meter start its first tick, then hog the only thread for 200 ms (as a
            // starved or congested process would keep the check's task from running).
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            std::thread::sleep(Duration::from_millis(200));
            // Give the meter a turn to notice.
            tokio::time::sleep(Duration::from_millis(1)).await;
            tokio::task::yield_now().await;
            lateness()
        })
        .await;
        assert!(late >= Duration::from_millis(150), "{late:?}");
    }
}
