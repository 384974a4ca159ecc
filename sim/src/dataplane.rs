//! Per-namespace inference endpoint speaking Open Inference Protocol V2 over REST and gRPC:
//! the stand-in for a namespace's `seldon-mesh` Service (envoy in front of the model servers).
//!
//! One loopback port serves REST (HTTP/1.1) and gRPC (h2c) together, like `seldon-mesh:80`.
//!
//! # Routing (as Seldon's envoy does it)
//! - The `seldon-model` header (REST) or metadata entry (gRPC) names the model.
//! - REST only: without the header, the model comes from the path `/v2/models/{name}/...`;
//!   a header overrides the path.
//! - gRPC without `seldon-model` metadata has no route: `UNIMPLEMENTED` (what envoy's 404
//!   local reply becomes for gRPC). REST without a model (e.g. `/v2/health/ready` without the
//!   header) has no route: 404 with an `{"error"}` body. Health and server metadata are served
//!   only when the header names a ready model.
//! - A model that is not Ready in the namespace: REST 404 `{"error"}`, gRPC `NOT_FOUND`.
//! - Inputs whose name, datatype or shape do not fit the model signature: REST 400, gRPC
//!   `INVALID_ARGUMENT`, naming the input. Responses name the model `<model>_<version>` and
//!   carry `model_version`.
//!
//! # Defects ([`MeshFlags`])
//! - `ignores_model_header`: REST routes by path only; gRPC ignores the metadata and routes by
//!   the message's own `model_name`/`name` field (the gRPC analogue of the path), so a request
//!   without metadata is answered and metadata never overrides the body.
//! - `wrong_output`: every output value is perturbed (+0.25 for floats, +1 for integers, booleans
//!   flipped).
//! - `unknown_model_answered_200`: an unknown model is answered as if it existed: readiness
//!   true, metadata and zero-filled outputs borrowed from the first Ready model (by name; no
//!   outputs when none is Ready), variable dimensions set to 1.

mod grpc;
mod rest;

use crate::faults::{Defect, Faults};
use oip::NamedTensor;
use oip::tensor::TensorData;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Name, datatype and shape (`-1` = variable, e.g. batch) of one tensor of a signature.
pub use oip::rest::MetadataTensor as TensorSpec;

/// Header / gRPC metadata key naming the model, as in Seldon.
pub const MODEL_HEADER: &str = "seldon-model";

/// The inputs and outputs a model accepts and produces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelSignature {
    /// Serving platform reported in metadata (e.g. `mlserver`); may be empty.
    pub platform: String,
    /// Input tensors.
    pub inputs: Vec<TensorSpec>,
    /// Output tensors.
    pub outputs: Vec<TensorSpec>,
}

/// A model implementation the endpoint can call.
pub trait Predictor: Send + Sync {
    /// The model's signature; inputs are checked against it before `infer` is called.
    fn signature(&self) -> ModelSignature;
    /// Computes the outputs for inputs that fit the signature.
    fn infer(&self, inputs: &[NamedTensor]) -> Result<Vec<NamedTensor>, String>;
}

/// A model Ready in the namespace.
#[derive(Clone)]
pub struct ServedModel {
    /// Model name (the `Model` object's name).
    pub name: String,
    /// Version, reported as `<name>_<version>` in responses.
    pub version: String,
    /// The implementation.
    pub predictor: Arc<dyn Predictor>,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ServedModel {
    /// `<name>_<version>`, the name Seldon's servers answer with.
    pub fn qualified_name(&self) -> String {
        format!("{}_{}", self.name, self.version)
    }
}

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
}

impl MeshFlags {
    /// The dataplane flags of a fault set.
    pub fn from_faults(faults: &Faults) -> MeshFlags {
        MeshFlags {
            ignores_model_header: faults.has(Defect::MeshIgnoresModelHeader),
            wrong_output: faults.has(Defect::WrongInferenceOutput),
            unknown_model_answered_200: faults.has(Defect::UnknownModelAnswered200),
            invalid_input_answered_200: faults.has(Defect::InvalidInputAnswered200),
        }
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// `start` was called outside a Tokio runtime.
    #[error(
        "the inference endpoint for namespace {namespace} must be started inside a Tokio runtime"
    )]
    NoRuntime {
        /// Namespace of the endpoint.
        namespace: String,
    },
    /// The loopback port could not be bound.
    #[error("cannot bind the inference endpoint for namespace {namespace} on 127.0.0.1: {source}")]
    Bind {
        /// Namespace of the endpoint.
        namespace: String,
        /// The socket error.
        source: std::io::Error,
    },
}

/// A running inference endpoint for one namespace; stops when dropped.
pub struct Mesh {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Mesh {
    /// Binds `127.0.0.1:0` and serves REST and gRPC on it. Must be called inside a Tokio runtime.
    pub fn start(namespace: &str, flags: MeshFlags) -> Result<Mesh, MeshError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| MeshError::NoRuntime {
            namespace: namespace.to_string(),
        })?;
        let bind_err = |source| MeshError::Bind {
            namespace: namespace.to_string(),
            source,
        };
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = std_listener.local_addr().map_err(bind_err)?;
        let listener = {
            let _entered = handle.enter();
            tokio::net::TcpListener::from_std(std_listener).map_err(bind_err)?
        };
        let shared = Arc::new(Shared {
            namespace: namespace.to_string(),
            flags,
            models: RwLock::new(BTreeMap::new()),
        });
        let router = rest::router(shared.clone()).route_service(
            &format!("/{}/{{*rpc}}", grpc::SERVICE_NAME),
            grpc::routes(shared.clone()),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = handle.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "inference endpoint stopped with an error");
            }
        });
        Ok(Mesh {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Address serving both REST (`http://addr/v2/...`) and gRPC (h2c).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Namespace this endpoint serves.
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }

    /// Replaces, at once, the set of models Ready in the namespace.
    pub fn set_models(&self, models: Vec<ServedModel>) {
        let map = models.into_iter().map(|m| (m.name.clone(), m)).collect();
        *self.shared.models.write().expect("model table lock") = map;
    }

    /// Names of the models currently served.
    pub fn model_names(&self) -> Vec<String> {
        self.shared
            .models
            .read()
            .expect("model table lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Stops serving: in-flight requests get up to 5 s, then the server is cut.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Dropping cannot wait; abort so the port is released promptly.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// State shared by the REST and gRPC fronts.
struct Shared {
    namespace: String,
    flags: MeshFlags,
    models: RwLock<BTreeMap<String, ServedModel>>,
}

/// Why an inference failed.
enum InferError {
    /// The request does not fit the model (400 / INVALID_ARGUMENT).
    BadInput(String),
    /// The model failed (500 / INTERNAL).
    Model(String),
}

impl Shared {
    fn lookup(&self, name: &str) -> Option<ServedModel> {
        self.models
            .read()
            .expect("model table lock")
            .get(name)
            .cloned()
    }

    /// The model borrowed for answering unknown models under the UnknownModelAnswered200 defect.
    fn stand_in(&self) -> Option<ServedModel> {
        self.models
            .read()
            .expect("model table lock")
            .values()
            .next()
            .cloned()
    }

    fn not_found(&self, name: &str) -> String {
        format!(
            "model `{name}` is not ready in namespace {}",
            self.namespace
        )
    }

    /// Zero outputs shaped like the stand-in model's (variable dimensions as 1).
    fn fake_outputs(&self) -> Vec<NamedTensor> {
        match self.stand_in() {
            Some(model) => self.zero_outputs(&model),
            None => Vec::new(),
        }
    }

    /// Zero outputs shaped like a model's (variable dimensions as 1).
    fn zero_outputs(&self, model: &ServedModel) -> Vec<NamedTensor> {
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
    fn infer(
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

#[cfg(test)]
mod tests;
