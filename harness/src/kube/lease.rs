//! Run ownership on a shared cluster: each run holds a `coordination.k8s.io/v1` Lease named after
//! it in the harness's namespace, renewed while it runs (holder = run id). Another run reads it
//! to tell a live run (never touched) from a kept one (never touched either) and from a crashed
//! one (lease expired: reported, and `harness cleanup --run <id>` may remove what it left).

use std::fmt;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use serde_json::{Value, json};

use super::object::RunLabels;

/// The namespace holding the runs' Leases (created on first need, never deleted by a run).
pub const HARNESS_NAMESPACE: &str = "conformance-harness";
/// How long a Lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(30);
/// How often a running run renews its Lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Annotation on the Lease of a kept run: when it was kept. A kept run's Lease is not renewed
/// and never expires.
pub const KEPT_ANNOTATION: &str = "conformance.harness/kept";

/// The Lease name for a run.
pub fn lease_name(run_id: &str) -> String {
    format!("run-{run_id}")
}

/// A run's Lease as JSON, renewed now (`kept`: marked kept instead).
pub fn lease_object(labels: &RunLabels, kept: bool) -> Value {
    let now = micro_time(jiff::Timestamp::now());
    let mut v = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": lease_name(&labels.run_id), "namespace": HARNESS_NAMESPACE},
        "spec": {
            "holderIdentity": labels.run_id,
            "leaseDurationSeconds": LEASE_DURATION.as_secs(),
            "renewTime": now,
        }
    });
    if kept {
        v["metadata"]["annotations"] = json!({ KEPT_ANNOTATION: now });
    }
    v
}

/// `MicroTime` as the API server writes it (RFC 3339, microseconds, UTC).
fn micro_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// What another run's Lease says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Renewed recently: the run is going on.
    Live {
        /// When it was last renewed.
        renewed: String,
    },
    /// The run ended and kept its objects for inspection.
    Kept {
        /// When it was kept.
        since: String,
    },
    /// Not renewed for longer than its duration: the run crashed or was killed.
    Expired {
        /// When it was last renewed.
        renewed: String,
    },
    /// No Lease: a run by a harness without leases, or its Lease was deleted.
    NoLease,
}

impl RunState {
    /// Whether the run's objects may be deleted by `harness cleanup --run`: not while it is live.
    pub fn may_be_cleaned(&self) -> bool {
        !matches!(self, RunState::Live { .. })
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunState::Live { renewed } => {
                write!(f, "is still running (its Lease was renewed at {renewed})")
            }
            RunState::Kept { since } => write!(f, "was kept for inspection (since {since})"),
            RunState::Expired { renewed } => write!(
                f,
                "crashed or was killed (its Lease expired: last renewed at {renewed})"
            ),
            RunState::NoLease => write!(f, "holds no Lease (crashed, or run by an older harness)"),
        }
    }
}

/// Reads a run's state from its Lease; `Err` when the Lease cannot be read.
pub async fn state_of(client: &Client, run_id: &str) -> Result<RunState, String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), HARNESS_NAMESPACE);
    let lease = match api.get_opt(&lease_name(run_id)).await {
        Ok(Some(l)) => l,
        Ok(None) => return Ok(RunState::NoLease),
        Err(e) => return Err(format!("cannot read the Lease of run {run_id}: {e}")),
    };
    Ok(judge(&lease, jiff::Timestamp::now()))
}

/// The state a Lease shows at `now`.
pub fn judge(lease: &Lease, now: jiff::Timestamp) -> RunState {
    if let Some(since) = lease
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(KEPT_ANNOTATION))
    {
        return RunState::Kept {
            since: since.clone(),
        };
    }
    let spec = lease.spec.clone().unwrap_or_default();
    let duration = spec
        .lease_duration_seconds
        .map_or(LEASE_DURATION.as_secs() as i64, i64::from);
    let Some(renewed) = spec.renew_time.or(spec.acquire_time) else {
        return RunState::Expired {
            renewed: "never".into(),
        };
    };
    let renewed_at = renewed.0;
    let text = micro_time(renewed_at);
    if now.as_second() - renewed_at.as_second() > duration {
        RunState::Expired { renewed: text }
    } else {
        RunState::Live { renewed: text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(v: Value) -> Lease {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_lease_is_live_until_it_expires_and_kept_forever() {
        let labels = RunLabels::new("s", "r1");
        let l = lease(lease_object(&labels, false));
        let now = jiff::Timestamp::now();
        assert!(matches!(judge(&l, now), RunState::Live { .. }));
        let later = now + jiff::SignedDuration::from_secs(31);
        assert!(matches!(judge(&l, later), RunState::Expired { .. }));
        let kept = lease(lease_object(&labels, true));
        let much_later = now + jiff::SignedDuration::from_secs(86_400);
        assert!(matches!(judge(&kept, much_later), RunState::Kept { .. }));
        assert!(
            !RunState::Live {
                renewed: "t".into()
            }
            .may_be_cleaned()
        );
        assert!(
            RunState::Expired {
                renewed: "t".into()
            }
            .may_be_cleaned()
        );
        assert_eq!(l.spec.unwrap().holder_identity.as_deref(), Some("r1"));
    }
}
