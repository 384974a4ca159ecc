//! `runtimeIgnored`: with the controller restricted by `controller.watchNamespaces`, a runtime in
//! a namespace left out is never reconciled, while the runtime of a watched namespace is
//! (upstream `operator/main.go` getWatchNamespaceConfig, PR #6434; docs/seldon-behaviour.md
//! §22 controller scope). The verdict names the controller's flags either way.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Api;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::controller_scope::{self, ControllerScope};
use crate::kube::seldon::runtime_name;
use crate::kube::settle::CLUSTER_SETTLE_FALLBACK;
use crate::kube::wait::{Deadline, wait_for};
use crate::kube::{Condition, Watched, conditions};
use crate::scenario::RuntimeIgnored;

/// Any status condition: some controller reconciled the runtime.
fn reconciled() -> Condition {
    Condition::new("reconciled (any status condition)", |o| {
        o.is_some_and(|o| !conditions(o).is_empty())
    })
}

/// `runtimeIgnored`: the flags leave `namespace` out, the `watched` runtime gets a status, and
/// for the settle window after that the ignored one gets neither a status nor a scheduler.
pub async fn runtime_ignored(
    ctx: &CheckContext<'_>,
    r: &RuntimeIgnored,
    deadline: Deadline,
) -> Verdict {
    let (ns, watched) = (r.namespace.as_str(), r.watched.as_str());
    let seldon = &ctx.scenario.doc.spec.seldon;
    let scope = match controller_scope::read(&ctx.client, &seldon.controller_namespace).await {
        Ok(s) => s,
        Err(e) => return Verdict::fail(e),
    };
    if scope.watches(ns) {
        return Verdict::fail(format!(
            "cannot show that namespace {ns} is ignored: {}. The scenario declares clusterwide {} with watchNamespaces {:?}, so it needs a Seldon install of its own (`harness run` installs per group of equal `spec.seldon`; on an existing cluster use --manage-install)",
            scope.explain(ns),
            seldon.clusterwide,
            seldon.watch_namespaces
        ));
    }
    match judge(ctx, &scope, ns, watched, deadline).await {
        Ok(seen) => Verdict::pass(format!("{seen}; {}", scope.explain(ns))),
        Err(why) => Verdict::fail(why),
    }
}

async fn judge(
    ctx: &CheckContext<'_>,
    scope: &ControllerScope,
    ns: &str,
    watched: &str,
    deadline: Deadline,
) -> Result<String, String> {
    let watched_name = runtime_name(&ctx.client, watched, ctx.declared_runtime(watched)).await?;
    let ignored_name = runtime_name(&ctx.client, ns, ctx.declared_runtime(ns)).await?;
    let first = Watched::seldon("SeldonRuntime", watched, &watched_name);
    if let Err(e) = wait_for(&ctx.client, &first, &reconciled(), deadline.remaining()).await {
        return Err(format!(
            "cannot judge namespace {ns}: the runtime of watched namespace {watched} was not reconciled either ({})\n{e}",
            scope.explain(watched)
        ));
    }
    // The controller reconciles every watched runtime within one pass of its queue; the settle
    // window after the watched one bounds how late a reconcile of the ignored one could come.
    let window: Duration = ctx
        .settle
        .unwrap_or(CLUSTER_SETTLE_FALLBACK)
        .min(deadline.remaining());
    let target = Watched::seldon("SeldonRuntime", ns, &ignored_name);
    if let Ok(Some(o)) = wait_for(&ctx.client, &target, &reconciled(), window).await {
        let seen: Vec<String> = conditions(&o)
            .iter()
            .map(|c| format!("{}={}", c.type_, c.status))
            .collect();
        return Err(format!(
            "SeldonRuntime {ns}/{ignored_name} was reconciled (conditions {seen:?}) although {}, which leaves {ns} out: the controller does not honour controller.watchNamespaces, so a team outside the list is still run by it",
            scope.flags()
        ));
    }
    let sts: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), ns);
    match sts.get_opt("seldon-scheduler").await {
        Ok(None) => Ok(format!(
            "SeldonRuntime {ns}/{ignored_name} has no status and no seldon-scheduler {}ms after the runtime of watched namespace {watched} was reconciled",
            window.as_millis()
        )),
        Ok(Some(_)) => Err(format!(
            "StatefulSet {ns}/seldon-scheduler exists although {}, which leaves {ns} out: something reconciled the runtime",
            scope.flags()
        )),
        Err(e) => Err(format!("cannot read StatefulSets in {ns}: {e}")),
    }
}
