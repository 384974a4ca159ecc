//! Running independent scenarios at the same time (`harness run --jobs N`): at most N at once,
//! never two that share a namespace on one cluster, results in the order given, and each
//! scenario's log lines kept together and printed as one block when it ends.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::scenario::Scenario;

/// How many scenarios `harness run` runs at once unless told (`--jobs`, `HARNESS_JOBS`): the
/// work is mostly waiting on the API server, so more than the cores of a small machine.
pub const DEFAULT_JOBS: u16 = 4;

tokio::task_local! {
    /// The log buffer of the scenario the current task is running, while one captures.
    static CAPTURE: Arc<Mutex<Vec<u8>>>;
}

/// Runs `f` for each scenario, at most `jobs` at once; with `exclusive`, two scenarios sharing a
/// namespace ([`Scenario::namespaces`]) never run at the same time. Results come back in the
/// order of `scenarios`. With more than one job, each scenario's log lines (written through
/// [`LogWriter`]) are held back and printed together, under a header, when it ends.
pub async fn run_bounded<'a, T, F, Fut>(
    scenarios: &[&'a Scenario],
    jobs: usize,
    exclusive: bool,
    f: F,
) -> Vec<T>
where
    F: Fn(&'a Scenario) -> Fut,
    Fut: Future<Output = T>,
{
    let jobs = jobs.max(1);
    let mut results: Vec<Option<T>> = scenarios.iter().map(|_| None).collect();
    let mut pending: VecDeque<usize> = (0..scenarios.len()).collect();
    let mut busy: Vec<(usize, Vec<String>)> = Vec::new();
    let mut running = FuturesUnordered::new();
    loop {
        let mut i = 0;
        while running.len() < jobs && i < pending.len() {
            let idx = pending[i];
            let namespaces = scenarios[idx].namespaces();
            let clash = exclusive
                && busy
                    .iter()
                    .any(|(_, b)| b.iter().any(|n| namespaces.contains(n)));
            if clash {
                i += 1;
                continue;
            }
            pending.remove(i);
            busy.push((idx, namespaces));
            let work = f(scenarios[idx]);
            let capture = jobs > 1;
            running.push(async move {
                if !capture {
                    return (idx, work.await, Vec::new());
                }
                let buffer = Arc::new(Mutex::new(Vec::new()));
                let out = CAPTURE.scope(buffer.clone(), work).await;
                let log = std::mem::take(&mut *buffer.lock().unwrap_or_else(|e| e.into_inner()));
                (idx, out, log)
            });
        }
        let Some((idx, out, log)) = running.next().await else {
            break;
        };
        if !log.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "── log of scenario {} ──", scenarios[idx].name());
            let _ = err.write_all(&log);
        }
        results[idx] = Some(out);
        busy.retain(|(i, _)| *i != idx);
    }
    results
        .into_iter()
        .map(|r| r.expect("every scenario was run"))
        .collect()
}

/// Where log lines go: the running scenario's buffer while [`run_bounded`] captures, else stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log line's destination.
pub enum LogSink {
    /// The current scenario's buffer.
    Buffer(Arc<Mutex<Vec<u8>>>),
    /// Standard error.
    Stderr(std::io::Stderr),
}

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LogSink::Buffer(b) => {
                b.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(buf);
                Ok(buf.len())
            }
            LogSink::Stderr(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LogSink::Buffer(_) => Ok(()),
            LogSink::Stderr(e) => e.flush(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogSink;

    fn make_writer(&'a self) -> LogSink {
        CAPTURE
            .try_with(|b| LogSink::Buffer(b.clone()))
            .unwrap_or_else(|_| LogSink::Stderr(std::io::stderr()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    fn scenario(name: &str, ns: &str) -> Scenario {
        let text = format!(
            "apiVersion: conformance.harness/v1alpha1\nkind: Scenario\nmetadata: {{name: {name}}}\nspec:\n  seldon: {{chartVersion: \"2.10.2\"}}\n  teams:\n    - namespace: {ns}\n  checks:\n    - name: rbac\n      expect:\n        access: {{serviceAccount: {ns}/default, verb: get, resource: secrets, namespace: {ns}, expect: allowed}}\n"
        );
        Scenario::parse(Path::new("t.yaml"), &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn bounded_ordered_and_namespaces_never_shared() {
        let all = [
            scenario("a", "ns-1"),
            scenario("b", "ns-1"),
            scenario("c", "ns-2"),
            scenario("d", "ns-3"),
        ];
        let refs: Vec<&Scenario> = all.iter().collect();
        let active: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let peak = Mutex::new(0usize);
        let out = run_bounded(&refs, 2, true, |s| {
            let (active, peak) = (&active, &peak);
            async move {
                let ns = s.namespaces()[0].clone();
                {
                    let mut a = active.lock().unwrap();
                    assert!(!a.contains(&ns), "{ns} used by two scenarios at once");
                    a.push(ns.clone());
                    let mut p = peak.lock().unwrap();
                    *p = (*p).max(a.len());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                active.lock().unwrap().retain(|n| *n != ns);
                s.name().to_string()
            }
        })
        .await;
        assert_eq!(out, ["a", "b", "c", "d"]);
        assert_eq!(
            *peak.lock().unwrap(),
            2,
            "never more than 2, and 2 at some point"
        );
    }

    #[tokio::test]
    async fn logs_are_captured_per_scenario() {
        let all = [scenario("a", "ns-1"), scenario("b", "ns-2")];
        let refs: Vec<&Scenario> = all.iter().collect();
        let out = run_bounded(&refs, 2, false, |s| async move {
            let mut sink = tracing_subscriber::fmt::MakeWriter::make_writer(&LogWriter);
            sink.write_all(s.name().as_bytes()).unwrap();
            matches!(sink, LogSink::Buffer(_))
        })
        .await;
        assert_eq!(out, [true, true]);
        assert!(matches!(
            tracing_subscriber::fmt::MakeWriter::make_writer(&LogWriter),
            LogSink::Stderr(_)
        ));
    }
}
