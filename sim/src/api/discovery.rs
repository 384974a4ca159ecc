//! Discovery documents (`/version`, `/api`, `/apis`, resource lists) and the small OpenAPI
//! documents kubectl consults, all generated from the resource catalogue and the stored CRDs.

use serde_json::{Value, json};

use crate::store::{RESOURCES, ResourceType, Store};

/// The Kubernetes version the platform claims (matches the k8s-openapi feature the workspace uses).
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "33");

/// `/version`.
pub fn version() -> Value {
    let (major, minor) = KUBERNETES_VERSION;
    json!({
        "major": major, "minor": minor, "gitVersion": format!("v{major}.{minor}.0"),
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }),
    })
}

/// The types served now (custom types only while their CRD exists).
fn served(store: &Store) -> Vec<&'static ResourceType> {
    RESOURCES.iter().filter(|rt| store.serves(rt)).collect()
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_json(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// The named groups served now, in catalogue order, each with its one version.
fn groups(store: &Store) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for rt in served(store) {
        if !rt.group.is_empty() && !out.contains(&(rt.group, rt.version)) {
            out.push((rt.group, rt.version));
        }
    }
    out
}

/// `/apis`.
pub fn group_list(store: &Store) -> Value {
    let groups: Vec<Value> = groups(store)
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(store: &Store, group: &str) -> Option<Value> {
    let (g, v) = groups(store).into_iter().find(|(g, _)| *g == group)?;
    let mut doc = group_json(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `/api/v1` or `/apis/<group>/<version>`, if served: resources, their verbs and subresources.
pub fn resource_list(store: &Store, group: &str, version: &str) -> Option<Value> {
    let types: Vec<_> = served(store)
        .into_iter()
        .filter(|rt| rt.group == group && rt.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in types {
        let mut r = json!({
            "name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
            "verbs": rt.verbs,
        });
        if !rt.short_names.is_empty() {
            r["shortNames"] = json!(rt.short_names);
        }
        if matches!(
            rt.kind,
            "Pod" | "Service" | "Deployment" | "StatefulSet" | "ReplicaSet"
        ) {
            r["categories"] = json!(["all"]);
        }
        resources.push(r);
        if rt.has_status {
            resources.push(json!({"name": format!("{}/status", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                                  "kind": rt.kind, "verbs": ["get", "patch", "update"]}));
        }
        if matches!(rt.kind, "Deployment" | "StatefulSet" | "ReplicaSet") {
            resources.push(json!({"name": format!("{}/scale", rt.plural), "singularName": "", "namespaced": true,
                                  "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if rt.kind == "Pod" {
            resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// The URL path segment of a group version in OpenAPI v3 (`api/v1`, `apis/apps/v1`).
fn v3_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one document per served group version.
pub fn openapi_v3_root(store: &Store) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(&str, &str)> = vec![];
    for rt in served(store) {
        if !gvs.contains(&(rt.group, rt.version)) {
            gvs.push((rt.group, rt.version));
        }
    }
    for (g, v) in gvs {
        let key = v3_key(g, v);
        let hash = fnv(&openapi_v3_doc(store, g, v)
            .map(|d| d.to_string())
            .unwrap_or_default());
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash:016X}")}),
        );
    }
    json!({"paths": paths})
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// `/openapi/v3/<api/v1|apis/g/v>`: paths with the PATCH operations kubectl inspects to learn that
/// the server validates fields itself (`fieldValidation`), so it skips client-side schema checks.
/// No schemas are published: the platform stores objects without validating their fields.
pub fn openapi_v3_doc(store: &Store, group: &str, version: &str) -> Option<Value> {
    let types: Vec<_> = served(store)
        .into_iter()
        .filter(|rt| rt.group == group && rt.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let mut paths = serde_json::Map::new();
    for rt in types {
        let prefix = format!("/{}", v3_key(group, version));
        let path = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("{prefix}/{}/{{name}}", rt.plural)
        };
        let op = json!({
            "operationId": format!("patch{}", rt.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "parameters": [query("dryRun"), query("fieldManager"), query("fieldValidation"), query("force")],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(path, json!({"patch": op}));
    }
    let (major, minor) = KUBERNETES_VERSION;
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

/// `/openapi/v2` as JSON: an empty Swagger document (no schemas, so kubectl's client-side
/// validation and patch computation fall back to its built-in types).
pub fn openapi_v2_json() -> Value {
    let (major, minor) = KUBERNETES_VERSION;
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.0")},
           "paths": {}, "definitions": {}})
}

/// The same empty Swagger document as protobuf (`gnostic` `Document{swagger: "2.0"}`), which
/// is what kubectl asks for.
pub fn openapi_v2_protobuf() -> Vec<u8> {
    // Field 1 (swagger), wire type 2 (length-delimited), 3 bytes.
    vec![0x0a, 0x03, b'2', b'.', b'0']
}
