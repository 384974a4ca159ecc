//! Seldon's CRDs as a 1.20 apiserver accepts them (docs/real-apiserver-facts.md, "Seldon's CRDs
//! (v2.10.2) on 1.20"). Shared by `sim/tests/differential.rs` and the harness's setup test
//! against the real apiserver (`harness/tests/setup_real_apiserver.rs`, by `#[path]`).

use serde::Deserialize;
use serde_json::{Value, json};

/// Seldon's CRDs adapted for a 1.20 apiserver, which rejects `default: ""` on string fields
/// (`Invalid value: "null": in body must be of type string: "null"`): drops every empty-string
/// default, and makes a list-map key that had one `required` instead (1.20 demands a list-map
/// key have a default or be required). Returns the documents and the number of defaults removed.
pub fn crds_for_1_20(yaml: &str) -> (Vec<Value>, usize) {
    fn walk(v: &mut Value, removed: &mut usize) {
        match v {
            Value::Object(o) => {
                let keys: Vec<String> = o
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| {
                        k.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(items) = o.get_mut("items").and_then(Value::as_object_mut) {
                    for k in keys {
                        let had = items
                            .get_mut("properties")
                            .and_then(|p| p.get_mut(&k))
                            .and_then(Value::as_object_mut)
                            .is_some_and(|p| p.get("default") == Some(&json!("")));
                        if had {
                            let req = items.entry("required").or_insert_with(|| json!([]));
                            if let Some(r) = req.as_array_mut().filter(|r| !r.contains(&json!(k))) {
                                r.push(json!(k));
                            }
                        }
                    }
                }
                if o.get("default") == Some(&json!("")) && o.get("type") == Some(&json!("string")) {
                    o.remove("default");
                    *removed += 1;
                }
                o.values_mut().for_each(|v| walk(v, removed));
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(v, removed)),
            _ => {}
        }
    }
    let mut removed = 0;
    let docs = serde_norway::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("CRD YAML parses"))
        .filter(|d| !d.is_null())
        .map(|mut d| {
            walk(&mut d, &mut removed);
            d
        })
        .collect();
    (docs, removed)
}
