//! The V2 gRPC front: routing by `seldon-model` metadata only, like Seldon's envoy.

use super::model::{ServedModel, ServedPipeline, UPSTREAM_TIMEOUT};
use super::pipeline::{addressed_pipeline, run};
use super::routes::ROUTE_HEADER;
use super::shared::{InferError, MODEL_HEADER, Routed, Shared};
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
    /// A model, and the `x-seldon-route` value envoy adds to its answers.
    Model(ServedModel, String),
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
        let sticky = metadata.get(ROUTE_HEADER).and_then(|v| v.to_str().ok());
        match shared.resolve(name, sticky) {
            Routed::Model(m, _) if m.upstream.grpc.is_some() => {
                let why = m.upstream.grpc.as_deref().unwrap_or_default();
                tracing::warn!(namespace = %shared.namespace, model = name, "envoy cannot reach the server: {why}");
                Err(Status::unavailable(UPSTREAM_TIMEOUT))
            }
            Routed::Model(m, route) => Ok(Target::Model(m, route)),
            Routed::NoRoute(why) => Err(Status::unimplemented(why)),
            Routed::Unknown if shared.flags.unknown_model_answered_200 => {
                Ok(Target::Pretend(name.to_string()))
            }
            Routed::Unknown => Err(Status::not_found(shared.not_found(name))),
        }
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for Front {
    async fn server_live(
        &self,
        request: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        let target = self.target(request.metadata(), "")?;
        Ok(routed(
            Response::new(ServerLiveResponse { live: true }),
            &target,
        ))
    }

    async fn server_ready(
        &self,
        request: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        let target = self.target(request.metadata(), "")?;
        Ok(routed(
            Response::new(ServerReadyResponse { ready: true }),
            &target,
        ))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let target = self.target(request.metadata(), &request.get_ref().name)?;
        Ok(routed(
            Response::new(ModelReadyResponse { ready: true }),
            &target,
        ))
    }

    async fn server_metadata(
        &self,
        request: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        let target = self.target(request.metadata(), "")?;
        let msg = ServerMetadataResponse {
            name: "sim-dataplane".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extensions: Vec::new(),
        };
        Ok(routed(Response::new(msg), &target))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let target = self.target(request.metadata(), &request.get_ref().name)?;
        let route = route_of(&target);
        let (name, versions, sig) = match target {
            Target::Model(m, _) => (
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
        let msg = ModelMetadataResponse {
            name,
            versions,
            platform: sig.platform,
            inputs: tensors(sig.inputs),
            outputs: tensors(sig.outputs),
            parameters: Default::default(),
        };
        Ok(with_route(Response::new(msg), route))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let target = self.target(request.metadata(), &request.get_ref().model_name)?;
        let req = request.into_inner();
        let inputs = oip::tensor::inputs_from_grpc(&req)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let route = route_of(&target);
        let model = match target {
            Target::Model(m, _) => m,
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
        let msg = ModelInferResponse {
            model_name: model.qualified_name(),
            model_version: model.version.clone(),
            id: req.id,
            parameters: Default::default(),
            outputs: outputs.iter().map(NamedTensor::to_grpc_output).collect(),
            raw_output_contents: Vec::new(),
        };
        Ok(with_route(Response::new(msg), route))
    }
}

/// The `x-seldon-route` value of a routed target.
fn route_of(target: &Target) -> Option<String> {
    match target {
        Target::Model(_, route) => Some(route.clone()),
        Target::Pretend(_) | Target::Pipeline(_) => None,
    }
}

/// Envoy's response header on a routed answer, as gRPC response metadata.
fn routed<T>(response: Response<T>, target: &Target) -> Response<T> {
    with_route(response, route_of(target))
}

fn with_route<T>(mut response: Response<T>, route: Option<String>) -> Response<T> {
    if let Some(v) = route.and_then(|r| r.parse().ok()) {
        response.metadata_mut().insert(ROUTE_HEADER, v);
    }
    response
}
