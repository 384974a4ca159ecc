//! How often a check runs. A failure is a verdict and is never retried into a pass; only a
//! failure that came with an infrastructure incident (`kube::incident`: the API server still
//! unavailable or throttling after the request retries, an image pull back-off) runs the check
//! again, at most [`INFRA_RETRIES`] times, and the reason stays in the verdict. With flaky
//! detection on (`HARNESS_DETECT_FLAKY=1`, the nightly), a failed check runs once more only to
//! find out: if it then passes it is reported flaky, and flaky is a failure.

use crate::checks::Verdict;

/// Extra attempts for failures that came with an infrastructure incident.
pub const INFRA_RETRIES: usize = 2;

/// Prefix of a flaky check's failure reason.
pub const FLAKY: &str = "FLAKY";

/// The final verdict and the retries it took (each with its reason).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempted {
    /// The verdict to report.
    pub verdict: Verdict,
    /// One line per extra attempt: which attempt failed and why it was retried.
    pub retries: Vec<String>,
}

/// Whether failed checks run once more to detect flakiness (`HARNESS_DETECT_FLAKY=1`).
pub fn detect_flaky_from_env() -> bool {
    std::env::var("HARNESS_DETECT_FLAKY").is_ok_and(|v| v == "1" || v == "true")
}

/// Runs `attempt` (one run of a check: its verdict and the incidents seen) as the rules above say.
pub async fn attempt_check<F, Fut>(mut attempt: F, detect_flaky: bool) -> Attempted
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (Verdict, Vec<String>)>,
{
    let mut retries = Vec::new();
    loop {
        let (verdict, incidents) = attempt().await;
        let n = retries.len() + 1;
        match verdict {
            Verdict::Pass { detail } if !retries.is_empty() => {
                return Attempted {
                    verdict: Verdict::pass(format!(
                        "{detail} (passed on attempt {n}; retried for infrastructure errors: {})",
                        retries.join("; ")
                    )),
                    retries,
                };
            }
            Verdict::Fail { reason } if !incidents.is_empty() => {
                if retries.len() < INFRA_RETRIES {
                    retries.push(format!(
                        "attempt {n} failed with infrastructure errors: {}",
                        incidents.join("; ")
                    ));
                    continue;
                }
                return Attempted {
                    verdict: Verdict::fail(format!(
                        "{reason}\n(infrastructure errors on every one of {n} attempts, the last: {}; earlier: {})",
                        incidents.join("; "),
                        retries.join("; ")
                    )),
                    retries,
                };
            }
            Verdict::Fail { reason } if detect_flaky => {
                let (again, _) = attempt().await;
                let verdict = if again.passed() {
                    Verdict::fail(format!(
                        "{FLAKY}: failed, then passed when run again: an intermittent failure of the \
                         platform or the check, which keeps the run red. The failure:\n{reason}"
                    ))
                } else {
                    Verdict::Fail { reason }
                };
                return Attempted { verdict, retries };
            }
            verdict => return Attempted { verdict, retries },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Plays scripted attempts, counting them.
    async fn play(script: Vec<(Verdict, Vec<&str>)>, detect: bool) -> (Attempted, usize) {
        let script = Mutex::new(script.into_iter());
        let count = Mutex::new(0);
        let a = attempt_check(
            || {
                *count.lock().unwrap() += 1;
                let (v, i) = script
                    .lock()
                    .unwrap()
                    .next()
                    .expect("no more attempts scripted");
                let i: Vec<String> = i.into_iter().map(str::to_string).collect();
                async move { (v, i) }
            },
            detect,
        )
        .await;
        let n = *count.lock().unwrap();
        (a, n)
    }

    #[tokio::test]
    async fn a_verdict_failure_is_never_retried() {
        let (a, n) = play(vec![(Verdict::fail("Model not Ready"), vec![])], false).await;
        assert_eq!(n, 1);
        assert_eq!(a.verdict, Verdict::fail("Model not Ready"));
    }

    #[tokio::test]
    async fn an_infrastructure_failure_is_retried_with_the_reason_kept() {
        let (a, n) = play(
            vec![
                (
                    Verdict::fail("x"),
                    vec!["API server: 503 Service Unavailable"],
                ),
                (Verdict::pass("ok"), vec![]),
            ],
            false,
        )
        .await;
        assert_eq!(n, 2);
        assert!(a.verdict.passed());
        assert!(
            a.verdict.message().contains("503 Service Unavailable"),
            "{:?}",
            a.verdict
        );
        assert_eq!(a.retries.len(), 1);
    }

    #[tokio::test]
    async fn infrastructure_retries_are_bounded() {
        let pull = "image pull back-off: pod ns/p container c (ImagePullBackOff: )";
        let (a, n) = play(vec![(Verdict::fail("x"), vec![pull]); 3], false).await;
        assert_eq!(n, 1 + INFRA_RETRIES);
        assert!(!a.verdict.passed());
        assert!(a.verdict.message().contains("ImagePullBackOff"));
    }

    #[tokio::test]
    async fn fail_then_pass_is_flaky_and_red() {
        let (a, n) = play(
            vec![
                (Verdict::fail("wrong output"), vec![]),
                (Verdict::pass("ok"), vec![]),
            ],
            true,
        )
        .await;
        assert_eq!(n, 2);
        assert!(!a.verdict.passed(), "flaky must fail: {:?}", a.verdict);
        assert!(a.verdict.message().starts_with(FLAKY));
        assert!(a.verdict.message().contains("wrong output"));
        // Failing twice is a plain failure.
        let (a, _) = play(
            vec![
                (Verdict::fail("wrong"), vec![]),
                (Verdict::fail("wrong"), vec![]),
            ],
            true,
        )
        .await;
        assert_eq!(a.verdict, Verdict::fail("wrong"));
        // A pass is never run again.
        let (_, n) = play(vec![(Verdict::pass("ok"), vec![])], true).await;
        assert_eq!(n, 1);
    }
}
