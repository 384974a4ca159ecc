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
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::discovery::{self, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::object::{
    FIELD_MANAGER, InvalidObject, MANAGED_BY_LABEL, ObjectRef, RUN_LABEL, RunLabels,
    SCENARIO_LABEL, Watched, add_labels, is_managed,
};
use super::redact::{redact, secret_values};

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
    /// The labels an adopted object had before the run touched it: cleanup puts back exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_before: Option<std::collections::BTreeMap<String, String>>,
}

impl From<InvalidObject> for ApplyError {
    fn from(e: InvalidObject) -> ApplyError {
        ApplyError::Invalid {
            object: e.object,
            reason: e.reason,
        }
    }
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
    /// The object belongs to another run of the harness (running, kept, or crashed): it is never
    /// taken over or deleted by this run.
    #[error(
        "{object} belongs to another harness run, {run} (scenario {scenario}), which {state}; \
         refusing to take it over or delete it. Once that run is over, delete what it left with \
         `harness cleanup --run {run} --context <context> --allow-context <context>`, then run again"
    )]
    OtherRun {
        /// The object.
        object: Box<ObjectRef>,
        /// The other run's id.
        run: String,
        /// The other run's scenario.
        scenario: String,
        /// What its Lease says: still running, kept, or crashed (expired).
        state: String,
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
/// Applies objects for one run: discovery cache, ownership labels, one field manager.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    labels: RunLabels,
    cache: Arc<Mutex<HashMap<(String, String), Resolved>>>,
    before_apply: Option<BeforeApply>,
}

/// Called with every object before the applier sends it (to record it for cleanup first).
pub type BeforeApply = Arc<dyn Fn(&ObjectRef) + Send + Sync>;

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
            before_apply: None,
        }
    }

    /// Calls `hook` with every object before it is applied: a run records what it is about to
    /// create, so an interruption at any instant still finds it.
    pub fn before_apply(mut self, hook: BeforeApply) -> Self {
        self.before_apply = Some(hook);
        self
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
        if let Some(hook) = &self.before_apply {
            hook(&object);
        }
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
            Some(live) if !self.labels.owns(live) => {
                let label = |k: &str| {
                    live.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(k))
                        .cloned()
                        .unwrap_or_else(|| "<none>".into())
                };
                let run = label(RUN_LABEL);
                let state = match super::lease::state_of(&self.client, &run).await {
                    Ok(s) => s.to_string(),
                    Err(e) => format!("may still be running ({e})"),
                };
                return Err(ApplyError::OtherRun {
                    object: Box::new(object),
                    run,
                    scenario: label(SCENARIO_LABEL),
                    state,
                });
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
            labels_before: adopted.then(|| {
                before
                    .as_ref()
                    .and_then(|b| b.metadata.labels.clone())
                    .unwrap_or_default()
            }),
        })
    }
}

impl Applier {
    /// Creates an object every run shares (the harness's namespace) unless it exists: labelled
    /// `app.kubernetes.io/part-of` the harness, without its ownership labels, so no run's cleanup
    /// (nor any search for what runs left) ever counts it.
    pub async fn ensure_shared(&self, obj: &Value) -> Result<(), ApplyError> {
        let object = ObjectRef::from_value(obj)?;
        let api = self.api(&object).await?;
        if api
            .get_opt(&object.name)
            .await
            .map_err(|e| ApplyError::from_kube(&object, "get", e, &[]))?
            .is_some()
        {
            return Ok(());
        }
        let mut body = obj.clone();
        add_labels(
            &mut body,
            &std::collections::BTreeMap::from([(
                "app.kubernetes.io/part-of".to_string(),
                FIELD_MANAGER.to_string(),
            )]),
        );
        api.patch(
            &object.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| ApplyError::from_kube(&object, "apply", e, &[]))?;
        Ok(())
    }

    /// A watch target for an object, resolved through this applier's discovery cache.
    pub async fn watched(&self, object: &ObjectRef) -> Result<Watched, ApplyError> {
        let r = self.resolve(object).await?;
        Ok(Watched::new(object.clone(), r.resource))
    }
}
