//! The API server's service proxy (`/api/v1/namespaces/{ns}/services/[scheme:]name[:port]/proxy/…`)
//! as far as the embedded platform has backends: the sealed-secrets controller's HTTP server
//! (`pkg/controller/server.go`: `/healthz`, `/v1/cert.pem`). The proxy reaches a Service only
//! through a Ready pod it selects, as the API server reaches its endpoints.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Response, StatusCode, header};
use serde_json::Value;

use super::install::{CONTROLLER_NAME, CONTROLLER_NAMESPACE};
use super::keys::{active_certificate_pem, ensure_key};
use crate::control::objects::{pod_ready, res};
use crate::store::{ApiError, Store};

fn unavailable(message: String) -> ApiError {
    ApiError {
        code: 503,
        reason: "ServiceUnavailable",
        message,
        details: None,
    }
}

fn body(code: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The Service name and port of a proxy path segment `[scheme:]name[:port]` (as
/// `net.JoinSchemeNamePort` writes it).
pub fn proxy_target(segment: &str) -> Option<(&str, Option<&str>)> {
    let parts: Vec<&str> = segment.split(':').collect();
    match parts.as_slice() {
        [n] => Some((*n, None)),
        [s, n, p] if matches!(*s, "http" | "https") => Some((*n, Some(*p))),
        [s, n] if matches!(*s, "http" | "https") => Some((*n, None)),
        [n, p] => Some((*n, Some(*p))),
        _ => None,
    }
}

/// Whether a Ready pod in the namespace matches the Service's selector (an endpoint exists).
fn has_ready_endpoint(store: &Store, ns: &str, service: &Value) -> bool {
    let Some(selector) = service["spec"]["selector"].as_object() else {
        return false;
    };
    let (pods, _) = store.list(res("Pod"), Some(ns));
    pods.iter().any(|p| {
        pod_ready(p)
            && selector
                .iter()
                .all(|(k, v)| &p["metadata"]["labels"][k] == v)
    })
}

/// Serves `GET …/services/<segment>/proxy/<rest>` (the caller has authorized `get services/proxy`).
pub fn service_proxy(
    store: &Store,
    ns: &str,
    segment: &str,
    rest: &[&str],
    method: &Method,
) -> Result<Response<Body>, ApiError> {
    let (name, port) = proxy_target(segment)
        .ok_or_else(|| ApiError::bad_request(format!("invalid service request {segment:?}")))?;
    let service = store
        .get(res("Service"), Some(ns), name)
        .ok_or_else(|| ApiError::not_found(res("Service"), name))?;
    let ports = service["spec"]["ports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let port_ok = match port {
        None => ports.len() == 1,
        Some(p) => ports
            .iter()
            .any(|sp| sp["name"] == p || sp["port"].as_u64().is_some_and(|n| n.to_string() == p)),
    };
    let no_endpoints = || unavailable(format!("no endpoints available for service \"{name}\""));
    if !port_ok || !has_ready_endpoint(store, ns, &service) {
        return Err(no_endpoints());
    }
    if (ns, name) != (CONTROLLER_NAMESPACE, CONTROLLER_NAME) {
        // Harsher than a cluster: only the sealed-secrets controller has an HTTP backend here.
        return Err(unavailable(format!(
            "error trying to reach service: the embedded platform has no HTTP backend for service \"{name}\""
        )));
    }
    if *method != Method::GET {
        return Ok(body(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            b"Method Not Allowed\n".to_vec(),
        ));
    }
    match rest {
        ["healthz"] => Ok(body(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Vec::new(),
        )),
        ["v1", "cert.pem"] => {
            // The controller creates its key at start; here on first use.
            ensure_key(store).map_err(|e| ApiError::internal(e.to_string()))?;
            let pem = active_certificate_pem(store)
                .ok_or_else(|| ApiError::internal("cannot get certificate"))?;
            Ok(body(StatusCode::OK, "text/plain; charset=utf-8", pem))
        }
        _ => Ok(body(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"404 page not found\n".to_vec(),
        )),
    }
}
