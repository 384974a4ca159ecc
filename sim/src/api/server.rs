//! The HTTP server: connections, injected transport faults, and routing of non-resource paths.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::discovery;
use super::request::Req;
use super::requests::RequestCounts;
use super::response::{json_response, status_response, text_response};
use super::transport::{Transport, Verdict};
use crate::control::PlatformState;
use crate::faults::Faults;
use crate::store::{ApiError, ResourceType, Store};

/// Largest request body accepted.
const BODY_LIMIT: usize = 16 << 20;

/// Everything a request handler needs.
pub struct ApiServer {
    /// The objects served.
    pub(super) store: Store,
    /// The platform's defects (watch drops, review answers).
    pub(super) faults: Faults,
    /// Injected transport faults, counted per request.
    transport: Transport,
    /// `host:port` clients use, for `/api`'s `serverAddressByClientCIDRs`.
    server_address: String,
    /// Requests served, by verb.
    requests: RequestCounts,
    /// What the pods serve (the inference endpoints), for port-forwarding.
    pub(super) state: Arc<PlatformState>,
    /// Upgraded port-forward sessions; dropping the server ends them.
    sessions: Mutex<JoinSet<()>>,
}

impl ApiServer {
    /// A server over `store` with the platform's faults; `state` says what pods serve.
    pub fn new(
        store: Store,
        faults: Faults,
        server_address: String,
        state: Arc<PlatformState>,
    ) -> ApiServer {
        let transport = Transport::new(faults.transport.clone());
        ApiServer {
            store,
            faults,
            transport,
            server_address,
            requests: RequestCounts::default(),
            state,
            sessions: Mutex::default(),
        }
    }

    /// The count of requests served, by verb (shared: it keeps counting).
    pub fn requests(&self) -> RequestCounts {
        self.requests.clone()
    }

    /// Runs an upgraded session for as long as the server lives.
    pub(super) fn spawn_session(&self, session: impl Future<Output = ()> + Send + 'static) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        while sessions.try_join_next().is_some() {}
        sessions.spawn(session);
    }

    /// Accepts connections until the task is aborted; aborting also ends every open connection
    /// (they live in this task's `JoinSet`).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let api = self.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let api = api.clone();
                                async move { Ok::<_, Infallible>(api.handle(req).await) }
                            });
                            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                            // A client closing mid-request is routine (e.g. a cancelled watch).
                            // Upgrades are on for `pods/portforward`.
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Err(e) => {
                        tracing::warn!("accepting an API connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }

    async fn handle(&self, mut req: Request<Incoming>) -> Response<Body> {
        let forward = super::request::portforward_target(req.uri().path());
        let on_upgrade = forward.as_ref().map(|_| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_string();
        let is_health = matches!(path.as_str(), "/healthz" | "/livez" | "/readyz");
        self.requests
            .record(&parts.method, &path, parts.uri.query());
        if !is_health {
            let latency = self.transport.faults().latency;
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            match self.transport.next() {
                Verdict::Serve => {}
                Verdict::Fail => {
                    return status_response(&ApiError::internal(
                        "an error on the server (\"injected transport fault\") has prevented the request from succeeding",
                    ));
                }
                Verdict::Throttle => {
                    let mut r = status_response(&ApiError::too_many_requests(
                        "the server has received too many requests and has asked us to try again later",
                    ));
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    return r;
                }
            }
        }
        if let (Some(target), Some(on_upgrade)) = (forward, on_upgrade) {
            return self
                .portforward(
                    &parts.method,
                    &parts.headers,
                    parts.uri.query(),
                    target,
                    on_upgrade,
                )
                .unwrap_or_else(|e| status_response(&e));
        }
        let body = match axum::body::to_bytes(Body::new(body), BODY_LIMIT).await {
            Ok(b) => b,
            Err(e) => {
                return status_response(&ApiError::bad_request(format!(
                    "reading the request body failed: {e}"
                )));
            }
        };
        let query = parts
            .uri
            .query()
            .and_then(|q| {
                axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
                    .ok()
                    .map(|x| (q, x.0))
            })
            .map(|(_, pairs)| pairs.into_iter().collect())
            .unwrap_or_default();
        let req = Req {
            method: parts.method,
            path,
            query,
            headers: parts.headers,
            body,
        };
        match self.route(req).await {
            Ok(r) => r,
            Err(e) => status_response(&e),
        }
    }

    async fn route(&self, req: Req) -> Result<Response<Body>, ApiError> {
        let segs: Vec<String> = req
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let get_only = |r: Result<Response<Body>, ApiError>| {
            if req.method == Method::GET {
                r
            } else {
                Err(ApiError::method_not_allowed(format!(
                    "{} is not supported on {}",
                    req.method, req.path
                )))
            }
        };
        match s.as_slice() {
            ["healthz" | "livez" | "readyz"] => {
                get_only(Ok(text_response(StatusCode::OK, "ok".into())))
            }
            ["version"] => get_only(Ok(json_response(StatusCode::OK, &discovery::version()))),
            ["api"] => get_only(Ok(json_response(
                StatusCode::OK,
                &discovery::core_versions(&self.server_address),
            ))),
            ["apis"] => get_only(Ok(json_response(
                StatusCode::OK,
                &discovery::group_list(&self.store),
            ))),
            ["api", v] => get_only(found(discovery::resource_list(&self.store, "", v))),
            ["apis", g] => get_only(found(discovery::group(&self.store, g))),
            ["apis", g, v] => get_only(found(discovery::resource_list(&self.store, g, v))),
            ["openapi", "v2"] => get_only(Ok(openapi_v2(&req.headers))),
            ["openapi", "v3"] => get_only(Ok(json_response(
                StatusCode::OK,
                &discovery::openapi_v3_root(&self.store),
            ))),
            ["openapi", "v3", "api", v] => {
                get_only(found(discovery::openapi_v3_doc(&self.store, "", v)))
            }
            ["openapi", "v3", "apis", g, v] => {
                get_only(found(discovery::openapi_v3_doc(&self.store, g, v)))
            }
            [
                "api",
                "v1",
                "namespaces",
                ns,
                "services",
                svc,
                "proxy",
                rest @ ..,
            ] => {
                let requester = super::review::requester(&req.headers);
                if requester != super::review::admin() {
                    let attrs = crate::rbac::Attributes::Resource {
                        verb: "get".into(),
                        group: String::new(),
                        resource: "services".into(),
                        subresource: "proxy".into(),
                        namespace: ns.to_string(),
                        name: crate::sealed::proxy_target(svc)
                            .map_or(*svc, |(n, _)| n)
                            .to_string(),
                    };
                    super::review::authorize(&self.store, &requester, &attrs)?;
                }
                crate::sealed::service_proxy(&self.store, ns, svc, rest, &req.method)
            }
            ["api", v, rest @ ..] => self.resource(&req, "", v, rest).await,
            ["apis", g, v, rest @ ..] => self.resource(&req, g, v, rest).await,
            _ => Err(ApiError::no_route()),
        }
    }

    /// The CRD defining a custom type (for its printer columns), `None` for built-in types.
    pub(super) fn crd(&self, rt: &ResourceType) -> Option<Value> {
        let crd_rt = ResourceType::by_plural("apiextensions.k8s.io", "customresourcedefinitions")?;
        if rt.is_custom() {
            self.store.get(crd_rt, None, &rt.crd_name())
        } else {
            None
        }
    }
}

fn found(doc: Option<Value>) -> Result<Response<Body>, ApiError> {
    doc.map(|d| json_response(StatusCode::OK, &d))
        .ok_or_else(ApiError::no_route)
}

fn openapi_v2(headers: &HeaderMap) -> Response<Body> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    if accept.contains("protobuf") {
        let mut r = Response::new(Body::from(discovery::openapi_v2_protobuf()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        );
        return r;
    }
    json_response(StatusCode::OK, &discovery::openapi_v2_json())
}
