//! Transient API errors, retried in one place: every client the harness builds ([`client`])
//! retries a request answered 429 (honouring `Retry-After`), 500, 502, 503 or 504, or that got no
//! answer at all (connection refused or reset), with bounded exponential backoff. Every request
//! the harness sends is idempotent (server-side apply, reads, deletes, access reviews), so a
//! retry never doubles an effect. Inside a check ([`within`]) no retry sleeps past the check's
//! deadline: the wait or read then fails with the last answer, as it would have without retries.
//!
//! This replaces kube's own retry layer, which retries only 429/503/504 and may back off for
//! minutes.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::{Body, ClientBuilder};
use tower::Service;
use tower::retry::{Policy, Retry};

use super::wait::Deadline;

/// Attempts per request, the first included.
pub const MAX_ATTEMPTS: u32 = 8;
/// The first backoff; it doubles per retry up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// The longest backoff between two attempts (a longer `Retry-After` is cut to this).
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

tokio::task_local! {
    static DEADLINE: Deadline;
}

/// Runs `fut` with `deadline` as the limit for retries of the requests it sends; the backoff
/// slept is credited to the deadline, and so is the stall of a target with a stall clock
/// (`kube::clock`).
pub async fn within<F: std::future::Future>(
    deadline: Deadline,
    platform: Option<super::clock::PlatformStall>,
    fut: F,
) -> F::Output {
    super::clock::metering_on(platform, DEADLINE.scope(deadline, fut)).await
}

/// Why an answer is worth retrying, if it is.
pub fn transient_status(code: u16) -> Option<&'static str> {
    match code {
        429 => Some("429 Too Many Requests (throttled)"),
        500 => Some("500 Internal Server Error"),
        502 => Some("502 Bad Gateway"),
        503 => Some("503 Service Unavailable"),
        504 => Some("504 Gateway Timeout"),
        _ => None,
    }
}

/// A client for `config` with the harness's retry of transient errors (and not kube's).
pub fn client(mut config: kube::Config) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    let layer =
        tower::layer::layer_fn(|inner| Retry::new(Transient::default(), Shared::new(inner)));
    Ok(ClientBuilder::try_from(config)?.with_layer(&layer).build())
}

/// kube's service stack, shared by the retries of every request (the stack is not `Clone`).
/// Readiness is checked and the request sent under one lock; kube's stack (hyper's client and
/// header layers) is always ready, so clones never take each other's readiness. No buffer task:
/// the client keeps working in any runtime (cleanup after a runtime ended builds a new one).
struct Shared<S>(std::sync::Arc<std::sync::Mutex<S>>);

impl<S> Shared<S> {
    fn new(inner: S) -> Self {
        Shared(std::sync::Arc::new(std::sync::Mutex::new(inner)))
    }
}

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<S: Service<R>, R> Service<R> for Shared<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).call(req)
    }
}

/// The retry policy: per request, attempts counted and backoff doubled.
#[derive(Debug, Clone, Default)]
pub struct Transient {
    attempt: u32,
}

impl Transient {
    /// How long to wait before the next attempt, or `None` to give up (attempts spent, or the
    /// wait would end past the check's deadline).
    fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        self.attempt += 1;
        if self.attempt >= MAX_ATTEMPTS {
            return None;
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (self.attempt - 1).min(16))
            .min(MAX_BACKOFF);
        let delay = retry_after.map_or(backoff, |r| r.min(MAX_BACKOFF));
        let Ok(left) = DEADLINE.try_with(Deadline::remaining) else {
            return Some(delay);
        };
        // A `Retry-After` longer than the time left: try sooner rather than not at all (every
        // request is idempotent); past the deadline, give up.
        [delay, backoff].into_iter().find(|d| *d < left)
    }
}

impl<Res, E: std::fmt::Display> Policy<Request<Body>, Response<Res>, E> for Transient {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<Res>, E>,
    ) -> Option<Self::Future> {
        let (why, retry_after) = match result {
            Ok(resp) => {
                let why = transient_status(resp.status().as_u16())?;
                let after = (resp.status() == StatusCode::TOO_MANY_REQUESTS)
                    .then(|| {
                        resp.headers()
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs)
                    })
                    .flatten();
                (why.to_string(), after)
            }
            Err(e) => (format!("no answer ({e})"), None),
        };
        let Some(delay) = self.next_delay(retry_after) else {
            // Still failing after the retries the deadline allowed: an infrastructure incident
            // the run layer may retry the whole check for.
            super::incident::record(format!(
                "API server: {why} on {} {} (gave up after {} attempts)",
                req.method(),
                req.uri().path(),
                self.attempt
            ));
            return None;
        };
        tracing::debug!(
            "{} {}: {why}; retrying in {delay:?} (attempt {})",
            req.method(),
            req.uri().path(),
            self.attempt + 1
        );
        super::clock::add_backoff(delay);
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        // Streaming bodies cannot be sent twice; the harness sends none, but never guess.
        let body = req.body().try_clone()?;
        let mut out = Request::new(body);
        *out.method_mut() = req.method().clone();
        *out.uri_mut() = req.uri().clone();
        *out.version_mut() = req.version();
        *out.headers_mut() = req.headers().clone();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_transient_answers() {
        for code in [429, 500, 502, 503, 504] {
            assert!(transient_status(code).is_some(), "{code}");
        }
        for code in [200, 400, 403, 404, 409, 422, 501] {
            assert!(transient_status(code).is_none(), "{code}");
        }
    }

    #[test]
    fn backoff_is_bounded_in_attempts_and_length() {
        let mut p = Transient::default();
        let mut delays = Vec::new();
        while let Some(d) = p.next_delay(None) {
            delays.push(d);
        }
        assert_eq!(delays.len() as u32, MAX_ATTEMPTS - 1);
        assert_eq!(delays[0], FIRST_BACKOFF);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert!(delays.iter().all(|d| *d <= MAX_BACKOFF));
        // A long Retry-After is cut to the longest backoff.
        let mut p = Transient::default();
        assert_eq!(
            p.next_delay(Some(Duration::from_secs(60))),
            Some(MAX_BACKOFF)
        );
    }

    #[tokio::test]
    async fn never_sleeps_past_the_deadline() {
        let d = Deadline::after(Duration::from_millis(30));
        let delays = within(d, None, async {
            let mut p = Transient::default();
            (0..6).map(|_| p.next_delay(None)).collect::<Vec<_>>()
        })
        .await;
        // 20 ms fits in 30 ms; 40 ms does not: no further retries.
        assert_eq!(delays[0], Some(FIRST_BACKOFF));
        assert!(delays[1..].iter().all(Option::is_none), "{delays:?}");
    }
}
