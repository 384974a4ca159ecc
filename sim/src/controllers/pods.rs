//! What the workload controllers share: template hashes, owned objects, pods from templates, and
//! pod creation with admission failures retried on the controllers' backoff.

use serde_json::{Value, json};

use crate::control::context::{Ctx, FailedCreate};
use crate::control::events::record_event;
use crate::control::objects::{name, namespace, owned_by, owner_ref, res};

/// Kubernetes' `rand.SafeEncodeString` alphabet (no vowels, no confusable characters).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x01000193)
    })
}

/// The template hash as Kubernetes derives it: FNV-32a, printed in decimal, safe-encoded (of
/// the template's JSON here; upstream hashes the Go struct, so the values differ).
pub(crate) fn template_hash(template: &Value) -> String {
    let h = fnv32a(template.to_string().as_bytes()).to_string();
    h.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// `spec.replicas` (default 1).
pub(crate) fn replicas(obj: &Value) -> usize {
    obj["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize
}

/// What pod admission depends on in a namespace, besides the pod itself.
pub(crate) fn admission_fingerprint(ctx: &Ctx, ns: &str, template_hash: &str) -> String {
    let mut f = template_hash.to_string();
    for kind in ["ResourceQuota", "LimitRange", "Namespace", "ServiceAccount"] {
        let (objs, _) = if kind == "Namespace" {
            ctx.store.list(res(kind), None)
        } else {
            ctx.store.list(res(kind), Some(ns))
        };
        for o in objs.iter().filter(|o| kind != "Namespace" || name(o) == ns) {
            f.push_str(&format!(
                "|{kind}/{}@{}",
                name(o),
                o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            ));
        }
    }
    f
}

/// Objects of `kind` in the owner's namespace that it controls.
pub(crate) fn owned(ctx: &Ctx, kind: &str, owner: &Value) -> Vec<Value> {
    let (objs, _) = ctx.store.list(res(kind), Some(namespace(owner)));
    objs.into_iter()
        .filter(|p| owned_by(p, &owner["metadata"]["uid"]))
        .collect()
}

/// Every object of `kind` by the uid of its owners, read once (the status pass only reads).
pub(crate) struct ByOwner(std::collections::HashMap<String, Vec<Value>>);

impl ByOwner {
    /// All objects of `kind`, indexed by owner uid.
    pub(crate) fn of(ctx: &Ctx, kind: &str) -> ByOwner {
        let mut map: std::collections::HashMap<String, Vec<Value>> = Default::default();
        for o in ctx.store.list(res(kind), None).0 {
            for r in o["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(uid) = r["uid"].as_str() {
                    map.entry(uid.to_string()).or_default().push(o.clone());
                }
            }
        }
        ByOwner(map)
    }

    /// What `owner` owns.
    pub(crate) fn owned(&self, owner: &Value) -> &[Value] {
        owner["metadata"]["uid"]
            .as_str()
            .and_then(|u| self.0.get(u))
            .map_or(&[], Vec::as_slice)
    }
}

/// How a controller words its pod-creation events (`{pod}` and `{error}` are filled in).
pub(crate) struct Wording<'a> {
    /// The event's source component.
    pub component: &'a str,
    /// `SuccessfulCreate` message.
    pub created: String,
    /// `FailedCreate` message.
    pub failed: String,
}

/// Creates a pod unless the last attempt against the same namespace state failed and its backoff
/// has not passed; records the controller's event either way. Returns the created pod.
pub(crate) fn try_create_pod(
    ctx: &mut Ctx,
    key: &str,
    fingerprint: &str,
    pod: Value,
    involved: &Value,
    wording: &Wording,
) -> Option<Value> {
    let previous = ctx
        .failed
        .get(key)
        .filter(|f| f.fingerprint == fingerprint)
        .map(|f| (f.attempts, f.retry_at));
    if previous.is_some_and(|(_, at)| std::time::Instant::now() < at) {
        return None;
    }
    let shown = name(&pod).to_string();
    match ctx.store.create(res("Pod"), pod) {
        Ok(created) => {
            ctx.failed.remove(key);
            record_event(
                &ctx.store,
                involved,
                "Normal",
                "SuccessfulCreate",
                &wording.created.replace("{pod}", name(&created)),
                wording.component,
            );
            Some(created)
        }
        Err(e) => {
            let msg = wording
                .failed
                .replace("{pod}", &shown)
                .replace("{error}", &e.message);
            record_event(
                &ctx.store,
                involved,
                "Warning",
                "FailedCreate",
                &msg,
                wording.component,
            );
            let attempts = previous.map_or(1, |(n, _)| n + 1);
            ctx.failed.insert(
                key.to_string(),
                FailedCreate::new(fingerprint.to_string(), e.message, attempts),
            );
            None
        }
    }
}

/// A pod from a workload's template, owned by `owner`: named `pod_name`, or generated from
/// `<pod_name>` as a `generateName` prefix when it ends in `-`.
pub(crate) fn pod_from_template(
    template: &Value,
    ns: &str,
    pod_name: &str,
    owner: &Value,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    let mut meta =
        json!({"namespace": ns, "labels": labels, "ownerReferences": [owner_ref(owner)]});
    if pod_name.ends_with('-') {
        meta["generateName"] = json!(pod_name);
    } else {
        meta["name"] = json!(pod_name);
    }
    if let Some(a) = template["metadata"]["annotations"]
        .as_object()
        .filter(|a| !a.is_empty())
    {
        meta["annotations"] = json!(a);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"].clone()})
}
