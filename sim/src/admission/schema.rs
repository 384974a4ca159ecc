//! Custom resources validated against their CRD's `openAPIV3Schema` on create and update, as the
//! apiextensions-apiserver's strategy does (`customresource/strategy.go`: `Validate`,
//! `ValidateUpdate` over the whole object; on update with a status subresource the stored status
//! is kept and validated with it). Stored objects are not re-validated when the schema changes;
//! the next write (a dry-run too) is (docs/seldon-behaviour.md §20).
//!
//! Modelled: `required`, `type`, `properties`, `items`. Not modelled: formats, patterns, enums,
//! CEL rules, and validation ratcheting (Kubernetes 1.30+ lets unchanged invalid fields through an
//! update): the harsher pre-1.30 behaviour.

use serde_json::Value;

use super::validation::{FieldError, invalid};
use crate::store::{Admission, ApiError, Operation, RESOURCES, Reader, ResourceType};

/// Validates custom resources against the schema of their CRD's served version.
pub(super) struct CustomResourceSchema;

impl Admission for CustomResourceSchema {
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        _old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(crd_rt) = RESOURCES
            .iter()
            .find(|r| r.kind == "CustomResourceDefinition")
            .filter(|_| rt.is_custom())
        else {
            return Ok(());
        };
        let Some(crd) = store.get(crd_rt, None, &rt.crd_name()) else {
            return Ok(());
        };
        let Some(schema) = crd["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == rt.version)
            .map(|v| &v["schema"]["openAPIV3Schema"])
        else {
            return Ok(());
        };
        let mut checked = obj.clone();
        if op == Operation::Create
            && rt.has_status
            && let Some(o) = checked.as_object_mut()
        {
            // Create cannot set status (PrepareForCreate drops it before validation).
            o.remove("status");
        }
        let mut errors = Vec::new();
        validate(schema, &checked, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            Err(invalid(rt, name, errors))
        }
    }
}

/// The JSON type name OpenAPI uses for a value.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// Collects field errors of `value` under `schema` at `path` (`spec.replicas`), in
/// kube-openapi's words (`Required value`, `Invalid value: "string": ... must be of type integer`).
fn validate(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(want) = schema["type"].as_str() {
        let got = type_of(value);
        let fits = got == want || (want == "number" && got == "integer");
        if !fits && !value.is_null() {
            errors.push(FieldError::type_invalid(path.to_string(), got, want));
            return;
        }
    }
    if let Some(map) = value.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if let Some(r) = r.as_str()
                && !map.contains_key(r)
            {
                errors.push(FieldError::required_plain(join(path, r)));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, sub) in props {
                if let Some(v) = map.get(k) {
                    validate(sub, v, &join(path, k), errors);
                }
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            validate(items, v, &format!("{path}[{i}]"), errors);
        }
    }
}
