//! The model table and inference path the REST and gRPC fronts share, with the dataplane defects.

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use oip::NamedTensor;
use oip::tensor::TensorData;

use super::model::{ModelSignature, ServedModel, ServedPipeline};
use super::routes::{ExperimentRoute, route_value};
use crate::faults::{Defect, Faults};

/// Header / gRPC metadata key naming the model, as in Seldon.
pub const MODEL_HEADER: &str = "seldon-model";

/// Which dataplane defects are active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeshFlags {
    /// Route by path only (defect MeshIgnoresModelHeader).
    pub ignores_model_header: bool,
    /// Perturb every output (defect WrongInferenceOutput).
    pub wrong_output: bool,
    /// Answer unknown models with 200 (defect UnknownModelAnswered200).
    pub unknown_model_answered_200: bool,
    /// Answer inputs that do not fit the model with 200 and zero outputs (defect InvalidInputAnswered200).
    pub invalid_input_answered_200: bool,
    /// Pipelines answer with their first step's outputs (defect PipelineStepSkipped).
    pub pipeline_step_skipped: bool,
}

impl MeshFlags {
    /// The dataplane flags of a fault set.
    pub fn from_faults(faults: &Faults) -> MeshFlags {
        MeshFlags {
            ignores_model_header: faults.has(Defect::MeshIgnoresModelHeader),
            wrong_output: faults.has(Defect::WrongInferenceOutput),
            unknown_model_answered_200: faults.has(Defect::UnknownModelAnswered200),
            invalid_input_answered_200: faults.has(Defect::InvalidInputAnswered200),
            pipeline_step_skipped: faults.has(Defect::PipelineStepSkipped),
        }
    }
}

/// State shared by the REST and gRPC fronts.
pub(super) struct Shared {
    /// The namespace served, for messages.
    pub(super) namespace: String,
    /// Active defects.
    pub(super) flags: MeshFlags,
    /// Models Ready in the namespace, by name; replaced whole by `Mesh::set_models`.
    pub(super) models: RwLock<BTreeMap<String, ServedModel>>,
    /// Experiment routes by route name (`<experiment>.experiment`, a default model's name).
    pub(super) routes: RwLock<BTreeMap<String, ExperimentRoute>>,
    /// Requests copied to each mirror model.
    pub(super) mirrored: Mutex<BTreeMap<String, u64>>,
    /// Pipelines Ready in the namespace, by name; replaced whole by `Mesh::set_pipelines`.
    pub(super) pipelines: RwLock<BTreeMap<String, ServedPipeline>>,
}

/// Where envoy sends a request for a route name (docs/seldon-behaviour.md §19).
pub(super) enum Routed {
    /// This model answers; the `x-seldon-route` value envoy adds to the response.
    Model(ServedModel, String),
    /// No route matches (a sticky header naming no candidate, a plain model asked with one,
    /// every weight 0): envoy's 404 / gRPC UNIMPLEMENTED.
    NoRoute(String),
    /// Nothing of that name is served.
    Unknown,
}

/// Why an inference failed.
pub(super) enum InferError {
    /// The request does not fit the model (400 / INVALID_ARGUMENT).
    BadInput(String),
    /// The model failed (500 / INTERNAL).
    Model(String),
}

impl Shared {
    /// A model Ready in the namespace, by name.
    pub(super) fn lookup(&self, name: &str) -> Option<ServedModel> {
        self.models
            .read()
            .expect("model table lock")
            .get(name)
            .cloned()
    }

    /// Envoy's route choice for `name` (the `seldon-model` header or the REST path): an
    /// Experiment's weighted clusters (or the sticky candidate the `x-seldon-route` header
    /// names), else the model itself, whose route requires the header to be absent.
    pub(super) fn resolve(&self, name: &str, sticky: Option<&str>) -> Routed {
        use rand::Rng;
        let route = self
            .routes
            .read()
            .expect("route table lock")
            .get(name)
            .cloned();
        let no_route = |why: &str| {
            Routed::NoRoute(format!(
                "no route for `{name}` in namespace {}: {why}",
                self.namespace
            ))
        };
        let chosen = match (route, sticky) {
            (Some(r), Some(h)) => {
                let hit = r.clusters.iter().find(|(m, _)| {
                    self.lookup(m)
                        .is_some_and(|s| h.contains(&route_value(m, &s.version)))
                });
                match hit {
                    Some((m, _)) => m.clone(),
                    None => return no_route("the x-seldon-route header names no candidate"),
                }
            }
            (Some(r), None) => {
                let total = r.total();
                let picked = (total > 0)
                    .then(|| rand::thread_rng().gen_range(0..total))
                    .and_then(|x| r.pick(x).map(str::to_string));
                let Some(m) = picked else {
                    return no_route("every weight is 0");
                };
                if let Some((mirror, percent)) = &r.mirror
                    && rand::thread_rng().gen_range(0..100) < *percent
                {
                    *self
                        .mirrored
                        .lock()
                        .expect("mirror counter lock")
                        .entry(mirror.clone())
                        .or_default() += 1;
                }
                m
            }
            (None, Some(_)) if self.lookup(name).is_some() => {
                return no_route("a model's route matches only without x-seldon-route");
            }
            (None, _) => name.to_string(),
        };
        match self.lookup(&chosen) {
            Some(m) => {
                let value = route_value(&m.name, &m.version);
                Routed::Model(m, value)
            }
            None => Routed::Unknown,
        }
    }

    /// A pipeline Ready in the namespace, by name.
    pub(super) fn lookup_pipeline(&self, name: &str) -> Option<ServedPipeline> {
        self.pipelines
            .read()
            .expect("pipeline table lock")
            .get(name)
            .cloned()
    }

    /// The model borrowed for answering unknown models under the UnknownModelAnswered200 defect.
    pub(super) fn stand_in(&self) -> Option<ServedModel> {
        self.models
            .read()
            .expect("model table lock")
            .values()
            .next()
            .cloned()
    }

    /// The message for a model that is not Ready here.
    pub(super) fn not_found(&self, name: &str) -> String {
        format!(
            "model `{name}` is not ready in namespace {}",
            self.namespace
        )
    }

    /// Zero outputs shaped like the stand-in model's (variable dimensions as 1).
    pub(super) fn fake_outputs(&self) -> Vec<NamedTensor> {
        match self.stand_in() {
            Some(model) => self.zero_outputs(&model),
            None => Vec::new(),
        }
    }

    /// Zero outputs shaped like a model's (variable dimensions as 1).
    pub(super) fn zero_outputs(&self, model: &ServedModel) -> Vec<NamedTensor> {
        model
            .predictor
            .signature()
            .outputs
            .iter()
            .map(|spec| {
                let shape: Vec<i64> = spec
                    .shape
                    .iter()
                    .map(|&d| if d < 0 { 1 } else { d })
                    .collect();
                let n = oip::tensor::element_count(&shape).unwrap_or(0) as usize;
                let data = match spec.datatype.as_str() {
                    "FP64" => TensorData::F64(vec![0.0; n]),
                    "INT64" => TensorData::I64(vec![0; n]),
                    "INT32" => TensorData::I32(vec![0; n]),
                    "BOOL" => TensorData::Bool(vec![false; n]),
                    _ => TensorData::F32(vec![0.0; n]),
                };
                NamedTensor::new(spec.name.clone(), shape, data)
            })
            .collect()
    }

    /// Checks inputs against the signature, runs the model, applies output selection and defects.
    pub(super) fn infer(
        &self,
        model: &ServedModel,
        inputs: &[NamedTensor],
        requested: Option<Vec<String>>,
    ) -> Result<Vec<NamedTensor>, InferError> {
        let sig = model.predictor.signature();
        if let Err(why) = check_inputs(&model.name, &sig, inputs) {
            if self.flags.invalid_input_answered_200 {
                return Ok(self.zero_outputs(model));
            }
            return Err(InferError::BadInput(why));
        }
        let mut outputs = model.predictor.infer(inputs).map_err(InferError::Model)?;
        if let Some(names) = requested.filter(|n| !n.is_empty()) {
            if let Some(missing) = names
                .iter()
                .find(|n| !outputs.iter().any(|o| &o.name == *n))
            {
                return Err(InferError::BadInput(format!(
                    "requested output `{missing}` is not an output of model {}",
                    model.name
                )));
            }
            outputs.retain(|o| names.contains(&o.name));
        }
        if self.flags.wrong_output {
            outputs.iter_mut().for_each(perturb);
        }
        Ok(outputs)
    }
}

fn check_inputs(model: &str, sig: &ModelSignature, inputs: &[NamedTensor]) -> Result<(), String> {
    let expected = || {
        sig.inputs
            .iter()
            .map(|s| format!("{} {} {:?}", s.name, s.datatype, s.shape))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for input in inputs {
        let Some(spec) = sig.inputs.iter().find(|s| s.name == input.name) else {
            return Err(format!(
                "input `{}` is not an input of model {model} (inputs: {})",
                input.name,
                expected()
            ));
        };
        if input.datatype != spec.datatype {
            return Err(format!(
                "input `{}` has datatype {}, model {model} expects {}",
                input.name, input.datatype, spec.datatype
            ));
        }
        let fits = input.shape.len() == spec.shape.len()
            && input
                .shape
                .iter()
                .zip(&spec.shape)
                .all(|(&d, &s)| s < 0 || d == s);
        if !fits {
            return Err(format!(
                "input `{}` has shape {:?}, model {model} expects {:?} (-1 = any size)",
                input.name, input.shape, spec.shape
            ));
        }
    }
    if let Some(missing) = sig
        .inputs
        .iter()
        .find(|s| !inputs.iter().any(|i| i.name == s.name))
    {
        return Err(format!(
            "input `{}` of model {model} is missing (inputs: {})",
            missing.name,
            expected()
        ));
    }
    Ok(())
}

/// The WrongInferenceOutput defect: a small, visible error in every value.
fn perturb(t: &mut NamedTensor) {
    match &mut t.data {
        TensorData::F32(v) => v.iter_mut().for_each(|x| *x += 0.25),
        TensorData::F64(v) => v.iter_mut().for_each(|x| *x += 0.25),
        TensorData::I8(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::I16(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::I32(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::I64(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::U8(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::U16(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::U32(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::U64(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        TensorData::Bool(v) => v.iter_mut().for_each(|x| *x = !*x),
        TensorData::Bytes(v) => v.iter_mut().for_each(|x| x.push(b'!')),
    }
}
