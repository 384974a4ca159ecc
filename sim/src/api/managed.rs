//! Field ownership (`metadata.managedFields`) as server-side apply keeps it, and apply conflicts.
//!
//! As on kube-apiserver 1.20 (compared by `sim/tests/differential.rs`; docs/real-apiserver-facts.md
//! "Server-side apply"): a create, update or non-apply patch gives its manager (`fieldManager`, else
//! the User-Agent up to its first `/`) an `Update` entry owning every field it set or changed,
//! including a map (labels, data, ...) it created; others lose those fields. An apply owns exactly
//! the leaves it sent (`Apply` entry); a leaf another manager owns with a different value is a
//! conflict (409, `Apply failed with N conflict(s): ...`, one `FieldManagerConflict` cause per
//! field) unless `force=true`, which takes it over; a leaf the applier owned before and no longer
//! sends is removed from the object when nobody else owns it. Entries list `Apply` before
//! `Update`, and an entry's `time` changes only when its fields do.
//!
//! Harsher-or-coarser than the real server, and said so in docs: lists are atomic (one field, no
//! `k:{...}` keys per element), and whether an object field is a map (owned itself when created)
//! or a struct is decided by its name ([`is_map_field`]), not by the type's schema.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::patch::merge;
use crate::store::{ApiError, ResourceType};

/// A field path as FieldsV1 keys (`f:metadata`, `f:labels`, `f:app`).
type Path = Vec<String>;

/// Metadata the server owns; never part of anyone's fields (the apiserver's strip set).
const STRIPPED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Object fields whose keys are data (Go maps), so the field itself is owned when created.
fn is_map_field(name: &str) -> bool {
    matches!(
        name,
        "f:labels"
            | "f:annotations"
            | "f:data"
            | "f:binaryData"
            | "f:stringData"
            | "f:matchLabels"
            | "f:nodeSelector"
            | "f:limits"
            | "f:requests"
            | "f:hard"
            | "f:parameters"
    )
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    fields: BTreeSet<Path>,
    /// Anything else the entry carried (`subresource`), kept as is.
    extra: Map<String, Value>,
}

/// The manager of a non-apply write: `fieldManager`, else the User-Agent's product.
pub(super) fn manager_of(field_manager: Option<&String>, user_agent: Option<&str>) -> String {
    match field_manager.filter(|m| !m.is_empty()) {
        Some(m) => m.clone(),
        None => user_agent
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The part of an object fields are tracked in: no apiVersion/kind/server metadata, and either
/// everything but `status` (main resource of a type with a status subresource) or only `status`.
fn tracked(rt: &ResourceType, obj: &Value, status_only: bool) -> Value {
    let mut o = obj.clone();
    let Some(m) = o.as_object_mut() else {
        return json!({});
    };
    m.remove("apiVersion");
    m.remove("kind");
    if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in STRIPPED_METADATA {
            meta.remove(*f);
        }
    }
    if m.get("metadata")
        .is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        m.remove("metadata");
    }
    if status_only {
        let status = m.remove("status");
        m.clear();
        if let Some(s) = status {
            m.insert("status".into(), s);
        }
    } else if rt.has_status {
        m.remove("status");
    }
    o
}

/// Every leaf of `v` (scalars, lists, empty objects), as paths.
fn leaves(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match v.as_object() {
        Some(o) if !o.is_empty() => {
            for (k, child) in o {
                path.push(format!("f:{k}"));
                leaves(child, path, out);
                path.pop();
            }
        }
        _ if !path.is_empty() => {
            out.insert(path.clone());
        }
        _ => {}
    }
}

/// The paths an update from `old` to `new` set: changed leaves, and maps it created.
fn changed(old: Option<&Value>, new: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match new.as_object() {
        Some(o) if !o.is_empty() => {
            let old_obj = old.and_then(Value::as_object);
            if old_obj.is_none() && path.last().is_some_and(|f| is_map_field(f)) {
                out.insert(path.clone());
            }
            for (k, child) in o {
                path.push(format!("f:{k}"));
                changed(old_obj.and_then(|m| m.get(k)), child, path, out);
                path.pop();
            }
        }
        _ if !path.is_empty() && old != Some(new) => {
            out.insert(path.clone());
        }
        _ => {}
    }
}

fn value_at<'a>(v: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |v, seg| v.get(seg.strip_prefix("f:").unwrap_or(seg)))
}

fn remove_at(v: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        match cur.get_mut(seg.strip_prefix("f:").unwrap_or(seg)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(last.strip_prefix("f:").unwrap_or(last));
    }
}

/// `.data.k` as the apiserver prints a path.
fn display(path: &Path) -> String {
    path.iter()
        .map(|s| format!(".{}", s.strip_prefix("f:").unwrap_or(s)))
        .collect()
}

/// A set of paths as FieldsV1 (`{"f:data": {".": {}, "f:k": {}}}`).
fn encode(fields: &BTreeSet<Path>) -> Value {
    #[derive(Default)]
    struct Node {
        member: bool,
        children: BTreeMap<String, Node>,
    }
    fn to_json(n: &Node) -> Value {
        let mut m = Map::new();
        if n.member && !n.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &n.children {
            m.insert(k.clone(), to_json(c));
        }
        Value::Object(m)
    }
    let mut root = Node::default();
    for p in fields {
        let mut n = &mut root;
        for seg in p {
            n = n.children.entry(seg.clone()).or_default();
        }
        n.member = true;
    }
    to_json(&root)
}

/// FieldsV1 back to a set of paths.
fn decode(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    let Some(o) = v.as_object() else { return };
    if o.is_empty() && !path.is_empty() {
        out.insert(path.clone());
    }
    for (k, child) in o {
        if k == "." {
            out.insert(path.clone());
        } else {
            path.push(k.clone());
            decode(child, path, out);
            path.pop();
        }
    }
}

fn entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let mut extra = e.as_object()?.clone();
            let mut fields = BTreeSet::new();
            decode(&e["fieldsV1"], &mut Vec::new(), &mut fields);
            for k in [
                "manager",
                "operation",
                "apiVersion",
                "time",
                "fieldsType",
                "fieldsV1",
            ] {
                extra.remove(k);
            }
            Some(Entry {
                manager: e["manager"].as_str().unwrap_or_default().to_string(),
                operation: e["operation"].as_str().unwrap_or_default().to_string(),
                api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                time: e["time"].as_str().unwrap_or_default().to_string(),
                fields,
                extra,
            })
        })
        .collect()
}

/// Writes `entries` into `obj` (sorted as the apiserver sorts them; none: no `managedFields`).
fn store_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (&a.operation, &a.time, &a.manager).cmp(&(&b.operation, &b.time, &b.manager))
    });
    let Some(meta) = obj["metadata"].as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
        return;
    }
    let list: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut m = e.extra;
            m.insert("manager".into(), json!(e.manager));
            m.insert("operation".into(), json!(e.operation));
            m.insert("apiVersion".into(), json!(e.api_version));
            m.insert("time".into(), json!(e.time));
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), encode(&e.fields));
            Value::Object(m)
        })
        .collect();
    meta.insert("managedFields".into(), Value::Array(list));
}

/// Gives `manager`'s entry (`operation`) `fields` on top of what it had; stamps its time if
/// that changed anything.
fn own(
    entries: &mut Vec<Entry>,
    rt: &ResourceType,
    manager: &str,
    operation: &str,
    fields: BTreeSet<Path>,
    replace: bool,
) {
    let pos = entries
        .iter()
        .position(|e| e.manager == manager && e.operation == operation);
    let e = match pos {
        Some(i) => &mut entries[i],
        None => {
            entries.push(Entry {
                manager: manager.to_string(),
                operation: operation.to_string(),
                api_version: rt.api_version(),
                time: String::new(),
                fields: BTreeSet::new(),
                extra: Map::new(),
            });
            entries.last_mut().expect("just pushed")
        }
    };
    let next: BTreeSet<Path> = if replace {
        fields
    } else {
        e.fields.union(&fields).cloned().collect()
    };
    if next != e.fields || e.time.is_empty() {
        e.fields = next;
        e.time = now();
        e.api_version = rt.api_version();
    }
}

/// Records a create (`old` None), update or non-apply patch by `manager` in `new`'s managedFields.
pub(super) fn record_update(
    rt: &ResourceType,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    status_only: bool,
) {
    let old_t = old.map(|o| tracked(rt, o, status_only));
    let new_t = tracked(rt, new, status_only);
    let mut set = BTreeSet::new();
    changed(old_t.as_ref(), &new_t, &mut Vec::new(), &mut set);
    let mut list = old.map(entries).unwrap_or_default();
    // Fields the update set are no longer anyone else's; fields it removed are nobody's.
    for e in list.iter_mut() {
        if !(e.manager == manager && e.operation == "Update") {
            e.fields.retain(|p| !set.contains(p));
        }
        e.fields.retain(|p| value_at(&new_t, p).is_some());
    }
    if !set.is_empty() {
        own(&mut list, rt, manager, "Update", set, false);
    }
    store_entries(new, list);
}

/// The outcome of a server-side apply on the stored object `live`: the object to store.
pub(super) fn apply(
    rt: &ResourceType,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApiError> {
    let applied_t = tracked(rt, applied, false);
    let mut set = BTreeSet::new();
    leaves(&applied_t, &mut Vec::new(), &mut set);
    let mut list = live.map(entries).unwrap_or_default();
    let live_t = live.map(|l| tracked(rt, l, false)).unwrap_or(json!({}));
    let mut conflicts: Vec<(String, String, Path)> = Vec::new();
    for e in list
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == "Apply"))
    {
        for p in e.fields.intersection(&set) {
            if value_at(&live_t, p) != value_at(&applied_t, p) {
                conflicts.push((e.manager.clone(), e.api_version.clone(), p.clone()));
            }
        }
    }
    conflicts.sort();
    conflicts.dedup();
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    let mut obj = live.cloned().unwrap_or_else(|| json!({}));
    merge(&mut obj, applied);
    // Leaves this manager applied before and no longer sends go, unless someone else owns them.
    if let Some(prev) = list
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply")
    {
        for p in prev.fields.difference(&set) {
            let others = list
                .iter()
                .any(|e| !(e.manager == manager && e.operation == "Apply") && e.fields.contains(p));
            if !others {
                remove_at(&mut obj, p);
            }
        }
    }
    let taken: BTreeSet<&Path> = conflicts.iter().map(|(_, _, p)| p).collect();
    for e in list.iter_mut() {
        if !(e.manager == manager && e.operation == "Apply") {
            e.fields.retain(|p| !taken.contains(p));
        }
    }
    own(&mut list, rt, manager, "Apply", set, true);
    store_entries(&mut obj, list);
    Ok(obj)
}

/// 409 as the apiserver words an apply conflict (structured-merge-diff's `Conflicts.Error`).
fn conflict_error(conflicts: &[(String, String, Path)]) -> ApiError {
    let who = |m: &str, v: &str| format!("{m:?} using {v}");
    let body = match conflicts {
        [(m, v, p)] => format!("conflict with {}: {}", who(m, v), display(p)),
        _ => {
            let mut lines = Vec::new();
            let mut last = None;
            for (m, v, p) in conflicts {
                if last != Some((m, v)) {
                    lines.push(format!("conflicts with {}:", who(m, v)));
                    last = Some((m, v));
                }
                lines.push(format!("- {}", display(p)));
            }
            lines.join("\n")
        }
    };
    let n = conflicts.len();
    let mut e = ApiError {
        code: 409,
        reason: "Conflict",
        message: format!(
            "Apply failed with {n} conflict{}: {body}",
            if n == 1 { "" } else { "s" }
        ),
        details: None,
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, v, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", who(m, v)), "field": display(p)}))
        .collect();
    e.details = Some(json!({"causes": causes}));
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RESOURCES;

    fn cm() -> &'static ResourceType {
        RESOURCES.iter().find(|r| r.kind == "ConfigMap").unwrap()
    }

    #[test]
    fn a_create_owns_what_it_set_and_created_maps_themselves() {
        let mut o = json!({"metadata": {"name": "d", "labels": {"x": "1"}}, "data": {"a": "1"}});
        record_update(cm(), None, &mut o, "carol", false);
        assert_eq!(
            o["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}})
        );
    }

    #[test]
    fn apply_conflicts_name_the_owner_and_force_takes_over() {
        let mut live =
            json!({"metadata": {"name": "d", "labels": {"x": "1"}}, "data": {"a": "1", "b": "2"}});
        record_update(cm(), None, &mut live, "carol", false);
        let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "labels": {"x": "2"}}, "data": {"a": "9", "b": "2", "c": "3"}});
        let e = apply(cm(), Some(&live), &applied, "dave", false).unwrap_err();
        assert_eq!(
            e.message,
            "Apply failed with 2 conflicts: conflicts with \"carol\" using v1:\n- .data.a\n- .metadata.labels.x"
        );
        let out = apply(cm(), Some(&live), &applied, "dave", true).unwrap();
        let mf = &out["metadata"]["managedFields"];
        assert_eq!(
            mf[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
        );
        assert_eq!(
            mf[1]["fieldsV1"],
            json!({"f:data": {".": {}, "f:b": {}}, "f:metadata": {"f:labels": {}}})
        );
    }

    #[test]
    fn a_field_no_longer_applied_is_removed_unless_someone_else_owns_it() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"a": "1", "b": "2"}});
        let live = apply(cm(), None, &first, "m", false).unwrap();
        let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"a": "1"}});
        let out = apply(cm(), Some(&live), &second, "m", false).unwrap();
        assert_eq!(out["data"], json!({"a": "1"}));
    }
}
