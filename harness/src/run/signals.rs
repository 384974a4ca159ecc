//! Ctrl-C and SIGTERM: counted once listened for, so runs stop new work and clean up.

use std::sync::OnceLock;

use tokio::sync::watch;

/// How many interrupting signals (SIGINT, SIGTERM) the process has received, counted from the
/// first call of [`listen_for_signals`].
static SIGNALS: OnceLock<watch::Receiver<u32>> = OnceLock::new();

/// Starts counting SIGINT and SIGTERM (once per process; later calls return the same counter).
/// From then on a signal no longer kills the process: a run stops starting new work, cleans up
/// and exits non-zero; a second signal abandons the cleanup. Call it before anything is created.
pub fn listen_for_signals() -> watch::Receiver<u32> {
    SIGNALS
        .get_or_init(|| {
            let (tx, rx) = watch::channel(0u32);
            // Registered here, not in the task: a signal arriving before the task first runs
            // must already be counted rather than kill the process mid-setup.
            #[cfg(unix)]
            let streams = {
                use tokio::signal::unix::{SignalKind, signal};
                (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                )
            };
            tokio::spawn(async move {
                #[cfg(unix)]
                {
                    let (Ok(mut int), Ok(mut term)) = streams else {
                        tracing::warn!("cannot listen for SIGINT/SIGTERM");
                        return;
                    };
                    loop {
                        let name = tokio::select! {
                            _ = int.recv() => "SIGINT",
                            _ = term.recv() => "SIGTERM",
                        };
                        tx.send_modify(|n| *n += 1);
                        tracing::debug!("received {name}");
                    }
                }
                #[cfg(not(unix))]
                loop {
                    if tokio::signal::ctrl_c().await.is_err() {
                        return;
                    }
                    tx.send_modify(|n| *n += 1);
                }
            });
            rx
        })
        .clone()
}

/// How many interrupting signals have been received so far.
pub fn signals_received() -> u32 {
    SIGNALS.get().map_or(0, |rx| *rx.borrow())
}

/// Resolves once `n` interrupting signals have been received (never, if nothing listens).
pub(super) async fn signalled(n: u32) {
    let mut rx = listen_for_signals();
    if rx.wait_for(|c| *c >= n).await.is_err() {
        // The listener's runtime is gone (a test's runtime): no signal can be counted any more.
        std::future::pending::<()>().await;
    }
}
