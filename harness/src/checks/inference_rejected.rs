//! `inferenceRejected`: a bad request (unknown model, wrong shape, wrong datatype) through
//! `seldon-mesh` is refused with the documented status, never answered with a 200.

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::Deadline;
use crate::kube::seldon::model_served;
use crate::scenario::InferenceRejected;
use crate::target::v2_client;
use crate::v2::{self, BadRequest, valid_request};

/// `inferenceRejected`: the bad request is refused with the documented status, never a 200.
pub async fn inference_rejected(
    ctx: &CheckContext<'_>,
    r: &InferenceRejected,
    deadline: Deadline,
) -> Verdict {
    let case = BadRequest::from(r.case);
    let valid = match valid_request(ctx.scenario, r) {
        Ok(v) => v,
        Err(why) => return Verdict::fail(why),
    };
    if let Err(why) = model_served(
        &ctx.client,
        &r.namespace,
        &r.model,
        &ctx.settling(),
        deadline,
    )
    .await
    {
        return Verdict::fail(why);
    }
    let client = match v2_client(ctx.mesh, &r.namespace, r.protocol, deadline).await {
        Ok(c) => c,
        Err(why) => return Verdict::fail(why),
    };
    let verdict = v2::negative_case(&client, &r.model, &valid, case).await;
    let text = format!("through seldon-mesh of {}: {verdict}", r.namespace);
    if verdict.passed {
        Verdict::pass(text)
    } else {
        Verdict::fail(text)
    }
}
