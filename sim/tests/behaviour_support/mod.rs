//! Shared helpers for the behaviour tests: a store with admission and controllers, and waits.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sim::control::PlatformState;
use sim::faults::Faults;
use sim::reconcile::spawn;
use sim::seldon::{InstallOptions, install};
use sim::store::{RESOURCES, ResourceType, Store};

/// How long any behaviour may take to converge.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A running platform (store + controllers); controllers stop when dropped.
pub struct Platform {
    pub store: Store,
    pub state: Arc<PlatformState>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub fn rt(kind: &str) -> &'static ResourceType {
    RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}

/// The documented install plus an installed Kafka.
pub fn with_kafka() -> InstallOptions {
    InstallOptions {
        kafka: sim::seldon::Kafka::Installed,
        ..InstallOptions::default()
    }
}

impl Platform {
    /// Admission + controllers with `faults`, Seldon installed as documented (cluster-wide,
    /// `seldon-mesh`) with Kafka installed, so a runtime's six components can all become Ready.
    pub fn start(faults: Faults) -> Platform {
        Platform::start_with(faults, with_kafka())
    }

    pub fn start_with(faults: Faults, opts: InstallOptions) -> Platform {
        let store = Store::new(sim::admission::chain(&faults));
        // System namespaces and cluster DNS: Kafka clients resolve the bootstrap Service by name.
        sim::store::bootstrap::bootstrap(&store).unwrap();
        install(&store, &opts).unwrap();
        let state = Arc::new(PlatformState::default());
        if let sim::seldon::Kafka::External(addr) = &opts.kafka {
            state
                .external_addresses
                .lock()
                .unwrap()
                .insert(addr.clone());
        }
        let tasks = spawn(store.clone(), faults, state.clone());
        Platform {
            store,
            state,
            tasks,
        }
    }

    pub fn create(&self, kind: &str, obj: Value) -> Value {
        self.store
            .create(rt(kind), obj)
            .unwrap_or_else(|e| panic!("create {kind}: {e}"))
    }

    /// Creates the namespace unless it exists (the controller namespace does).
    pub fn namespace(&self, ns: &str) {
        if self.get("Namespace", "", ns).is_none() {
            self.create("Namespace", json!({"metadata": {"name": ns}}));
        }
    }

    pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        self.store
            .get(rt(kind), Some(ns).filter(|n| !n.is_empty()), name)
    }

    pub fn list(&self, kind: &str, ns: &str) -> Vec<Value> {
        self.store.list(rt(kind), Some(ns)).0
    }

    /// Waits until `check` returns Some, re-checking on every store change; panics with `what` and
    /// the last observation at the deadline.
    pub async fn wait<T>(&self, what: &str, mut check: impl FnMut(&Platform) -> Option<T>) -> T {
        let mut rx = self.store.subscribe();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(_)) => panic!("store closed while waiting for {what}"),
                Err(_) => {
                    if let Some(v) = check(self) {
                        return v;
                    }
                    panic!("timed out after {DEADLINE:?} waiting for {what}");
                }
            }
        }
    }

    /// Waits until `check` returns Some, re-checking whenever an inference endpoint changes.
    pub async fn wait_endpoint<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&Platform) -> Option<T>,
    ) -> T {
        let mut rx = self.state.mesh_changes.subscribe();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                panic!("timed out after {DEADLINE:?} waiting for {what}");
            }
        }
    }

    /// Waits for an event in `ns` whose message satisfies `pred`; returns it.
    pub async fn event(&self, ns: &str, pred: impl Fn(&str) -> bool) -> Value {
        self.wait(&format!("an event in {ns}"), |p| {
            p.list("Event", ns)
                .into_iter()
                .find(|e| pred(e["message"].as_str().unwrap_or_default()))
        })
        .await
    }

    /// Waits until every component workload of the runtime in `ns` has all replicas Ready.
    pub async fn runtime_pods_ready(&self, ns: &str) {
        self.wait(&format!("runtime component pods Ready in {ns}"), |p| {
            let sts = p.get("StatefulSet", ns, "seldon-scheduler")?;
            let ok = |w: &Value| {
                w["status"]["readyReplicas"].as_i64().unwrap_or(0)
                    >= w["spec"]["replicas"].as_i64().unwrap_or(1)
            };
            let deps = [
                "seldon-envoy",
                "seldon-modelgateway",
                "seldon-pipelinegateway",
                "hodometer",
                "seldon-dataflow-engine",
            ];
            (ok(&sts)
                && deps
                    .iter()
                    .all(|d| p.get("Deployment", ns, d).is_some_and(|w| ok(&w))))
            .then_some(())
        })
        .await
    }
}

/// The condition `type_` of an object, if set.
pub fn condition(obj: &Value, type_: &str) -> Option<Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Whether condition `type_` is True.
pub fn is_true(obj: &Value, type_: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == "True")
}

/// The seed's SeldonRuntime (lessons-learned.md), in `ns`.
pub fn seed_runtime(ns: &str) -> Value {
    let overrides: Vec<Value> = [
        "hodometer",
        "seldon-scheduler",
        "seldon-envoy",
        "seldon-dataflow-engine",
        "seldon-modelgateway",
        "seldon-pipelinegateway",
        "mlserver",
    ]
    .iter()
    .map(|n| json!({"name": n, "replicas": 1}))
    .collect();
    json!({
        "apiVersion": "mlops.seldon.io/v1alpha1", "kind": "SeldonRuntime",
        "metadata": {"name": format!("{ns}-runtime"), "namespace": ns},
        "spec": {"config": {"agentConfig": {"rclone": {}}, "kafkaConfig": {}, "serviceConfig": {}, "tracingConfig": {}},
                 "overrides": overrides, "seldonConfig": "default"},
    })
}

/// The Secret the runtime chart creates next to its SeldonRuntime (`seldon-rclone-gs-public`):
/// every agent preloads it (SeldonConfig's defaults) and exits without it.
pub fn gs_public_secret(p: &Platform, ns: &str) {
    let config = "type: \"google cloud storage\"\nname: gs\nparameters:\n  anonymous: true\n";
    p.create("Secret", json!({
        "metadata": {"name": "seldon-rclone-gs-public", "namespace": ns},
        "type": "Opaque",
        "data": {"gs": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, config)},
    }));
}

/// A namespace with the seed's runtime (and the runtime chart's Secret) and one Server of `server_config`.
pub async fn team(p: &Platform, ns: &str, server_config: &str) {
    p.namespace(ns);
    gs_public_secret(p, ns);
    p.create("SeldonRuntime", seed_runtime(ns));
    p.create("Server", json!({"metadata": {"name": server_config, "namespace": ns}, "spec": {"serverConfig": server_config}}));
    p.runtime_pods_ready(ns).await;
}

/// The credit-risk sample model folder (`scenarios/models/credit-risk`).
pub fn credit_risk_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/credit-risk")
}

/// Registers the credit-risk sample under `uri` in the platform's model store.
pub fn artifact(p: &Platform, uri: &str) {
    p.state
        .artifacts
        .lock()
        .unwrap()
        .insert(uri.to_string(), credit_risk_dir());
}

pub fn model(ns: &str, name: &str, uri: &str, spec: Value) -> Value {
    let mut s = json!({"storageUri": uri});
    for (k, v) in spec.as_object().into_iter().flatten() {
        s[k] = v.clone();
    }
    json!({"metadata": {"name": name, "namespace": ns}, "spec": s})
}

/// Waits for the Model's `Ready` condition to have `status` and returns the condition.
pub async fn model_ready(p: &Platform, ns: &str, name: &str, status: &str) -> Value {
    p.wait(&format!("model {ns}/{name} Ready={status}"), |p| {
        let m = p.get("Model", ns, name)?;
        condition(&m, "Ready").filter(|c| c["status"] == status)
    })
    .await
}
