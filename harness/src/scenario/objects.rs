//! Validation of the Kubernetes and Seldon objects a scenario embeds: headers, names, labels,
//! quantities, and the typed shape of each kind (Kubernetes' own types, mirrors of Seldon's CRDs).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::builtin::check_builtin;
use super::diagnostic::{Ctx, Severity};
use crate::names::{is_dns_label, is_dns_subdomain, is_label_key, is_label_value};

/// Capabilities of the ServerConfigs Seldon's setup chart installs (docs/seldon-behaviour.md §3).
pub fn known_capabilities(server_config: &str) -> Option<&'static [&'static str]> {
    match server_config {
        "mlserver" => Some(&[
            "mlserver",
            "alibi-detect",
            "alibi-explain",
            "huggingface",
            "lightgbm",
            "mlflow",
            "python",
            "sklearn",
            "spark-mlib",
            "xgboost",
        ]),
        "triton" => Some(&[
            "triton",
            "dali",
            "fil",
            "onnx",
            "openvino",
            "python",
            "pytorch",
            "tensorflow",
            "tensorrt",
        ]),
        _ => None,
    }
}

/// Seldon runtime components and their container names (docs/seldon-behaviour.md §2), for `overrides[]`.
pub(super) const COMPONENTS: &[(&str, &str)] = &[
    ("seldon-scheduler", "scheduler"),
    ("seldon-envoy", "envoy"),
    ("seldon-dataflow-engine", "dataflow-engine"),
    ("hodometer", "hodometer"),
    ("seldon-modelgateway", "modelgateway"),
    ("seldon-pipelinegateway", "pipelinegateway"),
];

/// Turns a serde error into (path, message, hint), with the path pointing at the offending field.
pub(super) fn describe_shape_error(
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> (String, String, Option<String>) {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = e.inner().to_string();
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let field_path = if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        // serde_path_to_error already includes the unknown key in the path for maps.
        let field_path = if path.ends_with(field) {
            path.clone()
        } else {
            field_path
        };
        let expected = rest.split("expected ").nth(1).map(|s| s.to_string());
        let hint =
            expected.map(|x| format!("expected {x}; field names are case-sensitive camelCase"));
        return (field_path, format!("unknown field `{field}`"), hint);
    }
    if let Some(rest) = inner.strip_prefix("unknown variant `") {
        let v = rest.split('`').next().unwrap_or_default();
        let expected = rest
            .split("expected ")
            .nth(1)
            .map(|s| format!("expected {s}"));
        // For a one-key enum mapping the unknown key is the mistake; point at it.
        let key_path = if path.is_empty() {
            v.to_string()
        } else {
            format!("{path}.{v}")
        };
        return (key_path, format!("unknown value `{v}`"), expected);
    }
    if let Some(rest) = inner.strip_prefix("missing field `") {
        let f = rest.split('`').next().unwrap_or_default();
        return (path, format!("missing required field `{f}`"), None);
    }
    (path, inner, None)
}

/// Checks `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`; returns (kind, name) when usable.
pub(super) fn check_object_header(
    ctx: &mut Ctx<'_>,
    p: &str,
    obj: &Value,
    allowed: &[(&str, &str)],
    ns: &str,
) -> Option<(String, String)> {
    let Some(map) = obj.as_object() else {
        ctx.error(
            p,
            "expected a Kubernetes object (a mapping with apiVersion, kind, metadata)",
        );
        return None;
    };
    let kinds = allowed
        .iter()
        .map(|(a, k)| format!("{a} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let api = map.get("apiVersion").and_then(Value::as_str);
    let kind = map.get("kind").and_then(Value::as_str);
    let Some(&(want_api, want_kind)) = allowed.iter().find(|(_, k)| Some(*k) == kind) else {
        ctx.error_hint(
            &format!("{p}.kind"),
            format!(
                "kind {} does not belong here",
                kind.map_or("(missing)".into(), |k| format!("`{k}`"))
            ),
            format!("expected one of: {kinds}"),
        );
        return None;
    };
    if api != Some(want_api) {
        ctx.error_hint(
            &format!("{p}.apiVersion"),
            format!(
                "apiVersion {} is wrong for {want_kind}",
                api.map_or("(missing)".into(), |a| format!("`{a}`"))
            ),
            format!("use `{want_api}`"),
        );
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        ctx.error(
            &format!("{p}.metadata.name"),
            format!("{want_kind} needs `metadata.name`"),
        );
        return None;
    }
    check_subdomain(
        ctx,
        &format!("{p}.metadata.name"),
        name,
        &format!("{want_kind} name"),
    );
    if let Some(other) = obj["metadata"]["namespace"].as_str()
        && other != ns
    {
        ctx.error_hint(
            &format!("{p}.metadata.namespace"),
            format!("{want_kind} `{name}` names namespace `{other}` inside team `{ns}`"),
            "omit metadata.namespace: objects of a team go to the team's namespace",
        );
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("\u{0}").to_string()))
            .collect();
        check_labels(ctx, &format!("{p}.metadata.labels"), &labels);
    }
    Some((want_kind.to_string(), name.to_string()))
}

/// Unknown fields and quantities of a Kubernetes kind, found by a round trip through its k8s-openapi type.
pub(super) fn check_kubernetes_object(ctx: &mut Ctx<'_>, p: &str, kind: &str, obj: &Value) {
    use k8s_openapi::api::{core::v1 as core, networking::v1 as net, rbac::v1 as rbac};
    let result = match kind {
        "ResourceQuota" => round_trip::<core::ResourceQuota>(obj),
        "LimitRange" => round_trip::<core::LimitRange>(obj),
        "NetworkPolicy" => round_trip::<net::NetworkPolicy>(obj),
        "ServiceAccount" => round_trip::<core::ServiceAccount>(obj),
        "Role" => round_trip::<rbac::Role>(obj),
        "RoleBinding" => round_trip::<rbac::RoleBinding>(obj),
        _ => Ok(Vec::new()),
    };
    report_round_trip(ctx, p, kind, result);
    check_quantities(ctx, p, obj);
    check_builtin(ctx, p, kind, obj);
}

pub(super) fn report_round_trip(
    ctx: &mut Ctx<'_>,
    p: &str,
    kind: &str,
    result: Result<Vec<String>, (String, String)>,
) {
    match result {
        Ok(unknown) => {
            for u in unknown {
                let field = u.rsplit('.').next().unwrap_or(&u).to_string();
                ctx.error_hint(&join(p, &u), format!("unknown field `{field}` for {kind}"), "check the spelling against the Kubernetes API reference (fields are camelCase)");
            }
        }
        Err((path, msg)) => ctx.error(&join(p, &path), format!("invalid {kind}: {msg}")),
    }
}

pub(super) fn join(p: &str, rel: &str) -> String {
    if rel.is_empty() || rel == "." {
        p.to_string()
    } else if rel.starts_with('[') {
        format!("{p}{rel}")
    } else {
        format!("{p}.{rel}")
    }
}

/// Deserializes into `T` and back; keys the type dropped are unknown fields (relative paths).
pub(super) fn round_trip<T: DeserializeOwned + Serialize>(
    v: &Value,
) -> Result<Vec<String>, (String, String)> {
    let typed: T = serde_path_to_error::deserialize(v)
        .map_err(|e| (e.path().to_string(), e.inner().to_string()))?;
    let back = serde_json::to_value(&typed).map_err(|e| (String::new(), e.to_string()))?;
    let mut unknown = Vec::new();
    diff_keys(v, &back, String::new(), &mut unknown);
    Ok(unknown)
}

fn diff_keys(orig: &Value, back: &Value, path: String, out: &mut Vec<String>) {
    match (orig, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, v) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(bv) => diff_keys(v, bv, p, out),
                    None if !v.is_null() => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(o), Value::Array(b)) => {
            for (i, (ov, bv)) in o.iter().zip(b).enumerate() {
                diff_keys(ov, bv, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Every value under `resources`, `hard`, `limits`-like maps must be a Kubernetes quantity.
pub(super) fn check_quantities(ctx: &mut Ctx<'_>, p: &str, v: &Value) {
    const QUANTITY_MAPS: &[&str] = &[
        "limits",
        "requests",
        "hard",
        "default",
        "defaultRequest",
        "max",
        "min",
        "maxLimitRequestRatio",
    ];
    // `quantities` is true for the values of a map such as `limits:` or `hard:`.
    fn walk(ctx: &mut Ctx<'_>, path: String, v: &Value, quantities: bool) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    walk(
                        ctx,
                        format!("{path}.{k}"),
                        child,
                        QUANTITY_MAPS.contains(&k.as_str()) && child.is_object(),
                    );
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(ctx, format!("{path}[{i}]"), child, false);
                }
            }
            _ => {}
        }
        if let (true, Value::Object(m)) = (quantities, v) {
            for (k, child) in m {
                match child {
                    Value::String(s) if parse_quantity(s).is_none() => {
                        ctx.error_hint(
                            &format!("{path}.{k}"),
                            format!("`{s}` is not a Kubernetes quantity"),
                            "write e.g. `500m`, `2`, `1Gi`, `128Mi`",
                        );
                    }
                    Value::Number(_) => ctx.error_hint(
                        &format!("{path}.{k}"),
                        "quantities must be strings",
                        "quote it, e.g. `cpu: \"1\"`",
                    ),
                    _ => {}
                }
            }
        }
    }
    walk(ctx, p.to_string(), v, false);
}

/// Parses a Kubernetes quantity (`500m`, `1Gi`, `2`, `1e3`) into its value in base units.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mult) = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
    .unwrap_or((s, 1.0));
    let digits_ok = !num.is_empty()
        && num
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E'))
        && num
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'));
    if !digits_ok {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some(v * mult)
}

pub(super) fn check_seldon_header(
    ctx: &mut Ctx<'_>,
    p: &str,
    obj: &Value,
    kind: &str,
    ns: &str,
) -> bool {
    check_object_header(ctx, p, obj, &[("mlops.seldon.io/v1alpha1", kind)], ns).is_some()
}

/// Seldon objects are checked against typed mirrors of their CRDs (v2.10.2), so typos are errors.
mod mirrors {
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Object<S> {
        pub api_version: Option<String>,
        pub kind: Option<String>,
        pub metadata: Meta,
        pub spec: S,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Meta {
        pub name: String,
        pub namespace: Option<String>,
        pub labels: Option<Value>,
        pub annotations: Option<Value>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct RuntimeSpec {
        pub seldon_config: String,
        #[serde(default)]
        pub overrides: Vec<Override>,
        pub config: Option<RuntimeConfig>,
        pub disable_auto_update: Option<bool>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Override {
        pub name: String,
        pub disable: Option<bool>,
        pub replicas: Option<i32>,
        pub service_type: Option<String>,
        pub pod_spec: Option<Value>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct RuntimeConfig {
        pub agent_config: Option<AgentConfig>,
        pub kafka_config: Option<Value>,
        pub scaling_config: Option<Value>,
        pub service_config: Option<Value>,
        pub tracing_config: Option<Value>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct AgentConfig {
        pub rclone: Option<Rclone>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rclone {
        #[serde(default)]
        pub config_secrets: Vec<String>,
        #[serde(default)]
        pub config: Vec<String>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ServerSpec {
        pub server_config: String,
        pub extra_capabilities: Option<Vec<String>>,
        pub capabilities: Option<Vec<String>>,
        pub image_overrides: Option<Value>,
        pub pod_spec: Option<Value>,
        pub stateful_set_persistent_volume_claim_retention_policy: Option<Value>,
        pub replicas: Option<i32>,
        pub min_replicas: Option<i32>,
        pub max_replicas: Option<i32>,
        pub deployment_strategy: Option<Value>,
        pub disable_auto_update: Option<bool>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ModelSpec {
        pub storage_uri: String,
        pub model_type: Option<String>,
        pub artifact_version: Option<i64>,
        pub schema_uri: Option<String>,
        pub secret_name: Option<String>,
        pub requirements: Option<Vec<String>>,
        pub memory: Option<Value>,
        pub replicas: Option<i32>,
        pub min_replicas: Option<i32>,
        pub max_replicas: Option<i32>,
        pub server: Option<String>,
        pub preloaded: Option<bool>,
        pub dedicated: Option<bool>,
        pub logger: Option<Value>,
        pub explainer: Option<Value>,
        pub parameters: Option<Value>,
        pub llm: Option<Value>,
        pub dataflow: Option<Value>,
    }
}

pub(super) fn typed<T: DeserializeOwned>(
    ctx: &mut Ctx<'_>,
    p: &str,
    kind: &str,
    obj: &Value,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(obj) {
        Ok(t) => Some(t),
        Err(e) => {
            let (path, message, hint) = describe_shape_error(&e);
            let hint = hint.or_else(|| {
                Some(format!(
                    "see the {kind} CRD of Seldon Core v2 (mlops.seldon.io/v1alpha1)"
                ))
            });
            ctx.push(
                Severity::Error,
                &join(p, &path),
                format!("{kind}: {message}"),
                hint,
            );
            None
        }
    }
}

pub(super) fn check_pod_spec(
    ctx: &mut Ctx<'_>,
    p: &str,
    pod_spec: &Value,
    allowed_containers: Option<&[&str]>,
) {
    // Seldon's PodSpec makes `containers` optional; the Kubernetes type needs the key to round-trip.
    let mut probe = pod_spec.clone();
    if probe.get("containers").is_none() {
        probe["containers"] = Value::Array(Vec::new());
    }
    report_round_trip(
        ctx,
        p,
        "podSpec",
        round_trip::<k8s_openapi::api::core::v1::PodSpec>(&probe),
    );
    check_quantities(ctx, p, pod_spec);
    if let (Some(allowed), Some(cs)) = (allowed_containers, pod_spec["containers"].as_array()) {
        for (i, c) in cs.iter().enumerate() {
            let name = c["name"].as_str().unwrap_or_default();
            if !allowed.contains(&name) {
                ctx.error_hint(&format!("{p}.containers[{i}].name"), format!("container `{name}` does not exist in this component, so Seldon would ignore these settings"), format!("podSpec containers are merged by name; this component has: {}", allowed.join(", ")));
            }
        }
    }
}

pub(super) fn check_runtime(
    ctx: &mut Ctx<'_>,
    p: &str,
    rt: &Value,
    ns: &str,
    provided: &BTreeSet<&str>,
) {
    if !check_seldon_header(ctx, p, rt, "SeldonRuntime", ns) {
        return;
    }
    let Some(obj) = typed::<mirrors::Object<mirrors::RuntimeSpec>>(ctx, p, "SeldonRuntime", rt)
    else {
        return;
    };
    let mut seen = BTreeSet::new();
    for (i, o) in obj.spec.overrides.iter().enumerate() {
        let op = format!("{p}.spec.overrides[{i}]");
        let Some((_, container)) = COMPONENTS.iter().find(|(c, _)| *c == o.name) else {
            let names: Vec<&str> = COMPONENTS.iter().map(|(c, _)| *c).collect();
            ctx.error_hint(
                &format!("{op}.name"),
                format!(
                    "`{}` is not a runtime component; Seldon silently ignores such an override",
                    o.name
                ),
                format!("components: {}", names.join(", ")),
            );
            continue;
        };
        if !seen.insert(o.name.as_str()) {
            ctx.error(
                &format!("{op}.name"),
                format!("component `{}` is overridden twice", o.name),
            );
        }
        if o.replicas.is_some_and(|r| r < 0) {
            ctx.error(&format!("{op}.replicas"), "replicas must not be negative");
        }
        if let Some(st) = &o.service_type
            && !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&st.as_str())
        {
            ctx.error_hint(
                &format!("{op}.serviceType"),
                format!("`{st}` is not a Service type"),
                "use ClusterIP, NodePort or LoadBalancer",
            );
        }
        if let Some(ps) = &o.pod_spec {
            check_pod_spec(ctx, &format!("{op}.podSpec"), ps, Some(&[container]));
        }
    }
    if let Some(secrets) = obj
        .spec
        .config
        .as_ref()
        .and_then(|c| c.agent_config.as_ref())
        .and_then(|a| a.rclone.as_ref())
    {
        for (i, s) in secrets.config_secrets.iter().enumerate() {
            if !provided.contains(s.as_str()) {
                ctx.error_hint(&format!("{p}.spec.config.agentConfig.rclone.config_secrets[{i}]"), format!("runtime preloads rclone Secret `{s}`, which no secret package of team `{ns}` provides"), "add it to a package's `provides`, or deliver it in a package");
            }
        }
    }
}

/// Returns the Server's effective capabilities when it is valid.
pub(super) fn check_server(ctx: &mut Ctx<'_>, p: &str, s: &Value, ns: &str) -> Option<Vec<String>> {
    if !check_seldon_header(ctx, p, s, "Server", ns) {
        return None;
    }
    let obj = typed::<mirrors::Object<mirrors::ServerSpec>>(ctx, p, "Server", s)?;
    let base = known_capabilities(&obj.spec.server_config);
    if base.is_none() && obj.spec.capabilities.is_none() {
        ctx.warn(
            &format!("{p}.spec.serverConfig"),
            format!(
                "ServerConfig `{}` is not one the setup chart installs (mlserver, triton)",
                obj.spec.server_config
            ),
            "make sure it exists in the controller namespace, and list `capabilities`",
        );
    }
    if let Some(ps) = &obj.spec.pod_spec {
        check_pod_spec(ctx, &format!("{p}.spec.podSpec"), ps, None);
    }
    let mut caps: Vec<String> = match &obj.spec.capabilities {
        Some(c) => c.clone(),
        None => base
            .unwrap_or_default()
            .iter()
            .map(|c| c.to_string())
            .collect(),
    };
    caps.extend(obj.spec.extra_capabilities.clone().unwrap_or_default());
    Some(caps)
}

pub(super) fn check_model(
    ctx: &mut Ctx<'_>,
    p: &str,
    m: &Value,
    ns: &str,
    provided: &BTreeSet<&str>,
    artifacts: &BTreeSet<&str>,
) -> bool {
    if !check_seldon_header(ctx, p, m, "Model", ns) {
        return false;
    }
    let Some(obj) = typed::<mirrors::Object<mirrors::ModelSpec>>(ctx, p, "Model", m) else {
        return false;
    };
    let spec = &obj.spec;
    match spec.storage_uri.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => {
            if scheme != "gs" && !artifacts.contains(spec.storage_uri.as_str()) {
                ctx.warn(&format!("{p}.spec.storageUri"), format!("no artifact in `spec.artifacts` is published at `{}`", spec.storage_uri), "declare the artifact folder so the harness can publish it to the model store");
            }
        }
        _ => ctx.error_hint(&format!("{p}.spec.storageUri"), format!("`{}` is not a storage URI", spec.storage_uri), "e.g. `gs://seldon-models/...` or `s3://bucket/path`; the scheme must match the rclone secret's `name`"),
    }
    match &spec.memory {
        None => {}
        Some(Value::String(q)) if parse_quantity(q).is_some() => {}
        Some(other) => ctx.error_hint(
            &format!("{p}.spec.memory"),
            format!("`{other}` is not a Kubernetes quantity"),
            "write e.g. `memory: 100Ki` or `memory: 1Gi`",
        ),
    }
    if let Some(secret) = &spec.secret_name
        && !provided.contains(secret.as_str())
    {
        ctx.error_hint(&format!("{p}.spec.secretName"), format!("model `{}` uses Secret `{secret}`, which no secret package of team `{ns}` provides", obj.metadata.name), "deliver it in a secret package and list it under `provides`");
    }
    if spec.min_replicas.unwrap_or(0) > spec.max_replicas.unwrap_or(i32::MAX) {
        ctx.error(
            &format!("{p}.spec.minReplicas"),
            "minReplicas is above maxReplicas",
        );
    }
    true
}

pub(super) fn check_label_name(ctx: &mut Ctx<'_>, p: &str, s: &str, what: &str) {
    if !is_dns_label(s) {
        ctx.error_hint(p, format!("{what} `{s}` is not a valid RFC 1123 label"), "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit");
    }
}

pub(super) fn check_subdomain(ctx: &mut Ctx<'_>, p: &str, s: &str, what: &str) {
    if !is_dns_subdomain(s) {
        ctx.error_hint(
            p,
            format!("{what} `{s}` is not a valid RFC 1123 subdomain"),
            "use lowercase letters, digits, '-' and '.', at most 253 characters",
        );
    }
}

pub(super) fn check_labels(ctx: &mut Ctx<'_>, p: &str, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        if !is_label_key(k) {
            ctx.error_hint(
                &format!("{p}.{k}"),
                format!("label key `{k}` is not valid"),
                "use `[prefix/]name`, name up to 63 characters of letters, digits, '-', '_', '.'",
            );
        }
        if !is_label_value(v) {
            ctx.error_hint(&format!("{p}.{k}"), format!("label value `{v}` of `{k}` is not valid"), "label values are strings of up to 63 letters, digits, '-', '_', '.' (quote numbers and booleans)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("lots"), None);
        assert_eq!(parse_quantity("1GB"), None);
        assert_eq!(parse_quantity(""), None);
    }
}
