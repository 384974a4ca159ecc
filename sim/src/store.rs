//! In-memory object store with resource versions and change notifications.
//!
//! Objects are kept as JSON exactly as clients sent them (plus server-set metadata), because the
//! platform must round-trip fields it does not model. One global resource version counter orders
//! every change, as etcd's revision does, so watches can resume from any recent version.

pub mod bootstrap;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

/// A resource type the platform serves: where it lives in the API and how it is scoped.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind, e.g. `Pod`.
    pub kind: &'static str,
    /// Plural resource name used in URLs, e.g. `pods`.
    pub plural: &'static str,
    /// Singular name, for kubectl.
    pub singular: &'static str,
    /// Short names, for kubectl.
    pub short_names: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether the `status` subresource exists (status changes only through it).
    pub has_status: bool,
    /// Verbs advertised in discovery.
    pub verbs: &'static [&'static str],
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];

macro_rules! rt {
    ($g:expr, $v:expr, $k:expr, $p:expr, $s:expr, [$($sn:expr),*], $ns:expr, $st:expr) => {
        ResourceType { group: $g, version: $v, kind: $k, plural: $p, singular: $s, short_names: &[$($sn),*],
                       namespaced: $ns, has_status: $st, verbs: RW }
    };
}

/// Every resource type the platform serves.
pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        ["ns"],
        false,
        true
    ),
    rt!("", "v1", "Secret", "secrets", "secret", [], true, false),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        ["cm"],
        true,
        false
    ),
    rt!(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        ["sa"],
        true,
        false
    ),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        ["svc"],
        true,
        true
    ),
    rt!("", "v1", "Pod", "pods", "pod", ["po"], true, true),
    rt!("", "v1", "Event", "events", "event", ["ev"], true, false),
    rt!(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        "resourcequota",
        ["quota"],
        true,
        true
    ),
    rt!(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        "limitrange",
        ["limits"],
        true,
        false
    ),
    rt!(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        ["pvc"],
        true,
        true
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        ["deploy"],
        true,
        true
    ),
    rt!(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        ["sts"],
        true,
        true
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        ["netpol"],
        true,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        "role",
        [],
        true,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        "rolebinding",
        [],
        true,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        [],
        false,
        false
    ),
    rt!(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        [],
        false,
        false
    ),
    ResourceType {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SubjectAccessReview",
        plural: "subjectaccessreviews",
        singular: "subjectaccessreview",
        short_names: &[],
        namespaced: false,
        has_status: false,
        verbs: CREATE_ONLY,
    },
    ResourceType {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        short_names: &[],
        namespaced: false,
        has_status: false,
        verbs: CREATE_ONLY,
    },
    rt!(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        ["crd", "crds"],
        false,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "SeldonRuntime",
        "seldonruntimes",
        "seldonruntime",
        [],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "SeldonConfig",
        "seldonconfigs",
        "seldonconfig",
        [],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "ServerConfig",
        "serverconfigs",
        "serverconfig",
        [],
        true,
        false
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "Server",
        "servers",
        "server",
        ["mls"],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "Model",
        "models",
        "model",
        ["mlm"],
        true,
        true
    ),
    rt!(
        "mlops.seldon.io",
        "v1alpha1",
        "Pipeline",
        "pipelines",
        "pipeline",
        ["mlp"],
        true,
        true
    ),
];

impl ResourceType {
    /// `group/version`, or `version` for the core group, as in `apiVersion`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the type comes from a CustomResourceDefinition (served only while its CRD exists).
    pub fn is_custom(&self) -> bool {
        !(self.group.is_empty() || self.group == "apps" || self.group.ends_with(".k8s.io"))
    }

    /// The name of the CRD that defines this type: `<plural>.<group>`.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// Looks a resource type up by group and plural name.
    pub fn by_plural(group: &str, plural: &str) -> Option<&'static ResourceType> {
        RESOURCES
            .iter()
            .find(|r| r.group == group && r.plural == plural)
    }

    /// Looks a resource type up by `apiVersion` and `kind`.
    pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
        RESOURCES
            .iter()
            .find(|r| r.kind == kind && r.api_version() == api_version)
    }
}

/// A Kubernetes `Status` failure: code, machine reason and human message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// `Status.message`, worded as Kubernetes words it.
    pub message: String,
    /// `Status.details` (kind, name, group), when known.
    pub details: Option<Value>,
}

impl ApiError {
    fn with(
        code: u16,
        reason: &'static str,
        message: String,
        rt: Option<&ResourceType>,
        name: &str,
    ) -> ApiError {
        let details = rt.map(|rt| json!({"name": name, "group": rt.group, "kind": rt.plural}));
        ApiError {
            code,
            reason,
            message,
            details,
        }
    }
    /// `<plural>.<group> "<name>" not found` (404).
    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::with(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(rt)),
            Some(rt),
            name,
        )
    }
    /// `<plural>.<group> "<name>" already exists` (409).
    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        ApiError::with(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(rt)),
            Some(rt),
            name,
        )
    }
    /// Optimistic-concurrency conflict (409), worded as the API server does.
    pub fn conflict(rt: &ResourceType, name: &str) -> ApiError {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            qualified(rt)
        );
        ApiError::with(409, "Conflict", msg, Some(rt), name)
    }
    /// Forbidden (403) with a full message, e.g. from admission.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: message.into(),
            details: None,
        }
    }
    /// Invalid (422) with a full message.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: message.into(),
            details: None,
        }
    }
    /// BadRequest (400) with a full message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }
    /// Gone (410): the requested resource version is too old to watch from.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 410,
            reason: "Expired",
            message: message.into(),
            details: None,
        }
    }
    /// NotFound (404) for a path the server does not serve.
    pub fn no_route() -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".into(),
            details: None,
        }
    }
    /// MethodNotAllowed (405): the verb is not supported on this resource.
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: message.into(),
            details: None,
        }
    }
    /// NotAcceptable (406): no response media type the client accepts.
    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 406,
            reason: "NotAcceptable",
            message: message.into(),
            details: None,
        }
    }
    /// UnsupportedMediaType (415): the request body's content type is not supported here.
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: message.into(),
            details: None,
        }
    }
    /// TooManyRequests (429): the client must retry later.
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 429,
            reason: "TooManyRequests",
            message: message.into(),
            details: None,
        }
    }
    /// InternalError (500).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 500,
            reason: "InternalError",
            message: message.into(),
            details: None,
        }
    }
    /// The `Status` object clients expect in the response body.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

/// What a change did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was removed.
    Deleted,
}

/// One change, as watches deliver it.
#[derive(Debug, Clone)]
pub struct Change {
    /// What happened.
    pub kind: ChangeType,
    /// The object's resource type.
    pub resource: &'static ResourceType,
    /// The object after the change (before it, for deletions, with the deletion's resource version).
    pub object: Value,
    /// The object before a modification, so watches can tell when it left or entered a selector.
    pub previous: Option<Value>,
    /// The global resource version of this change.
    pub resource_version: u64,
}

impl Change {
    /// The object's namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }
}

/// The operation admission is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to an existing object (spec/metadata, not status).
    Update,
}

/// Read access to stored objects, given to admission while the store is locked.
pub trait Reader {
    /// One object.
    fn get(&self, rt: &ResourceType, namespace: Option<&str>, name: &str) -> Option<&Value>;
    /// All objects of a type, in one namespace or all.
    fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<&Value>;
}

/// Admission control: may change the object or reject it, as admission plugins do.
pub trait Admission: Send + Sync {
    /// Called before an object is stored; `old` is the stored object on update.
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError>;
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Spec and metadata (the main resource).
    Main,
    /// Status only (the `status` subresource).
    Status,
    /// Like `Main`, and a namespace's `spec.finalizers` too (the `finalize` subresource).
    Finalize,
}

type ObjKey = (&'static str, &'static str, String, String); // (group, plural, namespace or "", name)

/// How many changes are kept to resume watches from; older versions answer 410 Gone.
const HISTORY: usize = 10_000;

struct Inner {
    rv: u64,
    uid_counter: u64,
    name_counter: u64,
    objects: BTreeMap<ObjKey, Value>,
    history: VecDeque<Change>,
}

impl Reader for Inner {
    fn get(&self, rt: &ResourceType, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.objects.get(&(
            rt.group,
            rt.plural,
            namespace.unwrap_or("").to_string(),
            name.to_string(),
        ))
    }
    fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|((g, p, ns, _), _)| {
                *g == rt.group && *p == rt.plural && namespace.is_none_or(|n| n == ns)
            })
            .map(|(_, v)| v)
            .collect()
    }
}

/// The object store. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    admission: Arc<Vec<Box<dyn Admission>>>,
    tx: broadcast::Sender<Change>,
}

fn key(rt: &'static ResourceType, obj: &Value) -> Result<ObjKey, ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::invalid(format!(
            "{} is invalid: metadata.name: Required value: name is required",
            rt.kind
        )));
    }
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    if rt.namespaced && ns.is_empty() {
        return Err(ApiError::bad_request(
            "the server could not find the requested resource: namespace is required",
        ));
    }
    Ok((
        rt.group,
        rt.plural,
        if rt.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    ))
}

/// Five characters from the alphabet the API server uses for `generateName` (no vowels, no look-alikes).
fn generated_suffix(mut n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // Spread consecutive counters so generated names do not look sequential.
    n = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Name rules of the API server: RBAC objects allow any path segment, namespaces and services need a
/// DNS label, everything else a DNS subdomain.
fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    let problem = if rt.group == "rbac.authorization.k8s.io" {
        (name == "." || name == ".." || name.contains('/') || name.contains('%'))
            .then(|| "may not be '.' or '..' and may not contain '/' or '%'".to_string())
    } else if rt.kind == "Namespace" || rt.kind == "Service" {
        (!label(name)).then(|| {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character".to_string()
        })
    } else {
        (name.len() > 253 || !name.split('.').all(label)).then(|| {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_string()
        })
    };
    match problem {
        Some(p) => Err(ApiError::invalid(format!(
            "{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": {p}",
            rt.kind
        ))),
        None => Ok(()),
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Store {
    /// A new empty store with the given admission chain (run in order).
    pub fn new(admission: Vec<Box<dyn Admission>>) -> Store {
        let (tx, _) = broadcast::channel(16_384);
        let inner = Inner {
            rv: 1,
            uid_counter: 0,
            name_counter: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
        };
        Store {
            inner: Arc::new(Mutex::new(inner)),
            admission: Arc::new(admission),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every write is one insert), so recover.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current global resource version.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// One object, if it exists.
    pub fn get(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.lock().get(rt, namespace, name).cloned()
    }

    /// Whether the API serves the type now: built-in types always, custom types while their CRD exists.
    pub fn serves(&self, rt: &ResourceType) -> bool {
        if !rt.is_custom() {
            return true;
        }
        let crd = RESOURCES
            .iter()
            .find(|r| r.kind == "CustomResourceDefinition")
            .expect("CRD type is in the catalogue");
        self.lock().get(crd, None, &rt.crd_name()).is_some()
    }

    /// All objects of a type (in a namespace, or all) and the resource version of the list.
    pub fn list(&self, rt: &'static ResourceType, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        (
            inner.list(rt, namespace).into_iter().cloned().collect(),
            inner.rv,
        )
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: ChangeType,
        rt: &'static ResourceType,
        object: Value,
        previous: Option<Value>,
    ) {
        let change = Change {
            kind,
            resource: rt,
            object,
            previous,
            resource_version: inner.rv,
        };
        inner.history.push_back(change.clone());
        if inner.history.len() > HISTORY {
            inner.history.pop_front();
        }
        // No receivers is fine: nobody is watching yet.
        let _ = self.tx.send(change);
    }

    /// Creates an object: runs admission, sets uid, timestamps, generation and resource version.
    ///
    /// A missing name is generated from `metadata.generateName`, as the API server does.
    pub fn create(&self, rt: &'static ResourceType, mut obj: Value) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        if !obj["metadata"].is_object() {
            return Err(ApiError::invalid(format!(
                "{} is invalid: metadata: Required value",
                rt.kind
            )));
        }
        let prefix = obj["metadata"]["generateName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
            && !prefix.is_empty()
        {
            inner.name_counter += 1;
            obj["metadata"]["name"] =
                json!(format!("{prefix}{}", generated_suffix(inner.name_counter)));
        }
        let k = key(rt, &obj)?;
        validate_name(rt, &k.3)?;
        if rt.kind == "Namespace" {
            // As the API server's namespace strategy does on create.
            obj["status"] = json!({"phase": "Active"});
            if obj["spec"]["finalizers"].is_null() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
        }
        if inner.objects.contains_key(&k) {
            return Err(ApiError::already_exists(rt, &k.3));
        }
        for a in self.admission.iter() {
            a.admit(&*inner, Operation::Create, rt, &mut obj, None)?;
        }
        inner.rv += 1;
        inner.uid_counter += 1;
        let uid = format!("00000000-0000-4000-8000-{:012x}", inner.uid_counter);
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let meta = obj["metadata"]
            .as_object_mut()
            .expect("metadata checked by key()");
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(inner.rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        meta.remove("managedFields");
        meta.remove("deletionTimestamp");
        inner.objects.insert(k, obj.clone());
        self.record(&mut inner, ChangeType::Added, rt, obj.clone(), None);
        Ok(obj)
    }

    /// Replaces an object's spec and metadata (status is kept unless the type has no status subresource).
    ///
    /// When `obj` carries a resource version it must match the stored one (optimistic concurrency).
    pub fn update(&self, rt: &'static ResourceType, obj: Value) -> Result<Value, ApiError> {
        self.write(rt, obj, Write::Main)
    }

    /// Replaces an object's status only, through the status subresource.
    pub fn update_status(&self, rt: &'static ResourceType, obj: Value) -> Result<Value, ApiError> {
        self.write(rt, obj, Write::Status)
    }

    fn write(
        &self,
        rt: &'static ResourceType,
        mut obj: Value,
        mode: Write,
    ) -> Result<Value, ApiError> {
        let status_only = mode == Write::Status;
        let mut inner = self.lock();
        let k = key(rt, &obj)?;
        let Some(old) = inner.objects.get(&k).cloned() else {
            return Err(ApiError::not_found(rt, &k.3));
        };
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
            && !rv.is_empty()
            && Some(rv) != old["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError::conflict(rt, &k.3));
        }
        let mut new = if status_only {
            let mut n = old.clone();
            n["status"] = obj["status"].take();
            if n["status"].is_null() {
                n.as_object_mut().expect("object").remove("status");
            }
            n
        } else {
            // Only the namespace controller changes a namespace's finalizers (the `finalize` subresource).
            if rt.kind == "Namespace" && mode == Write::Main {
                match old["spec"].get("finalizers") {
                    Some(f) => obj["spec"]["finalizers"] = f.clone(),
                    None => {
                        if let Some(spec) = obj["spec"].as_object_mut() {
                            spec.remove("finalizers");
                        }
                    }
                }
            }
            if rt.has_status {
                obj["status"] = old["status"].clone();
                if obj["status"].is_null() {
                    obj.as_object_mut().expect("object").remove("status");
                }
            }
            for a in self.admission.iter() {
                a.admit(&*inner, Operation::Update, rt, &mut obj, Some(&old))?;
            }
            obj
        };
        // Server-owned metadata always comes from the stored object.
        for f in ["uid", "creationTimestamp", "deletionTimestamp"] {
            match old["metadata"].get(f) {
                Some(v) => new["metadata"][f] = v.clone(),
                None => {
                    new["metadata"].as_object_mut().expect("metadata").remove(f);
                }
            }
        }
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        let spec_changed = !status_only && strip_for_generation(&old) != strip_for_generation(&new);
        new["metadata"]["generation"] = json!(if spec_changed {
            generation + 1
        } else {
            generation
        });
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        new["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("managedFields");
        if new == old_with_rv(&old, &new) {
            // Nothing changed: like the API server, keep the resource version and send no event.
            return Ok(old);
        }
        inner.rv += 1;
        new["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        // An object being deleted whose last finalizer was removed goes away now.
        let finished = new["metadata"]["deletionTimestamp"].is_string() && finalizers_empty(&new);
        if finished {
            inner.objects.remove(&k);
            self.record(&mut inner, ChangeType::Deleted, rt, new.clone(), None);
            drop(inner);
            self.collect_garbage(&new);
            return Ok(new);
        }
        inner.objects.insert(k, new.clone());
        self.record(&mut inner, ChangeType::Modified, rt, new.clone(), Some(old));
        Ok(new)
    }

    /// Deletes an object. With finalizers it is only marked (deletionTimestamp) until they are removed.
    /// Dependents (ownerReferences) are deleted in the background, and a namespace takes its objects with it.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let k: ObjKey = (
            rt.group,
            rt.plural,
            namespace.unwrap_or("").to_string(),
            name.to_string(),
        );
        let Some(mut obj) = inner.objects.get(&k).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        if !finalizers_empty(&obj) {
            // Already marked: deleting again changes nothing, as on the API server.
            if obj["metadata"]["deletionTimestamp"].is_null() {
                let previous = obj.clone();
                inner.rv += 1;
                obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
                obj["metadata"]["deletionTimestamp"] = json!(now());
                if rt.kind == "Namespace" {
                    obj["status"]["phase"] = json!("Terminating");
                }
                inner.objects.insert(k, obj.clone());
                self.record(
                    &mut inner,
                    ChangeType::Modified,
                    rt,
                    obj.clone(),
                    Some(previous),
                );
            }
            return Ok(obj);
        }
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.remove(&k);
        self.record(&mut inner, ChangeType::Deleted, rt, obj.clone(), None);
        drop(inner);
        self.collect_garbage(&obj);
        Ok(obj)
    }

    /// Deletes what depended on a deleted object: owned objects, and a namespace's contents.
    fn collect_garbage(&self, deleted: &Value) {
        let uid = deleted["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let is_namespace = deleted["kind"] == "Namespace";
        let ns_name = deleted["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // Deleting a CRD deletes every object of the type it defined.
        let defined = (deleted["kind"] == "CustomResourceDefinition")
            .then(|| {
                let group = deleted["spec"]["group"].as_str()?;
                let plural = deleted["spec"]["names"]["plural"].as_str()?;
                ResourceType::by_plural(group, plural)
            })
            .flatten();
        let doomed: Vec<(&'static ResourceType, Option<String>, String)> = {
            let inner = self.lock();
            RESOURCES
                .iter()
                .flat_map(|rt| inner.list(rt, None).into_iter().map(move |o| (rt, o)))
                .filter(|(rt, o)| {
                    let owned = o["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(&uid)));
                    let in_ns = is_namespace
                        && rt.namespaced
                        && o["metadata"]["namespace"].as_str() == Some(&ns_name);
                    owned || in_ns || defined.is_some_and(|d| std::ptr::eq(d, *rt))
                })
                .map(|(rt, o)| {
                    let ns = o["metadata"]["namespace"].as_str().map(str::to_string);
                    (
                        rt,
                        ns,
                        o["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect()
        };
        for (rt, ns, name) in doomed {
            // Already gone through another owner is fine.
            let _ = self.delete(rt, ns.as_deref(), &name);
        }
    }

    /// Changes after `resource_version` still in history, plus a live receiver for what follows.
    ///
    /// Fails with 410 Gone when the version is older than the kept history, so clients relist.
    pub fn watch_from(
        &self,
        resource_version: u64,
    ) -> Result<(Vec<Change>, broadcast::Receiver<Change>), ApiError> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let oldest = inner
            .history
            .front()
            .map(|c| c.resource_version)
            .unwrap_or(inner.rv);
        if resource_version + 1 < oldest && resource_version < inner.rv {
            return Err(ApiError::gone(format!(
                "too old resource version: {resource_version} ({oldest})"
            )));
        }
        let backlog = inner
            .history
            .iter()
            .filter(|c| c.resource_version > resource_version)
            .cloned()
            .collect();
        Ok((backlog, rx))
    }

    /// The objects of a type now, the resource version they were read at, and a receiver of every
    /// later change: one consistent cut, so a watch that starts from a list misses nothing.
    pub fn list_and_subscribe(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
    ) -> (Vec<Value>, u64, broadcast::Receiver<Change>) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        (
            inner.list(rt, namespace).into_iter().cloned().collect(),
            inner.rv,
            rx,
        )
    }

    /// The namespace controller's work for one terminating namespace: deletes what it contains and,
    /// once nothing is left (finalizers may hold objects), removes the `kubernetes` finalizer so the
    /// namespace goes away. Returns whether the namespace is gone.
    pub fn finalize_namespace(&self, name: &str) -> bool {
        let ns_rt = RESOURCES
            .iter()
            .find(|r| r.kind == "Namespace")
            .expect("Namespace is in the catalogue");
        let Some(ns) = self.get(ns_rt, None, name) else {
            return true;
        };
        if ns["metadata"]["deletionTimestamp"].is_null() {
            return false;
        }
        let mut remaining = 0;
        for rt in RESOURCES.iter().filter(|r| r.namespaced) {
            for obj in self.list(rt, Some(name)).0 {
                let obj_name = obj["metadata"]["name"].as_str().unwrap_or_default();
                match self.delete(rt, Some(name), obj_name) {
                    Ok(_) if self.get(rt, Some(name), obj_name).is_some() => remaining += 1,
                    _ => {}
                }
            }
        }
        if remaining > 0 {
            return false;
        }
        let mut done = ns;
        done["spec"]["finalizers"] = json!([]);
        let _ = self.write(ns_rt, done, Write::Finalize);
        self.get(ns_rt, None, name).is_none()
    }

    /// The namespace controller: empties terminating namespaces after `grace`, then lets them go.
    /// The grace period matters: clients such as `kubectl delete -f` delete a namespace and then
    /// its contents one by one, which on a real cluster still exist for a while.
    pub async fn run_namespace_controller(self, grace: std::time::Duration) {
        use tokio::time::{Duration, Instant, sleep_until};
        let mut rx = self.subscribe();
        let mut due: BTreeMap<String, Instant> = BTreeMap::new();
        loop {
            let next = due
                .values()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                change = rx.recv() => match change {
                    Ok(c) if c.resource.kind == "Namespace" && c.kind == ChangeType::Modified
                        && c.object["metadata"]["deletionTimestamp"].is_string() => {
                        let name = c.object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                        due.entry(name).or_insert_with(|| Instant::now() + grace);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let ns_rt = RESOURCES.iter().find(|r| r.kind == "Namespace").expect("catalogue");
                        for ns in self.list(ns_rt, None).0 {
                            if ns["metadata"]["deletionTimestamp"].is_string() {
                                let name = ns["metadata"]["name"].as_str().unwrap_or_default().to_string();
                                due.entry(name).or_insert_with(|| Instant::now() + grace);
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = sleep_until(next) => {
                    let now = Instant::now();
                    let ready: Vec<String> = due.iter().filter(|(_, t)| **t <= now).map(|(n, _)| n.clone()).collect();
                    for name in ready {
                        if self.finalize_namespace(&name) {
                            due.remove(&name);
                        } else {
                            // Objects held by finalizers: look again shortly, as the controller requeues.
                            due.insert(name, now + Duration::from_millis(100));
                        }
                    }
                }
            }
        }
    }

    /// How many change receivers are live (open watches plus controllers): lets tests wait until a
    /// client's watch is established instead of sleeping.
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A receiver of every change from now on, for controllers.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}

/// No finalizer holds the object. Namespaces are also held by `spec.finalizers` (`kubernetes`),
/// which the namespace controller removes once the namespace is empty.
fn finalizers_empty(obj: &Value) -> bool {
    let empty = |v: &Value| v.as_array().is_none_or(|f| f.is_empty());
    empty(&obj["metadata"]["finalizers"])
        && (obj["kind"] != "Namespace" || empty(&obj["spec"]["finalizers"]))
}

/// What counts for `metadata.generation`: everything but metadata and status.
fn strip_for_generation(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

/// `old` with the new object's resource version and generation, to compare for no-op writes.
fn old_with_rv(old: &Value, new: &Value) -> Value {
    let mut o = old.clone();
    o["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"].clone();
    if new["metadata"]["resourceVersion"].is_null() {
        o["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("resourceVersion");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(kind: &str) -> &'static ResourceType {
        RESOURCES.iter().find(|r| r.kind == kind).unwrap()
    }

    #[test]
    fn create_sets_metadata_and_conflicts_are_detected() {
        let s = Store::new(vec![]);
        let cm = s
            .create(
                rt("ConfigMap"),
                json!({"metadata": {"name": "a", "namespace": "n"}, "data": {"k": "v"}}),
            )
            .unwrap();
        assert_eq!(cm["metadata"]["generation"], 1);
        assert_eq!(cm["apiVersion"], "v1");
        let err = s.create(rt("ConfigMap"), cm.clone()).unwrap_err();
        assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
        let mut stale = cm.clone();
        stale["data"]["k"] = json!("w");
        let updated = s.update(rt("ConfigMap"), stale.clone()).unwrap();
        assert_eq!(updated["metadata"]["generation"], 2);
        let err = s.update(rt("ConfigMap"), stale).unwrap_err();
        assert_eq!(err.reason, "Conflict");
    }

    #[test]
    fn no_op_update_keeps_resource_version() {
        let s = Store::new(vec![]);
        let cm = s
            .create(
                rt("ConfigMap"),
                json!({"metadata": {"name": "a", "namespace": "n"}}),
            )
            .unwrap();
        let again = s.update(rt("ConfigMap"), cm.clone()).unwrap();
        assert_eq!(
            again["metadata"]["resourceVersion"],
            cm["metadata"]["resourceVersion"]
        );
    }

    #[test]
    fn status_changes_only_through_subresource() {
        let s = Store::new(vec![]);
        let m = s.create(rt("Model"), json!({"metadata": {"name": "m", "namespace": "n"}, "spec": {"storageUri": "s3://x"}})).unwrap();
        let mut with_status = m.clone();
        with_status["status"] = json!({"replicas": 1});
        let after = s.update(rt("Model"), with_status.clone()).unwrap();
        assert!(after["status"].is_null());
        let after = s.update_status(rt("Model"), with_status).unwrap();
        assert_eq!(after["status"]["replicas"], 1);
        assert_eq!(after["metadata"]["generation"], 1);
    }

    #[test]
    fn finalizers_delay_deletion_and_owners_cascade() {
        let s = Store::new(vec![]);
        let owner = s
            .create(
                rt("StatefulSet"),
                json!({"metadata": {"name": "o", "namespace": "n", "finalizers": ["x"]}}),
            )
            .unwrap();
        let uid = owner["metadata"]["uid"].clone();
        s.create(
            rt("Pod"),
            json!({"metadata": {"name": "p", "namespace": "n", "ownerReferences": [{"uid": uid}]}}),
        )
        .unwrap();
        let marked = s.delete(rt("StatefulSet"), Some("n"), "o").unwrap();
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(s.get(rt("Pod"), Some("n"), "p").is_some());
        let mut done = marked.clone();
        done["metadata"]["finalizers"] = json!([]);
        s.update(rt("StatefulSet"), done).unwrap();
        assert!(s.get(rt("StatefulSet"), Some("n"), "o").is_none());
        assert!(s.get(rt("Pod"), Some("n"), "p").is_none());
    }

    #[test]
    fn watch_resumes_from_a_resource_version() {
        let s = Store::new(vec![]);
        let rv = s.resource_version();
        s.create(
            rt("ConfigMap"),
            json!({"metadata": {"name": "a", "namespace": "n"}}),
        )
        .unwrap();
        let (backlog, _rx) = s.watch_from(rv).unwrap();
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].kind, ChangeType::Added);
    }
}
