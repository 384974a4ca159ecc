//! The checks: one file per check kind, each turning one expectation of a scenario into a
//! [`Verdict`]. Checks are target-agnostic (a `kube::Client` and [`crate::target::MeshAccess`])
//! and never call each other: what they share lives in `kube/`.

pub mod access;
pub mod connectivity;
pub mod context;
pub mod continuity;
pub mod experiment;
pub mod inference;
pub mod inference_rejected;
pub mod model_load_fails;
pub mod model_not_served;
pub mod models_fit;
pub mod pipeline;
pub mod pipeline_not_ready;
pub mod quota;
pub mod required_flows;
pub mod runtime_ignored;
pub mod runtime_not_ready;
pub mod scheduling;
pub mod sealed_scope;
pub mod sealed_unsealed;
pub mod secrets;
pub mod verdict;

pub use context::CheckContext;
pub use verdict::Verdict;

use crate::kube::Deadline;
use crate::scenario::{Check, Expectation};

/// Runs one check within its timeout; errors talking to the cluster become `Fail` with the cause.
pub async fn run(ctx: &CheckContext<'_>, check: &Check) -> Verdict {
    run_classified(ctx, check).await.0
}

/// [`run`], with the infrastructure incidents (`kube::incident`) seen meanwhile: a failure that
/// comes with incidents may be the infrastructure's, not the platform's.
pub async fn run_classified(ctx: &CheckContext<'_>, check: &Check) -> (Verdict, Vec<String>) {
    Box::pin(crate::kube::incident::collecting(run_within_deadline(
        ctx, check,
    )))
    .await
}

async fn run_within_deadline(ctx: &CheckContext<'_>, check: &Check) -> Verdict {
    let timeout = check
        .timeout
        .unwrap_or_else(|| check.expect.default_timeout())
        + check.expect.traffic_time();
    let deadline = Deadline::after(timeout);
    // Transient API errors are retried for as long as the check's deadline allows.
    Box::pin(crate::kube::retry::within(
        deadline,
        ctx.platform_stall.clone(),
        dispatch(ctx, check, deadline),
    ))
    .await
}

/// The check kind's own function.
async fn dispatch(ctx: &CheckContext<'_>, check: &Check, deadline: Deadline) -> Verdict {
    match &check.expect {
        Expectation::RuntimeReady(r) => scheduling::runtime_ready(ctx, r, deadline).await,
        Expectation::RuntimeNotReady(r) => {
            runtime_not_ready::runtime_not_ready(ctx, r, deadline).await
        }
        Expectation::ServerReady(s) => scheduling::server_ready(ctx, s, deadline).await,
        Expectation::ModelReady(m) => scheduling::model_ready(ctx, m, deadline).await,
        Expectation::ScheduleFailed(s) => scheduling::schedule_failed(ctx, s, deadline).await,
        Expectation::ModelNotServed(m) => {
            model_not_served::model_not_served(ctx, m, deadline).await
        }
        Expectation::QuotaRejects(q) => quota::quota_rejects(ctx, q, deadline).await,
        Expectation::NetworkPolicyEnforced(n) => {
            connectivity::network_policy_enforced(ctx, n, deadline).await
        }
        Expectation::Connectivity(c) => connectivity::connectivity(ctx, check, c, deadline).await,
        Expectation::Access(a) => access::access(ctx, a).await,
        Expectation::RequiredFlows(r) => required_flows::required_flows(ctx, r, deadline).await,
        Expectation::SecretsApplied(s) => secrets::secrets_applied(ctx, s, deadline).await,
        Expectation::SealedSecretsUnsealed(s) => {
            sealed_unsealed::sealed_secrets_unsealed(ctx, s, deadline).await
        }
        Expectation::SealedSecretScope(s) => {
            sealed_scope::sealed_secret_scope(ctx, s, deadline).await
        }
        Expectation::Inference(i) => inference::inference(ctx, i, deadline).await,
        Expectation::InferenceRejected(i) => {
            inference_rejected::inference_rejected(ctx, i, deadline).await
        }
        Expectation::Experiment(x) => experiment::experiment(ctx, x, deadline).await,
        Expectation::ModelLoadFails(s) => {
            model_load_fails::model_load_fails(ctx, s, deadline).await
        }
        Expectation::ModelsFit(f) => models_fit::models_fit(ctx, f, deadline).await,
        Expectation::RuntimeIgnored(r) => runtime_ignored::runtime_ignored(ctx, r, deadline).await,
        Expectation::Pipeline(p) => pipeline::pipeline(ctx, p, deadline).await,
        Expectation::PipelineNotReady(p) => {
            pipeline_not_ready::pipeline_not_ready(ctx, p, deadline).await
        }
        Expectation::Continuity(c) => {
            Box::pin(continuity::continuity(ctx, check, c, deadline)).await
        }
    }
}
