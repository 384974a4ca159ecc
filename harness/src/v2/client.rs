//! The V2 client: one type over REST and gRPC, every call with the `seldon-model` header.

use oip::grpc::grpc_inference_service_client::GrpcInferenceServiceClient;
use oip::{NamedTensor, TensorError, grpc, rest};
use std::fmt;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Header (and gRPC metadata key) Seldon Core v2 routes inference requests on.
pub const SELDON_MODEL_HEADER: &str = "seldon-model";

/// Per-call deadline unless [`InferenceClient::with_timeout`] changes it (Seldon's own tests use 20 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Which V2 protocol binding a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/JSON (`/v2/...`).
    Rest,
    /// gRPC (`inference.GRPCInferenceService`).
    Grpc,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Rest => "REST",
            Transport::Grpc => "gRPC",
        })
    }
}

/// Status a server answered a call with, when it was not a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    /// HTTP status code of a REST call.
    Http(u16),
    /// gRPC status code.
    Grpc(tonic::Code),
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallStatus::Http(code) => write!(f, "HTTP {code}"),
            CallStatus::Grpc(code) => write!(f, "gRPC {}", grpc_code_name(*code)),
        }
    }
}

/// Why an inference call did not produce a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The endpoint could not be reached or the connection broke.
    #[error(
        "{transport} {endpoint}: {operation} for model `{model}` could not reach the server: {detail}"
    )]
    Unreachable {
        /// Transport used.
        transport: Transport,
        /// Base URL or address.
        endpoint: String,
        /// What was being done (`infer`, `model ready`, ...).
        operation: &'static str,
        /// Model the call was for (routing header value).
        model: String,
        /// Underlying error.
        detail: String,
    },
    /// No answer within the deadline.
    #[error(
        "{transport} {endpoint}: {operation} for model `{model}` got no answer within {timeout:?}"
    )]
    Timeout {
        /// Transport used.
        transport: Transport,
        /// Base URL or address.
        endpoint: String,
        /// What was being done.
        operation: &'static str,
        /// Model the call was for.
        model: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The server answered with an error status.
    #[error(
        "{transport} {endpoint}: {operation} for model `{model}` was rejected with {status}: {message}"
    )]
    Rejected {
        /// Transport used.
        transport: Transport,
        /// Base URL or address.
        endpoint: String,
        /// What was being done.
        operation: &'static str,
        /// Model the call was for.
        model: String,
        /// Status answered.
        status: CallStatus,
        /// Error text from the server (truncated).
        message: String,
    },
    /// The server answered success with a body that is not a valid V2 response.
    #[error(
        "{transport} {endpoint}: {operation} for model `{model}` returned a malformed response: {detail}"
    )]
    Malformed {
        /// Transport used.
        transport: Transport,
        /// Base URL or address.
        endpoint: String,
        /// What was being done.
        operation: &'static str,
        /// Model the call was for.
        model: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The endpoint itself is not usable (bad URL or address).
    #[error("{transport} endpoint `{endpoint}` is not valid: {detail}")]
    BadEndpoint {
        /// Transport requested.
        transport: Transport,
        /// The endpoint as given.
        endpoint: String,
        /// Why it is rejected.
        detail: String,
    },
    /// The request is inconsistent before it is even sent.
    #[error("request for model `{model}` is invalid: {source}")]
    InvalidRequest {
        /// Model it was for.
        model: String,
        /// What is wrong.
        source: TensorError,
    },
}

impl InferenceError {
    /// The error status the server answered with, if it answered one.
    pub fn status(&self) -> Option<CallStatus> {
        match self {
            InferenceError::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An inference request: input tensors (all outputs are asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceRequest {
    /// Request id, echoed by the server.
    pub id: Option<String>,
    /// Input tensors.
    pub inputs: Vec<NamedTensor>,
}

impl InferenceRequest {
    /// A request with these inputs and no id.
    pub fn new(inputs: Vec<NamedTensor>) -> InferenceRequest {
        InferenceRequest { id: None, inputs }
    }
}

/// A successful inference response.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceResponse {
    /// Model that answered (Seldon reports `<model>_<version>`).
    pub model_name: String,
    /// Version that answered, when reported.
    pub model_version: Option<String>,
    /// Echoed request id, when reported.
    pub id: Option<String>,
    /// Output tensors.
    pub outputs: Vec<NamedTensor>,
}

/// A model's signature as reported by the metadata endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMetadata {
    /// Model name.
    pub name: String,
    /// Versions reported.
    pub versions: Vec<String>,
    /// Serving platform reported (may be empty).
    pub platform: String,
    /// Input tensors (`-1` = variable dimension).
    pub inputs: Vec<rest::MetadataTensor>,
    /// Output tensors.
    pub outputs: Vec<rest::MetadataTensor>,
}

/// A V2 client for one endpoint (a `seldon-mesh` port-forward, an MLServer, the embedded data plane).
#[derive(Debug, Clone)]
pub struct InferenceClient {
    endpoint: String,
    timeout: Duration,
    conn: Conn,
}

#[derive(Debug, Clone)]
enum Conn {
    Rest(reqwest::Client),
    Grpc(Channel),
}

impl InferenceClient {
    /// A REST client for `base_url` such as `http://127.0.0.1:8080` (no `/v2` suffix).
    pub fn rest(base_url: &str) -> Result<InferenceClient, InferenceError> {
        let bad = |detail: String| InferenceError::BadEndpoint {
            transport: Transport::Rest,
            endpoint: base_url.to_string(),
            detail,
        };
        let url = reqwest::Url::parse(base_url).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("use an http:// or https:// URL".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(InferenceClient {
            endpoint: base_url.trim_end_matches('/').to_string(),
            timeout: DEFAULT_TIMEOUT,
            conn: Conn::Rest(http),
        })
    }

    /// A gRPC (plaintext HTTP/2) client for `addr` such as `127.0.0.1:8081`. Connects lazily.
    pub fn grpc(addr: &str) -> Result<InferenceClient, InferenceError> {
        let uri = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let channel = Endpoint::from_shared(uri)
            .map_err(|e| InferenceError::BadEndpoint {
                transport: Transport::Grpc,
                endpoint: addr.to_string(),
                detail: e.to_string(),
            })?
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy();
        Ok(InferenceClient {
            endpoint: addr.to_string(),
            timeout: DEFAULT_TIMEOUT,
            conn: Conn::Grpc(channel),
        })
    }

    /// The same client with another per-call deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> InferenceClient {
        self.timeout = timeout;
        self
    }

    /// The transport this client speaks.
    pub fn transport(&self) -> Transport {
        match self.conn {
            Conn::Rest(_) => Transport::Rest,
            Conn::Grpc(_) => Transport::Grpc,
        }
    }

    /// The endpoint as given (base URL or address).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the server behind the route for `model` is live (`/v2/health/live`, `ServerLive`).
    pub async fn server_live(&self, model: &str) -> Result<bool, InferenceError> {
        match &self.conn {
            Conn::Rest(http) => {
                self.rest_health(http, model, "server live", "/v2/health/live")
                    .await
            }
            Conn::Grpc(ch) => {
                let op = "server live";
                let r = self
                    .grpc_call(
                        op,
                        model,
                        client(ch).server_live(grpc_req(
                            model,
                            grpc::ServerLiveRequest {},
                            op,
                            self,
                        )?),
                    )
                    .await?;
                Ok(r.live)
            }
        }
    }

    /// Whether the server behind the route for `model` is ready (`/v2/health/ready`, `ServerReady`).
    pub async fn server_ready(&self, model: &str) -> Result<bool, InferenceError> {
        match &self.conn {
            Conn::Rest(http) => {
                self.rest_health(http, model, "server ready", "/v2/health/ready")
                    .await
            }
            Conn::Grpc(ch) => {
                let op = "server ready";
                let r = self
                    .grpc_call(
                        op,
                        model,
                        client(ch).server_ready(grpc_req(
                            model,
                            grpc::ServerReadyRequest {},
                            op,
                            self,
                        )?),
                    )
                    .await?;
                Ok(r.ready)
            }
        }
    }

    /// Whether `model` is ready. A ready model is `Ok(true)`; a server that says "not ready"
    /// (HTTP 400, `ready: false`) is `Ok(false)`; anything else, such as an unknown model, is an error.
    pub async fn model_ready(&self, model: &str) -> Result<bool, InferenceError> {
        let op = "model ready";
        match &self.conn {
            Conn::Rest(http) => {
                let path = format!("/v2/models/{model}/ready");
                match self.rest_health(http, model, op, &path).await {
                    Err(InferenceError::Rejected {
                        status: CallStatus::Http(400),
                        ..
                    }) => Ok(false),
                    other => other,
                }
            }
            Conn::Grpc(ch) => {
                let msg = grpc::ModelReadyRequest {
                    name: model.to_string(),
                    version: String::new(),
                };
                let r = self
                    .grpc_call(
                        op,
                        model,
                        client(ch).model_ready(grpc_req(model, msg, op, self)?),
                    )
                    .await?;
                Ok(r.ready)
            }
        }
    }

    /// The signature `model` reports (`GET /v2/models/{model}`, `ModelMetadata`).
    pub async fn model_metadata(&self, model: &str) -> Result<ModelMetadata, InferenceError> {
        let op = "model metadata";
        match &self.conn {
            Conn::Rest(http) => {
                let url = format!("{}/v2/models/{model}", self.endpoint);
                let resp = self.rest_send(op, model, http.get(url)).await?;
                let m: rest::MetadataModelResponse = self.rest_json(op, model, resp).await?;
                Ok(ModelMetadata {
                    name: m.name,
                    versions: m.versions.unwrap_or_default(),
                    platform: m.platform,
                    inputs: m.inputs,
                    outputs: m.outputs,
                })
            }
            Conn::Grpc(ch) => {
                let msg = grpc::ModelMetadataRequest {
                    name: model.to_string(),
                    version: String::new(),
                };
                let m = self
                    .grpc_call(
                        op,
                        model,
                        client(ch).model_metadata(grpc_req(model, msg, op, self)?),
                    )
                    .await?;
                let sig = |ts: Vec<grpc::model_metadata_response::TensorMetadata>| {
                    ts.into_iter()
                        .map(|t| rest::MetadataTensor {
                            name: t.name,
                            datatype: t.datatype,
                            shape: t.shape,
                        })
                        .collect()
                };
                Ok(ModelMetadata {
                    name: m.name,
                    versions: m.versions,
                    platform: m.platform,
                    inputs: sig(m.inputs),
                    outputs: sig(m.outputs),
                })
            }
        }
    }

    /// Runs `request` against `model` (`POST /v2/models/{model}/infer`, `ModelInfer`).
    pub async fn infer(
        &self,
        model: &str,
        request: &InferenceRequest,
    ) -> Result<InferenceResponse, InferenceError> {
        let op = "infer";
        for input in &request.inputs {
            input
                .validate()
                .map_err(|source| InferenceError::InvalidRequest {
                    model: model.to_string(),
                    source,
                })?;
        }
        match &self.conn {
            Conn::Rest(http) => {
                let body = rest::InferenceRequest {
                    id: request.id.clone(),
                    parameters: None,
                    inputs: request
                        .inputs
                        .iter()
                        .map(NamedTensor::to_rest_input)
                        .collect(),
                    outputs: None,
                };
                let url = format!("{}/v2/models/{model}/infer", self.endpoint);
                let resp = self
                    .rest_send(op, model, http.post(url).json(&body))
                    .await?;
                let r: rest::InferenceResponse = self.rest_json(op, model, resp).await?;
                let outputs = r
                    .outputs
                    .iter()
                    .map(NamedTensor::from_rest_output)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.malformed(op, model, e.to_string()))?;
                Ok(InferenceResponse {
                    model_name: r.model_name,
                    model_version: r.model_version,
                    id: r.id,
                    outputs,
                })
            }
            Conn::Grpc(ch) => {
                let msg = grpc::ModelInferRequest {
                    model_name: model.to_string(),
                    id: request.id.clone().unwrap_or_default(),
                    inputs: request
                        .inputs
                        .iter()
                        .map(NamedTensor::to_grpc_input)
                        .collect(),
                    ..Default::default()
                };
                let r = self
                    .grpc_call(
                        op,
                        model,
                        client(ch).model_infer(grpc_req(model, msg, op, self)?),
                    )
                    .await?;
                let outputs = oip::tensor::outputs_from_grpc(&r)
                    .map_err(|e| self.malformed(op, model, e.to_string()))?;
                Ok(InferenceResponse {
                    model_name: r.model_name,
                    model_version: Some(r.model_version).filter(|v| !v.is_empty()),
                    id: Some(r.id).filter(|v| !v.is_empty()),
                    outputs,
                })
            }
        }
    }

    async fn rest_health(
        &self,
        http: &reqwest::Client,
        model: &str,
        op: &'static str,
        path: &str,
    ) -> Result<bool, InferenceError> {
        let url = format!("{}{path}", self.endpoint);
        self.rest_send(op, model, http.get(url)).await.map(|_| true)
    }

    /// Sends with the routing header and deadline; non-2xx answers become `Rejected`.
    async fn rest_send(
        &self,
        op: &'static str,
        model: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, InferenceError> {
        let resp = req
            .header(SELDON_MODEL_HEADER, model)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(op, model, &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        // MLServer and Seldon answer `{"error": "..."}`; fall back to the raw body.
        let message = serde_json::from_str::<rest::ErrorResponse>(&body)
            .map(|e| e.error)
            .unwrap_or(body);
        Err(InferenceError::Rejected {
            transport: Transport::Rest,
            endpoint: self.endpoint.clone(),
            operation: op,
            model: model.to_string(),
            status: CallStatus::Http(status.as_u16()),
            message: truncate(&message),
        })
    }

    async fn rest_json<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
        model: &str,
        resp: reqwest::Response,
    ) -> Result<T, InferenceError> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(op, model, &e))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map_err(|e| self.malformed(op, model, format!("at `{}`: {}", e.path(), e.inner())))
    }

    fn transport_error(&self, op: &'static str, model: &str, e: &reqwest::Error) -> InferenceError {
        if e.is_timeout() {
            return self.timed_out(op, model);
        }
        InferenceError::Unreachable {
            transport: Transport::Rest,
            endpoint: self.endpoint.clone(),
            operation: op,
            model: model.to_string(),
            detail: error_chain(e),
        }
    }

    async fn grpc_call<T>(
        &self,
        op: &'static str,
        model: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, InferenceError> {
        // tonic's own timeout only covers the request once connected; this bounds connect + call.
        let result = tokio::time::timeout(self.timeout + Duration::from_secs(1), call)
            .await
            .map_err(|_| self.timed_out(op, model))?;
        match result {
            Ok(resp) => Ok(resp.into_inner()),
            Err(status) => Err(self.grpc_error(op, model, status)),
        }
    }

    fn grpc_error(&self, op: &'static str, model: &str, status: tonic::Status) -> InferenceError {
        let transport = Transport::Grpc;
        let endpoint = self.endpoint.clone();
        let model = model.to_string();
        // tonic reports connection failures as UNAVAILABLE with a transport error source.
        if status.code() == tonic::Code::Unavailable && std::error::Error::source(&status).is_some()
        {
            return InferenceError::Unreachable {
                transport,
                endpoint,
                operation: op,
                model,
                detail: error_chain(&status),
            };
        }
        if status.code() == tonic::Code::Cancelled && status.message().contains("Timeout expired") {
            return self.timed_out(op, &model);
        }
        InferenceError::Rejected {
            transport,
            endpoint,
            operation: op,
            model,
            status: CallStatus::Grpc(status.code()),
            message: truncate(status.message()),
        }
    }

    fn timed_out(&self, op: &'static str, model: &str) -> InferenceError {
        InferenceError::Timeout {
            transport: self.transport(),
            endpoint: self.endpoint.clone(),
            operation: op,
            model: model.to_string(),
            timeout: self.timeout,
        }
    }

    fn malformed(&self, op: &'static str, model: &str, detail: String) -> InferenceError {
        InferenceError::Malformed {
            transport: self.transport(),
            endpoint: self.endpoint.clone(),
            operation: op,
            model: model.to_string(),
            detail,
        }
    }
}

fn client(ch: &Channel) -> GrpcInferenceServiceClient<Channel> {
    GrpcInferenceServiceClient::new(ch.clone())
}

/// Wraps a gRPC message with the routing metadata and the deadline.
fn grpc_req<T>(
    model: &str,
    msg: T,
    op: &'static str,
    c: &InferenceClient,
) -> Result<tonic::Request<T>, InferenceError> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(c.timeout);
    let value = model.parse().map_err(|_| InferenceError::Malformed {
        transport: Transport::Grpc,
        endpoint: c.endpoint.clone(),
        operation: op,
        model: model.to_string(),
        detail: "the model name is not a valid gRPC metadata value".into(),
    })?;
    req.metadata_mut().insert(SELDON_MODEL_HEADER, value);
    Ok(req)
}

/// The canonical upper-case name of a gRPC code (`NOT_FOUND`), as operators see it in docs and grpcurl.
pub fn grpc_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Server error texts can embed whole request bodies; keep reports readable.
fn truncate(message: &str) -> String {
    const MAX: usize = 300;
    let message = message.trim();
    match message.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &message[..i]),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_rejects_non_http_urls_naming_the_endpoint() {
        let err = InferenceClient::rest("ftp://x").unwrap_err().to_string();
        assert!(err.contains("ftp://x") && err.contains("http://"), "{err}");
        assert!(InferenceClient::rest("not a url").is_err());
    }

    #[test]
    fn rest_trims_trailing_slash() {
        assert_eq!(
            InferenceClient::rest("http://127.0.0.1:1/")
                .unwrap()
                .endpoint(),
            "http://127.0.0.1:1"
        );
    }

    #[test]
    fn truncate_keeps_short_and_cuts_long_messages() {
        assert_eq!(truncate(" short "), "short");
        let long = "é".repeat(400);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with('…'));
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_over_both_transports() {
        // Accepts connections and reads nothing: the call must end at the client's deadline.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        });
        let limit = Duration::from_millis(300);
        let rest = InferenceClient::rest(&format!("http://{addr}"))
            .unwrap()
            .with_timeout(limit);
        let grpc = InferenceClient::grpc(&addr.to_string())
            .unwrap()
            .with_timeout(limit);
        for client in [rest, grpc] {
            let started = std::time::Instant::now();
            let err = client.model_ready("m").await.unwrap_err();
            assert!(
                matches!(err, InferenceError::Timeout { .. }),
                "{}: {err}",
                client.transport()
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
            assert!(err.to_string().contains("within 300ms"), "{err}");
        }
        hold.abort();
    }

    #[tokio::test]
    async fn unreachable_endpoints_are_reported_as_such_over_both_transports() {
        // Bind then drop a listener so the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rest = InferenceClient::rest(&format!("http://127.0.0.1:{port}")).unwrap();
        let err = rest.server_live("m").await.unwrap_err();
        assert!(matches!(err, InferenceError::Unreachable { .. }), "{err}");
        let grpc = InferenceClient::grpc(&format!("127.0.0.1:{port}")).unwrap();
        let err = grpc.server_live("m").await.unwrap_err();
        assert!(matches!(err, InferenceError::Unreachable { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
