//! The loan-decision sample's stored expected outputs, and the `pipelines` scenario's composed
//! samples, recomputed in plain Rust from `model-settings.json` and credit-risk's `samples.json`
//! (independent of Python, MLServer and the embedded data plane).

use harness::v2::{SampleSet, Tolerance, compare_outputs};
use oip::{NamedTensor, TensorData};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models")
}

/// (approve_below, decline_from) from `parameters.extra`.
fn thresholds() -> (f64, f64) {
    let text = std::fs::read_to_string(models().join("loan-decision/model-settings.json")).unwrap();
    let s: serde_json::Value = serde_json::from_str(&text).unwrap();
    let extra = &s["parameters"]["extra"];
    (
        extra["approve_below"].as_f64().unwrap(),
        extra["decline_from"].as_f64().unwrap(),
    )
}

/// The policy: 0 approve, 1 refer, 2 decline, compared in f64 over the f32 probability.
fn decide(p: &NamedTensor) -> NamedTensor {
    let (approve_below, decline_from) = thresholds();
    let TensorData::F32(v) = &p.data else {
        panic!("{}: FP32 expected", p.name)
    };
    let d = v
        .iter()
        .map(|&x| {
            let x = f64::from(x);
            if x < approve_below {
                0
            } else if x < decline_from {
                1
            } else {
                2
            }
        })
        .collect();
    NamedTensor::new("decision", p.shape.clone(), TensorData::I32(d))
}

const EXACT: Tolerance = Tolerance {
    relative: 0.0,
    absolute: 0.0,
};

#[test]
fn the_decision_samples_follow_the_thresholds() {
    let set = SampleSet::load(&models().join("loan-decision/samples.json")).unwrap();
    assert_eq!(set.model, "loan-decision");
    for s in &set.samples {
        assert_eq!(s.inputs[0].name, "default_probability");
        compare_outputs(&s.outputs, &[decide(&s.inputs[0])], EXACT)
            .unwrap_or_else(|m| panic!("sample {}: {m}", s.name));
    }
    // 0.1 and 0.7 are not float32 values: 0.1f32 is just above (refer), 0.7f32 just below (refer).
    let edges = set
        .samples
        .iter()
        .find(|s| s.name == "approve-threshold-edges")
        .unwrap();
    assert_eq!(edges.outputs[0].data, TensorData::I32(vec![0, 0, 1, 1]));
}

#[test]
fn the_pipeline_samples_are_credit_risk_through_the_policy() {
    let credit = SampleSet::load(&models().join("credit-risk/samples.json")).unwrap();
    let composed = SampleSet::load(&models().join("loan-decision/pipeline-samples.json")).unwrap();
    assert_eq!(credit.samples.len(), composed.samples.len());
    let (approve_below, decline_from) = thresholds();
    let mut classes = BTreeSet::new();
    for (c, p) in credit.samples.iter().zip(&composed.samples) {
        assert_eq!((&c.name, &c.inputs), (&p.name, &p.inputs), "same requests");
        let probability = &c.outputs[0];
        assert_eq!(probability.name, "default_probability");
        let expected = decide(probability);
        compare_outputs(&p.outputs, std::slice::from_ref(&expected), EXACT)
            .unwrap_or_else(|m| panic!("sample {}: {m}", p.name));
        // No decision hinges on credit-risk's last float32 bit.
        let TensorData::F32(v) = &probability.data else {
            panic!()
        };
        for &x in v {
            let x = f64::from(x);
            assert!(
                (x - approve_below).abs() > 1e-3 && (x - decline_from).abs() > 1e-3,
                "sample {}: {x} is near a threshold",
                p.name
            );
        }
        if let TensorData::I32(d) = &expected.data {
            classes.extend(d.iter().copied());
        }
    }
    assert_eq!(
        classes,
        BTreeSet::from([0, 1, 2]),
        "approve, refer and decline all occur"
    );
}
