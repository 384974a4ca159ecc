//! Naming objects: references by apiVersion, kind, namespace and name; resolved watch targets;
//! and the ownership labels every object a run writes carries.

use std::collections::BTreeMap;
use std::fmt;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
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
/// An object that cannot be named: no apiVersion, kind or name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {reason}")]
pub struct InvalidObject {
    /// The object, as far as it can be named.
    pub object: String,
    /// What is wrong.
    pub reason: String,
}

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
    pub fn from_value(obj: &Value) -> Result<Self, InvalidObject> {
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
            (a, k, n) => Err(InvalidObject {
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
/// An object to watch: its reference and its resolved API resource.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The object.
    pub object: ObjectRef,
    /// Its API resource (plural, group, version).
    pub resource: ApiResource,
}

/// The plural of a Seldon Core v2 kind (`mlops.seldon.io/v1alpha1`).
fn seldon_plural(kind: &str) -> String {
    format!("{}s", kind.to_ascii_lowercase())
}

impl Watched {
    /// A target from a reference and its API resource.
    pub fn new(object: ObjectRef, resource: ApiResource) -> Self {
        Self { object, resource }
    }

    /// A Seldon Core v2 object (`Model`, `Server`, `SeldonRuntime`, `Pipeline`, `Experiment`).
    pub fn seldon(kind: &str, namespace: &str, name: &str) -> Self {
        let object = ObjectRef::new("mlops.seldon.io/v1alpha1", kind, Some(namespace), name);
        let resource = ApiResource::from_gvk_with_plural(&object.gvk(), &seldon_plural(kind));
        Self { object, resource }
    }

    /// A typed Kubernetes object (`Watched::of::<StatefulSet>(Some("ns"), "name")`).
    pub fn of<K>(namespace: Option<&str>, name: &str) -> Self
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let resource = ApiResource::erase::<K>(&());
        let object = ObjectRef::new(&resource.api_version, &resource.kind, namespace, name);
        Self { object, resource }
    }

    /// A dynamic API for the object's resource, in its namespace.
    pub fn api(&self, client: &Client) -> Api<DynamicObject> {
        match &self.object.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
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
