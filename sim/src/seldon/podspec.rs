//! Pod spec and config merging as the operator does it (`MergePodSpecs`, `AddDefaults`).

use serde_json::{Value, json};

/// Merges a pod spec override as `MergePodSpecs` does (mergo override + append slices,
/// containers matched by name). Empty/zero override values do not replace.
pub fn merge_pod_spec(base: &Value, over: &Value) -> Value {
    let mut out = base.clone();
    let Some(o) = over.as_object() else {
        return out;
    };
    if !out.is_object() {
        out = json!({});
    }
    for (k, v) in o {
        if k == "containers" || k == "initContainers" {
            let list = out[k.as_str()].as_array().cloned().unwrap_or_default();
            let mut list = list;
            for oc in v.as_array().into_iter().flatten() {
                match list.iter_mut().find(|c| c["name"] == oc["name"]) {
                    Some(c) => merge_value(c, oc),
                    None => list.push(oc.clone()),
                }
            }
            out[k.as_str()] = Value::Array(list);
        } else {
            merge_value(&mut out[k.as_str()], v);
        }
    }
    out
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn merge_value(dst: &mut Value, src: &Value) {
    if dst.is_null() && src.is_object() {
        *dst = src.clone();
        return;
    }
    if let (Some(d), Some(s)) = (dst.as_object_mut(), src.as_object()) {
        for (k, v) in s {
            merge_value(d.entry(k.clone()).or_insert(Value::Null), v);
        }
        return;
    }
    if let (Some(d), Some(s)) = (dst.as_array_mut(), src.as_array()) {
        d.extend(s.iter().cloned());
        return;
    }
    if !is_zero(src) {
        *dst = src.clone();
    }
}

/// Runtime config: runtime values win, the SeldonConfig fills blanks (`AddDefaults`).
pub(super) fn merge_config(seldon_config: &Value, runtime: &Value) -> Value {
    let mut out = seldon_config.clone();
    if !out.is_object() {
        out = json!({});
    }
    merge_value(&mut out, runtime);
    out
}

/// A StatefulSet's `volumeClaimTemplates` from Seldon's `{name, spec}` entries: each becomes a
/// PersistentVolumeClaim with `metadata.name` (operator `toStatefulSet`, v2.10.2
/// `statefulset_reconciler.go`); a StatefulSet with a top-level `name` there is refused by a real
/// API server as an unknown field.
pub(super) fn claim_templates(templates: &[Value]) -> Value {
    Value::Array(
        templates
            .iter()
            .map(|t| json!({"metadata": {"name": t["name"]}, "spec": t["spec"]}))
            .collect(),
    )
}
