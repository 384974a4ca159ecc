//! The V2 gRPC front: routing by `seldon-model` metadata only, like Seldon's envoy.

use super::model::{ServedModel, ServedPipeline, UPSTREAM_TIMEOUT};
use super::pipeline::{addressed_pipeline, run};
use super::shared::{InferError, MODEL_HEADER, Shared};
use oip::NamedTensor;
use oip::grpc::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use oip::grpc::{
    ModelInferRequest, ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse,
    ModelReadyRequest, ModelReadyResponse, ServerLiveRequest, ServerLiveResponse,
    ServerMetadataRequest, ServerMetadataResponse, ServerReadyRequest, ServerReadyResponse,
    model_metadata_response::TensorMetadata,
};
use std::sync::Arc;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

/// Fully qualified gRPC service name, the path prefix envoy routes on.
pub(super) const SERVICE_NAME: &str = "inference.GRPCInferenceService";

/// The gRPC service as a routable axum service.
pub(super) fn routes(shared: Arc<Shared>) -> tonic::service::Routes {
    tonic::service::Routes::new(GrpcInferenceServiceServer::new(Front(shared)))
}

struct Front(Arc<Shared>);

/// Where a call goes: a ready model, or (UnknownModelAnswered200) a name answered anyway.
enum Target {
    Model(ServedModel),
    Pretend(String),
    /// `<name>.pipeline`: routed to the pipeline gateway.
    Pipeline(ServedPipeline),
}

impl Front {
    /// Picks the model: metadata `seldon-model`, or the body's name under MeshIgnoresModelHeader.
    fn target(&self, metadata: &MetadataMap, body_name: &str) -> Result<Target, Status> {
        let shared = &self.0;
        let name = if shared.flags.ignores_model_header {
            Some(body_name).filter(|n| !n.is_empty())
        } else {
            metadata
                .get(MODEL_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        let Some(name) = name else {
            return Err(Status::unimplemented(format!(
                "no route in namespace {}: gRPC calls need `{MODEL_HEADER}` metadata naming the model",
                shared.namespace
            )));
        };
        if let Some(p) = addressed_pipeline(name) {
            return match shared.lookup_pipeline(p) {
                Some(p) => Ok(Target::Pipeline(p)),
                None => Err(Status::not_found(format!(
                    "pipeline `{p}` is not ready in namespace {}",
                    shared.namespace
                ))),
            };
        }
        match shared.lookup(name) {
            Some(m) if m.upstream.grpc.is_some() => {
                let why = m.upstream.grpc.as_deref().unwrap_or_default();
                tracing::warn!(namespace = %shared.namespace, model = name, "envoy cannot reach the server: {why}");
                Err(Status::unavailable(UPSTREAM_TIMEOUT))
            }
            Some(m) => Ok(Target::Model(m)),
            None if shared.flags.unknown_model_answered_200 => {
                Ok(Target::Pretend(name.to_string()))
            }
            None => Err(Status::not_found(shared.not_found(name))),
        }
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for Front {
    async fn server_live(
        &self,
        request: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        self.target(request.metadata(), "")?;
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        request: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        self.target(request.metadata(), "")?;
        Ok(Response::new(ServerReadyResponse { ready: true }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        self.target(request.metadata(), &request.get_ref().name)?;
        Ok(Response::new(ModelReadyResponse { ready: true }))
    }

    async fn server_metadata(
        &self,
        request: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        self.target(request.metadata(), "")?;
        Ok(Response::new(ServerMetadataResponse {
            name: "sim-dataplane".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extensions: Vec::new(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let target = self.target(request.metadata(), &request.get_ref().name)?;
        let (name, versions, sig) = match target {
            Target::Model(m) => (
                m.qualified_name(),
                vec![m.version.clone()],
                m.predictor.signature(),
            ),
            Target::Pipeline(p) => {
                return Err(Status::not_found(format!(
                    "pipeline `{}`: only readiness and inference are modelled for pipelines",
                    p.name
                )));
            }
            Target::Pretend(name) => (
                name,
                Vec::new(),
                self.0
                    .stand_in()
                    .map(|m| m.predictor.signature())
                    .unwrap_or_default(),
            ),
        };
        let tensors = |specs: Vec<super::model::TensorSpec>| {
            specs
                .into_iter()
                .map(|s| TensorMetadata {
                    name: s.name,
                    datatype: s.datatype,
                    shape: s.shape,
                    parameters: Default::default(),
                })
                .collect()
        };
        Ok(Response::new(ModelMetadataResponse {
            name,
            versions,
            platform: sig.platform,
            inputs: tensors(sig.inputs),
            outputs: tensors(sig.outputs),
            parameters: Default::default(),
        }))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let target = self.target(request.metadata(), &request.get_ref().model_name)?;
        let req = request.into_inner();
        let inputs = oip::tensor::inputs_from_grpc(&req)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let model = match target {
            Target::Model(m) => m,
            Target::Pipeline(p) => {
                let outputs = run(&self.0, &p, &inputs).map_err(|e| match e {
                    InferError::BadInput(msg) => Status::invalid_argument(msg),
                    InferError::Model(msg) => Status::internal(msg),
                })?;
                return Ok(Response::new(ModelInferResponse {
                    id: req.id,
                    outputs: outputs.iter().map(NamedTensor::to_grpc_output).collect(),
                    ..ModelInferResponse::default()
                }));
            }
            Target::Pretend(name) => {
                return Ok(Response::new(ModelInferResponse {
                    model_name: name,
                    id: req.id,
                    outputs: self
                        .0
                        .fake_outputs()
                        .iter()
                        .map(NamedTensor::to_grpc_output)
                        .collect(),
                    ..ModelInferResponse::default()
                }));
            }
        };
        let requested =
            (!req.outputs.is_empty()).then(|| req.outputs.iter().map(|o| o.name.clone()).collect());
        let outputs = self
            .0
            .infer(&model, &inputs, requested)
            .map_err(|e| match e {
                InferError::BadInput(msg) => Status::invalid_argument(msg),
                InferError::Model(msg) => {
                    Status::internal(format!("model {} failed: {msg}", model.name))
                }
            })?;
        Ok(Response::new(ModelInferResponse {
            model_name: model.qualified_name(),
            model_version: model.version.clone(),
            id: req.id,
            parameters: Default::default(),
            outputs: outputs.iter().map(NamedTensor::to_grpc_output).collect(),
            raw_output_contents: Vec::new(),
        }))
    }
}
