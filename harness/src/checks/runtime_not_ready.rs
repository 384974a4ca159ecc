//! `runtimeNotReady`: one component of a runtime fails (its condition False, its pods
//! crash-looping) while the scheduler and envoy, which serve models, come up. Models a known platform gap (e.g. the Kafka
//! components without Kafka, docs/seldon-behaviour.md §14) as an expectation, so a platform that
//! hides the failure is caught.

use kube::api::DynamicObject;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::seldon::{COMPONENTS, describe_condition, runtime_name};
use crate::kube::wait::{Deadline, wait_for};
use crate::kube::workload::describe;
use crate::kube::{Condition, Watched, current_condition};
use crate::scenario::RuntimeNotReady;

/// `runtimeNotReady`: the named component's condition is False with its pods crash-looping, and
/// `SchedulerReady` and `EnvoyReady` are True (the runtime was reconciled and runs pods).
pub async fn runtime_not_ready(
    ctx: &CheckContext<'_>,
    r: &RuntimeNotReady,
    deadline: Deadline,
) -> Verdict {
    let ns = r.namespace.as_str();
    let Some(failing) = COMPONENTS.iter().find(|c| c.name == r.component) else {
        return Verdict::fail(format!("`{}` is not a runtime component", r.component));
    };
    let name = match runtime_name(&ctx.client, ns, ctx.declared_runtime(ns)).await {
        Ok(n) => n,
        Err(e) => return Verdict::fail(e),
    };
    let target = Watched::seldon("SeldonRuntime", ns, &name);
    let failing_type = failing.condition;
    let settled = Condition::new(
        format!("{failing_type}=False, SchedulerReady=True and EnvoyReady=True"),
        move |o: Option<&DynamicObject>| {
            o.is_some_and(|o| {
                let is = |t: &str, s: &str| current_condition(o, t).is_some_and(|c| c.status == s);
                is(failing_type, "False")
                    && is("SchedulerReady", "True")
                    && is("EnvoyReady", "True")
            })
        },
    );
    let runtime = match wait_for(&ctx.client, &target, &settled, deadline.remaining()).await {
        Ok(Some(o)) => o,
        Ok(None) => return Verdict::fail(format!("SeldonRuntime {ns}/{name} vanished")),
        Err(e) => {
            return Verdict::fail(format!(
                "expected component {} of SeldonRuntime {ns}/{name} to fail while the rest comes up, but that is not what happened: {}\n{e}",
                failing.name,
                describe(&ctx.client, &failing.workload(ns)).await
            ));
        }
    };
    let pods = describe(&ctx.client, &failing.workload(ns)).await;
    if !pods.contains("CrashLoopBackOff") {
        return Verdict::fail(format!(
            "component {} of SeldonRuntime {ns}/{name} is not Ready but its pods are not crash-looping: {pods}",
            failing.name
        ));
    }
    let cond = current_condition(&runtime, failing_type)
        .map(|c| describe_condition(&c))
        .unwrap_or_default();
    Verdict::pass(format!(
        "component {} fails as expected (SeldonRuntime {ns}/{name} condition {cond}): {pods}",
        failing.name
    ))
}
