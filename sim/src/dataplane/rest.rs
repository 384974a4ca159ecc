//! The V2 REST front: envoy-style routing by `seldon-model` header or path, then the model.

use super::model::{ServedModel, UPSTREAM_TIMEOUT};
use super::pipeline::{addressed_pipeline, run};
use super::routes::ROUTE_HEADER;
use super::shared::{InferError, MODEL_HEADER, Routed, Shared};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use oip::NamedTensor;
use oip::rest::{
    ErrorResponse, InferenceRequest, InferenceResponse, MetadataModelResponse,
    MetadataServerResponse,
};
use std::sync::Arc;

/// All REST traffic goes through one handler because routing depends on header and path together.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// What a request asks for, with the model named by its path, if any.
enum Endpoint<'a> {
    Live,
    Ready,
    ServerMetadata,
    ModelReady(&'a str),
    ModelMetadata(&'a str),
    Infer(&'a str),
    Unknown,
}

fn classify<'a>(method: &Method, path: &'a str) -> Endpoint<'a> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // `/v2/models/{m}/versions/{v}/...` addresses the same model.
    let segs: Vec<&str> = match segs.as_slice() {
        ["v2", "models", m, "versions", _, rest @ ..] => [&["v2", "models", m][..], rest].concat(),
        _ => segs,
    };
    let get = method == Method::GET;
    match (segs.as_slice(), get) {
        (["v2", "health", "live"], true) => Endpoint::Live,
        (["v2", "health", "ready"], true) => Endpoint::Ready,
        (["v2"], true) => Endpoint::ServerMetadata,
        (["v2", "models", m], true) => Endpoint::ModelMetadata(m),
        (["v2", "models", m, "ready"], true) => Endpoint::ModelReady(m),
        (["v2", "models", m, "infer"], false) if method == Method::POST => Endpoint::Infer(m),
        _ => Endpoint::Unknown,
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(ErrorResponse { error: msg.into() })).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let endpoint = classify(&method, path);
    let path_model = match endpoint {
        Endpoint::ModelReady(m) | Endpoint::ModelMetadata(m) | Endpoint::Infer(m) => Some(m),
        _ => None,
    };
    let header_model = headers
        .get(MODEL_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && !shared.flags.ignores_model_header);
    let Some(target) = header_model.or(path_model) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no route for {method} {path} in namespace {}: name the model in the `{MODEL_HEADER}` header or the path /v2/models/<model>/...",
                shared.namespace
            ),
        );
    };
    if let Some(pipeline) = addressed_pipeline(target) {
        return pipeline_endpoint(&shared, pipeline, endpoint, &body);
    }
    let sticky = headers.get(ROUTE_HEADER).and_then(|v| v.to_str().ok());
    let (model, route) = match shared.resolve(target, sticky) {
        Routed::Model(m, route) => (Some(m), Some(route)),
        Routed::NoRoute(why) => return error(StatusCode::NOT_FOUND, why),
        Routed::Unknown => (None, None),
    };
    if model.is_none() && !shared.flags.unknown_model_answered_200 {
        return error(StatusCode::NOT_FOUND, shared.not_found(target));
    }
    if let Some(why) = model.as_ref().and_then(|m| m.upstream.rest.as_deref()) {
        tracing::warn!(namespace = %shared.namespace, model = target, "envoy cannot reach the server: {why}");
        return (StatusCode::SERVICE_UNAVAILABLE, UPSTREAM_TIMEOUT).into_response();
    }
    let mut response = match endpoint {
        Endpoint::Live | Endpoint::Ready | Endpoint::ModelReady(_) => {
            StatusCode::OK.into_response()
        }
        Endpoint::ServerMetadata => Json(MetadataServerResponse {
            name: "sim-dataplane".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extensions: Vec::new(),
        })
        .into_response(),
        Endpoint::ModelMetadata(_) => metadata(&shared, target, model.as_ref()),
        Endpoint::Infer(_) => infer(&shared, target, model.as_ref(), &body),
        Endpoint::Unknown => error(
            StatusCode::NOT_FOUND,
            format!("{method} {path} is not a V2 endpoint"),
        ),
    };
    // Envoy's weighted cluster adds the route header to every answer it routed.
    if let Some(value) = route.and_then(|r| axum::http::HeaderValue::from_str(&r).ok()) {
        response.headers_mut().insert(ROUTE_HEADER, value);
    }
    response
}

fn metadata(shared: &Shared, target: &str, model: Option<&ServedModel>) -> Response {
    let (name, version, sig) = match model {
        Some(m) => (
            m.qualified_name(),
            m.version.clone(),
            m.predictor.signature(),
        ),
        None => (
            target.to_string(),
            String::new(),
            shared
                .stand_in()
                .map(|m| m.predictor.signature())
                .unwrap_or_default(),
        ),
    };
    Json(MetadataModelResponse {
        name,
        versions: (!version.is_empty()).then(|| vec![version]),
        platform: sig.platform,
        inputs: sig.inputs,
        outputs: sig.outputs,
    })
    .into_response()
}

fn infer(shared: &Shared, target: &str, model: Option<&ServedModel>, body: &[u8]) -> Response {
    let req: InferenceRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid inference request body: {e}"),
            );
        }
    };
    let inputs: Result<Vec<NamedTensor>, _> = req
        .inputs
        .iter()
        .map(NamedTensor::from_rest_input)
        .collect();
    let inputs = match inputs {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let Some(model) = model else {
        // UnknownModelAnswered200: pretend.
        return Json(InferenceResponse {
            model_name: target.to_string(),
            model_version: None,
            id: req.id,
            parameters: None,
            outputs: shared
                .fake_outputs()
                .iter()
                .map(NamedTensor::to_rest_output)
                .collect(),
        })
        .into_response();
    };
    let requested = req
        .outputs
        .as_ref()
        .map(|o| o.iter().map(|o| o.name.clone()).collect());
    match shared.infer(model, &inputs, requested) {
        Ok(outputs) => Json(InferenceResponse {
            model_name: model.qualified_name(),
            model_version: Some(model.version.clone()),
            id: req.id,
            parameters: None,
            outputs: outputs.iter().map(NamedTensor::to_rest_output).collect(),
        })
        .into_response(),
        Err(InferError::BadInput(msg)) => error(StatusCode::BAD_REQUEST, msg),
        Err(InferError::Model(msg)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("model {} failed: {msg}", model.name),
        ),
    }
}

/// A request envoy routes to the pipeline gateway: readiness and inference of a Ready pipeline.
fn pipeline_endpoint(shared: &Shared, name: &str, endpoint: Endpoint<'_>, body: &[u8]) -> Response {
    let Some(pipeline) = shared.lookup_pipeline(name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "pipeline `{name}` is not ready in namespace {}",
                shared.namespace
            ),
        );
    };
    match endpoint {
        Endpoint::Live | Endpoint::Ready | Endpoint::ModelReady(_) => {
            StatusCode::OK.into_response()
        }
        Endpoint::Infer(_) => {
            let req: InferenceRequest = match serde_json::from_slice(body) {
                Ok(r) => r,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("invalid inference request body: {e}"),
                    );
                }
            };
            let inputs: Result<Vec<NamedTensor>, _> = req
                .inputs
                .iter()
                .map(NamedTensor::from_rest_input)
                .collect();
            let inputs = match inputs {
                Ok(i) => i,
                Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
            };
            match run(shared, &pipeline, &inputs) {
                // The pipeline gateway leaves `model_name` empty (docs-gb/examples/pipeline-examples.md).
                Ok(outputs) => Json(InferenceResponse {
                    model_name: String::new(),
                    model_version: None,
                    id: req.id,
                    parameters: None,
                    outputs: outputs.iter().map(NamedTensor::to_rest_output).collect(),
                })
                .into_response(),
                Err(InferError::BadInput(msg)) => error(StatusCode::BAD_REQUEST, msg),
                Err(InferError::Model(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, msg),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("pipeline `{name}`: only readiness and inference are modelled for pipelines"),
        ),
    }
}
