//! `modelNotServed`: the team's NetworkPolicies cut a flow serving needs (docs/seldon-behaviour.md
//! §17), and the platform shows the consequence: the Model stays in the expected state with the
//! scheduler's or agent's reason, and `seldon-mesh` does not serve it. The verdict names the
//! policies and flows that explain it (the static flow analysis), so a pass reads as "this policy
//! cuts this flow, and this is what a team sees".

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::flows::{self, Partial};
use crate::kube::seldon::{SETTLE_WINDOW, describe_condition};
use crate::kube::{Deadline, Watched, condition_true, wait_for};
use crate::scenario::{ModelNotServed, Protocol};
use crate::target::v2_client;

/// `modelNotServed`: not Ready in the expected state, not served through `seldon-mesh`, and
/// explained by the policies that block a serving flow.
pub async fn model_not_served(
    ctx: &CheckContext<'_>,
    m: &ModelNotServed,
    deadline: Deadline,
) -> Verdict {
    let (ns, name) = (m.namespace.as_str(), m.model.as_str());
    let blocked = flows::blocked_serving_flows(ctx.scenario, ns, Partial::default());
    if blocked.is_empty() {
        return Verdict::fail(format!(
            "the NetworkPolicies of {ns} block none of the flows serving needs ({}): expect `modelReady` for {name} instead",
            flows::SERVING_FLOWS.join(", ")
        ));
    }
    let explained: Vec<String> = blocked
        .iter()
        .map(|v| format!("flow `{}` blocked by {}", v.flow, v.blocked_by()))
        .collect();
    let because = explained.join("; ");
    let target = Watched::seldon("Model", ns, name);
    let window = deadline.remaining().min(SETTLE_WINDOW);
    let cond = match wait_for(&ctx.client, &target, &condition_true("ModelReady"), window).await {
        Ok(Some(_)) => {
            return Verdict::fail(format!(
                "Model {ns}/{name} became Ready although {because}: the platform does not apply NetworkPolicy to Seldon's own connections, or the cluster's policies differ from the scenario's"
            ));
        }
        Ok(None) => return Verdict::fail(format!("Model {ns}/{name} vanished")),
        Err(e) => {
            let last = e.report().and_then(|r| r.last.as_ref()).and_then(|l| {
                l.conditions
                    .iter()
                    .find(|c| c.type_ == "ModelReady" && !c.stale)
                    .cloned()
            });
            match last {
                Some(c)
                    if c.status == "False"
                        && c.message == m.state
                        && c.reason.contains(&m.reason) =>
                {
                    c
                }
                Some(c) => {
                    return Verdict::fail(format!(
                        "Model {ns}/{name} is not served, but not as expected (`{}` with `{}`): it is {} ({because})\n{e}",
                        m.state,
                        m.reason,
                        describe_condition(&c)
                    ));
                }
                None => {
                    return Verdict::fail(format!(
                        "Model {ns}/{name} has no current ModelReady condition: nothing reconciled it\n{e}"
                    ));
                }
            }
        }
    };
    let served = match v2_client(ctx.mesh, ns, Protocol::Rest, deadline).await {
        Err(why) => format!("no inference endpoint ({why})"),
        Ok(client) => match client.model_ready(name).await {
            Ok(true) => {
                return Verdict::fail(format!(
                    "Model {ns}/{name} is {}, yet seldon-mesh of {ns} answers that it is ready over REST ({because})",
                    describe_condition(&cond)
                ));
            }
            Ok(false) => "seldon-mesh answered not ready".to_string(),
            Err(e) => format!("seldon-mesh refused it: {e}"),
        },
    };
    Verdict::pass(format!(
        "Model {ns}/{name} not served, as expected: {}; REST readiness through seldon-mesh: {served}; explained by {because}",
        describe_condition(&cond)
    ))
}
