//! What the platform's components remember between reconcile passes, so transitions take time as
//! upstream's do (docs/seldon-behaviour.md §25): replacement pods start after a delay, models load
//! onto particular pods and take time to load, a scheduler's restart is noticed, envoy keeps the
//! configuration it got. Everything else is recomputed from the store on every pass.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dataplane::Predictor;

/// How long a pod that replaces another (or adds to a workload that already ran one) takes from
/// creation to Ready: container start plus the first readiness probe, shortened.
pub const POD_RESTART: Duration = Duration::from_millis(300);
/// Envoy's `initial_fetch_timeout` (15 s by default, shortened): how long a starting envoy waits
/// for its first xDS configuration before it initializes without one (docs/seldon-behaviour.md §26).
pub const ENVOY_INITIAL_FETCH_TIMEOUT: Duration = Duration::from_millis(500);
/// How long an agent takes to load a model onto its server (download and load, shortened).
pub const MODEL_LOAD: Duration = Duration::from_millis(150);
/// How late a defect makes something that should follow at once (a restarted envoy's routes, a
/// restarted Server's models): longer than every outage budget of the scenarios (2 s).
pub const LATE: Duration = Duration::from_millis(2500);

/// Where a Model is loaded, as its agents and the scheduler know it.
#[derive(Clone)]
pub(crate) struct Placement {
    /// Server pod name → (pod UID, when the load completes or completed).
    pub pods: BTreeMap<String, (String, Instant)>,
    /// The Model generation this placement is for.
    pub generation: i64,
    /// The Server it is placed on.
    pub server: String,
    /// The Server's namespace.
    pub server_ns: String,
    /// The loaded artifact, so agents keep serving it while the scheduler is away.
    pub artifact: PathBuf,
    /// The loaded predictor.
    pub predictor: Arc<dyn Predictor>,
    /// The scheduler lost it (defect SchedulerForgetsModelsOnRestart) until the spec changes.
    pub forgotten: bool,
}

/// Memory across passes.
#[derive(Default)]
pub(crate) struct Memory {
    /// Workloads (`ns/kind/name`) that already started a pod: later pods are replacements.
    pub started: HashSet<String>,
    /// Pod UID → when the kubelet first saw it pending.
    pub pending_since: HashMap<String, Instant>,
    /// UIDs of pods that replaced another pod of their workload.
    pub replacements: HashSet<String>,
    /// Envoy pod UID → when it first reached its xDS server (for defect EnvoyRoutesLateAfterRestart).
    pub envoy_reached_since: HashMap<String, Instant>,
    /// Model UID → its placement.
    pub models: HashMap<String, Placement>,
    /// Namespace → UID of the scheduler pod last seen Ready.
    pub schedulers: HashMap<String, String>,
    /// Envoy pod UIDs that got their configuration from the scheduler (xDS) at least once.
    pub configured_envoys: HashSet<String>,
    /// Envoy pod UID → when it started without a configuration (it initializes without one
    /// after `ENVOY_INITIAL_FETCH_TIMEOUT`).
    pub envoys_started: HashMap<String, Instant>,
    /// Instants a pass must run at (a pod's start, a load's end), cleared at each pass.
    pub wake: Vec<Instant>,
}

impl Memory {
    /// When the last model load still running on a Server's pods ends (a draining pod waits for
    /// its models to load elsewhere before it goes: docs/seldon-behaviour.md §25).
    pub fn loads_running(&self, server_ns: &str, server: &str, now: Instant) -> Option<Instant> {
        self.models
            .values()
            .filter(|p| p.server_ns == server_ns && p.server == server)
            .flat_map(|p| p.pods.values().map(|(_, at)| *at))
            .filter(|at| *at > now)
            .max()
    }

    /// Asks for a pass at `at`.
    pub fn wake_at(&mut self, at: Instant) {
        self.wake.push(at);
    }
}
