//! `quotaRejects`: the quota rejects a workload's pods, shown by the controller's Warning event.
//!
//! Admission rejections never appear on the workload's status: the StatefulSet or ReplicaSet
//! controller records them as `FailedCreate` Warning events (`pods "seldon-scheduler-0" is
//! forbidden: failed quota: <quota>: must specify limits.cpu for: scheduler`); for a Deployment
//! they are on its ReplicaSets.
//!
//! Older servers word and record this differently (docs/targets.md, "Supported Kubernetes
//! versions"): before 1.24 the message names no containers (`must specify limits.cpu`), and before
//! 1.25 a StatefulSet whose pods are refused gets no status at all, so only its events show it.

use futures::future::select_ok;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::wait::{self, Deadline};
use crate::kube::workload::{
    Readiness, Workload, WorkloadKind, all_pods_ready, event_sources, named_replica_set, pods,
};
use crate::kube::{Condition, ServerVersion, WaitError};
use crate::scenario::QuotaRejects;

/// `quotaRejects`: a Warning event says the workload's pods were rejected with the expected text.
pub async fn quota_rejects(
    ctx: &CheckContext<'_>,
    q: &QuotaRejects,
    deadline: Deadline,
) -> Verdict {
    let w = match Workload::parse(&q.namespace, &q.workload) {
        Ok(w) => w,
        Err(e) => return Verdict::fail(e),
    };
    let version = match ServerVersion::read(&ctx.client).await {
        Ok(v) => v,
        Err(e) => return Verdict::fail(e),
    };
    let message = version.quota_message(&q.message);
    // The controller must have acted on the workload before its events (or ReplicaSets) exist.
    // Before 1.25 a StatefulSet whose pods are all refused never gets a status: existing is all
    // that can be waited for, and the events below are the evidence.
    let target = w.target();
    let kind = w.kind;
    let sts_status = version.statefulset_status_on_failed_create();
    let acted = Condition::new(
        "reconciled (status for the current generation; for a Deployment, a ReplicaSet named)",
        move |o| {
            o.is_some_and(|o| {
                (Readiness::of(o).current || (kind == WorkloadKind::StatefulSet && !sts_status))
                    && (kind == WorkloadKind::StatefulSet
                        || o.data["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["message"].as_str().and_then(named_replica_set).is_some()))
            })
        },
    );
    if let Err(e) = wait::wait_for(&ctx.client, &target, &acted, deadline.remaining()).await {
        return Verdict::fail(format!(
            "cannot judge the quota: {w} was never reconciled (is the SeldonRuntime or Server that creates it reconciled?)\n{e}"
        ));
    }
    let sources = match event_sources(&ctx.client, &w).await {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            return Verdict::fail(format!(
                "{w} has no ReplicaSet: its controller never tried to create pods"
            ));
        }
        Err(e) => return Verdict::fail(format!("cannot list the ReplicaSets of {w}: {e}")),
    };
    let waits = sources.iter().map(|s| {
        Box::pin(wait::wait_for_event(
            &ctx.client,
            s,
            &message,
            deadline.remaining(),
        ))
    });
    // A workload whose every desired pod exists and is Ready creates no more pods, so no
    // rejection can follow: that ends the wait at once.
    let admitted = async {
        match wait::wait_for(
            &ctx.client,
            &target,
            &all_pods_ready(),
            deadline.remaining(),
        )
        .await
        {
            Ok(Some(o)) => Readiness::of(&o),
            _ => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        r = select_ok(waits) => r,
        r = admitted => {
            let pods = pods(&ctx.client, &w).await.unwrap_or_default();
            let names: Vec<String> = pods.iter().filter_map(|p| p.metadata.name.clone()).collect();
            return Verdict::fail(format!(
                "the quota did not reject the pods of {w} with `{message}`: pods {} were created, and every desired pod is Ready ({r}), so the quota admitted them and no rejection can follow",
                names.join(", ")
            ));
        }
    };
    match outcome {
        Ok((event, _)) => Verdict::pass(format!(
            "the quota rejected the pods of {w}: {} {}: {}",
            event.type_, event.reason, event.message
        )),
        Err(err) => {
            let pods = pods(&ctx.client, &w).await.unwrap_or_default();
            let names: Vec<String> = pods
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            let seen = match &err {
                WaitError::Timeout(r) if !r.events.is_empty() => {
                    let lines: Vec<String> = r.events.iter().map(|e| format!("    {e}")).collect();
                    format!("\n  events seen:\n{}", lines.join("\n"))
                }
                WaitError::Timeout(_) => "\n  no events were recorded".to_string(),
                other => format!("\n  {other}"),
            };
            let what = if names.is_empty() {
                format!("no Event about {w} contains `{message}`")
            } else {
                format!(
                    "the quota did not reject the pods of {w} with `{message}`: pods {} were created",
                    names.join(", ")
                )
            };
            Verdict::fail(format!(
                "{what} (waited {}){seen}",
                humantime::format_duration(deadline.total())
            ))
        }
    }
}
