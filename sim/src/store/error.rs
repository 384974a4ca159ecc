//! `ApiError`: a Kubernetes `Status` failure, worded as the API server words it.

use serde_json::{Value, json};

use super::catalog::ResourceType;

/// A Kubernetes `Status` failure: code, machine reason and human message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// `Status.message`, worded as Kubernetes words it.
    pub message: String,
    /// `Status.details` (kind, name, group), when known.
    pub details: Option<Value>,
}

impl ApiError {
    fn with(
        code: u16,
        reason: &'static str,
        message: String,
        rt: Option<&ResourceType>,
        name: &str,
    ) -> ApiError {
        let details = rt.map(|rt| ApiError::details(rt, name));
        ApiError {
            code,
            reason,
            message,
            details,
        }
    }
    /// `Status.details` naming an object: `group` is left out for core types, as Go's
    /// `omitempty` does on the API server.
    pub fn details(rt: &ResourceType, name: &str) -> Value {
        let mut d = json!({"name": name, "kind": rt.plural});
        if !rt.group.is_empty() {
            d["group"] = json!(rt.group);
        }
        d
    }
    /// `<plural>.<group> "<name>" not found` (404).
    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::with(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(rt)),
            Some(rt),
            name,
        )
    }
    /// `<plural>.<group> "<name>" already exists` (409).
    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::with(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(rt)),
            Some(rt),
            name,
        )
    }
    /// Optimistic-concurrency conflict (409), worded as the API server does.
    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            qualified(rt)
        );
        ApiError::with(409, "Conflict", msg, Some(rt), name)
    }
    /// Forbidden (403) with a full message, e.g. from admission.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: message.into(),
            details: None,
        }
    }
    /// Invalid (422) with a full message.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: message.into(),
            details: None,
        }
    }
    /// BadRequest (400) with a full message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }
    /// Gone (410): the requested resource version is too old to watch from.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 410,
            reason: "Expired",
            message: message.into(),
            details: None,
        }
    }
    /// NotFound (404) for a path the server does not serve (with empty `details`, as the
    /// apiserver answers; docs/real-apiserver-facts.md).
    pub fn no_route() -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: Some(serde_json::json!({})),
        }
    }
    /// MethodNotAllowed (405): the verb is not supported on this resource.
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: message.into(),
            details: None,
        }
    }
    /// NotAcceptable (406): no response media type the client accepts.
    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 406,
            reason: "NotAcceptable",
            message: message.into(),
            details: None,
        }
    }
    /// UnsupportedMediaType (415): the request body's content type is not supported here.
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: message.into(),
            details: None,
        }
    }
    /// TooManyRequests (429): the client must retry later.
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 429,
            reason: "TooManyRequests",
            message: message.into(),
            details: None,
        }
    }
    /// InternalError (500).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 500,
            reason: "InternalError",
            message: message.into(),
            details: None,
        }
    }
    /// The `Status` object clients expect in the response body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}
