//! Admission as Kubernetes does it: namespace lifecycle, LimitRange defaults and bounds,
//! ServiceAccount, validation of built-in types, ResourceQuota.
//!
//! The chain runs inside the store lock, in the API server's order: decoding checks and object
//! defaulting (namespace label, Service cluster IP, Secret `data` and `stringData`, pod requests
//! from limits), the mutating plugins (`NamespaceLifecycle`, `LimitRanger` defaults,
//! `ServiceAccount`), field validation, then the validating plugins (`LimitRanger` min/max,
//! `ResourceQuota`). Messages use Kubernetes' exact wording
//! (`pkg/quota/v1/evaluator/core/pods.go`, `plugin/pkg/admission/resourcequota`).

mod pods;
pub mod quantity;
mod schema;
pub mod storage;
mod validation;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::faults::{Defect, Faults};
use crate::store::{Admission, ApiError, Operation, RESOURCES, Reader, ResourceType};
use quantity::Quantity;

/// Label the harness puts on objects delivered in a secret package.
pub const SECRET_PACKAGE_LABEL: &str = "conformance.harness/secret-package";

/// `ApiError::reason` of a create/update that defect `SecretPackageObjectsDropped` swallowed.
///
/// The API layer answers such a request as if it succeeded (201/200 with [`dropped_object`] as
/// the body) but nothing is stored: the defect is "acknowledged but never stored".
pub const DROPPED_REASON: &str = "SimAcknowledgedNotStored";

/// The object a swallowed request should be answered with, if `err` is such a drop.
pub fn dropped_object(err: &ApiError) -> Option<&Value> {
    if err.reason == DROPPED_REASON {
        err.details.as_ref()
    } else {
        None
    }
}

/// Namespaces that always exist on a cluster (the API server never lets them go).
pub const IMMORTAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The label every namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The admission chain, in the order the API server runs it, with the platform's defects applied.
pub fn chain(faults: &Faults) -> Vec<Box<dyn Admission>> {
    let mut chain: Vec<Box<dyn Admission>> = vec![
        Box::new(ObjectDefaults {
            next_service_ip: AtomicU32::new(1),
        }),
        Box::new(NamespaceLifecycle),
    ];
    if faults.has(Defect::SecretPackageObjectsDropped) {
        chain.push(Box::new(DropSecretPackages));
    }
    let limit_ranges = !faults.has(Defect::LimitRangeIgnored);
    if limit_ranges {
        chain.push(Box::new(LimitRanger));
    }
    chain.push(Box::new(pods::ServiceAccountAdmission));
    chain.push(Box::new(storage::DefaultStorageClass));
    chain.push(Box::new(validation::FieldValidation));
    chain.push(Box::new(schema::CustomResourceSchema));
    if limit_ranges {
        chain.push(Box::new(pods::LimitRangeValidation));
    }
    if !faults.has(Defect::QuotaNotEnforced) {
        chain.push(Box::new(ResourceQuota));
    }
    chain
}

fn res(kind: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .expect("kind in catalogue")
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// `<plural>[.<group>] "<name>" is forbidden: <why>`, as `admission.NewForbidden` words it.
fn forbidden(rt: &ResourceType, name: &str, why: impl std::fmt::Display) -> ApiError {
    let qualified = if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    };
    let mut e = ApiError::forbidden(format!("{qualified} \"{name}\" is forbidden: {why}"));
    e.details = Some(ApiError::details(rt, name));
    e
}

/// Defaulting the API server does before admission plugins run.
struct ObjectDefaults {
    next_service_ip: AtomicU32,
}

impl Admission for ObjectDefaults {
    fn admit(
        &self,
        _: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        match rt.kind {
            "Namespace" => {
                let name = name_of(obj).to_string();
                obj["metadata"]["labels"][NAMESPACE_NAME_LABEL] = json!(name);
                if op == Operation::Create && obj["status"]["phase"].is_null() {
                    obj["status"] = json!({"phase": "Active"});
                }
            }
            "Service" => {
                if obj["spec"]["type"].as_str().unwrap_or_default().is_empty() {
                    obj["spec"]["type"] = json!("ClusterIP");
                }
                let kept = old
                    .and_then(|o| o["spec"]["clusterIP"].as_str())
                    .map(str::to_string);
                if obj["spec"]["type"] != "ExternalName"
                    && obj["spec"]["clusterIP"]
                        .as_str()
                        .unwrap_or_default()
                        .is_empty()
                {
                    let ip = kept.unwrap_or_else(|| {
                        let n = self.next_service_ip.fetch_add(1, Ordering::Relaxed);
                        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
                    });
                    obj["spec"]["clusterIP"] = json!(ip);
                    obj["spec"]["clusterIPs"] = json!([ip]);
                }
            }
            "Secret" => {
                validation::check_secret_data(obj)?;
                // The API server folds stringData into data (base64) and never stores stringData.
                if let Some(sd) = obj.get("stringData").and_then(Value::as_object).cloned() {
                    for (k, v) in sd {
                        obj["data"][k] =
                            json!(base64_encode(v.as_str().unwrap_or_default().as_bytes()));
                    }
                    obj.as_object_mut().expect("object").remove("stringData");
                }
                if obj["type"].is_null() {
                    obj["type"] = json!("Opaque");
                }
            }
            "LimitRange" => default_limit_range(obj),
            "Pod" if op == Operation::Create => default_pod_requests(obj),
            _ => {}
        }
        Ok(())
    }
}

/// LimitRange defaulting: `default` falls back to `max`, `defaultRequest` to `default`.
fn default_limit_range(obj: &mut Value) {
    let Some(limits) = obj["spec"]["limits"].as_array_mut() else {
        return;
    };
    for l in limits.iter_mut().filter(|l| l["type"] == "Container") {
        if let Some(max) = l["max"].as_object().cloned() {
            for (k, v) in max {
                if l["default"].get(&k).is_none() {
                    l["default"][k] = v;
                }
            }
        }
        if let Some(def) = l["default"].as_object().cloned() {
            for (k, v) in def {
                if l["defaultRequest"].get(&k).is_none() {
                    l["defaultRequest"][k] = v;
                }
            }
        }
    }
}

fn containers_mut(pod: &mut Value) -> impl Iterator<Item = &mut Value> {
    let spec = &mut pod["spec"];
    let mut all: Vec<&mut Value> = Vec::new();
    if let Some(obj) = spec.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            if (k == "containers" || k == "initContainers")
                && let Some(a) = v.as_array_mut()
            {
                all.extend(a.iter_mut());
            }
        }
    }
    all.into_iter()
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .flat_map(|k| pod["spec"][k].as_array().into_iter().flatten())
}

/// Pod defaulting: a container with a limit but no request requests its limit.
fn default_pod_requests(pod: &mut Value) {
    for c in containers_mut(pod) {
        if let Some(limits) = c["resources"]["limits"].as_object().cloned() {
            for (k, v) in limits {
                if c["resources"]["requests"].get(&k).is_none() {
                    c["resources"]["requests"][k] = v;
                }
            }
        }
    }
}

/// `NamespaceLifecycle`: no content in missing or terminating namespaces.
struct NamespaceLifecycle;

impl Admission for NamespaceLifecycle {
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        _: Option<&Value>,
    ) -> Result<(), ApiError> {
        if op != Operation::Create || !rt.namespaced {
            return Ok(());
        }
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
        let ns_rt = res("Namespace");
        match store.get(ns_rt, None, ns) {
            None if IMMORTAL_NAMESPACES.contains(&ns) => Ok(()),
            None => Err(ApiError::not_found(ns_rt, ns)),
            Some(n)
                if n["status"]["phase"] == "Terminating"
                    || n["metadata"]["deletionTimestamp"].is_string() =>
            {
                let mut e = forbidden(
                    rt,
                    name_of(obj),
                    format!(
                        "unable to create new content in namespace {ns} because it is being terminated"
                    ),
                );
                if let Some(d) = e.details.as_mut() {
                    d["causes"] = json!([{"reason": "NamespaceTerminating",
                        "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
                }
                Err(e)
            }
            Some(_) => Ok(()),
        }
    }
}

/// Defect `SecretPackageObjectsDropped`: secrets from a secret package are acknowledged, not stored.
struct DropSecretPackages;

impl Admission for DropSecretPackages {
    fn admit(
        &self,
        _: &dyn Reader,
        _: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        _: Option<&Value>,
    ) -> Result<(), ApiError> {
        if rt.kind == "Secret"
            && obj["metadata"]["labels"]
                .get(SECRET_PACKAGE_LABEL)
                .is_some()
        {
            return Err(ApiError {
                code: 201,
                reason: DROPPED_REASON,
                message: "acknowledged, not stored".into(),
                details: Some(obj.clone()),
            });
        }
        Ok(())
    }
}

/// `LimitRanger`: container defaults from LimitRanges of type Container.
struct LimitRanger;

impl Admission for LimitRanger {
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        pod: &mut Value,
        _: Option<&Value>,
    ) -> Result<(), ApiError> {
        if rt.kind != "Pod" || op != Operation::Create {
            return Ok(());
        }
        let ns = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ranges: Vec<Value> = store
            .list(res("LimitRange"), Some(&ns))
            .into_iter()
            .cloned()
            .collect();
        let mut notes: Vec<String> = Vec::new();
        for lr in &ranges {
            for l in lr["spec"]["limits"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| l["type"] == "Container")
            {
                for c in containers_mut(pod) {
                    let cname = c["name"].as_str().unwrap_or_default().to_string();
                    for (field, from) in [("requests", "defaultRequest"), ("limits", "default")] {
                        let mut set = Vec::new();
                        for (k, v) in l[from].as_object().into_iter().flatten() {
                            if c["resources"][field].get(k).is_none() {
                                c["resources"][field][k] = v.clone();
                                set.push(k.clone());
                            }
                        }
                        if !set.is_empty() {
                            let what = if field == "requests" {
                                "request"
                            } else {
                                "limit"
                            };
                            notes.push(format!("{} {what} for container {cname}", set.join(", ")));
                        }
                    }
                }
            }
        }
        if !notes.is_empty() {
            pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] =
                json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
        }
        Ok(())
    }
}

/// Resources whose presence on every container a quota on them makes mandatory (Kubernetes' `validationSet`).
const VALIDATION_SET: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// What one container contributes to quota, by quota resource name (`podComputeUsageHelper`).
fn container_usage(c: &Value) -> BTreeMap<String, Quantity> {
    let mut u = BTreeMap::new();
    let q = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_i64().map(|i| i.to_string()))
            .and_then(|s| Quantity::parse(&s))
    };
    for r in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(v) = q(&c["resources"]["requests"][r]) {
            u.insert(r.to_string(), v);
            u.insert(format!("requests.{r}"), v);
        }
        if let Some(v) = q(&c["resources"]["limits"][r]) {
            u.insert(format!("limits.{r}"), v);
        }
    }
    u
}

/// A pod's quota usage: `pods` plus the sum over app containers (init containers count as their max).
pub fn pod_usage(pod: &Value) -> BTreeMap<String, Quantity> {
    let mut total: BTreeMap<String, Quantity> = BTreeMap::new();
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for (k, v) in container_usage(c) {
            *total.entry(k).or_default() = total.get(&k).copied().unwrap_or_default() + v;
        }
    }
    for c in pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for (k, v) in container_usage(c) {
            let e = total.entry(k).or_default();
            if v > *e {
                *e = v;
            }
        }
    }
    total.insert("pods".into(), Quantity(1000));
    total.insert("count/pods".into(), Quantity(1000));
    total
}

/// Whether a pod still counts against quota (not Succeeded/Failed, not being deleted).
fn pod_counts(pod: &Value) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    phase != "Succeeded" && phase != "Failed" && pod["metadata"]["deletionTimestamp"].is_null()
}

/// Quota resource names that count objects of a type (legacy names and `count/<resource>`).
fn object_count_keys(rt: &ResourceType) -> Vec<String> {
    let mut keys = vec![if rt.group.is_empty() {
        format!("count/{}", rt.plural)
    } else {
        format!("count/{}.{}", rt.plural, rt.group)
    }];
    if rt.group.is_empty()
        && [
            "services",
            "secrets",
            "configmaps",
            "persistentvolumeclaims",
            "resourcequotas",
        ]
        .contains(&rt.plural)
    {
        keys.push(rt.plural.to_string());
    }
    keys
}

/// Current usage of a namespace for the given quota resource names, computed from stored objects.
pub fn namespace_usage(
    store: &dyn Reader,
    ns: &str,
    keys: &BTreeSet<String>,
) -> BTreeMap<String, Quantity> {
    let mut used: BTreeMap<String, Quantity> = keys
        .iter()
        .map(|k| (k.clone(), Quantity::default()))
        .collect();
    for pod in store
        .list(res("Pod"), Some(ns))
        .into_iter()
        .filter(|p| pod_counts(p))
    {
        for (k, v) in pod_usage(pod) {
            if let Some(e) = used.get_mut(&k) {
                *e = *e + v;
            }
        }
    }
    for rt in RESOURCES.iter().filter(|r| r.namespaced && r.kind != "Pod") {
        let ks = object_count_keys(rt);
        if ks.iter().any(|k| keys.contains(k)) {
            let n = store.list(rt, Some(ns)).len() as i128;
            for k in ks.iter().filter(|k| keys.contains(*k)) {
                used.insert(k.clone(), Quantity(n * 1000));
            }
        }
    }
    used
}

/// The `hard` limits of a quota, parsed.
pub fn quota_hard(quota: &Value) -> BTreeMap<String, Quantity> {
    quota["spec"]["hard"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let s = v
                .as_str()
                .map(str::to_string)
                .or_else(|| v.as_i64().map(|i| i.to_string()))?;
            Some((k.clone(), Quantity::parse(&s)?))
        })
        .collect()
}

fn pretty(m: &BTreeMap<String, Quantity>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `ResourceQuota`: required resources per container, and usage within `hard`.
struct ResourceQuota;

impl Admission for ResourceQuota {
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        _: Option<&Value>,
    ) -> Result<(), ApiError> {
        if op != Operation::Create || !rt.namespaced {
            return Ok(());
        }
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut quotas: Vec<&Value> = store.list(res("ResourceQuota"), Some(&ns));
        quotas.sort_by_key(|q| name_of(q).to_string());
        let requested: BTreeMap<String, Quantity> = if rt.kind == "Pod" {
            pod_usage(obj)
        } else {
            object_count_keys(rt)
                .into_iter()
                .map(|k| (k, Quantity(1000)))
                .collect()
        };
        for quota in quotas {
            let qname = name_of(quota);
            let hard = quota_hard(quota);
            if rt.kind == "Pod" {
                check_constraints(obj, &hard).map_err(|why| {
                    forbidden(rt, name_of(obj), format!("failed quota: {qname}: {why}"))
                })?;
            }
            let keys: BTreeSet<String> = hard
                .keys()
                .filter(|k| requested.contains_key(*k))
                .cloned()
                .collect();
            if keys.is_empty() {
                continue;
            }
            let used = namespace_usage(store, &ns, &keys);
            let exceeded: BTreeSet<&String> = keys
                .iter()
                .filter(|k| used[*k] + requested[*k] > hard[*k])
                .collect();
            if !exceeded.is_empty() {
                let mask = |m: &BTreeMap<String, Quantity>| -> BTreeMap<String, Quantity> {
                    m.iter()
                        .filter(|(k, _)| exceeded.contains(k))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect()
                };
                let why = format!(
                    "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                    pretty(&mask(&requested)),
                    pretty(&mask(&used)),
                    pretty(&mask(&hard))
                );
                return Err(forbidden(rt, name_of(obj), why));
            }
        }
        Ok(())
    }
}

/// Kubernetes' pod `Constraints`: `must specify <resource> for: <containers>; ...`.
fn check_constraints(pod: &Value, hard: &BTreeMap<String, Quantity>) -> Result<(), String> {
    let required: BTreeSet<&str> = VALIDATION_SET
        .into_iter()
        .filter(|r| hard.contains_key(*r))
        .collect();
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for c in containers(pod) {
        let has = container_usage(c);
        for r in &required {
            if !has.contains_key(*r) {
                missing
                    .entry(r)
                    .or_default()
                    .insert(c["name"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, cs)| {
            format!(
                "{r} for: {}",
                cs.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!("must specify {}", parts.join("; ")))
}

/// Standard base64 with padding, as the API server writes Secret `data`.
pub fn base64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes Secret `data` as Go's `base64.StdEncoding` does (Kubernetes' JSON decoding of `[]byte`):
/// padding required, invalid input rejected (`None`), only `\r` and `\n` skipped.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let text: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests;
