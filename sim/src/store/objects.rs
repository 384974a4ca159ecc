//! The object map: create, update, delete with resource versions, garbage collection, watch history.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::admit::{Admission, Operation, Reader};
use super::catalog::{RESOURCES, ResourceType};
use super::change::{Change, ChangeType};
use super::error::ApiError;
use crate::names::{
    DEFAULT_SERVICE_ACCOUNT, DNS1123_LABEL_MESSAGE, DNS1123_SUBDOMAIN_MESSAGE, is_dns1123_label,
    is_dns1123_subdomain,
};

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
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
        // Keys sort by group, plural, namespace, name: a resource's objects (of one namespace)
        // are one contiguous range, so a list never walks the rest of the store (Events pile up).
        let from = (
            rt.group,
            rt.plural,
            namespace.unwrap_or("").to_string(),
            String::new(),
        );
        self.objects
            .range(from..)
            .take_while(|((g, p, ns, _), _)| {
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
    let problem = if rt.group == "rbac.authorization.k8s.io" {
        (name == "." || name == ".." || name.contains('/') || name.contains('%'))
            .then_some("may not be '.' or '..' and may not contain '/' or '%'")
    } else if rt.kind == "Namespace" || rt.kind == "Service" {
        (!is_dns1123_label(name)).then_some(DNS1123_LABEL_MESSAGE)
    } else {
        (!is_dns1123_subdomain(name)).then_some(DNS1123_SUBDOMAIN_MESSAGE)
    };
    match problem {
        Some(p) => Err(ApiError::invalid(format!(
            "{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": {p}",
            rt.kind
        ))),
        None => Ok(()),
    }
}

/// The order in which this store created the object with this uid (uids are issued from one
/// counter), or `None` for a uid it did not issue.
pub fn creation_order(uid: &str) -> Option<u64> {
    let hex = uid.strip_prefix(UID_PREFIX)?;
    u64::from_str_radix(hex, 16).ok()
}

/// Every uid this store issues: the prefix, then the creation counter in 12 hex digits.
const UID_PREFIX: &str = "00000000-0000-4000-8000-";

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

    /// `f` over the store as it is now, reading objects in place rather than copying them (the
    /// store is locked meanwhile, so `f` must not call the store).
    pub fn read<T>(&self, f: impl FnOnce(&dyn Reader) -> T) -> T {
        f(&*self.lock())
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
    ///
    /// A new namespace gets its `default` ServiceAccount in the same step: on a cluster the
    /// ServiceAccount controller adds it within a second and the ServiceAccount admission retries
    /// its lookup of `default` for about as long, so a pod created right after its namespace is
    /// admitted there too (docs/real-apiserver-facts.md, ServiceAccounts).
    pub fn create(&self, rt: &'static ResourceType, obj: Value) -> Result<Value, ApiError> {
        self.create_with(rt, obj, false)
    }

    /// [`Store::create`], or with `dry_run` everything but storing it (`?dryRun=All`): admission
    /// and validation run and the answer is the object as it would be stored, with its uid and
    /// creation time but no resource version, as the API server's dry-run answers.
    pub fn create_with(
        &self,
        rt: &'static ResourceType,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let created = self.create_locked(&mut inner, rt, obj, dry_run)?;
        if rt.kind == "Namespace" && !dry_run {
            let sa = RESOURCES
                .iter()
                .find(|r| r.kind == "ServiceAccount")
                .expect("ServiceAccount is in the catalogue");
            let ns = created["metadata"]["name"].clone();
            // Cannot fail for a namespace just created; if it did, the pod admission says so.
            let _ = self.create_locked(
                &mut inner,
                sa,
                json!({"metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": ns}}),
                false,
            );
        }
        Ok(created)
    }

    fn create_locked(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
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
        inner.uid_counter += 1;
        let uid = format!("{UID_PREFIX}{:012x}", inner.uid_counter);
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let meta = obj["metadata"]
            .as_object_mut()
            .expect("metadata checked by key()");
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        // `managedFields` are the API layer's (api/managed.rs); anything else sent none.
        meta.remove("deletionTimestamp");
        meta.remove("resourceVersion");
        if dry_run {
            return Ok(obj);
        }
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(k, obj.clone());
        self.record(inner, ChangeType::Added, rt, obj.clone(), None);
        Ok(obj)
    }

    /// Replaces an object's spec and metadata (status is kept unless the type has no status subresource).
    ///
    /// When `obj` carries a resource version it must match the stored one (optimistic concurrency).
    pub fn update(&self, rt: &'static ResourceType, obj: Value) -> Result<Value, ApiError> {
        self.write(rt, obj, Write::Main, false)
    }

    /// [`Store::update`] (`status_only`: [`Store::update_status`]), or with `dry_run` everything
    /// but storing it: the answer is the object as it would be stored, with the current resource
    /// version, as the API server's dry-run answers.
    pub fn update_with(
        &self,
        rt: &'static ResourceType,
        obj: Value,
        status_only: bool,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mode = if status_only {
            Write::Status
        } else {
            Write::Main
        };
        self.write(rt, obj, mode, dry_run)
    }

    /// Replaces an object's status only, through the status subresource.
    pub fn update_status(&self, rt: &'static ResourceType, obj: Value) -> Result<Value, ApiError> {
        self.write(rt, obj, Write::Status, false)
    }

    /// The one write path of updates: concurrency check, admission, generation, history.
    pub(super) fn write(
        &self,
        rt: &'static ResourceType,
        mut obj: Value,
        mode: Write,
        dry_run: bool,
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
        // Field ownership is the API layer's (api/managed.rs): a write that sends none (the
        // controllers' writes, status writes) keeps what was recorded.
        if new["metadata"].get("managedFields").is_none()
            && let Some(m) = old["metadata"].get("managedFields")
        {
            new["metadata"]["managedFields"] = m.clone();
        }
        if new == old_with_rv(&old, &new) {
            // Nothing changed: like the API server, keep the resource version and send no event.
            return Ok(old);
        }
        if dry_run {
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            return Ok(new);
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
        self.delete_with(rt, namespace, name, false)
    }

    /// [`Store::delete`], or with `dry_run` only the answer: the object as it is (marked for
    /// deletion when finalizers would hold it), nothing changed and nothing collected.
    pub fn delete_with(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        dry_run: bool,
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
        if dry_run {
            if !finalizers_empty(&obj) && obj["metadata"]["deletionTimestamp"].is_null() {
                obj["metadata"]["deletionTimestamp"] = json!(now());
            }
            return Ok(obj);
        }
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
