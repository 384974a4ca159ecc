//! What the controllers and the Seldon control plane share: platform state and reconcile context.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::dataplane::{Mesh, Predictor, ServedPipeline, Upstream};
use crate::faults::Faults;
use crate::network::NetworkView;
use crate::store::Store;

/// State the controllers share with the platform handle, beyond stored objects.
pub struct PlatformState {
    /// Inference endpoint address per namespace with a ready runtime.
    pub mesh_addrs: Mutex<HashMap<String, SocketAddr>>,
    /// Model artifacts by storage URI (what a model store would hold).
    pub artifacts: Mutex<HashMap<String, PathBuf>>,
    /// Running inference endpoints, by namespace (kept alive here; dropped when the runtime goes).
    pub(crate) meshes: Mutex<HashMap<String, MeshSlot>>,
    /// Bumped whenever an endpoint starts, stops or changes its models (endpoints are not
    /// stored objects, so waiters cannot watch the store for them).
    pub mesh_changes: tokio::sync::watch::Sender<u64>,
    /// `host:port` addresses outside the cluster that accept connections (a declared external Kafka).
    pub external_addresses: Mutex<BTreeSet<String>>,
    /// The S3 model store's keys, once secured (`Platform::secure_model_store`).
    pub store_keys: Mutex<Option<StoreKeys>>,
    /// Nanoseconds the controllers' reconcile passes were kept from running (`reconcile::Stall`).
    pub stalled_nanos: std::sync::atomic::AtomicU64,
    /// The store's resource version when the last finished reconcile pass started.
    pub reconciled_rv: tokio::sync::watch::Sender<u64>,
}

impl Default for PlatformState {
    fn default() -> Self {
        PlatformState {
            mesh_addrs: Mutex::default(),
            artifacts: Mutex::default(),
            meshes: Mutex::default(),
            mesh_changes: tokio::sync::watch::channel(0).0,
            external_addresses: Mutex::default(),
            store_keys: Mutex::default(),
            stalled_nanos: std::sync::atomic::AtomicU64::new(0),
            reconciled_rv: tokio::sync::watch::channel(0).0,
        }
    }
}

/// The S3 model store's one key pair, when the platform's model store is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreKeys {
    /// `access_key_id` the store knows.
    pub access_key: String,
    /// `secret_access_key` that signs for it.
    pub secret_key: String,
}

/// A pod creation admission rejected: what it was tried against, and why it failed.
#[derive(Debug, Clone)]
pub(crate) struct FailedCreate {
    /// Template hash plus quota/limit-range versions of the namespace at the attempt.
    pub fingerprint: String,
    /// The admission message.
    pub message: String,
    /// Failed attempts in a row against the same fingerprint.
    pub attempts: u32,
    /// When the controller's work queue hands the workload back (its rate limiter's backoff).
    pub retry_at: std::time::Instant,
}

impl FailedCreate {
    /// A failure after `attempts` tries: retried after client-go's default controller rate
    /// limiter backoff, 5 ms doubling per failure up to 1000 s
    /// (`workqueue.DefaultControllerRateLimiter`), which is why a refused StatefulSet pod's
    /// event reaches count 11 within seconds on a real cluster (docs/real-apiserver-facts.md).
    pub fn new(fingerprint: String, message: String, attempts: u32) -> FailedCreate {
        let backoff = std::time::Duration::from_millis(5)
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(std::time::Duration::from_secs(1000));
        FailedCreate {
            fingerprint,
            message,
            attempts,
            retry_at: std::time::Instant::now() + backoff,
        }
    }
}

/// Everything a reconcile pass needs.
pub(crate) struct Ctx {
    /// The object store every controller reads and writes.
    pub store: Store,
    /// The platform's defects.
    pub faults: Faults,
    /// State shared with the platform handle.
    pub state: Arc<PlatformState>,
    /// Last rejected pod creation per workload (`<kind>/<ns>/<name>`).
    pub failed: HashMap<String, FailedCreate>,
    /// Model artifacts loaded so far, by folder.
    pub loaded: HashMap<PathBuf, Arc<dyn Predictor>>,
    /// When the current (or last) reconcile pass started.
    pub pass_started: std::time::Instant,
    /// Per Experiment uid, each generation's `(model, weight)` routes seen (the #5181 defect).
    pub experiment_routes: HashMap<String, Vec<RoutedGeneration>>,
    /// The last network view and the store revision it was built at (`netview`).
    pub(crate) view_cache: Mutex<Option<(u64, Arc<NetworkView>)>>,
    /// What components remember between passes (transitions take time).
    pub(crate) memory: super::memory::Memory,
    next_ip: u32,
}

impl Ctx {
    /// A context for the controller task, with a fresh IP generator.
    pub(crate) fn new(store: Store, faults: Faults, state: Arc<PlatformState>) -> Ctx {
        // Start at 10.244.1.1: 10.244.0.x is left to cluster add-ons (cluster DNS is 10.244.0.2).
        Ctx {
            store,
            faults,
            state,
            failed: HashMap::new(),
            loaded: HashMap::new(),
            experiment_routes: HashMap::new(),
            pass_started: std::time::Instant::now(),
            view_cache: Mutex::new(None),
            memory: Default::default(),
            next_ip: 256,
        }
    }

    /// The next pod IP from 10.244.0.0/16 (skipping .0 and .255 host parts).
    pub fn next_pod_ip(&mut self) -> String {
        loop {
            self.next_ip = self.next_ip.wrapping_add(1);
            let (hi, lo) = ((self.next_ip >> 8) & 0xff, self.next_ip & 0xff);
            if lo != 0 && lo != 255 {
                return format!("10.244.{hi}.{lo}");
            }
        }
    }

    /// The earliest time a refused pod creation is due for another try. One that was already
    /// due when the last pass started and was not retried (its workload is gone or waits for
    /// something else) waits for the next change instead of waking the loop again.
    pub fn next_retry(&self) -> Option<std::time::Instant> {
        self.failed
            .values()
            .map(|f| f.retry_at)
            .chain(self.memory.wake.iter().copied())
            .filter(|at| *at > self.pass_started)
            .min()
    }
}

/// One generation of an Experiment and the `(model, weight)` clusters it routed.
pub(crate) type RoutedGeneration = (i64, Vec<(String, u32)>);

/// A model the inference endpoint of a namespace should serve.
#[derive(Clone)]
pub(crate) struct Served {
    /// The Model's name.
    pub name: String,
    /// The version responses report.
    pub version: String,
    /// The artifact folder the predictor was loaded from.
    pub artifact: PathBuf,
    /// The loaded model.
    pub predictor: Arc<dyn Predictor>,
    /// Whether envoy reaches the server pods it is loaded on.
    pub upstream: Upstream,
}

impl PartialEq for Served {
    /// Same model, version, artifact folder and upstream reachability (the predictor is derived
    /// from the folder).
    fn eq(&self, o: &Served) -> bool {
        (&self.name, &self.version, &self.artifact, &self.upstream)
            == (&o.name, &o.version, &o.artifact, &o.upstream)
    }
}

/// A namespace's running endpoint and the models it was last given.
pub(crate) struct MeshSlot {
    /// The endpoint; dropping it stops it.
    pub mesh: Mesh,
    /// What the endpoint was last told to serve, to skip unchanged updates.
    pub models: Vec<Served>,
    /// The Experiment routes it was last given.
    pub routes: std::collections::BTreeMap<String, crate::dataplane::ExperimentRoute>,
    /// The pipelines the endpoint was last given.
    pub pipelines: Vec<ServedPipeline>,
}
