//! `modelLoadFails`: a Model whose artifact cannot be downloaded (wrong rclone remote name,
//! missing Secret, wrong credentials) shows `ModelReady` False, message `ModelFailed`, with the
//! agent's reason, within the check's deadline, and never becomes Ready
//! (docs/seldon-behaviour.md §12, §23 storage failures).

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::seldon::describe_condition;
use crate::kube::settle::{ModelDecision, model_decision};
use crate::kube::wait::Deadline;
use crate::scenario::ScheduleFailed;

/// The agent's `LOAD_FAILED` reaches the Model as state `ModelFailed`.
const LOAD_FAILED_STATE: &str = "ModelFailed";

/// `modelLoadFails`: `ModelFailed` with a reason containing `reason`, final (every Server
/// settled and no retry within the settle window); Ready, another state, or no decision by the
/// deadline fails the check.
pub async fn model_load_fails(
    ctx: &CheckContext<'_>,
    s: &ScheduleFailed,
    deadline: Deadline,
) -> Verdict {
    let (ns, name) = (s.namespace.as_str(), s.model.as_str());
    match model_decision(&ctx.client, ns, name, &ctx.settling(), deadline).await {
        Ok(ModelDecision::Ready(Some(o))) => Verdict::fail(format!(
            "Model {ns}/{name} became Ready (status.selector {}), but its download must fail with `{}`: the platform loaded an artifact its storage configuration cannot reach",
            o.data["status"]["selector"]
                .as_str()
                .unwrap_or("not reported"),
            s.reason
        )),
        Ok(ModelDecision::Ready(None)) => Verdict::fail(format!("Model {ns}/{name} vanished")),
        Ok(ModelDecision::Final {
            condition: c,
            proof,
        }) if c.message == LOAD_FAILED_STATE && c.reason.contains(&s.reason) => Verdict::pass(
            format!("Model {ns}/{name} {}; {proof}", describe_condition(&c)),
        ),
        Ok(ModelDecision::Final {
            condition: c,
            proof,
        }) => Verdict::fail(format!(
            "Model {ns}/{name} did not fail to load with `{}`: it is {}; {proof}",
            s.reason,
            describe_condition(&c)
        )),
        Err(e) => {
            let last = e.report().and_then(|r| r.last.as_ref()).and_then(|l| {
                l.conditions
                    .iter()
                    .find(|c| c.type_ == "ModelReady" && !c.stale)
                    .cloned()
            });
            let state = last.map_or_else(
                || "without a current ModelReady condition".to_string(),
                |c| describe_condition(&c),
            );
            Verdict::fail(format!(
                "Model {ns}/{name} never reported its download failure (`{}`) within the deadline: it stayed {state}; a team sees a Model loading forever and no reason (upstream #5139)\n{e}",
                s.reason
            ))
        }
    }
}
