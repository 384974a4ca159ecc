//! Loading sample model artifacts and computing their outputs.
//!
//! The format is the one `scenarios/models/credit-risk/` ships to MLServer: `model-settings.json`
//! (implementation `runtime.CreditRiskRuntime`, `parameters.uri` naming a safetensors file, one
//! FP32 input `[-1, n]`, one FP32 output `[-1, m]`) and float32 weights under PyTorch
//! `nn.Sequential` names `net.<i>.weight` / `net.<i>.bias`: Linear layers with ReLU between them
//! and a sigmoid at the end. The arithmetic matches `runtime.py` (float64 over the float32
//! weights, output rounded to float32), so the embedded data plane answers what MLServer answers.

use crate::dataplane::{ModelSignature, Predictor, TensorSpec};
use oip::{NamedTensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The MLServer implementation whose arithmetic this module reproduces.
pub const SUPPORTED_IMPLEMENTATION: &str = "runtime.CreditRiskRuntime";

/// An artifact folder that cannot be served, naming the file and what to fix.
#[derive(Debug, thiserror::Error)]
#[error("model artifact {}: {detail}", path.display())]
pub struct ArtifactError {
    /// The file (or folder) at fault.
    pub path: PathBuf,
    /// What is wrong.
    pub detail: String,
}

/// A request the model refuses; MLServer answers these with HTTP 400 / gRPC INVALID_ARGUMENT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// A loaded sample model: its signature and its layers.
#[derive(Debug, Clone)]
pub struct ModelArtifact {
    name: String,
    input: TensorSpec,
    output: TensorSpec,
    layers: Vec<Layer>,
}

#[derive(Debug, Clone)]
struct Layer {
    inputs: usize,
    outputs: usize,
    /// Row-major `[outputs, inputs]`.
    weight: Vec<f64>,
    bias: Vec<f64>,
}

#[derive(Deserialize)]
struct Settings {
    name: String,
    implementation: String,
    #[serde(default)]
    parameters: Option<SettingsParameters>,
    #[serde(default)]
    inputs: Vec<TensorSpec>,
    #[serde(default)]
    outputs: Vec<TensorSpec>,
}

#[derive(Deserialize)]
struct SettingsParameters {
    uri: Option<String>,
}

impl ModelArtifact {
    /// Loads `dir/model-settings.json` and the weights file it names.
    pub fn load(dir: &Path) -> Result<ModelArtifact, ArtifactError> {
        let settings_path = dir.join("model-settings.json");
        let err = |path: &Path, detail: String| ArtifactError {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(&settings_path)
            .map_err(|e| err(&settings_path, format!("cannot read it: {e}")))?;
        let s: Settings = serde_json::from_str(&text)
            .map_err(|e| err(&settings_path, format!("not valid model settings: {e}")))?;
        if s.implementation != SUPPORTED_IMPLEMENTATION {
            return Err(err(
                &settings_path,
                format!(
                    "implementation `{}` is not supported; the embedded data plane computes only `{SUPPORTED_IMPLEMENTATION}` and `loan_decision_runtime.LoanDecisionRuntime` (sim::decision)",
                    s.implementation
                ),
            ));
        }
        let one = |specs: Vec<TensorSpec>, what: &str| -> Result<TensorSpec, ArtifactError> {
            let n = specs.len();
            let spec = specs.into_iter().next().filter(|_| n == 1).ok_or_else(|| {
                err(
                    &settings_path,
                    format!("`{what}` must declare exactly one tensor, found {n}"),
                )
            })?;
            if spec.datatype != "FP32"
                || spec.shape.len() != 2
                || spec.shape[0] != -1
                || spec.shape[1] < 1
            {
                return Err(err(
                    &settings_path,
                    format!(
                        "`{what}` tensor `{}` must be FP32 with shape [-1, n], found {} {:?}",
                        spec.name, spec.datatype, spec.shape
                    ),
                ));
            }
            Ok(spec)
        };
        let input = one(s.inputs, "inputs")?;
        let output = one(s.outputs, "outputs")?;
        let uri = s.parameters.and_then(|p| p.uri).ok_or_else(|| {
            err(
                &settings_path,
                "`parameters.uri` must name the weights file, e.g. ./model.safetensors".into(),
            )
        })?;
        if uri.contains("://") || Path::new(&uri).is_absolute() {
            return Err(err(
                &settings_path,
                format!("`parameters.uri` {uri:?} must be a path relative to the artifact folder"),
            ));
        }
        let weights_path = dir.join(&uri);
        let bytes = std::fs::read(&weights_path)
            .map_err(|e| err(&weights_path, format!("cannot read it: {e}")))?;
        let layers = read_layers(&bytes).map_err(|d| err(&weights_path, d))?;
        let (first, last) = (&layers[0], &layers[layers.len() - 1]);
        if first.inputs as i64 != input.shape[1] || last.outputs as i64 != output.shape[1] {
            return Err(err(
                &weights_path,
                format!(
                    "layers map {} features to {}, but model-settings.json declares {} {:?} -> {} {:?}",
                    first.inputs, last.outputs, input.name, input.shape, output.name, output.shape
                ),
            ));
        }
        Ok(ModelArtifact {
            name: s.name,
            input,
            output,
            layers,
        })
    }

    /// Model name from `model-settings.json`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The one input tensor the model takes.
    pub fn input(&self) -> &TensorSpec {
        &self.input
    }

    /// The one output tensor the model returns.
    pub fn output(&self) -> &TensorSpec {
        &self.output
    }

    /// Computes the output for `inputs`, refusing what `runtime.py` refuses: any other input
    /// name or count, a datatype other than FP32, a shape other than `[batch, n]`.
    pub fn predict(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, InvalidInput> {
        let names: Vec<&str> = inputs.iter().map(|t| t.name.as_str()).collect();
        let [t] = inputs else {
            return Err(InvalidInput(format!(
                "expected exactly one input named '{}', got {names:?}",
                self.input.name
            )));
        };
        if t.name != self.input.name {
            return Err(InvalidInput(format!(
                "expected exactly one input named '{}', got {names:?}",
                self.input.name
            )));
        }
        let TensorData::F32(x) = &t.data else {
            return Err(InvalidInput(format!(
                "input '{}' must have datatype FP32, got {}",
                t.name, t.datatype
            )));
        };
        let width = self.layers[0].inputs;
        let batch = match t.shape.as_slice() {
            [b, w] if *w == width as i64 && *b >= 0 => *b as usize,
            _ => {
                return Err(InvalidInput(format!(
                    "input '{}' must have shape [-1, {width}], got {:?}",
                    t.name, t.shape
                )));
            }
        };
        if x.len() != batch * width {
            return Err(InvalidInput(format!(
                "input '{}': shape {:?} needs {} elements, got {}",
                t.name,
                t.shape,
                batch * width,
                x.len()
            )));
        }
        let mut h: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for (i, layer) in self.layers.iter().enumerate() {
            let last = i + 1 == self.layers.len();
            let mut next = Vec::with_capacity(batch * layer.outputs);
            for row in h.chunks_exact(layer.inputs) {
                for o in 0..layer.outputs {
                    let w = &layer.weight[o * layer.inputs..(o + 1) * layer.inputs];
                    let z = layer.bias[o] + w.iter().zip(row).map(|(a, b)| a * b).sum::<f64>();
                    next.push(if last { z } else { z.max(0.0) });
                }
            }
            h = next;
        }
        let y: Vec<f32> = h
            .iter()
            .map(|z| (1.0 / (1.0 + (-z).exp())) as f32)
            .collect();
        let outputs = self.layers[self.layers.len() - 1].outputs as i64;
        Ok(vec![NamedTensor::new(
            self.output.name.clone(),
            vec![batch as i64, outputs],
            TensorData::F32(y),
        )])
    }
}

/// Serves the artifact on the embedded data plane ([`crate::dataplane::Mesh`]).
impl Predictor for ModelArtifact {
    fn signature(&self) -> ModelSignature {
        ModelSignature {
            // MLServer reports an empty platform for custom runtimes.
            platform: String::new(),
            inputs: vec![self.input.clone()],
            outputs: vec![self.output.clone()],
        }
    }

    fn infer(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, String> {
        self.predict(inputs).map_err(|e| e.0)
    }
}

/// Reads `net.<i>.weight` / `net.<i>.bias` pairs in index order and checks that they chain.
fn read_layers(bytes: &[u8]) -> Result<Vec<Layer>, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    // Shape and values of a weight and a bias, by layer index.
    type Parsed = Option<(Vec<usize>, Vec<f64>)>;
    let mut by_index: BTreeMap<usize, (Parsed, Parsed)> = BTreeMap::new();
    for (name, view) in st.tensors() {
        let parsed = name
            .strip_prefix("net.")
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(i, kind)| Some((i.parse::<usize>().ok()?, kind)));
        let Some((index, kind)) = parsed else {
            return Err(format!(
                "tensor `{name}` is not named net.<i>.weight or net.<i>.bias"
            ));
        };
        if view.dtype() != Dtype::F32 {
            return Err(format!(
                "tensor `{name}` is {:?}; weights must be F32",
                view.dtype()
            ));
        }
        let values: Vec<f64> = view
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        let entry = by_index.entry(index).or_default();
        match kind {
            "weight" => entry.0 = Some((view.shape().to_vec(), values)),
            "bias" => entry.1 = Some((view.shape().to_vec(), values)),
            _ => {
                return Err(format!(
                    "tensor `{name}` is not named net.<i>.weight or net.<i>.bias"
                ));
            }
        }
    }
    if by_index.is_empty() {
        return Err("no net.<i>.weight tensors found".into());
    }
    let mut layers: Vec<Layer> = Vec::new();
    for (index, pair) in by_index {
        let (Some((wshape, weight)), Some((bshape, bias))) = pair else {
            return Err(format!(
                "layer net.{index} needs both net.{index}.weight and net.{index}.bias"
            ));
        };
        let [outputs, inputs] = wshape[..] else {
            return Err(format!(
                "net.{index}.weight must be 2-D [out, in], found {wshape:?}"
            ));
        };
        if bshape != [outputs] {
            return Err(format!(
                "net.{index}.bias must have shape [{outputs}], found {bshape:?}"
            ));
        }
        if let Some(prev) = layers.last()
            && prev.outputs != inputs
        {
            return Err(format!(
                "net.{index}.weight takes {inputs} inputs but the previous layer gives {}",
                prev.outputs
            ));
        }
        layers.push(Layer {
            inputs,
            outputs,
            weight,
            bias,
        });
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oip::rest::{RequestInput, ResponseOutput};

    fn credit_risk_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/credit-risk")
    }

    #[derive(Deserialize)]
    struct Samples {
        samples: Vec<SampleEntry>,
    }

    #[derive(Deserialize)]
    struct SampleEntry {
        name: String,
        inputs: Vec<RequestInput>,
        outputs: Vec<ResponseOutput>,
    }

    /// (name, inputs, expected outputs) of every stored credit-risk sample.
    fn credit_risk_samples() -> Vec<(String, Vec<NamedTensor>, Vec<NamedTensor>)> {
        let text = std::fs::read_to_string(credit_risk_dir().join("samples.json")).unwrap();
        let s: Samples = serde_json::from_str(&text).unwrap();
        s.samples
            .into_iter()
            .map(|e| {
                let inputs = e
                    .inputs
                    .iter()
                    .map(|i| NamedTensor::from_rest_input(i).unwrap())
                    .collect();
                let outputs = e
                    .outputs
                    .iter()
                    .map(|o| NamedTensor::from_rest_output(o).unwrap())
                    .collect();
                (e.name, inputs, outputs)
            })
            .collect()
    }

    fn assert_close(name: &str, expected: &[NamedTensor], actual: &[NamedTensor]) {
        assert_eq!(expected.len(), actual.len(), "sample {name}");
        for (e, a) in expected.iter().zip(actual) {
            assert_eq!(
                (&e.name, &e.datatype, &e.shape),
                (&a.name, &a.datatype, &a.shape),
                "sample {name}"
            );
            let (TensorData::F32(ev), TensorData::F32(av)) = (&e.data, &a.data) else {
                panic!("sample {name}: FP32 expected")
            };
            for (i, (x, y)) in ev.iter().zip(av).enumerate() {
                let (x, y) = (f64::from(*x), f64::from(*y));
                assert!(
                    (x - y).abs() <= 1e-6 * x.abs() + 1e-9,
                    "sample {name}: {}[{i}]: expected {x}, got {y}",
                    e.name
                );
            }
        }
    }

    #[test]
    fn credit_risk_outputs_match_the_stored_expected_outputs() {
        let model = ModelArtifact::load(&credit_risk_dir()).unwrap();
        assert_eq!(model.name(), "credit-risk");
        assert_eq!(
            (model.input().name.as_str(), model.output().name.as_str()),
            ("features", "default_probability")
        );
        let samples = credit_risk_samples();
        assert!(samples.len() >= 4);
        for (name, inputs, expected) in samples {
            assert_close(&name, &expected, &model.predict(&inputs).unwrap());
        }
    }

    fn served(model: ModelArtifact) -> crate::dataplane::Mesh {
        let mesh = crate::dataplane::Mesh::start("financial-ml", Default::default()).unwrap();
        mesh.set_models(vec![crate::dataplane::ServedModel {
            name: model.name().to_string(),
            version: "1".into(),
            predictor: std::sync::Arc::new(model),
            upstream: Default::default(),
        }]);
        mesh
    }

    #[tokio::test]
    async fn embedded_data_plane_serves_the_stored_expected_outputs_over_rest() {
        let mesh = served(ModelArtifact::load(&credit_risk_dir()).unwrap());
        let http = reqwest::Client::new();
        for (name, inputs, expected) in credit_risk_samples() {
            let body = oip::rest::InferenceRequest {
                id: None,
                parameters: None,
                inputs: inputs.iter().map(NamedTensor::to_rest_input).collect(),
                outputs: None,
            };
            let resp = http
                .post(format!(
                    "http://{}/v2/models/credit-risk/infer",
                    mesh.addr()
                ))
                .header(crate::dataplane::MODEL_HEADER, "credit-risk")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "sample {name}");
            let r: oip::rest::InferenceResponse = resp.json().await.unwrap();
            let actual: Vec<NamedTensor> = r
                .outputs
                .iter()
                .map(|o| NamedTensor::from_rest_output(o).unwrap())
                .collect();
            assert_close(&name, &expected, &actual);
        }
    }

    #[tokio::test]
    async fn embedded_data_plane_serves_the_stored_expected_outputs_over_grpc() {
        use oip::grpc::grpc_inference_service_client::GrpcInferenceServiceClient;
        let mesh = served(ModelArtifact::load(&credit_risk_dir()).unwrap());
        let mut client = GrpcInferenceServiceClient::connect(format!("http://{}", mesh.addr()))
            .await
            .unwrap();
        for (name, inputs, expected) in credit_risk_samples() {
            let mut req = tonic::Request::new(oip::grpc::ModelInferRequest {
                model_name: "credit-risk".into(),
                inputs: inputs.iter().map(NamedTensor::to_grpc_input).collect(),
                ..Default::default()
            });
            req.metadata_mut().insert(
                crate::dataplane::MODEL_HEADER,
                "credit-risk".parse().unwrap(),
            );
            let resp = client.model_infer(req).await.unwrap().into_inner();
            let actual = oip::tensor::outputs_from_grpc(&resp).unwrap();
            assert_close(&name, &expected, &actual);
        }
    }

    #[test]
    fn refuses_what_the_mlserver_runtime_refuses() {
        let model = ModelArtifact::load(&credit_risk_dir()).unwrap();
        let f32s = |name: &str, shape: Vec<i64>, n: usize| {
            NamedTensor::new(name, shape, TensorData::F32(vec![0.5; n]))
        };
        let e = model
            .predict(&[f32s("features", vec![1, 16], 16)])
            .unwrap_err();
        assert_eq!(e.0, "input 'features' must have shape [-1, 8], got [1, 16]");
        let e = model
            .predict(&[NamedTensor::new(
                "features",
                vec![1, 8],
                TensorData::F64(vec![0.5; 8]),
            )])
            .unwrap_err();
        assert_eq!(e.0, "input 'features' must have datatype FP32, got FP64");
        let e = model.predict(&[f32s("x", vec![1, 8], 8)]).unwrap_err();
        assert!(e.0.contains("named 'features'"), "{e}");
        assert!(model.predict(&[]).is_err());
    }

    #[test]
    fn bad_artifacts_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["model-settings.json", "model.safetensors"] {
            std::fs::copy(credit_risk_dir().join(f), dir.path().join(f)).unwrap();
        }
        let settings_path = dir.path().join("model-settings.json");
        let original = std::fs::read_to_string(&settings_path).unwrap();

        std::fs::write(
            &settings_path,
            original.replace("runtime.CreditRiskRuntime", "mlserver_sklearn.SKLearnModel"),
        )
        .unwrap();
        let e = ModelArtifact::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("model-settings.json")
                && e.contains("mlserver_sklearn.SKLearnModel")
                && e.contains(SUPPORTED_IMPLEMENTATION),
            "{e}"
        );

        std::fs::write(&settings_path, original.replace("[-1, 8]", "[-1, 9]")).unwrap();
        let e = ModelArtifact::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("model.safetensors") && e.contains("[-1, 9]"),
            "{e}"
        );

        std::fs::write(&settings_path, &original).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
        let e = ModelArtifact::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("model.safetensors") && e.contains("not a safetensors file"),
            "{e}"
        );
    }
}
