//! Fixed sample requests and their expected outputs, stored next to a sample model
//! (`scenarios/models/<model>/samples.json`, format in `scenarios/models/README.md`).

use super::client::{InferenceClient, InferenceError, InferenceRequest, ModelMetadata};
use super::compare::{Difference, Mismatch, Tolerance, compare_outputs};
use crate::scenario::{Inference, Scenario};
use oip::{NamedTensor, rest};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A sample file that cannot be used, naming the file and the field.
#[derive(Debug, thiserror::Error)]
#[error("sample file {}: {detail}", path.display())]
pub struct SampleError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong and where.
    pub detail: String,
}

/// All samples of one model and the tolerance their outputs are compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSet {
    /// Model the samples are for (its name in `model-settings.json`).
    pub model: String,
    /// Tolerance for floating-point outputs.
    pub tolerance: Tolerance,
    /// The samples, in file order.
    pub samples: Vec<Sample>,
}

/// One request and what a correct model answers to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Sample name, used in reports.
    pub name: String,
    /// Input tensors.
    pub inputs: Vec<NamedTensor>,
    /// Exact expected outputs (empty when only `expected_argmax` is known).
    pub outputs: Vec<NamedTensor>,
    /// Expected index of the largest element of an output (a classifier's class).
    pub expected_argmax: Option<ExpectedArgmax>,
}

/// The class a classifier must pick: the flat index of the largest element of `output`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedArgmax {
    /// Output tensor name.
    pub output: String,
    /// Expected flat index of its largest element.
    pub index: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    model: String,
    #[serde(default)]
    #[allow(dead_code)] // provenance for humans
    generated_by: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    notes: Option<String>,
    tolerance: Tolerance,
    samples: Vec<FileSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSample {
    name: String,
    inputs: Vec<rest::RequestInput>,
    #[serde(default)]
    outputs: Vec<rest::ResponseOutput>,
    #[serde(default)]
    expected_argmax: Option<ExpectedArgmax>,
}

impl SampleSet {
    /// Reads and checks a `samples.json` file.
    pub fn load(path: &Path) -> Result<SampleSet, SampleError> {
        let err = |detail: String| SampleError {
            path: path.to_path_buf(),
            detail,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let doc: FileDoc = serde_path_to_error::deserialize(de)
            .map_err(|e| err(format!("at `{}`: {}", e.path(), e.inner())))?;
        if doc.samples.is_empty() {
            return Err(err("`samples` is empty: add at least one sample".into()));
        }
        let mut samples = Vec::new();
        for (i, s) in doc.samples.into_iter().enumerate() {
            let at = |field: &str, e: oip::TensorError| {
                err(format!("samples[{i}] (`{}`) {field}: {e}", s.name))
            };
            let inputs = s
                .inputs
                .iter()
                .map(NamedTensor::from_rest_input)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at("inputs", e))?;
            let outputs = s
                .outputs
                .iter()
                .map(NamedTensor::from_rest_output)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at("outputs", e))?;
            if outputs.is_empty() && s.expected_argmax.is_none() {
                return Err(err(format!(
                    "samples[{i}] (`{}`) checks nothing: give `outputs` or `expected_argmax`",
                    s.name
                )));
            }
            samples.push(Sample {
                name: s.name,
                inputs,
                outputs,
                expected_argmax: s.expected_argmax,
            });
        }
        Ok(SampleSet {
            model: doc.model,
            tolerance: doc.tolerance,
            samples,
        })
    }
}

impl Sample {
    /// The inference request this sample sends.
    pub fn request(&self) -> InferenceRequest {
        InferenceRequest::new(self.inputs.clone())
    }

    /// Checks a model's outputs against this sample: exact outputs within `tolerance`, then the argmax.
    pub fn check(&self, actual: &[NamedTensor], tolerance: Tolerance) -> Result<(), Mismatch> {
        let mut differences = match (
            self.outputs.is_empty(),
            compare_outputs(&self.outputs, actual, tolerance),
        ) {
            // Only the class is known: other outputs are not "extra".
            (true, _) => Vec::new(),
            (false, Ok(())) => Vec::new(),
            (false, Err(m)) => m.differences,
        };
        if let Some(want) = &self.expected_argmax {
            match actual.iter().find(|t| t.name == want.output) {
                None => differences.push(Difference::Missing {
                    output: want.output.clone(),
                }),
                Some(t) => {
                    let got = t.data.to_f64_vec().and_then(|v| argmax(&v));
                    if got != Some(want.index) {
                        differences.push(Difference::Value {
                            output: want.output.clone(),
                            index: want.index,
                            expected: "the largest element (argmax)".into(),
                            actual: match got {
                                Some(i) => format!("the largest element at index {i}"),
                                None => "no numeric elements".into(),
                            },
                            tolerance: None,
                        });
                    }
                }
            }
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(Mismatch { differences })
        }
    }
}

/// Why one sample did not get a correct answer.
#[derive(Debug, thiserror::Error)]
pub enum SampleFailure {
    /// The call itself failed.
    #[error("sample `{sample}`: {source}")]
    Call {
        /// Sample name.
        sample: String,
        /// The call's error.
        source: InferenceError,
    },
    /// The server answered, but not what the sample expects.
    #[error("sample `{sample}`: {mismatch}")]
    Outputs {
        /// Sample name.
        sample: String,
        /// How the outputs differ.
        mismatch: Mismatch,
    },
}

/// Sends every sample of `set` to `model` and checks each answer; empty when all are correct.
pub async fn check_samples(
    client: &InferenceClient,
    model: &str,
    set: &SampleSet,
) -> Vec<SampleFailure> {
    let mut failures = Vec::new();
    for sample in &set.samples {
        match client.infer(model, &sample.request()).await {
            Err(source) => failures.push(SampleFailure::Call {
                sample: sample.name.clone(),
                source,
            }),
            Ok(resp) => {
                if let Err(mismatch) = sample.check(&resp.outputs, set.tolerance) {
                    failures.push(SampleFailure::Outputs {
                        sample: sample.name.clone(),
                        mismatch,
                    });
                }
            }
        }
    }
    failures
}

/// Checks a model's reported signature against the declared one (e.g. from `model-settings.json`):
/// same tensors, names, datatypes and shapes, in order. Returns one line per difference.
pub fn check_signature(
    metadata: &ModelMetadata,
    inputs: &[rest::MetadataTensor],
    outputs: &[rest::MetadataTensor],
) -> Result<(), Vec<String>> {
    let mut diffs = Vec::new();
    for (what, declared, reported) in [
        ("input", inputs, &metadata.inputs),
        ("output", outputs, &metadata.outputs),
    ] {
        for d in declared {
            match reported.iter().find(|r| r.name == d.name) {
                None => diffs.push(format!("{what} `{}` is not reported", d.name)),
                Some(r) if (&r.datatype, &r.shape) != (&d.datatype, &d.shape) => {
                    diffs.push(format!(
                        "{what} `{}`: reported {} {:?}, declared {} {:?}",
                        d.name, r.datatype, r.shape, d.datatype, d.shape
                    ))
                }
                Some(_) => {}
            }
        }
        for r in reported
            .iter()
            .filter(|r| !declared.iter().any(|d| d.name == r.name))
        {
            diffs.push(format!("{what} `{}` is reported but not declared", r.name));
        }
    }
    if diffs.is_empty() { Ok(()) } else { Err(diffs) }
}

fn argmax(v: &[f64]) -> Option<usize> {
    v.iter()
        .enumerate()
        .filter(|(_, x)| !x.is_nan())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

/// The requests an `inference` check sends: its samples file, or its inline request.
pub fn from_check(scenario: &Scenario, i: &Inference) -> Result<SampleSet, String> {
    if let Some(path) = &i.samples {
        let file = scenario.resolve(path);
        return SampleSet::load(&file).map_err(|e| e.to_string());
    }
    let request = i
        .request
        .as_ref()
        .ok_or("the check has neither `samples` nor `request`: give one")?;
    let inputs = request_inputs(request)?;
    let outputs = match &i.outputs {
        Some(v) => {
            let outs: Vec<oip::rest::ResponseOutput> = serde_json::from_value(v.clone())
                .map_err(|e| format!("`outputs` is not a list of V2 output tensors: {e}"))?;
            outs.iter()
                .map(oip::NamedTensor::from_rest_output)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`outputs`: {e}"))?
        }
        None => Vec::new(),
    };
    let expected_argmax = i.argmax.as_ref().map(|a| ExpectedArgmax {
        output: a.output.clone(),
        index: a.index,
    });
    if outputs.is_empty() && expected_argmax.is_none() {
        return Err("the inline request checks nothing: give `outputs` or `argmax`".into());
    }
    Ok(SampleSet {
        model: i.model.clone(),
        tolerance: Tolerance {
            relative: i.tolerance,
            absolute: 0.0,
        },
        samples: vec![Sample {
            name: "request".into(),
            inputs,
            outputs,
            expected_argmax,
        }],
    })
}

/// The input tensors of an inline V2 request (`{"inputs": [...]}`).
fn request_inputs(request: &serde_json::Value) -> Result<Vec<oip::NamedTensor>, String> {
    let req: oip::rest::InferenceRequest = serde_json::from_value(request.clone())
        .map_err(|e| format!("`request` is not a V2 inference request: {e}"))?;
    req.inputs
        .iter()
        .map(oip::NamedTensor::from_rest_input)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`request`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oip::TensorData;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn a_bad_field_is_named_with_the_file() {
        let f = write(
            r#"{"model":"m","tolerance":{"relative":1e-6,"absolute":0},"samples":[{"name":"a","inputs":[{"name":"x","shape":[1],"datatype":"FP32"}],"outputs":[]}]}"#,
        );
        let e = SampleSet::load(f.path()).unwrap_err().to_string();
        assert!(
            e.contains(&f.path().display().to_string())
                && e.contains("samples[0].inputs[0]")
                && e.contains("data"),
            "{e}"
        );
    }

    #[test]
    fn inconsistent_tensors_and_empty_samples_are_rejected() {
        let f = write(
            r#"{"model":"m","tolerance":{"relative":1e-6,"absolute":0},"samples":[{"name":"a","inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1]}],"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}]}"#,
        );
        let e = SampleSet::load(f.path()).unwrap_err().to_string();
        assert!(
            e.contains("samples[0] (`a`) inputs") && e.contains("needs 2 elements"),
            "{e}"
        );
        let f = write(
            r#"{"model":"m","tolerance":{"relative":1e-6,"absolute":0},"samples":[{"name":"a","inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}]}"#,
        );
        let e = SampleSet::load(f.path()).unwrap_err().to_string();
        assert!(e.contains("checks nothing"), "{e}");
    }

    #[test]
    fn signature_differences_are_each_named() {
        let t = |n: &str, d: &str, s: Vec<i64>| rest::MetadataTensor {
            name: n.into(),
            datatype: d.into(),
            shape: s,
        };
        let m = ModelMetadata {
            name: "m".into(),
            versions: vec![],
            platform: String::new(),
            inputs: vec![
                t("features", "FP64", vec![-1, 8]),
                t("extra", "FP32", vec![1]),
            ],
            outputs: vec![],
        };
        let diffs = check_signature(
            &m,
            &[t("features", "FP32", vec![-1, 8])],
            &[t("p", "FP32", vec![-1, 1])],
        )
        .unwrap_err();
        assert_eq!(
            diffs,
            vec![
                "input `features`: reported FP64 [-1, 8], declared FP32 [-1, 8]".to_string(),
                "input `extra` is reported but not declared".to_string(),
                "output `p` is not reported".to_string(),
            ]
        );
        let ok = ModelMetadata {
            inputs: vec![t("features", "FP32", vec![-1, 8])],
            outputs: vec![t("p", "FP32", vec![-1, 1])],
            ..m
        };
        assert_eq!(
            check_signature(&ok, &ok.inputs.clone(), &ok.outputs.clone()),
            Ok(())
        );
    }

    #[test]
    fn argmax_check_names_the_class_found() {
        let s = Sample {
            name: "digit".into(),
            inputs: vec![],
            outputs: vec![],
            expected_argmax: Some(ExpectedArgmax {
                output: "y__0".into(),
                index: 1,
            }),
        };
        let tol = Tolerance {
            relative: 0.0,
            absolute: 0.0,
        };
        let good = [NamedTensor::new(
            "y__0",
            vec![1, 3],
            TensorData::F32(vec![-2.0, 5.0, 1.0]),
        )];
        assert_eq!(s.check(&good, tol), Ok(()));
        let bad = [NamedTensor::new(
            "y__0",
            vec![1, 3],
            TensorData::F32(vec![-2.0, 1.0, 5.0]),
        )];
        let e = s.check(&bad, tol).unwrap_err().to_string();
        assert!(e.contains("y__0") && e.contains("index 2"), "{e}");
        assert!(
            s.check(&[], tol)
                .unwrap_err()
                .to_string()
                .contains("\"y__0\" is missing")
        );
    }
}
