//! What a run is and what it applied: its labels and work directory, and the record every object
//! is written to before it is applied, so an interrupted run is cleaned up too.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::plan::Phase;
use crate::kube::{AppliedObject, ObjectRef, RunLabels};
use crate::scenario::Scenario;

/// The folder under the work directory holding runs' extracted secret packages.
pub const SECRETS_DIR: &str = "harness-secrets";

/// How long cleanup waits for everything to be gone (finalizers included).
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(180);
/// Default wait for Seldon to unload a deleted Model (and drop its finalizer) during cleanup.
pub const MODEL_UNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// What a run is: its labels, where packages are extracted, how to reach the cluster by hand.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Ownership labels (scenario, run id).
    pub labels: RunLabels,
    /// The run's work directory: packages are extracted into [`RunContext::packages_dir`] under it.
    pub work_dir: PathBuf,
    /// Keep extracted packages after they are applied, until the run ends (and with the run when
    /// it is kept); `false` removes them as soon as they are applied (`--keep never`).
    pub keep_packages: bool,
    /// The kubeconfig, for the "how to inspect" hints of `--keep`.
    pub kubeconfig: Option<PathBuf>,
    /// How long cleanup may take.
    pub cleanup_timeout: Duration,
    /// How long cleanup waits for Seldon to unload a deleted Model before it removes the Model's
    /// finalizer itself (docs/seldon-behaviour.md §15).
    pub model_unload_timeout: Duration,
    /// `YYYYMMDD` dating packages packed from folders (the run's start date).
    pub package_date: String,
    /// Packages the target supplies instead of the scenario's, by (namespace, provided Secret):
    /// e.g. on kind, the model store's real credentials replace the scenario's placeholder package;
    /// and the store Secrets broken on purpose are pointed at (`package::broken`).
    pub package_overrides: crate::package::store::PackageOverrides,
    /// Seal `seal:` packages with this certificate file instead of fetching the controller's.
    pub sealing_cert: Option<PathBuf>,
}

impl RunContext {
    /// A context for given labels, working in the current directory.
    pub fn new(labels: RunLabels) -> Self {
        Self {
            labels,
            work_dir: PathBuf::from("."),
            keep_packages: true,
            kubeconfig: None,
            cleanup_timeout: CLEANUP_TIMEOUT,
            model_unload_timeout: MODEL_UNLOAD_TIMEOUT,
            package_date: crate::package::today(),
            package_overrides: Default::default(),
            sealing_cert: None,
        }
    }

    /// A context with a fresh run id for a scenario.
    pub fn for_scenario(scenario: &Scenario) -> Self {
        Self::new(RunLabels::new(
            scenario.name(),
            &RunLabels::generate_run_id(),
        ))
    }

    /// Sets the work dir.
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = dir.into();
        self
    }

    /// The run's private folder for extracted secret packages (0700, files 0600):
    /// `<work_dir>/harness-secrets/<run id>.<scenario>.<pid>/<namespace>/`. The process id keeps
    /// test processes sharing a run id (suites on a cluster) out of each other's way.
    pub fn packages_dir(&self) -> PathBuf {
        self.work_dir.join(SECRETS_DIR).join(format!(
            "{}.{}.{}",
            self.labels.run_id,
            self.labels.scenario,
            std::process::id()
        ))
    }

    /// Removes the run's extracted packages (nothing to do if there are none); returns the folder
    /// removed, and removes `<work_dir>/harness-secrets` too when it is empty.
    pub fn remove_packages(&self) -> std::io::Result<Option<PathBuf>> {
        let dir = self.packages_dir();
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                // Only when empty: other runs may be using it.
                let _ = std::fs::remove_dir(self.work_dir.join(SECRETS_DIR));
                Ok(Some(dir))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the kubeconfig shown in hints.
    pub fn with_kubeconfig(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }
}

impl From<&RunLabels> for RunContext {
    fn from(l: &RunLabels) -> Self {
        RunContext::new(l.clone())
    }
}

impl From<RunLabels> for RunContext {
    fn from(l: RunLabels) -> Self {
        RunContext::new(l)
    }
}

impl From<&RunContext> for RunContext {
    fn from(c: &RunContext) -> Self {
        c.clone()
    }
}

/// One object of a run: recorded before it is applied, so an interrupted apply is cleaned up too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The phase it belongs to.
    pub phase: Phase,
    /// The object.
    pub object: ObjectRef,
    /// What the apply did; `None` if it did not finish.
    pub outcome: Option<AppliedObject>,
}

/// Every object a run applied (or started to), in apply order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The run.
    pub labels: RunLabels,
    /// The objects.
    pub records: Vec<Record>,
}

impl Applied {
    /// An empty record for a run.
    pub fn new(labels: RunLabels) -> Self {
        Self {
            labels,
            records: Vec::new(),
        }
    }

    /// The outcomes of finished applies.
    pub fn outcomes(&self) -> impl Iterator<Item = &AppliedObject> {
        self.records.iter().filter_map(|r| r.outcome.as_ref())
    }

    /// Whether any apply changed something (false: the run was a no-op on the cluster).
    pub fn changed_anything(&self) -> bool {
        self.outcomes().any(|o| o.changed)
    }
}

/// A shared, growing [`Applied`]: setup writes it, the [`CleanupGuard`] reads it.
#[derive(Debug, Clone)]
pub struct Recorder(Arc<Mutex<Applied>>);

impl Recorder {
    /// An empty recorder for a run.
    pub fn new(labels: RunLabels) -> Self {
        Self(Arc::new(Mutex::new(Applied::new(labels))))
    }

    /// A copy of what was recorded so far.
    pub fn snapshot(&self) -> Applied {
        self.0.lock().expect("recorder").clone()
    }

    /// Records an object a check is about to create (phase [`Phase::Checks`]), so cleanup
    /// deletes it whatever stops the run.
    pub fn record_check_object(&self, object: &ObjectRef) {
        self.intend(Phase::Checks, object);
    }

    pub(super) fn intend(&self, phase: Phase, object: &ObjectRef) {
        let mut a = self.0.lock().expect("recorder");
        if !a.records.iter().any(|r| &r.object == object) {
            a.records.push(Record {
                phase,
                object: object.clone(),
                outcome: None,
            });
        }
    }

    pub(super) fn done(&self, outcome: AppliedObject) {
        let mut a = self.0.lock().expect("recorder");
        if let Some(r) = a.records.iter_mut().find(|r| r.object == outcome.object) {
            // A re-apply keeps the fact that an earlier apply in this run created it.
            let created = r.outcome.as_ref().is_some_and(|o| o.created);
            // The labels before the run's first apply, not those an earlier apply of this run set.
            let labels_before = r
                .outcome
                .as_ref()
                .and_then(|o| o.labels_before.clone())
                .or(outcome.labels_before.clone());
            r.outcome = Some(AppliedObject {
                created: outcome.created || created,
                labels_before,
                ..outcome
            });
        }
    }
}
