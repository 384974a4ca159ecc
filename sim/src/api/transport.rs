//! Transport faults: failed and throttled requests at exact, repeatable rates.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::faults::TransportFaults;

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Served normally.
    Serve,
    /// Answered 500 InternalError.
    Fail,
    /// Answered 429 TooManyRequests with `Retry-After`.
    Throttle,
}

/// Decides each request's fate with counters, not randomness, so a run is repeatable: with rate
/// `r`, request `n` is hit when `floor((n+1)·r) > floor(n·r)` (evenly spread, exactly `r` overall).
#[derive(Debug, Default)]
pub struct Transport {
    faults: TransportFaults,
    requests: AtomicU64,
    served: AtomicU64,
}

fn hits(n: u64, rate: f64) -> bool {
    let rate = rate.clamp(0.0, 1.0);
    rate > 0.0 && ((n + 1) as f64 * rate).floor() > (n as f64 * rate).floor()
}

impl Transport {
    /// Transport behaviour for the given faults.
    pub fn new(faults: TransportFaults) -> Transport {
        Transport {
            faults,
            ..Transport::default()
        }
    }

    /// The configured faults.
    pub fn faults(&self) -> &TransportFaults {
        &self.faults
    }

    /// The fate of the next request. Throttling counts only requests that did not fail, so the
    /// two rates do not mask each other.
    pub fn next(&self) -> Verdict {
        if hits(
            self.requests.fetch_add(1, Ordering::Relaxed),
            self.faults.error_rate,
        ) {
            return Verdict::Fail;
        }
        if hits(
            self.served.fetch_add(1, Ordering::Relaxed),
            self.faults.throttle_rate,
        ) {
            return Verdict::Throttle;
        }
        Verdict::Serve
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_exact_and_repeatable() {
        let t = Transport::new(TransportFaults {
            error_rate: 0.25,
            throttle_rate: 0.5,
            ..Default::default()
        });
        let v: Vec<Verdict> = (0..8).map(|_| t.next()).collect();
        assert_eq!(v.iter().filter(|v| **v == Verdict::Fail).count(), 2);
        assert_eq!(v.iter().filter(|v| **v == Verdict::Throttle).count(), 3);
        let again = Transport::new(t.faults().clone());
        assert_eq!((0..8).map(|_| again.next()).collect::<Vec<_>>(), v);
        let none = Transport::new(TransportFaults::default());
        assert!((0..100).all(|_| none.next() == Verdict::Serve));
    }
}
