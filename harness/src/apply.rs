//! The one apply path: server-side apply under one field manager, with ownership labels.
//!
//! Every object the harness writes goes through [`Applier::apply`]: it is labelled with
//! [`MANAGED_BY_LABEL`], [`SCENARIO_LABEL`] and [`RUN_LABEL`] so cleanup and the existing-cluster
//! mode know exactly what is theirs, resolved through API discovery (cached per [`Applier`]) and
//! written with `Patch::Apply` under [`FIELD_MANAGER`] with `force`. An object that already exists
//! without the harness label is never taken over (namespaces are *adopted*: the scenario's labels
//! are applied, ownership labels are not, and cleanup leaves them alone).
//!
//! Errors name the object (`Model financial-ml/credit-risk`) and carry the API's Status message
//! and reason; for Secrets, any secret value echoed by the server is redacted first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The field manager of every server-side apply the harness makes.
pub const FIELD_MANAGER: &str = "seldon-conformance-harness";
/// `app.kubernetes.io/managed-by`, set to [`FIELD_MANAGER`] on every object the harness writes.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The scenario that applied an object.
pub const SCENARIO_LABEL: &str = "conformance.harness/scenario";
/// The run that applied an object; cleanup deletes only objects carrying its own run id.
pub const RUN_LABEL: &str = "conformance.harness/run";

/// A Kubernetes object by apiVersion, kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `v1`, `mlops.seldon.io/v1alpha1`, ...
    pub api_version: String,
    /// `Model`, `Secret`, ...
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// A reference from its parts.
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(Into::into),
            name: name.into(),
        }
    }

    /// Reads `apiVersion`, `kind`, `metadata.namespace` and `metadata.name` of an object.
    pub fn from_value(obj: &Value) -> Result<Self, ApplyError> {
        let field = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let api_version = field(&obj["apiVersion"]);
        let kind = field(&obj["kind"]);
        let name = field(&obj["metadata"]["name"]);
        match (api_version, kind, name) {
            (Some(api_version), Some(kind), Some(name)) => Ok(Self {
                api_version,
                kind,
                namespace: field(&obj["metadata"]["namespace"]),
                name,
            }),
            (a, k, n) => Err(ApplyError::Invalid {
                object: format!(
                    "{} {}",
                    k.as_deref().unwrap_or("<no kind>"),
                    n.as_deref().unwrap_or("<no name>")
                ),
                reason: format!(
                    "an object needs apiVersion, kind and metadata.name (apiVersion: {})",
                    a.as_deref().unwrap_or("missing")
                ),
            }),
        }
    }

    /// The group/version/kind, for discovery.
    pub fn gvk(&self) -> GroupVersionKind {
        let (group, version) = match self.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version.as_str()),
        };
        GroupVersionKind::gvk(group, version, &self.kind)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The ownership labels of one run of one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLabels {
    /// The scenario name (`conformance.harness/scenario`).
    pub scenario: String,
    /// The run id (`conformance.harness/run`).
    pub run_id: String,
}

impl RunLabels {
    /// Labels for a scenario and run id.
    pub fn new(scenario: &str, run_id: &str) -> Self {
        Self {
            scenario: scenario.into(),
            run_id: run_id.into(),
        }
    }

    /// A fresh run id: UTC time plus a short random suffix, e.g. `r20250704-101500-3fa9`
    /// (a valid label value, sortable by start time).
    pub fn generate_run_id() -> String {
        let now = jiff::Timestamp::now();
        let stamp = now.strftime("%Y%m%d-%H%M%S");
        // No rand dependency: nanoseconds and pid are unique enough between two runs.
        let salt = (now.subsec_nanosecond() as u32) ^ std::process::id().rotate_left(16);
        format!("r{stamp}-{:04x}", salt & 0xffff)
    }

    /// The three ownership labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY_LABEL.to_string(), FIELD_MANAGER.to_string()),
            (SCENARIO_LABEL.to_string(), self.scenario.clone()),
            (RUN_LABEL.to_string(), self.run_id.clone()),
        ])
    }

    /// The label selector matching this run's objects: `conformance.harness/run=<id>`.
    pub fn selector(&self) -> String {
        format!("{RUN_LABEL}={}", self.run_id)
    }

    /// Whether a live object carries this run's label.
    pub fn owns(&self, obj: &DynamicObject) -> bool {
        label(obj, RUN_LABEL) == Some(self.run_id.as_str())
            && label(obj, MANAGED_BY_LABEL) == Some(FIELD_MANAGER)
    }
}

fn label<'a>(obj: &'a DynamicObject, key: &str) -> Option<&'a str> {
    obj.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Whether a live object was written by the harness (any run).
pub fn is_managed(obj: &DynamicObject) -> bool {
    label(obj, MANAGED_BY_LABEL) == Some(FIELD_MANAGER)
}

/// Merges labels into `metadata.labels` of an object given as JSON.
pub fn add_labels(obj: &mut Value, labels: &BTreeMap<String, String>) {
    if !obj["metadata"].is_object() {
        obj["metadata"] = Value::Object(Default::default());
    }
    let meta = &mut obj["metadata"];
    if !meta["labels"].is_object() {
        meta["labels"] = Value::Object(Default::default());
    }
    for (k, v) in labels {
        meta["labels"][k] = Value::String(v.clone());
    }
}

/// An API resource resolved by discovery.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

/// What one apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedObject {
    /// The object.
    pub object: ObjectRef,
    /// Its uid.
    pub uid: String,
    /// Its resourceVersion after the apply.
    pub resource_version: String,
    /// Whether this apply created it (false: it existed, from this or an earlier harness run).
    pub created: bool,
    /// Whether this apply changed it (false: server-side apply was a no-op).
    pub changed: bool,
    /// Whether it was adopted: it existed without the harness label (only namespaces), got the
    /// scenario's labels but no ownership labels, and cleanup must leave it alone.
    pub adopted: bool,
}

/// Why an apply (or a read/delete through the apply path) failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The object is malformed.
    #[error("{object}: {reason}")]
    Invalid {
        /// The object, as far as it can be named.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// Discovery does not know the kind (CRD missing, wrong apiVersion).
    #[error(
        "{object}: the API server does not serve {api} {kind} ({detail}); \
         is the CRD installed (Seldon's `seldon-core-v2-crds` chart for mlops.seldon.io) and the apiVersion right?",
        api = object.api_version, kind = object.kind
    )]
    UnknownKind {
        /// The object.
        object: Box<ObjectRef>,
        /// What discovery said.
        detail: String,
    },
    /// The API server answered with a Status failure (admission, validation, conflict, RBAC ...).
    #[error(
        "{object}: {verb} rejected by the API server (HTTP {code}, reason {reason}): {message}"
    )]
    Rejected {
        /// The object.
        object: Box<ObjectRef>,
        /// `apply`, `get`, `delete`, ...
        verb: &'static str,
        /// HTTP status code.
        code: u16,
        /// Machine-readable reason, e.g. `Forbidden`, `Invalid`.
        reason: String,
        /// The server's message (secret values redacted).
        message: String,
    },
    /// The object exists and was not written by the harness: it is never taken over.
    #[error(
        "{object} already exists and is not managed by the harness (no label {MANAGED_BY_LABEL}={FIELD_MANAGER}); \
         refusing to overwrite it: delete it, or run the scenario in a namespace the harness owns"
    )]
    NotOurs {
        /// The object.
        object: Box<ObjectRef>,
    },
    /// The request did not get an API answer (connection, TLS, decoding).
    #[error("{object}: {verb} failed: {detail}")]
    Transport {
        /// The object.
        object: Box<ObjectRef>,
        /// `apply`, `get`, `delete`, ...
        verb: &'static str,
        /// The client error.
        detail: String,
    },
}

impl ApplyError {
    /// The HTTP code of a rejection, if the server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ApplyError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Converts a client error about `object`, redacting `secrets` from any server message.
    pub fn from_kube(
        object: &ObjectRef,
        verb: &'static str,
        e: kube::Error,
        secrets: &[String],
    ) -> Self {
        match e {
            kube::Error::Api(status) => ApplyError::Rejected {
                object: Box::new(object.clone()),
                verb,
                code: status.code,
                reason: redact(&status.reason, secrets),
                message: redact(&status.message, secrets),
            },
            other => ApplyError::Transport {
                object: Box::new(object.clone()),
                verb,
                detail: redact(&other.to_string(), secrets),
            },
        }
    }
}

/// Replaces every occurrence of each secret string with `<redacted>`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Very short values (e.g. "1") would shred ordinary text; they cannot identify a secret anyway.
        if s.len() >= 4 {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out
}

/// The values of a Secret given as JSON (`data` base64 and decoded, `stringData`), for redaction.
pub fn secret_values(obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if obj["kind"] != "Secret" {
        return out;
    }
    // A value may be a whole config file (rclone): its lines and `key: value` parts are secrets too.
    let text_value = |v: &str, out: &mut Vec<String>| {
        out.push(v.to_string());
        for line in v.lines() {
            out.push(line.trim().to_string());
            if let Some((_, rest)) = line.split_once([':', '=']) {
                out.push(rest.trim().trim_matches(['"', '\'', ',']).to_string());
            }
        }
    };
    if let Some(data) = obj["data"].as_object() {
        for v in data.values().filter_map(Value::as_str) {
            out.push(v.to_string());
            if let Some(decoded) = decode_base64(v).and_then(|b| String::from_utf8(b).ok()) {
                text_value(&decoded, &mut out);
            }
        }
    }
    if let Some(data) = obj["stringData"].as_object() {
        for v in data.values().filter_map(Value::as_str) {
            text_value(v, &mut out);
        }
    }
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// Standard base64 (RFC 4648, with or without padding); `None` if it is not base64.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Applies objects for one run: discovery cache, ownership labels, one field manager.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    labels: RunLabels,
    cache: Arc<Mutex<HashMap<(String, String), Resolved>>>,
}

impl fmt::Debug for Applier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applier")
            .field("labels", &self.labels)
            .finish()
    }
}

impl Applier {
    /// An applier writing objects for one run.
    pub fn new(client: Client, labels: RunLabels) -> Self {
        Self {
            client,
            labels,
            cache: Arc::default(),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The run's ownership labels.
    pub fn labels(&self) -> &RunLabels {
        &self.labels
    }

    /// Resolves an object's kind through discovery (cached).
    pub async fn resolve(&self, object: &ObjectRef) -> Result<Resolved, ApplyError> {
        let key = (object.api_version.clone(), object.kind.clone());
        if let Some(r) = self.cache.lock().expect("discovery cache").get(&key) {
            return Ok(r.clone());
        }
        let gvk = object.gvk();
        let (resource, caps) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| ApplyError::UnknownKind {
                object: Box::new(object.clone()),
                detail: match e {
                    kube::Error::Api(s) => format!("HTTP {}: {}", s.code, s.message),
                    other => other.to_string(),
                },
            })?;
        let resolved = Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.cache
            .lock()
            .expect("discovery cache")
            .insert(key, resolved.clone());
        Ok(resolved)
    }

    /// The dynamic API for an object (namespaced or cluster-wide as discovery says).
    pub async fn api(&self, object: &ObjectRef) -> Result<Api<DynamicObject>, ApplyError> {
        let r = self.resolve(object).await?;
        Ok(match (&object.namespace, r.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &r.resource),
            (None, true) => {
                return Err(ApplyError::Invalid {
                    object: object.to_string(),
                    reason: format!("{} is namespaced: set metadata.namespace", object.kind),
                });
            }
            (_, false) => Api::all_with(self.client.clone(), &r.resource),
        })
    }

    /// Reads an object; `None` if it does not exist.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<DynamicObject>, ApplyError> {
        let api = self.api(object).await?;
        api.get_opt(&object.name)
            .await
            .map_err(|e| ApplyError::from_kube(object, "get", e, &[]))
    }

    /// Server-side applies one object with this run's ownership labels.
    ///
    /// Refuses ([`ApplyError::NotOurs`]) to take over an existing object without the harness
    /// label, except a Namespace, which is adopted: only the scenario's own labels are applied.
    pub async fn apply(&self, obj: &Value) -> Result<AppliedObject, ApplyError> {
        let object = ObjectRef::from_value(obj)?;
        let secrets = secret_values(obj);
        let api = self.api(&object).await?;
        let before = api
            .get_opt(&object.name)
            .await
            .map_err(|e| ApplyError::from_kube(&object, "get", e, &secrets))?;
        let adopted = match &before {
            Some(live) if !is_managed(live) => {
                if object.kind != "Namespace" || object.api_version != "v1" {
                    return Err(ApplyError::NotOurs {
                        object: Box::new(object),
                    });
                }
                true
            }
            _ => false,
        };
        let mut body = obj.clone();
        if !adopted {
            add_labels(&mut body, &self.labels.labels());
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let after = api
            .patch(&object.name, &params, &Patch::Apply(&body))
            .await
            .map_err(|e| ApplyError::from_kube(&object, "apply", e, &secrets))?;
        let rv = after.metadata.resource_version.clone().unwrap_or_default();
        let changed = before
            .as_ref()
            .and_then(|b| b.metadata.resource_version.as_deref())
            != Some(rv.as_str());
        tracing::debug!(
            object = %object,
            created = before.is_none(),
            changed,
            adopted,
            "applied"
        );
        Ok(AppliedObject {
            object,
            uid: after.metadata.uid.clone().unwrap_or_default(),
            resource_version: rv,
            created: before.is_none(),
            changed,
            adopted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_objects_like_kubectl() {
        let m = json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
            "metadata": {"name": "credit-risk", "namespace": "financial-ml"}});
        let r = ObjectRef::from_value(&m).unwrap();
        assert_eq!(r.to_string(), "Model financial-ml/credit-risk");
        assert_eq!(r.gvk().group, "mlops.seldon.io");
        let ns = ObjectRef::new("v1", "Namespace", None, "financial-ml");
        assert_eq!(ns.to_string(), "Namespace financial-ml");
        assert_eq!(ns.gvk().group, "");
        let bad = ObjectRef::from_value(&json!({"kind": "Model", "metadata": {}})).unwrap_err();
        assert!(bad.to_string().contains("Model <no name>"), "{bad}");
    }

    #[test]
    fn base64_round_trips() {
        for s in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "minioadmin",
            "\u{1f600} secret",
        ] {
            let e = encode_base64(s.as_bytes());
            assert_eq!(decode_base64(&e).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(encode_base64(b"minioadmin"), "bWluaW9hZG1pbg==");
        assert!(decode_base64("not base64!").is_none());
    }

    #[test]
    fn redacts_secret_values_from_server_messages() {
        let s = json!({"kind": "Secret", "stringData": {"s3": "type: s3\nsecret_access_key: hunter2-very-secret\n"},
            "data": {"k": encode_base64(b"plain-password")}});
        let values = secret_values(&s);
        let msg = "admission denied: value hunter2-very-secret and plain-password and cGxhaW4tcGFzc3dvcmQ=";
        assert!(values.contains(&"hunter2-very-secret".to_string()));
        let out = redact(msg, &values);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("plain-password"), "{out}");
        assert!(!out.contains("cGxhaW4tcGFzc3dvcmQ="), "{out}");
        assert!(out.starts_with("admission denied"));
    }

    #[test]
    fn run_ids_are_label_values() {
        let id = RunLabels::generate_run_id();
        assert!(id.len() <= 63 && id.starts_with('r'), "{id}");
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{id}"
        );
        let l = RunLabels::new("financial-ml", &id);
        assert_eq!(l.selector(), format!("conformance.harness/run={id}"));
        assert_eq!(l.labels()[MANAGED_BY_LABEL], FIELD_MANAGER);
    }
}
