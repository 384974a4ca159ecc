//! The `scale` subresource of Deployments, StatefulSets and ReplicaSets: an `autoscaling/v1 Scale`
//! read from and written to `spec.replicas`, as kube-apiserver serves it (compared with a real
//! 1.20 server by `sim/tests/differential.rs`).

use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use serde_json::{Value, json};

use super::patch::{self, PatchKind};
use super::request::{Req, ResourcePath};
use super::response::json_response;
use super::server::ApiServer;
use crate::store::ApiError;

/// Whether the type has a `scale` subresource.
pub(super) fn scalable(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "ReplicaSet")
}

/// `<plural>/scale.<group> "<name>" not found`, as the scale storage words it.
fn not_found(path: &ResourcePath, name: &str) -> ApiError {
    let rt = path.rt;
    ApiError {
        code: 404,
        reason: "NotFound",
        message: format!("{}/scale.{} \"{name}\" not found", rt.plural, rt.group),
        details: Some(
            json!({"name": name, "group": rt.group, "kind": format!("{}/scale", rt.plural)}),
        ),
    }
}

/// `spec.selector` as the label-selector string the Scale's status carries.
fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.sort();
    parts.join(",")
}

/// The Scale of a workload.
fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
                   "selector": selector_string(&obj["spec"]["selector"])},
    })
}

impl ApiServer {
    /// `GET`, `PUT` or `PATCH` on `<workload>/scale`.
    pub(super) fn scale(
        &self,
        req: &Req,
        path: &ResourcePath,
        verb: &str,
        dry_run: bool,
    ) -> Result<Response<Body>, ApiError> {
        let rt = path.rt;
        let name = path.name.as_deref().expect("scale has a name");
        let manager = super::managed::manager_of(
            req.query.get("fieldManager"),
            req.headers
                .get(header::USER_AGENT)
                .and_then(|u| u.to_str().ok()),
        );
        // As the API server's GuaranteedUpdate: the write is retried on a fresh read when the
        // workload changed underneath (a controller writing its status), unless the request
        // itself named a resource version.
        let give_up = std::time::Instant::now() + patch::RETRY_CHANGED_FOR;
        while std::time::Instant::now() < give_up {
            let current = self
                .store
                .get(rt, path.namespace.as_deref(), name)
                .ok_or_else(|| not_found(path, name))?;
            let scale = scale_of(&current);
            let read_rv = scale["metadata"]["resourceVersion"].clone();
            let (wanted, retry_on_conflict) = match verb {
                "get" => return Ok(json_response(StatusCode::OK, &scale)),
                "update" => {
                    let body = patch::parse_body(&req.body)?;
                    let unconditional = body["metadata"]["resourceVersion"]
                        .as_str()
                        .is_none_or(str::is_empty);
                    (body, unconditional)
                }
                _ => {
                    let ct = req
                        .headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|c| c.to_str().ok())
                        .unwrap_or_default();
                    let kind = PatchKind::from_content_type(ct)?;
                    let scale_rt = crate::store::ResourceType::by_kind("v1", "ConfigMap")
                        .expect("a built-in type for patching the Scale");
                    // A Scale has no merge keys or schema: every patch format merges as JSON.
                    let kind = if kind == PatchKind::Apply {
                        PatchKind::Merge
                    } else {
                        kind
                    };
                    let patched = patch::apply_patch(scale_rt, kind, &scale, &req.body)?;
                    // A patch that kept the version it was applied to is applied again on a
                    // conflict; one that set a version is a precondition.
                    let kept = patched["metadata"]["resourceVersion"] == read_rv;
                    (patched, kept)
                }
            };
            let Some(replicas) = wanted["spec"]["replicas"].as_i64() else {
                return Err(ApiError::invalid(format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Required value"
                )));
            };
            if replicas < 0 {
                return Err(ApiError::invalid(format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
                )));
            }
            let mut next = current.clone();
            next["spec"]["replicas"] = json!(replicas);
            // The Scale's resource version is the workload's precondition; none means none.
            next["metadata"]["resourceVersion"] =
                match wanted["metadata"]["resourceVersion"].as_str() {
                    Some(rv) if !rv.is_empty() => json!(rv),
                    _ => read_rv,
                };
            super::managed::record_update(rt, Some(&current), &mut next, &manager, false);
            match self.store.update_with(rt, next, false, dry_run) {
                Ok(stored) => return Ok(json_response(StatusCode::OK, &scale_of(&stored))),
                Err(e) if e.reason == "Conflict" && retry_on_conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::conflict(rt, name))
    }
}
