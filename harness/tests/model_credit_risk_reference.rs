//! The credit-risk sample's stored expected outputs, recomputed in plain Rust from
//! `model.safetensors` (independent of Python, MLServer and the embedded data plane).

use harness::v2::{SampleSet, Tolerance, compare_outputs};
use oip::{NamedTensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use std::path::PathBuf;

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/credit-risk")
}

/// A little-endian F32 tensor's shape and values widened to f64.
fn tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f64>) {
    let t = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("model.safetensors: tensor {name}: {e}"));
    assert_eq!(
        t.dtype(),
        Dtype::F32,
        "model.safetensors: tensor {name} must be F32"
    );
    let values = t
        .data()
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    (t.shape().to_vec(), values)
}

/// model.py's CreditRiskMLP in f64: Linear+ReLU, Linear+ReLU, Linear, sigmoid.
fn forward(st: &SafeTensors, x: &[f32], batch: usize) -> Vec<f32> {
    let mut h: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut width = x.len() / batch;
    let layers = ["net.0", "net.2", "net.4"];
    for (i, layer) in layers.iter().enumerate() {
        let (wshape, w) = tensor(st, &format!("{layer}.weight"));
        let (_, b) = tensor(st, &format!("{layer}.bias"));
        let (out, inp) = (wshape[0], wshape[1]);
        assert_eq!(
            inp, width,
            "{layer}.weight expects {inp} inputs, previous layer gives {width}"
        );
        let mut next = vec![0.0; batch * out];
        for r in 0..batch {
            for o in 0..out {
                let z = b[o]
                    + (0..inp)
                        .map(|k| w[o * inp + k] * h[r * inp + k])
                        .sum::<f64>();
                next[r * out + o] = if i + 1 < layers.len() { z.max(0.0) } else { z };
            }
        }
        h = next;
        width = out;
    }
    h.iter()
        .map(|z| (1.0 / (1.0 + (-z).exp())) as f32)
        .collect()
}

#[test]
fn stored_expected_outputs_match_a_rust_forward_pass_of_the_stored_weights() {
    let bytes =
        std::fs::read(model_dir().join("model.safetensors")).expect("read model.safetensors");
    let st =
        SafeTensors::deserialize(&bytes).expect("model.safetensors is a valid safetensors file");
    let set = SampleSet::load(&model_dir().join("samples.json")).unwrap();
    assert_eq!(set.model, "credit-risk");
    assert!(
        set.samples.len() >= 4,
        "expected several samples, found {}",
        set.samples.len()
    );
    let tolerance = Tolerance {
        relative: 1e-6,
        absolute: 1e-9,
    };
    for sample in &set.samples {
        let input = &sample.inputs[0];
        let TensorData::F32(x) = &input.data else {
            panic!("sample {}: input must be FP32", sample.name)
        };
        let batch = input.shape[0] as usize;
        let y = forward(&st, x, batch);
        let computed = [NamedTensor::new(
            "default_probability",
            vec![batch as i64, 1],
            TensorData::F32(y),
        )];
        compare_outputs(&sample.outputs, &computed, tolerance).unwrap_or_else(|m| {
            panic!(
                "sample `{}`: stored expected outputs disagree with Rust: {m}",
                sample.name
            )
        });
    }
}

#[test]
fn the_reference_is_sensitive_to_the_weights() {
    // Guard against a comparison that accepts anything: perturb one weight and expect a mismatch.
    let mut bytes = std::fs::read(model_dir().join("model.safetensors")).unwrap();
    let (n, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let (start, _) = meta.info("net.4.bias").expect("net.4.bias").data_offsets;
    let at = 8 + n + start;
    let bias = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) + 0.01;
    bytes[at..at + 4].copy_from_slice(&bias.to_le_bytes());
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let set = SampleSet::load(&model_dir().join("samples.json")).unwrap();
    let sample = &set.samples[0];
    let TensorData::F32(x) = &sample.inputs[0].data else {
        unreachable!()
    };
    let computed = [NamedTensor::new(
        "default_probability",
        vec![1, 1],
        TensorData::F32(forward(&st, x, 1)),
    )];
    let err = compare_outputs(&sample.outputs, &computed, set.tolerance).unwrap_err();
    assert!(
        err.to_string()
            .contains("output \"default_probability\"[0]"),
        "{err}"
    );
}
