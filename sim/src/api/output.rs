//! Response shapes a client can ask for in `Accept`: whole objects, `PartialObjectMetadata`, or a
//! `Table` for kubectl's server-side printing (columns of built-in kinds and CRD printer columns).

use serde_json::{Value, json};

use crate::store::{ApiError, ResourceType};

/// What the table rows carry (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the API server's default).
    Metadata,
    /// The whole object.
    Object,
}

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Objects as stored.
    Object,
    /// `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata,
    /// `meta.k8s.io/v1` `Table`.
    Table(Include),
}

/// Picks the first media type in `Accept` that the platform can produce.
pub fn negotiate(accept: Option<&str>, include_object: Option<&str>) -> Result<Shape, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Shape::Object);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !matches!(media, "application/json" | "*/*" | "application/*") {
            continue;
        }
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        match param("as") {
            None => return Ok(Shape::Object),
            Some("Table") if param("g") == Some("meta.k8s.io") => {
                let include = match include_object {
                    Some("None") => Include::None,
                    Some("Object") => Include::Object,
                    _ => Include::Metadata,
                };
                return Ok(Shape::Table(include));
            }
            Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                if param("g") == Some("meta.k8s.io") =>
            {
                return Ok(Shape::Metadata);
            }
            // Aggregated discovery and other conversions are not offered: clients fall back.
            Some(_) => continue,
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/json;as=Table;g=meta.k8s.io;v=v1, application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1 (got {accept:?})"
    )))
}

fn partial_metadata(obj: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj["metadata"]})
}

/// One object in the requested shape.
pub fn render_one(shape: Shape, rt: &ResourceType, obj: &Value, crd: Option<&Value>) -> Value {
    match shape {
        Shape::Object => obj.clone(),
        Shape::Metadata => partial_metadata(obj),
        Shape::Table(include) => table(rt, std::slice::from_ref(obj), None, include, crd),
    }
}

/// A list in the requested shape.
pub fn render_list(
    shape: Shape,
    rt: &ResourceType,
    items: Vec<Value>,
    rv: u64,
    crd: Option<&Value>,
) -> Value {
    let meta = json!({"resourceVersion": rv.to_string()});
    match shape {
        Shape::Object => {
            json!({"apiVersion": rt.api_version(), "kind": format!("{}List", rt.kind), "metadata": meta, "items": items})
        }
        Shape::Metadata => json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta,
            "items": items.iter().map(partial_metadata).collect::<Vec<_>>(),
        }),
        Shape::Table(include) => table(rt, &items, Some(rv), include, crd),
    }
}

struct Column {
    name: String,
    kind: &'static str,
    format: &'static str,
    priority: i64,
    cell: Box<dyn Fn(&Value) -> Value>,
}

fn col(name: &str, cell: impl Fn(&Value) -> Value + 'static) -> Column {
    Column {
        name: name.into(),
        kind: "string",
        format: "",
        priority: 0,
        cell: Box::new(cell),
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn age_col() -> Column {
    col("Age", |o| json!(age(&o["metadata"]["creationTimestamp"])))
}

/// A `Table` of the objects, with the columns the API server prints for the kind.
pub fn table(
    rt: &ResourceType,
    items: &[Value],
    rv: Option<u64>,
    include: Include,
    crd: Option<&Value>,
) -> Value {
    let mut cols = vec![Column {
        format: "name",
        ..col("Name", |o| o["metadata"]["name"].clone())
    }];
    cols.extend(kind_columns(rt, crd));
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cols.iter().map(|c| (c.cell)(o)).collect::<Vec<_>>()});
            match include {
                Include::None => {}
                Include::Metadata => row["object"] = partial_metadata(o),
                Include::Object => row["object"] = o.clone(),
            }
            row
        })
        .collect();
    let defs: Vec<Value> = cols
        .iter()
        .map(|c| json!({"name": c.name, "type": c.kind, "format": c.format, "description": "", "priority": c.priority}))
        .collect();
    let mut t = json!({"apiVersion": "meta.k8s.io/v1", "kind": "Table", "metadata": {}, "columnDefinitions": defs, "rows": rows});
    if let Some(rv) = rv {
        t["metadata"]["resourceVersion"] = json!(rv.to_string());
    }
    t
}

fn kind_columns(rt: &ResourceType, crd: Option<&Value>) -> Vec<Column> {
    match rt.kind {
        "Namespace" => vec![col("Status", |o| o["status"]["phase"].clone()), age_col()],
        "Pod" => vec![
            col("Ready", |o| {
                let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
                let ready = o["status"]["containerStatuses"]
                    .as_array()
                    .map_or(0, |c| c.iter().filter(|c| c["ready"] == true).count());
                json!(format!("{ready}/{total}"))
            }),
            col("Status", |o| {
                let waiting = o["status"]["containerStatuses"].as_array().and_then(|c| {
                    c.iter()
                        .find_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_string))
                });
                json!(waiting.unwrap_or_else(|| s(&o["status"]["phase"])))
            }),
            Column {
                kind: "integer",
                ..col("Restarts", |o| {
                    json!(o["status"]["containerStatuses"].as_array().map_or(0, |c| {
                        c.iter()
                            .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                            .sum::<i64>()
                    }))
                })
            },
            age_col(),
        ],
        "ReplicaSet" => vec![
            col("Desired", |o| {
                json!(o["spec"]["replicas"].as_i64().unwrap_or(1))
            }),
            col("Current", |o| {
                json!(o["status"]["replicas"].as_i64().unwrap_or(0))
            }),
            col("Ready", |o| {
                json!(o["status"]["readyReplicas"].as_i64().unwrap_or(0))
            }),
            age_col(),
        ],
        "PersistentVolumeClaim" => vec![
            col("Status", |o| o["status"]["phase"].clone()),
            col("Volume", |o| json!(s(&o["spec"]["volumeName"]))),
            col("Capacity", |o| {
                json!(s(&o["status"]["capacity"]["storage"]))
            }),
            col("Access Modes", |o| {
                let modes: Vec<&str> = o["status"]["accessModes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| match m.as_str()? {
                        "ReadWriteOnce" => Some("RWO"),
                        "ReadOnlyMany" => Some("ROX"),
                        "ReadWriteMany" => Some("RWX"),
                        "ReadWriteOncePod" => Some("RWOP"),
                        _ => None,
                    })
                    .collect();
                json!(modes.join(","))
            }),
            col("StorageClass", |o| json!(s(&o["spec"]["storageClassName"]))),
            age_col(),
        ],
        "Deployment" | "StatefulSet" => vec![
            col("Ready", |o| {
                json!(format!(
                    "{}/{}",
                    o["status"]["readyReplicas"].as_i64().unwrap_or(0),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                ))
            }),
            age_col(),
        ],
        "Service" => vec![
            col("Type", |o| {
                json!(o["spec"]["type"].as_str().unwrap_or("ClusterIP"))
            }),
            col("Cluster-IP", |o| {
                json!(o["spec"]["clusterIP"].as_str().unwrap_or("<none>"))
            }),
            col("Port(s)", |o| {
                let ports: Vec<String> = o["spec"]["ports"].as_array().map_or(vec![], |ps| {
                    ps.iter()
                        .map(|p| {
                            format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect()
                });
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                })
            }),
            age_col(),
        ],
        "ConfigMap" => vec![
            Column {
                kind: "integer",
                ..col("Data", |o| {
                    let n = |f: &str| o[f].as_object().map_or(0, |m| m.len());
                    json!(n("data") + n("binaryData"))
                })
            },
            age_col(),
        ],
        // Secret values never leave as cells; only the count of keys.
        "Secret" => vec![
            col("Type", |o| o["type"].clone()),
            Column {
                kind: "integer",
                ..col("Data", |o| {
                    json!(o["data"].as_object().map_or(0, |m| m.len()))
                })
            },
            age_col(),
        ],
        "Event" => vec![
            col("Last Seen", |o| {
                let t = [
                    &o["lastTimestamp"],
                    &o["eventTime"],
                    &o["metadata"]["creationTimestamp"],
                ]
                .into_iter()
                .find(|t| t.is_string())
                .cloned()
                .unwrap_or(Value::Null);
                json!(age(&t))
            }),
            col("Type", |o| o["type"].clone()),
            col("Reason", |o| o["reason"].clone()),
            col("Object", |o| {
                let io = &o["involvedObject"];
                json!(format!(
                    "{}/{}",
                    s(&io["kind"]).to_lowercase(),
                    s(&io["name"])
                ))
            }),
            col("Message", |o| o["message"].clone()),
        ],
        _ => match crd.and_then(|c| printer_columns(rt, c)) {
            Some(cols) => cols,
            None => vec![age_col()],
        },
    }
}

/// The CRD's `additionalPrinterColumns` for the served version, evaluated with a JSONPath subset.
fn printer_columns(rt: &ResourceType, crd: &Value) -> Option<Vec<Column>> {
    let version = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == rt.version)?;
    let defs = version["additionalPrinterColumns"].as_array()?;
    Some(
        defs.iter()
            .map(|d| {
                let path = s(&d["jsonPath"]);
                let kind = match d["type"].as_str() {
                    Some("integer") => "integer",
                    Some("number") => "number",
                    Some("boolean") => "boolean",
                    Some("date") => "date",
                    _ => "string",
                };
                Column {
                    name: s(&d["name"]),
                    kind,
                    format: "",
                    priority: d["priority"].as_i64().unwrap_or(0),
                    cell: Box::new(move |o| {
                        let found = json_path(o, &path);
                        match (kind, found.first()) {
                            (_, None) => Value::Null,
                            ("date", Some(t)) => json!(age(t)),
                            (_, Some(v)) if found.len() == 1 => (*v).clone(),
                            _ => json!(
                                found
                                    .iter()
                                    .map(|v| v.as_str().map_or(v.to_string(), str::to_string))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            ),
                        }
                    }),
                }
            })
            .collect(),
    )
}

/// Evaluates the JSONPath subset CRD printer columns use: `.a.b`, `[n]`, `[*]`, `[?(@.k=="v")]`.
pub fn json_path<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![root];
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..end];
            current = current.into_iter().filter_map(|v| v.get(field)).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return vec![];
            };
            let inner = &r[..end];
            rest = &r[end + 1..];
            let items = current.into_iter().filter_map(Value::as_array).flatten();
            current = if inner == "*" {
                items.collect()
            } else if let Some(filter) =
                inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
            {
                let Some((field, value)) = filter.split_once("==") else {
                    return vec![];
                };
                let value = value.trim().trim_matches(['"', '\'']);
                items
                    .filter(|i| {
                        json_path(i, &format!(".{}", field.trim()))
                            .first()
                            .and_then(|v| v.as_str())
                            == Some(value)
                    })
                    .collect()
            } else if let Ok(n) = inner.parse::<usize>() {
                items.skip(n).take(1).collect()
            } else {
                return vec![];
            };
        } else {
            return vec![];
        }
    }
    current
}

/// A timestamp as kubectl's relative age (`42s`, `3m5s`, `7h`, `2d3h`, `45d`).
pub fn age(ts: &Value) -> String {
    let Some(t) = ts.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        _ if secs < 120 => format!("{secs}s"),
        _ if m < 10 => format!("{m}m{}s", secs % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_the_first_supported_media_type() {
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(table), None).unwrap(),
            Shape::Table(Include::Metadata)
        );
        assert_eq!(
            negotiate(Some(table), Some("Object")).unwrap(),
            Shape::Table(Include::Object)
        );
        let disco =
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert_eq!(negotiate(Some(disco), None).unwrap(), Shape::Object);
        assert_eq!(negotiate(None, None).unwrap(), Shape::Object);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"), None)
                .unwrap_err()
                .code,
            406
        );
    }

    #[test]
    fn json_path_filters_conditions() {
        let o = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "ModelReady", "status": "True"}]}});
        assert_eq!(
            json_path(&o, r#".status.conditions[?(@.type=="ModelReady")].status"#),
            vec![&json!("True")]
        );
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type=='Ready')].status"),
            vec![&json!("False")]
        );
        assert_eq!(
            json_path(&o, ".status.conditions[1].type"),
            vec![&json!("ModelReady")]
        );
        assert!(json_path(&o, ".spec.replicas").is_empty());
    }

    #[test]
    fn crd_printer_columns_become_table_columns() {
        let model = ResourceType::by_plural("mlops.seldon.io", "models").unwrap();
        let crd = json!({"spec": {"versions": [{"name": "v1alpha1", "additionalPrinterColumns": [
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"ModelReady\")].status"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]}]}});
        let m = json!({"metadata": {"name": "iris"}, "spec": {"replicas": 2},
            "status": {"conditions": [{"type": "ModelReady", "status": "True"}]}});
        let t = table(model, &[m], Some(7), Include::None, Some(&crd));
        assert_eq!(t["rows"][0]["cells"], json!(["iris", "True", 2]));
        assert_eq!(t["columnDefinitions"][1]["name"], "Ready");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }
}
