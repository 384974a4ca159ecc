//! Pipelines on the endpoint: what Seldon's pipeline gateway and dataflow engine do with a request
//! addressed `seldon-model: <name>.pipeline` (docs/seldon-behaviour.md §24). Each step is the Model
//! of its name; a step without `inputs` gets the pipeline's inputs; an input reference is
//! `<step>[.outputs|.inputs[.<tensor>]]` (a bare step name means its outputs, the pipeline's name
//! its inputs); `tensorMap` renames `<step>.<outputs|inputs>.<tensor>` to the name the step
//! receives; the answer is the `output.steps` tensors, renamed by the output's `tensorMap`. Without
//! `output` nothing writes the pipeline's output topic (`createPipelineCreationMessage`), so the
//! gateway never gets an answer: refused here with a 500 naming it. Defect `pipeline_step_skipped`: only the first step runs and its
//! outputs are the answer.

use std::collections::{BTreeMap, HashMap};

use oip::NamedTensor;

use super::model::{PipelineStep, ServedPipeline};
use super::shared::{InferError, Shared};

/// What the `seldon-model` header ends with to address a pipeline instead of a model.
pub const PIPELINE_SUFFIX: &str = ".pipeline";

/// The pipeline a `seldon-model` value addresses, if it addresses one.
pub fn addressed_pipeline(target: &str) -> Option<&str> {
    target
        .strip_suffix(PIPELINE_SUFFIX)
        .filter(|n| !n.is_empty())
}

/// A reference split into (step or pipeline, `inputs`/`outputs`, optional tensor).
fn split_ref<'a>(pipeline: &str, r: &'a str) -> (&'a str, &'a str, Option<&'a str>) {
    let mut parts = r.splitn(3, '.');
    let step = parts.next().unwrap_or_default();
    let default_kind = if step == pipeline {
        "inputs"
    } else {
        "outputs"
    };
    let kind = parts.next().unwrap_or(default_kind);
    (step, kind, parts.next())
}

/// Runs `p` on `inputs` through the endpoint's models.
pub(super) fn run(
    shared: &Shared,
    p: &ServedPipeline,
    inputs: &[NamedTensor],
) -> Result<Vec<NamedTensor>, InferError> {
    let mut step_inputs: HashMap<&str, Vec<NamedTensor>> = HashMap::new();
    let mut step_outputs: HashMap<&str, Vec<NamedTensor>> = HashMap::new();
    let gather = |refs: &[String],
                  map: &BTreeMap<String, String>,
                  step_inputs: &HashMap<&str, Vec<NamedTensor>>,
                  step_outputs: &HashMap<&str, Vec<NamedTensor>>|
     -> Option<Vec<NamedTensor>> {
        let mut out = Vec::new();
        for r in refs {
            let (step, kind, tensor) = split_ref(&p.name, r);
            let source = if step == p.name {
                inputs
            } else if kind == "inputs" {
                step_inputs.get(step)?
            } else {
                step_outputs.get(step)?
            };
            for t in source.iter().filter(|t| tensor.is_none_or(|n| n == t.name)) {
                let mut t = t.clone();
                if let Some(to) = map.get(&format!("{step}.{kind}.{}", t.name)) {
                    t.name = to.clone();
                }
                out.push(t);
            }
        }
        Some(out)
    };
    let pipeline_inputs = vec![format!("{}.inputs", p.name)];
    // Steps run once all they read from has run (the dataflow engine joins on their topics).
    let mut pending: Vec<&PipelineStep> = p.steps.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut i = 0;
        while i < pending.len() {
            let step = pending[i];
            let refs = if step.inputs.is_empty() {
                &pipeline_inputs
            } else {
                &step.inputs
            };
            let Some(received) = gather(refs, &step.tensor_map, &step_inputs, &step_outputs) else {
                i += 1;
                continue;
            };
            let model = shared.lookup(&step.name).ok_or_else(|| {
                InferError::Model(format!(
                    "step {} of pipeline {}: {}",
                    step.name,
                    p.name,
                    shared.not_found(&step.name)
                ))
            })?;
            let produced = shared.infer(&model, &received, None).map_err(|e| match e {
                InferError::BadInput(m) => {
                    InferError::BadInput(format!("step {} of pipeline {}: {m}", step.name, p.name))
                }
                other => other,
            })?;
            if shared.flags.pipeline_step_skipped {
                return Ok(produced);
            }
            step_inputs.insert(&step.name, received);
            step_outputs.insert(&step.name, produced);
            pending.remove(i);
        }
        if pending.len() == before {
            let names: Vec<&str> = pending.iter().map(|s| s.name.as_str()).collect();
            return Err(InferError::Model(format!(
                "pipeline {}: steps {names:?} read from steps that never run",
                p.name
            )));
        }
    }
    if p.output_steps.is_empty() {
        return Err(InferError::Model(format!(
            "pipeline {} has no `output.steps`: nothing writes its output topic, so the pipeline gateway never gets an answer",
            p.name
        )));
    }
    let refs = &p.output_steps;
    gather(refs, &p.output_tensor_map, &step_inputs, &step_outputs).ok_or_else(|| {
        InferError::Model(format!(
            "pipeline {}: output steps {refs:?} did not run",
            p.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, RwLock};

    use oip::{NamedTensor, TensorData};

    use super::super::model::{
        ModelSignature, PipelineStep, Predictor, ServedModel, ServedPipeline, TensorSpec,
    };
    use super::super::shared::{MeshFlags, Shared};
    use super::run;

    /// `y` = 2 × `x`, FP32 `[-1, 1]`.
    struct Doubler;

    impl Predictor for Doubler {
        fn signature(&self) -> ModelSignature {
            let spec = |n: &str| TensorSpec {
                name: n.into(),
                datatype: "FP32".into(),
                shape: vec![-1, 1],
            };
            ModelSignature {
                platform: String::new(),
                inputs: vec![spec("x")],
                outputs: vec![spec("y")],
            }
        }
        fn infer(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, String> {
            let TensorData::F32(v) = &inputs[0].data else {
                return Err("FP32".into());
            };
            let y = v.iter().map(|x| x * 2.0).collect();
            Ok(vec![NamedTensor::new(
                "y",
                inputs[0].shape.clone(),
                TensorData::F32(y),
            )])
        }
    }

    fn shared(flags: MeshFlags) -> Shared {
        let models = ["a", "b"]
            .map(|n| {
                let m = ServedModel {
                    name: n.into(),
                    version: "1".into(),
                    predictor: Arc::new(Doubler),
                    upstream: Default::default(),
                };
                (n.to_string(), m)
            })
            .into_iter()
            .collect();
        Shared {
            namespace: "ns".into(),
            flags,
            models: RwLock::new(models),
            routes: RwLock::new(BTreeMap::new()),
            mirrored: std::sync::Mutex::new(BTreeMap::new()),
            pipelines: RwLock::new(BTreeMap::new()),
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `p.inputs.in` → a (as `x`) → `a.outputs.y` → b (as `x`) → `b.outputs.y` as `result`.
    fn chained() -> ServedPipeline {
        ServedPipeline {
            name: "p".into(),
            steps: vec![
                PipelineStep {
                    name: "b".into(),
                    inputs: vec!["a.outputs.y".into()],
                    tensor_map: map(&[("a.outputs.y", "x")]),
                },
                PipelineStep {
                    name: "a".into(),
                    inputs: vec![],
                    tensor_map: map(&[("p.inputs.in", "x")]),
                },
            ],
            output_steps: vec!["b.outputs.y".into()],
            output_tensor_map: map(&[("b.outputs.y", "result")]),
        }
    }

    fn input() -> Vec<NamedTensor> {
        vec![NamedTensor::new(
            "in",
            vec![2, 1],
            TensorData::F32(vec![1.0, 3.0]),
        )]
    }

    #[test]
    fn steps_run_in_dependency_order_with_references_and_tensor_maps() {
        let out = run(&shared(MeshFlags::default()), &chained(), &input())
            .unwrap_or_else(|_| panic!("the pipeline runs"));
        assert_eq!(
            out,
            vec![NamedTensor::new(
                "result",
                vec![2, 1],
                TensorData::F32(vec![4.0, 12.0])
            )]
        );
    }

    #[test]
    fn the_step_skipped_defect_answers_with_the_first_step_run() {
        let flags = MeshFlags {
            pipeline_step_skipped: true,
            ..MeshFlags::default()
        };
        let out = run(&shared(flags), &chained(), &input())
            .unwrap_or_else(|_| panic!("the pipeline runs"));
        assert_eq!(out[0].name, "y");
        assert_eq!(out[0].data, TensorData::F32(vec![2.0, 6.0]));
    }
}
