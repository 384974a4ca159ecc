//! Running one check of a scenario against a target that is already set up, and its verdict.
//!
//! Checks are target-agnostic: they see the cluster only through a `kube::Client` and reach a
//! namespace's `seldon-mesh` only through [`MeshAccess`], which each target implements.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::scenario::{Check, Scenario};

/// How to reach a namespace's `seldon-mesh` (REST and gRPC share one port, as Seldon's envoy does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshEndpoint {
    /// Base URL for V2 REST, e.g. `http://127.0.0.1:41234`.
    pub rest_base: String,
    /// `host:port` for V2 gRPC (plaintext h2c).
    pub grpc_addr: String,
}

/// A boxed future, so targets can implement [`MeshAccess`] without async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Gives checks a way to reach `seldon-mesh` in a namespace; implemented by each target.
pub trait MeshAccess: Send + Sync {
    /// The endpoint of the namespace's `seldon-mesh`, opening a port-forward if the target needs one.
    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>>;
}

/// What a check needs to run.
pub struct CheckContext<'a> {
    /// Client for the target's API server.
    pub client: kube::Client,
    /// The scenario the check belongs to (already set up on the target).
    pub scenario: &'a Scenario,
    /// Access to the namespaces' inference endpoints.
    pub mesh: &'a dyn MeshAccess,
    /// The run's id (labels every object the run creates, probes included).
    pub run_id: &'a str,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The platform does what the check expects; `detail` says what was observed.
    Pass {
        /// What was observed.
        detail: String,
    },
    /// The platform does not; `reason` names the cause (object, condition, event, numbers).
    Fail {
        /// Why, in words a platform engineer can act on.
        reason: String,
    },
    /// The check cannot give a verdict on this target (e.g. NetworkPolicy not enforced at all).
    Skip {
        /// Why not.
        reason: String,
    },
}

impl Verdict {
    /// Whether the verdict counts as success.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass { .. })
    }
}

/// Runs one check within its timeout; errors talking to the cluster become `Fail` with the error chain.
pub async fn run(ctx: &CheckContext<'_>, check: &Check) -> Verdict {
    let timeout = check.timeout.unwrap_or_else(|| check.expect.default_timeout());
    run_expectation(ctx, check, timeout).await
}

async fn run_expectation(_ctx: &CheckContext<'_>, check: &Check, _timeout: Duration) -> Verdict {
    Verdict::Skip { reason: format!("checks of kind `{}` are not implemented yet", check.expect.kind()) }
}
