//! `inferenceRejected`: a bad request (unknown model, wrong shape, wrong datatype) through
//! `seldon-mesh` is refused with the documented status, never answered with a 200.

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::Deadline;
use crate::kube::seldon::model_served;
use crate::scenario::{Expectation, InferenceRejected, NegativeCase as Case, Scenario};
use crate::target::v2_client;
use crate::v2::{self, BadRequest, InferenceRequest, Sample, samples};

/// A valid request for `model`, taken from an `inference` check of the same model.
fn valid_request(scenario: &Scenario, r: &InferenceRejected) -> Option<InferenceRequest> {
    scenario
        .doc
        .spec
        .checks
        .iter()
        .find_map(|c| match &c.expect {
            Expectation::Inference(i) if i.namespace == r.namespace && i.model == r.model => {
                samples::from_check(scenario, i)
                    .ok()
                    .and_then(|s| s.samples.first().map(Sample::request))
            }
            _ => None,
        })
}

/// `inferenceRejected`: the bad request is refused with the documented status, never a 200.
pub async fn inference_rejected(
    ctx: &CheckContext<'_>,
    r: &InferenceRejected,
    deadline: Deadline,
) -> Verdict {
    let case = match r.case {
        Case::UnknownModel => BadRequest::UnknownModel,
        Case::WrongShape => BadRequest::WrongShape,
        Case::WrongDatatype => BadRequest::WrongDatatype,
    };
    let valid = match valid_request(ctx.scenario, r) {
        Some(v) => v,
        None if r.case == Case::UnknownModel => {
            // Any well-formed request will do: the model name is what is wrong.
            InferenceRequest::new(vec![oip::NamedTensor::new(
                "input-0",
                vec![1, 1],
                oip::TensorData::F32(vec![0.0]),
            )])
        }
        None => {
            return Verdict::fail(format!(
                "no `inference` check of model {}/{} gives a valid request to derive the {case} request from: add one",
                r.namespace, r.model
            ));
        }
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
