//! Requests a correct server must refuse: an unknown model, a wrong shape, a wrong datatype.
//! A 200 to any of them means the platform silently serves garbage.

use super::client::{CallStatus, InferenceClient, InferenceError, InferenceRequest, Transport};
use super::samples::{Sample, from_check};
use crate::scenario::{Expectation, InferenceRejected, NegativeCase, Scenario};
use oip::{NamedTensor, TensorData};
use std::fmt;
use tonic::Code;

/// Which refusal to provoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// Infer against a model name nobody deployed.
    UnknownModel,
    /// The valid request with each input's last dimension doubled (data repeated, so the element count stays consistent).
    WrongShape,
    /// The valid request with each input's datatype changed (FP32 → FP64, anything numeric else → FP32).
    WrongDatatype,
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadRequest::UnknownModel => "unknown model",
            BadRequest::WrongShape => "wrong shape",
            BadRequest::WrongDatatype => "wrong datatype",
        })
    }
}

impl From<NegativeCase> for BadRequest {
    fn from(c: NegativeCase) -> Self {
        match c {
            NegativeCase::UnknownModel => BadRequest::UnknownModel,
            NegativeCase::WrongShape => BadRequest::WrongShape,
            NegativeCase::WrongDatatype => BadRequest::WrongDatatype,
        }
    }
}

/// The valid request an `inferenceRejected` check derives its bad request from: the first sample
/// of an `inference` check of the same model, or (unknown model only) any well-formed request.
/// `Err` says what to add to the scenario.
pub fn valid_request(
    scenario: &Scenario,
    r: &InferenceRejected,
) -> Result<InferenceRequest, String> {
    let found = scenario
        .doc
        .spec
        .checks
        .iter()
        .find_map(|c| match &c.expect {
            Expectation::Inference(i) if i.namespace == r.namespace && i.model == r.model => {
                from_check(scenario, i)
                    .ok()
                    .and_then(|s| s.samples.first().map(Sample::request))
            }
            _ => None,
        });
    match found {
        Some(v) => Ok(v),
        // Any well-formed request will do: the model name is what is wrong.
        None if r.case == NegativeCase::UnknownModel => {
            Ok(InferenceRequest::new(vec![NamedTensor::new(
                "input-0",
                vec![1, 1],
                TensorData::F32(vec![0.0]),
            )]))
        }
        None => Err(format!(
            "no `inference` check of model {}/{} gives a valid request to derive the {} request from: add one",
            r.namespace,
            r.model,
            BadRequest::from(r.case)
        )),
    }
}

/// The model name and request a case sends, derived from `valid` (a request `model` answers
/// correctly); `Err` when the case cannot be built from it.
pub fn bad_request(
    model: &str,
    valid: &InferenceRequest,
    case: BadRequest,
) -> (String, Result<InferenceRequest, String>) {
    match case {
        BadRequest::UnknownModel => (unknown_model_name(model), Ok(valid.clone())),
        BadRequest::WrongShape => (model.to_string(), wrong_shape(valid)),
        BadRequest::WrongDatatype => (model.to_string(), wrong_datatype(valid)),
    }
}

impl BadRequest {
    /// All cases, in report order.
    pub const ALL: [BadRequest; 3] = [
        BadRequest::UnknownModel,
        BadRequest::WrongShape,
        BadRequest::WrongDatatype,
    ];

    /// Whether `status` is a correct refusal for this case over `transport`.
    ///
    /// Unknown model over gRPC also accepts UNIMPLEMENTED: behind Seldon's envoy an unknown
    /// `seldon-model` has no route, and envoy turns its HTTP 404 into gRPC UNIMPLEMENTED.
    pub fn accepts(&self, status: CallStatus) -> bool {
        match (self, status) {
            (BadRequest::UnknownModel, CallStatus::Http(code)) => code == 404,
            (BadRequest::UnknownModel, CallStatus::Grpc(code)) => {
                matches!(code, Code::NotFound | Code::Unimplemented)
            }
            (_, CallStatus::Http(code)) => matches!(code, 400 | 422),
            (_, CallStatus::Grpc(code)) => code == Code::InvalidArgument,
        }
    }

    /// What a correct server answers, for reports.
    pub fn expected(&self, transport: Transport) -> &'static str {
        match (self, transport) {
            (BadRequest::UnknownModel, Transport::Rest) => "HTTP 404",
            (BadRequest::UnknownModel, Transport::Grpc) => {
                "gRPC NOT_FOUND (or UNIMPLEMENTED from envoy)"
            }
            (_, Transport::Rest) => "HTTP 400 or 422",
            (_, Transport::Grpc) => "gRPC INVALID_ARGUMENT",
        }
    }
}

/// The outcome of one negative case: what was expected, what came back, and whether that is correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegativeVerdict {
    /// The case.
    pub case: BadRequest,
    /// Transport used.
    pub transport: Transport,
    /// Model name the request was sent to.
    pub model: String,
    /// What a correct server answers.
    pub expected: &'static str,
    /// What came back, e.g. `HTTP 400: input 'features' must have shape [-1, 8], got [1, 16]`.
    pub observed: String,
    /// Whether the answer is a correct refusal.
    pub passed: bool,
}

impl fmt::Display for NegativeVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed {
            "refused as expected"
        } else {
            "NOT refused correctly"
        };
        write!(
            f,
            "{} over {} to model `{}`: {verdict}: expected {}, got {}",
            self.case, self.transport, self.model, self.expected, self.observed
        )
    }
}

/// Sends the bad variant of `valid` (a request `model` answers correctly) and judges the answer.
pub async fn negative_case(
    client: &InferenceClient,
    model: &str,
    valid: &InferenceRequest,
    case: BadRequest,
) -> NegativeVerdict {
    let transport = client.transport();
    let (target, request) = bad_request(model, valid, case);
    let verdict = |observed: String, passed: bool| NegativeVerdict {
        case,
        transport,
        model: target.clone(),
        expected: case.expected(transport),
        observed,
        passed,
    };
    let request = match request {
        Ok(r) => r,
        Err(why) => return verdict(format!("no request sent: {why}"), false),
    };
    match client.infer(&target, &request).await {
        Ok(resp) => {
            let outputs: Vec<String> = resp
                .outputs
                .iter()
                .map(|t| format!("{} {} {:?}", t.name, t.datatype, t.shape))
                .collect();
            verdict(
                format!("success with outputs [{}]", outputs.join(", ")),
                false,
            )
        }
        Err(InferenceError::Rejected {
            status, message, ..
        }) => verdict(format!("{status}: {message}"), case.accepts(status)),
        Err(other) => verdict(other.to_string(), false),
    }
}

/// A model name derived from the real one that no scenario deploys.
fn unknown_model_name(model: &str) -> String {
    format!("{model}--harness-unknown")
}

fn wrong_shape(valid: &InferenceRequest) -> Result<InferenceRequest, String> {
    let inputs = valid
        .inputs
        .iter()
        .map(|t| {
            let last = *t.shape.last().ok_or_else(|| {
                format!("input `{}` is a scalar; cannot change its shape", t.name)
            })?;
            let row = usize::try_from(last)
                .map_err(|_| format!("input `{}` has a negative dimension", t.name))?;
            let mut shape = t.shape.clone();
            *shape.last_mut().expect("non-empty") = last * 2;
            Ok(NamedTensor {
                shape,
                data: repeat_rows(&t.data, row),
                ..t.clone()
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(InferenceRequest {
        id: valid.id.clone(),
        inputs,
    })
}

/// Each row of `row` elements written twice, so `[.., n]` data becomes valid `[.., 2n]` data.
fn repeat_rows(data: &TensorData, row: usize) -> TensorData {
    fn rep<T: Clone>(v: &[T], row: usize) -> Vec<T> {
        if row == 0 {
            return Vec::new();
        }
        v.chunks(row)
            .flat_map(|c| c.iter().chain(c.iter()).cloned())
            .collect()
    }
    match data {
        TensorData::Bool(v) => TensorData::Bool(rep(v, row)),
        TensorData::U8(v) => TensorData::U8(rep(v, row)),
        TensorData::U16(v) => TensorData::U16(rep(v, row)),
        TensorData::U32(v) => TensorData::U32(rep(v, row)),
        TensorData::U64(v) => TensorData::U64(rep(v, row)),
        TensorData::I8(v) => TensorData::I8(rep(v, row)),
        TensorData::I16(v) => TensorData::I16(rep(v, row)),
        TensorData::I32(v) => TensorData::I32(rep(v, row)),
        TensorData::I64(v) => TensorData::I64(rep(v, row)),
        TensorData::F32(v) => TensorData::F32(rep(v, row)),
        TensorData::F64(v) => TensorData::F64(rep(v, row)),
        TensorData::Bytes(v) => TensorData::Bytes(rep(v, row)),
    }
}

fn wrong_datatype(valid: &InferenceRequest) -> Result<InferenceRequest, String> {
    let inputs = valid
        .inputs
        .iter()
        .map(|t| {
            let data = match &t.data {
                TensorData::F32(v) => TensorData::F64(v.iter().map(|&x| f64::from(x)).collect()),
                other => TensorData::F32(
                    other
                        .to_f64_vec()
                        .ok_or_else(|| {
                            format!(
                                "input `{}` is {}; no numeric datatype to swap it for",
                                t.name, t.datatype
                            )
                        })?
                        .into_iter()
                        .map(|x| x as f32)
                        .collect(),
                ),
            };
            Ok(NamedTensor::new(t.name.clone(), t.shape.clone(), data))
        })
        .collect::<Result<_, String>>()?;
    Ok(InferenceRequest {
        id: valid.id.clone(),
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features() -> InferenceRequest {
        InferenceRequest::new(vec![NamedTensor::new(
            "features",
            vec![2, 2],
            TensorData::F32(vec![1.0, 2.0, 3.0, 4.0]),
        )])
    }

    #[test]
    fn wrong_shape_doubles_the_last_dimension_keeping_data_consistent() {
        let r = wrong_shape(&features()).unwrap();
        assert_eq!(r.inputs[0].shape, vec![2, 4]);
        assert_eq!(
            r.inputs[0].data,
            TensorData::F32(vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0])
        );
        r.inputs[0].validate().unwrap();
    }

    #[test]
    fn wrong_datatype_swaps_fp32_for_fp64_and_others_for_fp32() {
        let r = wrong_datatype(&features()).unwrap();
        assert_eq!(r.inputs[0].datatype, "FP64");
        r.inputs[0].validate().unwrap();
        let ints = InferenceRequest::new(vec![NamedTensor::new(
            "x",
            vec![1],
            TensorData::I64(vec![7]),
        )]);
        assert_eq!(
            wrong_datatype(&ints).unwrap().inputs[0].data,
            TensorData::F32(vec![7.0])
        );
        let bytes = InferenceRequest::new(vec![NamedTensor::new(
            "s",
            vec![1],
            TensorData::Bytes(vec![b"a".to_vec()]),
        )]);
        assert!(wrong_datatype(&bytes).unwrap_err().contains("BYTES"));
    }

    #[test]
    fn only_the_right_refusals_pass() {
        use BadRequest::*;
        assert!(UnknownModel.accepts(CallStatus::Http(404)));
        assert!(!UnknownModel.accepts(CallStatus::Http(400)));
        assert!(UnknownModel.accepts(CallStatus::Grpc(Code::NotFound)));
        assert!(!UnknownModel.accepts(CallStatus::Grpc(Code::Internal)));
        assert!(WrongShape.accepts(CallStatus::Http(400)));
        assert!(!WrongShape.accepts(CallStatus::Http(500)));
        assert!(!WrongShape.accepts(CallStatus::Http(404)));
        assert!(WrongDatatype.accepts(CallStatus::Grpc(Code::InvalidArgument)));
        assert!(!WrongDatatype.accepts(CallStatus::Grpc(Code::Unknown)));
    }

    #[test]
    fn verdict_text_names_case_transport_expectation_and_answer() {
        let v = NegativeVerdict {
            case: BadRequest::WrongShape,
            transport: Transport::Rest,
            model: "credit-risk".into(),
            expected: BadRequest::WrongShape.expected(Transport::Rest),
            observed: "success with outputs [p FP32 [1, 1]]".into(),
            passed: false,
        };
        assert_eq!(
            v.to_string(),
            "wrong shape over REST to model `credit-risk`: NOT refused correctly: expected HTTP 400 or 422, got success with outputs [p FP32 [1, 1]]"
        );
    }
}
