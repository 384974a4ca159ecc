//! `pipelineNotReady`: a Pipeline that cannot run (e.g. no Kafka, so no pipeline gateway and no
//! dataflow engine) says so within the deadline: `PipelineReady` (the dataflow engine's) or
//! `PipelineGwReady` (the pipeline gateway's) False with the scheduler's reason in its message, and
//! `Ready` False (docs/seldon-behaviour.md §24). A platform that leaves the Pipeline without a
//! status, or reports it Ready, fails.

use kube::api::DynamicObject;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::seldon::describe_condition;
use crate::kube::wait::{Deadline, wait_for};
use crate::kube::{Condition, Watched, current_condition};
use crate::scenario::PipelineNotReady;

/// `pipelineNotReady`: `PipelineReady` or `PipelineGwReady` False with a message containing
/// `reason`, and `Ready` False.
pub async fn pipeline_not_ready(
    ctx: &CheckContext<'_>,
    p: &PipelineNotReady,
    deadline: Deadline,
) -> Verdict {
    let (ns, name) = (p.namespace.as_str(), p.pipeline.as_str());
    let target = Watched::seldon("Pipeline", ns, name);
    let reason = p.reason.clone();
    let reported = Condition::new(
        format!(
            "PipelineReady or PipelineGwReady False with a message containing `{}`, and Ready=False",
            p.reason
        ),
        move |o: Option<&DynamicObject>| {
            o.is_some_and(|o| {
                let says = |t: &str| {
                    current_condition(o, t)
                        .is_some_and(|c| c.status == "False" && c.message.contains(&reason))
                };
                (says("PipelineReady") || says("PipelineGwReady"))
                    && current_condition(o, "Ready").is_some_and(|c| c.status == "False")
            })
        },
    );
    match wait_for(&ctx.client, &target, &reported, deadline.remaining()).await {
        Ok(Some(o)) => {
            let cond = |t: &str| {
                current_condition(&o, t)
                    .map(|c| describe_condition(&c))
                    .unwrap_or_else(|| format!("{t} not set"))
            };
            Verdict::pass(format!(
                "Pipeline {ns}/{name} reports why it is not ready: {}; {}; {}",
                cond("PipelineGwReady"),
                cond("PipelineReady"),
                cond("Ready")
            ))
        }
        Ok(None) => Verdict::fail(format!("Pipeline {ns}/{name} vanished")),
        Err(e) => Verdict::fail(format!(
            "Pipeline {ns}/{name} did not report `{}` within the deadline (a Pipeline that cannot run must say why instead of hanging)\n{e}",
            p.reason
        )),
    }
}
