//! `modelsFit`: Models competing for one Server's memory. The scheduler takes them in an order
//! the harness does not control, so the oracle is the count: exactly `fit` become Ready and every
//! other one is `ScheduleFailed` with the memory reason (docs/seldon-behaviour.md §15, §21 capacity).

use futures::future::join_all;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::seldon::describe_condition;
use crate::kube::settle::{ModelDecision, model_decision};
use crate::kube::wait::Deadline;
use crate::scenario::ModelsFit;

/// `modelsFit`: every Model's decision, then the count of Ready ones and the others' reasons.
pub async fn models_fit(ctx: &CheckContext<'_>, f: &ModelsFit, deadline: Deadline) -> Verdict {
    let ns = f.namespace.as_str();
    let settling = ctx.settling();
    let decisions = join_all(f.models.iter().map(|m| {
        let settling = &settling;
        async move {
            (
                m.as_str(),
                model_decision(&ctx.client, ns, m, settling, deadline).await,
            )
        }
    }))
    .await;
    let mut ready = Vec::new();
    let mut refused = Vec::new();
    let mut wrong = Vec::new();
    for (name, d) in decisions {
        match d {
            Ok(ModelDecision::Ready(Some(o))) => ready.push(format!(
                "{name} on {}",
                o.data["status"]["selector"].as_str().unwrap_or("?")
            )),
            Ok(ModelDecision::Ready(None)) => wrong.push(format!("{name} vanished")),
            Ok(ModelDecision::Final { condition: c, .. })
                if c.message == "ScheduleFailed" && c.reason.contains(&f.reason) =>
            {
                refused.push(format!("{name}: {}", describe_condition(&c)))
            }
            Ok(ModelDecision::Final { condition: c, .. }) => {
                wrong.push(format!("{name}: {}", describe_condition(&c)))
            }
            Err(e) => wrong.push(format!("{name}: no final decision\n{e}")),
        }
    }
    let seen = format!(
        "Ready: [{}]; refused: [{}]",
        ready.join(", "),
        refused.join("; ")
    );
    if !wrong.is_empty() {
        return Verdict::fail(format!(
            "of Models {:?} in {ns}, {} must fit and the others be ScheduleFailed with `{}`, but: {}; {seen}",
            f.models,
            f.fit,
            f.reason,
            wrong.join("; ")
        ));
    }
    if ready.len() != f.fit {
        return Verdict::fail(format!(
            "{} of Models {:?} in {ns} became Ready, but the Server's memory (with the agent's overcommit share) holds exactly {}: {seen}. More means the scheduler does not account the memory models use; fewer, that it does not count the overcommit allowance",
            ready.len(),
            f.models,
            f.fit
        ));
    }
    Verdict::pass(format!(
        "exactly {} of {} Models fit: {seen}",
        f.fit,
        f.models.len()
    ))
}
