//! Inference addressed by a route name, as Experiments are (`seldon-model: <name>.experiment`
//! with the path naming the Experiment, docs/seldon-behaviour.md §19), reading back envoy's
//! `x-seldon-route` response header, which names the model version that served.

use std::time::Duration;

use oip::grpc::grpc_inference_service_client::GrpcInferenceServiceClient;
use oip::{NamedTensor, grpc, rest};
use tonic::transport::{Channel, Endpoint};

use super::client::{InferenceResponse, SELDON_MODEL_HEADER, grpc_code_name};

/// Response header (gRPC: response metadata) envoy adds naming the model that served,
/// `:<model>_<version>:` (`scheduler/pkg/util/constants.go` `SeldonRouteHeader`).
pub const ROUTE_HEADER: &str = "x-seldon-route";

/// One answer and the route header that came with it.
#[derive(Debug, Clone)]
pub struct RoutedAnswer {
    /// The V2 answer.
    pub response: InferenceResponse,
    /// `x-seldon-route`, when sent.
    pub route: Option<String>,
}

/// A V2 inference client that sends any route name in `seldon-model`.
#[derive(Debug, Clone)]
pub struct RoutedClient {
    endpoint: String,
    timeout: Duration,
    conn: Conn,
}

#[derive(Debug, Clone)]
enum Conn {
    Rest(reqwest::Client),
    Grpc(Channel),
}

impl RoutedClient {
    /// A REST client for a base URL such as `http://127.0.0.1:8080`.
    pub fn rest(base_url: &str, timeout: Duration) -> Result<RoutedClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build a REST client for {base_url}: {e}"))?;
        Ok(RoutedClient {
            endpoint: base_url.trim_end_matches('/').to_string(),
            timeout,
            conn: Conn::Rest(http),
        })
    }

    /// A gRPC (h2c) client for `host:port`; connects lazily.
    pub fn grpc(addr: &str, timeout: Duration) -> Result<RoutedClient, String> {
        let uri = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let channel = Endpoint::from_shared(uri)
            .map_err(|e| format!("{addr} is not a gRPC endpoint: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(RoutedClient {
            endpoint: addr.to_string(),
            timeout,
            conn: Conn::Grpc(channel),
        })
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `POST /v2/models/{path_model}/infer` (gRPC `ModelInfer` with `model_name = path_model`)
    /// with `seldon-model: route`.
    pub async fn infer(
        &self,
        path_model: &str,
        route: &str,
        inputs: &[NamedTensor],
    ) -> Result<RoutedAnswer, String> {
        match &self.conn {
            Conn::Rest(http) => {
                let body = rest::InferenceRequest {
                    id: None,
                    parameters: None,
                    inputs: inputs.iter().map(NamedTensor::to_rest_input).collect(),
                    outputs: None,
                };
                let url = format!("{}/v2/models/{path_model}/infer", self.endpoint);
                let resp = http
                    .post(&url)
                    .header(SELDON_MODEL_HEADER, route)
                    .json(&body)
                    .timeout(self.timeout)
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                let status = resp.status();
                let header = resp
                    .headers()
                    .get(ROUTE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let text = resp.text().await.map_err(|e| format!("POST {url}: {e}"))?;
                if !status.is_success() {
                    let short: String = text.chars().take(300).collect();
                    return Err(format!("HTTP {}: {short}", status.as_u16()));
                }
                let r: rest::InferenceResponse = serde_json::from_str(&text)
                    .map_err(|e| format!("the answer is not a V2 inference response: {e}"))?;
                let outputs = r
                    .outputs
                    .iter()
                    .map(NamedTensor::from_rest_output)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("the answer's outputs: {e}"))?;
                Ok(RoutedAnswer {
                    response: InferenceResponse {
                        model_name: r.model_name,
                        model_version: r.model_version,
                        id: r.id,
                        outputs,
                    },
                    route: header,
                })
            }
            Conn::Grpc(ch) => {
                let msg = grpc::ModelInferRequest {
                    model_name: path_model.to_string(),
                    inputs: inputs.iter().map(NamedTensor::to_grpc_input).collect(),
                    ..Default::default()
                };
                let mut req = tonic::Request::new(msg);
                req.set_timeout(self.timeout);
                let value = route
                    .parse()
                    .map_err(|_| format!("`{route}` is not a valid gRPC metadata value"))?;
                req.metadata_mut().insert(SELDON_MODEL_HEADER, value);
                let mut grpc_client = GrpcInferenceServiceClient::new(ch.clone());
                let call = grpc_client.model_infer(req);
                let resp = tokio::time::timeout(self.timeout + Duration::from_secs(1), call)
                    .await
                    .map_err(|_| format!("ModelInfer timed out after {:?}", self.timeout))?
                    .map_err(|s| format!("gRPC {}: {}", grpc_code_name(s.code()), s.message()))?;
                let header = resp
                    .metadata()
                    .get(ROUTE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let r = resp.into_inner();
                let outputs = oip::tensor::outputs_from_grpc(&r)
                    .map_err(|e| format!("the answer's outputs: {e}"))?;
                Ok(RoutedAnswer {
                    response: InferenceResponse {
                        model_name: r.model_name,
                        model_version: Some(r.model_version).filter(|v| !v.is_empty()),
                        id: Some(r.id).filter(|v| !v.is_empty()),
                        outputs,
                    },
                    route: header,
                })
            }
        }
    }
}

/// The model a route header names: `:iris_1:` → `iris_1` (the first `:`-delimited part).
pub fn routed_model(header: &str) -> Option<&str> {
    header.split(':').find(|p| !p.is_empty())
}
