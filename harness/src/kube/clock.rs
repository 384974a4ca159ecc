//! Time that is not the platform's: a check's deadline measures how long the platform takes,
//! not how long this process was kept from running or chose to wait. Two kinds of time are
//! credited back to deadlines ([`credit`]):
//!
//! - **stalls**: a watchdog thread sleeps [`TICK`] at a time and counts how much later than asked
//!   it woke up; on a starved machine (a 2-core runner building while tests run) that is the time
//!   every thread of the process, the embedded platform's included, lost;
//! - **backoff**: time the harness slept before retrying a transient API error inside the check
//!   ([`add_backoff`]), which a throttling API server asks for.
//!
//! Credit is capped by the callers (at most the deadline's own length), so a failing check still
//! ends.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the watchdog wakes up.
pub const TICK: Duration = Duration::from_millis(10);
/// Lateness below this is ordinary timer slack, not a stall.
const SLACK: Duration = Duration::from_millis(2);

static STALLED_NANOS: AtomicU64 = AtomicU64::new(0);
static WATCHDOG: OnceLock<()> = OnceLock::new();

tokio::task_local! {
    static BACKOFF_NANOS: Arc<AtomicU64>;
}

fn start_watchdog() {
    WATCHDOG.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("harness-stall-watchdog".into())
            .spawn(|| {
                loop {
                    let t = Instant::now();
                    std::thread::sleep(TICK);
                    let late = t.elapsed().saturating_sub(TICK);
                    if late > SLACK {
                        STALLED_NANOS.fetch_add(late.as_nanos() as u64, Ordering::Relaxed);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(
                "cannot start the stall watchdog (deadlines will not credit stalls): {e}"
            );
        }
    });
}

/// Time this process was stalled since the watchdog started (it starts on the first call).
pub fn stalled() -> Duration {
    start_watchdog();
    Duration::from_nanos(STALLED_NANOS.load(Ordering::Relaxed))
}

/// Runs `fut` counting the retry backoff its requests sleep ([`add_backoff`]).
pub async fn counting_backoff<F: std::future::Future>(fut: F) -> F::Output {
    BACKOFF_NANOS.scope(Arc::new(AtomicU64::new(0)), fut).await
}

/// Notes that the running check slept `d` before retrying a request.
pub fn add_backoff(d: Duration) {
    let _ = BACKOFF_NANOS.try_with(|b| b.fetch_add(d.as_nanos() as u64, Ordering::Relaxed));
}

/// Backoff slept so far by the running check (zero outside [`counting_backoff`]).
pub fn backoff() -> Duration {
    Duration::from_nanos(
        BACKOFF_NANOS
            .try_with(|b| b.load(Ordering::Relaxed))
            .unwrap_or(0),
    )
}

/// The credit so far: stalls plus this check's backoff.
pub fn credit() -> Duration {
    stalled() + backoff()
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
        let inside = counting_backoff(async {
            add_backoff(Duration::from_millis(300));
            add_backoff(Duration::from_millis(200));
            backoff()
        })
        .await;
        assert_eq!(inside, Duration::from_millis(500));
    }
}
