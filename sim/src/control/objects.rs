//! Helpers for reading and writing stored objects the way the controllers do.

use serde_json::{Value, json};

use crate::store::{RESOURCES, ResourceType, Store};

/// The catalogue entry of a kind (kinds are unique in the catalogue).
pub(crate) fn res(kind: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .expect("kind in catalogue")
}

/// RFC 3339 timestamp with second precision, as Kubernetes writes them.
pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// `metadata.namespace`.
pub(crate) fn namespace(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// A controller ownerReference to `owner`.
pub(crate) fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

/// Whether `obj` is controlled by the object with `uid`.
pub(crate) fn owned_by(obj: &Value, uid: &Value) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| &r["uid"] == uid))
}

/// Whether a pod's `Ready` condition is True.
pub(crate) fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether the object is being deleted.
pub(crate) fn deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// Creates `desired` or brings the stored object's spec/data/labels/annotations/owners in line.
///
/// Returns the stored object. Failures are logged and retried on the next pass.
pub(crate) fn ensure(store: &Store, rt: &'static ResourceType, desired: Value) -> Option<Value> {
    let ns = desired["metadata"]["namespace"]
        .as_str()
        .map(str::to_string);
    let nm = desired["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let result = match store.get(rt, ns.as_deref(), &nm) {
        None => store.create(rt, desired),
        Some(existing) => {
            let mut merged = existing.clone();
            for (k, v) in desired.as_object().into_iter().flatten() {
                match k.as_str() {
                    "metadata" | "status" | "apiVersion" | "kind" => {}
                    _ => merged[k] = v.clone(),
                }
            }
            for f in ["labels", "annotations", "ownerReferences"] {
                if let Some(v) = desired["metadata"].get(f) {
                    merged["metadata"][f] = v.clone();
                }
            }
            if merged == existing {
                return Some(existing);
            }
            store.update(rt, merged)
        }
    };
    result
        .map_err(|e| tracing::debug!(kind = rt.kind, name = nm, error = %e, "ensure failed"))
        .ok()
}

/// Writes `status` through the status subresource when it differs from the stored one.
pub(crate) fn set_status(store: &Store, rt: &'static ResourceType, obj: &Value, status: Value) {
    if obj["status"] == status {
        return;
    }
    let mut o = obj.clone();
    o["status"] = status;
    // Last writer wins: the controllers are the only status writers.
    o["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    if let Err(e) = store.update_status(rt, o) {
        tracing::debug!(kind = rt.kind, name = name(obj), error = %e, "status update failed");
    }
}

/// A condition keeping its `lastTransitionTime` when the status did not change.
pub(crate) fn condition(
    previous: &Value,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
) -> Value {
    let status_s = if status { "True" } else { "False" };
    let prev = previous
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_));
    let ltt = match prev {
        Some(p) if p["status"] == status_s => p["lastTransitionTime"].clone(),
        _ => json!(now()),
    };
    let mut c = json!({"type": type_, "status": status_s, "lastTransitionTime": ltt});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    c
}
