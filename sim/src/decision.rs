//! The loan-decision sample model (`scenarios/models/loan-decision/`): a threshold policy over
//! credit-risk's `default_probability` [-1, 1] FP32, answering `decision` [-1, 1] INT32 (0 approve,
//! 1 refer, 2 decline) with the thresholds of `model-settings.json`'s `parameters.extra`. The
//! arithmetic matches its MLServer `loan_decision_runtime.py` (float64 comparison over the float32 input).

use std::path::Path;

use oip::{NamedTensor, TensorData};
use serde::Deserialize;

use crate::artifact::{ArtifactError, InvalidInput};
use crate::dataplane::{ModelSignature, Predictor, TensorSpec};

/// The MLServer implementation whose arithmetic this module reproduces.
pub const DECISION_IMPLEMENTATION: &str = "loan_decision_runtime.LoanDecisionRuntime";
const INPUT: &str = "default_probability";
const OUTPUT: &str = "decision";

/// A loaded loan-decision model: its two thresholds.
#[derive(Debug, Clone)]
pub struct LoanDecision {
    approve_below: f64,
    decline_from: f64,
}

#[derive(Deserialize)]
struct Settings {
    implementation: String,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    extra: Option<Extra>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
struct Extra {
    approve_below: f64,
    decline_from: f64,
}

impl LoanDecision {
    /// Loads `dir` when its `model-settings.json` names [`DECISION_IMPLEMENTATION`]; `None` for
    /// any other implementation (or no readable settings), left to `artifact::ModelArtifact`.
    pub fn load_if_declared(dir: &Path) -> Option<Result<LoanDecision, ArtifactError>> {
        let path = dir.join("model-settings.json");
        let text = std::fs::read_to_string(&path).ok()?;
        let probe: serde_json::Value = serde_json::from_str(&text).ok()?;
        if probe["implementation"] != DECISION_IMPLEMENTATION {
            return None;
        }
        let err = |detail: String| ArtifactError {
            path: path.clone(),
            detail,
        };
        Some((|| {
            let s: Settings = serde_json::from_str(&text)
                .map_err(|e| err(format!("not valid model settings: {e}")))?;
            debug_assert_eq!(s.implementation, DECISION_IMPLEMENTATION);
            let extra = s.parameters.and_then(|p| p.extra).ok_or_else(|| {
                err("`parameters.extra` needs numeric `approve_below` and `decline_from`".into())
            })?;
            if !(0.0 <= extra.approve_below
                && extra.approve_below <= extra.decline_from
                && extra.decline_from <= 1.0)
            {
                return Err(err(
                    "need 0 <= approve_below <= decline_from <= 1 in `parameters.extra`".into(),
                ));
            }
            Ok(LoanDecision {
                approve_below: extra.approve_below,
                decline_from: extra.decline_from,
            })
        })())
    }

    /// The decisions for `inputs`, refusing what `loan_decision_runtime.py` refuses.
    pub fn predict(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, InvalidInput> {
        let names: Vec<&str> = inputs.iter().map(|t| t.name.as_str()).collect();
        let [t] = inputs else {
            return Err(InvalidInput(format!(
                "expected exactly one input named '{INPUT}', got {names:?}"
            )));
        };
        if t.name != INPUT {
            return Err(InvalidInput(format!(
                "expected exactly one input named '{INPUT}', got {names:?}"
            )));
        }
        let TensorData::F32(p) = &t.data else {
            return Err(InvalidInput(format!(
                "input '{INPUT}' must have datatype FP32, got {}",
                t.datatype
            )));
        };
        let batch = match t.shape.as_slice() {
            [b, 1] if *b >= 0 && *b as usize == p.len() => *b,
            _ => {
                return Err(InvalidInput(format!(
                    "input '{INPUT}' must have shape [-1, 1], got {:?}",
                    t.shape
                )));
            }
        };
        let decisions = p
            .iter()
            .map(|&v| {
                let v = f64::from(v);
                if v < self.approve_below {
                    0
                } else if v < self.decline_from {
                    1
                } else {
                    2
                }
            })
            .collect();
        Ok(vec![NamedTensor::new(
            OUTPUT,
            vec![batch, 1],
            TensorData::I32(decisions),
        )])
    }
}

impl Predictor for LoanDecision {
    fn signature(&self) -> ModelSignature {
        let spec = |name: &str, datatype: &str| TensorSpec {
            name: name.into(),
            datatype: datatype.into(),
            shape: vec![-1, 1],
        };
        ModelSignature {
            platform: String::new(),
            inputs: vec![spec(INPUT, "FP32")],
            outputs: vec![spec(OUTPUT, "INT32")],
        }
    }

    fn infer(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, String> {
        self.predict(inputs).map_err(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn models() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models")
    }

    #[derive(Deserialize)]
    struct Samples {
        samples: Vec<Sample>,
    }

    #[derive(Deserialize)]
    struct Sample {
        name: String,
        inputs: Vec<oip::rest::RequestInput>,
        outputs: Vec<oip::rest::ResponseOutput>,
    }

    fn samples(file: &str) -> Vec<(String, Vec<NamedTensor>, Vec<NamedTensor>)> {
        let text = std::fs::read_to_string(models().join(file)).unwrap();
        let s: Samples = serde_json::from_str(&text).unwrap();
        s.samples
            .into_iter()
            .map(|e| {
                let i = e
                    .inputs
                    .iter()
                    .map(|t| NamedTensor::from_rest_input(t).unwrap());
                let o = e
                    .outputs
                    .iter()
                    .map(|t| NamedTensor::from_rest_output(t).unwrap());
                (e.name, i.collect(), o.collect())
            })
            .collect()
    }

    #[test]
    fn decisions_match_the_generated_samples() {
        let model = LoanDecision::load_if_declared(&models().join("loan-decision"))
            .expect("declares the decision runtime")
            .unwrap();
        let all = samples("loan-decision/samples.json");
        assert!(all.len() >= 5);
        for (name, inputs, expected) in all {
            assert_eq!(model.predict(&inputs).unwrap(), expected, "sample {name}");
        }
    }

    #[test]
    fn credit_risk_then_decision_gives_the_pipeline_samples() {
        let credit = crate::artifact::ModelArtifact::load(&models().join("credit-risk")).unwrap();
        let decision = LoanDecision::load_if_declared(&models().join("loan-decision"))
            .unwrap()
            .unwrap();
        let all = samples("loan-decision/pipeline-samples.json");
        assert_eq!(all.len(), 5);
        let mut classes = std::collections::BTreeSet::new();
        for (name, inputs, expected) in all {
            let p = credit.predict(&inputs).unwrap();
            let d = decision.predict(&p).unwrap();
            assert_eq!(d, expected, "sample {name}");
            if let TensorData::I32(v) = &d[0].data {
                classes.extend(v.iter().copied());
            }
        }
        assert_eq!(
            classes.len(),
            3,
            "the samples exercise approve, refer and decline"
        );
    }

    #[test]
    fn refuses_what_the_runtime_refuses_and_leaves_other_artifacts_alone() {
        let model = LoanDecision::load_if_declared(&models().join("loan-decision"))
            .unwrap()
            .unwrap();
        let e = model
            .predict(&[NamedTensor::new(
                "x",
                vec![1, 1],
                TensorData::F32(vec![0.5]),
            )])
            .unwrap_err();
        assert!(e.0.contains("named 'default_probability'"), "{e}");
        let e = model
            .predict(&[NamedTensor::new(
                INPUT,
                vec![1, 2],
                TensorData::F32(vec![0.5; 2]),
            )])
            .unwrap_err();
        assert_eq!(
            e.0,
            "input 'default_probability' must have shape [-1, 1], got [1, 2]"
        );
        assert!(LoanDecision::load_if_declared(&models().join("credit-risk")).is_none());
    }
}
