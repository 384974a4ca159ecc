//! Patch formats: JSON merge patch, JSON patch, strategic merge patch and server-side apply.

use serde_json::{Map, Value};

use crate::store::{ApiError, ResourceType};

/// How long a patch is applied again on a fresh read while the object keeps changing underneath
/// it: the API server's GuaranteedUpdate retries without a count, until the request times out
/// (`--request-timeout`, 1m0s by default).
pub const RETRY_CHANGED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// The patch formats the API accepts, by request `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json` (built-in types only).
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch kind of a request content type.
    pub fn from_content_type(ct: &str) -> Result<PatchKind, ApiError> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" => Ok(PatchKind::Apply),
            _ => Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ))),
        }
    }
}

/// Parses a request body as JSON, or YAML (which apply patches may be).
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_norway::from_slice::<Value>(body).map_err(|yaml_err| {
            ApiError::bad_request(format!(
                "the request body is neither valid JSON ({json_err}) nor valid YAML ({yaml_err})"
            ))
        }),
    }
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Applies a patch of `kind` to `current` and returns the patched object.
pub fn apply_patch(
    rt: &ResourceType,
    kind: PatchKind,
    current: &Value,
    body: &[u8],
) -> Result<Value, ApiError> {
    let mut obj = current.clone();
    match kind {
        PatchKind::Merge => merge(&mut obj, &parse_json(body)?),
        PatchKind::Apply => {
            let applied = parse_body(body)?;
            check_applied(rt, &applied)?;
            // Create-or-merge: maps merge recursively, lists are replaced (no field ownership tracking).
            merge(&mut obj, &applied);
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut obj, &ops)
                .map_err(|e| ApiError::invalid(format!("the JSON patch failed: {e}")))?;
        }
        PatchKind::Strategic => {
            if rt.is_custom() {
                return Err(ApiError::unsupported_media_type(format!(
                    "strategic merge patch is not supported for custom resources ({}); use a merge patch or apply",
                    rt.kind
                )));
            }
            strategic_merge(&mut obj, &parse_json(body)?);
        }
    }
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the patched object is not a JSON object",
        ));
    }
    Ok(obj)
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))
}

/// An applied configuration must say what it is, as the API server requires.
pub fn check_applied(rt: &ResourceType, applied: &Value) -> Result<(), ApiError> {
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration is not an object",
        ));
    }
    let (av, kind) = (applied["apiVersion"].as_str(), applied["kind"].as_str());
    if av.is_none() || kind.is_none() {
        return Err(ApiError::bad_request(
            "the applied configuration must set apiVersion and kind (server-side apply requires them)",
        ));
    }
    if av != Some(&rt.api_version()) || kind != Some(rt.kind) {
        return Err(ApiError::bad_request(format!(
            "the applied configuration is {}/{} but the request is for {} {}",
            av.unwrap_or_default(),
            kind.unwrap_or_default(),
            rt.api_version(),
            rt.kind
        )));
    }
    Ok(())
}

/// The merge key of a list field in built-in types (from their `patchMergeKey` tags).
fn merge_key(field: &str, sample: &Value) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets" => Some("name"),
        "volumeMounts" | "volumeDevices" => Some("mountPath"),
        "ports" if sample.get("containerPort").is_some() => Some("containerPort"),
        "ports" => Some("port"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        "hostAliases" => Some("ip"),
        _ => None,
    }
}

/// Strategic merge: like a merge patch, except lists with a merge key merge element by element,
/// and the `$patch`, `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` directives.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = p.clone();
        replacement.remove("$patch");
        *target = Value::Object(replacement);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(gone)) = (t.get_mut(field), v) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Array(items) => {
                let key = items.first().and_then(|s| merge_key(k, s));
                match (key, t.get_mut(k)) {
                    (Some(key), Some(Value::Array(existing))) => merge_list(existing, items, key),
                    _ => {
                        let kept: Vec<Value> = items
                            .iter()
                            .filter(|i| !is_delete_directive(i))
                            .cloned()
                            .collect();
                        t.insert(k.clone(), Value::Array(kept));
                    }
                }
            }
            _ => strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v),
        }
    }
}

fn is_delete_directive(item: &Value) -> bool {
    item.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let pos = existing
            .iter()
            .position(|e| e.get(key).is_some() && e.get(key) == item.get(key));
        match (pos, is_delete_directive(item)) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut existing[i], item),
            (None, false) => existing.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "gone": true});
        merge(
            &mut t,
            &json!({"a": {"b": 3}, "l": [9], "gone": null, "new": "x"}),
        );
        assert_eq!(t, json!({"a": {"b": 3, "c": 2}, "l": [9], "new": "x"}));
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "a"}],
                "containers": [{"name": "a", "image": "a:2"}, {"name": "b", "$patch": "delete"}, {"name": "c", "image": "c"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "a", "image": "a:2"}, {"name": "c", "image": "c"}]}})
        );
    }

    #[test]
    fn strategic_merge_is_refused_for_custom_resources() {
        let model = ResourceType::by_plural("mlops.seldon.io", "models").unwrap();
        let err = apply_patch(model, PatchKind::Strategic, &json!({}), b"{}").unwrap_err();
        assert_eq!(err.code, 415);
    }

    #[test]
    fn apply_requires_kind_and_merges() {
        let cm = ResourceType::by_plural("", "configmaps").unwrap();
        let cur = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "v"}});
        let out = apply_patch(cm, PatchKind::Apply, &cur, b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {b: '2'}\ndata: {j: w}\n").unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(out["data"], json!({"k": "v", "j": "w"}));
        let err = apply_patch(
            cm,
            PatchKind::Apply,
            &cur,
            br#"{"metadata": {"name": "x"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn json_patch_test_failure_is_invalid() {
        let cm = ResourceType::by_plural("", "configmaps").unwrap();
        let ok = apply_patch(
            cm,
            PatchKind::Json,
            &json!({"data": {"a": "1"}}),
            br#"[{"op": "replace", "path": "/data/a", "value": "2"}]"#,
        )
        .unwrap();
        assert_eq!(ok["data"]["a"], "2");
        let err = apply_patch(
            cm,
            PatchKind::Json,
            &json!({"data": {"a": "1"}}),
            br#"[{"op": "test", "path": "/data/a", "value": "9"}]"#,
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }
}
