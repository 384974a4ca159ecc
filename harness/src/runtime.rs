//! Team setup: namespaces, policies, SeldonRuntime, Servers and Models, and cleanup.
//!
//! [`plan`] lists what a scenario applies, in order: namespaces (scenario `namespaces` and teams,
//! labelled `name: <namespace>` unless given: the seed's NetworkPolicy selects on it),
//! ResourceQuotas, LimitRanges, ServiceAccounts/Roles/RoleBindings, NetworkPolicies, secret
//! packages, each team's SeldonRuntime, its Servers (Seldon does not create them from the
//! runtime), then Models. [`setup`] applies that plan through [`crate::apply`]; [`render`](crate::render)
//! prints it. Before touching the cluster every secret package is extracted, rendered and
//! checked, and the rclone Secrets models and runtimes refer to are checked (facts §10).
//!
//! Cleanup deletes in reverse order, waiting for finalizers with a deadline, and only objects that
//! carry this run's label; namespaces the run did not create (adopted) are never deleted.
//!
//! # Cleanup on every path
//!
//! Async Drop does not exist, so callers hold a [`CleanupGuard`]:
//!
//! ```no_run
//! # async fn run(client: kube::Client, scenario: &harness::scenario::Scenario) -> anyhow::Result<()> {
//! use harness::runtime::{self, CleanupGuard, RunContext};
//! let ctx = RunContext::for_scenario(scenario);
//! let guard = CleanupGuard::new(client.clone(), &ctx);
//! let work = async {
//!     runtime::setup_recorded(&client, scenario, &ctx, &guard.recorder()).await?;
//!     // ... checks ...
//!     anyhow::Ok(())
//! };
//! let result = tokio::select! {
//!     r = work => r,
//!     _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
//! };
//! guard.finish().await?; // or `guard.keep()` for --keep: prints how to inspect
//! result
//! # }
//! ```
//!
//! If `finish` is never reached (panic, early return), Drop cleans up synchronously: on a
//! multi-thread runtime through `block_in_place` with the same client; elsewhere on a helper thread
//! with a fresh client built from the `kube::Config` given with [`CleanupGuard::with_config`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::apply::{AppliedObject, Applier, ApplyError, ObjectRef, RunLabels};
use crate::scenario::{Scenario, SecretPackageRef};
use crate::secrets::{self, RenderedPackage, SecretsError};
use crate::wait;

/// How long cleanup waits for everything to be gone (finalizers included).
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(180);

/// Setup phases, in apply order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Namespaces.
    Namespaces,
    /// ResourceQuotas.
    ResourceQuotas,
    /// LimitRanges.
    LimitRanges,
    /// ServiceAccounts, Roles, RoleBindings.
    Rbac,
    /// NetworkPolicies.
    NetworkPolicies,
    /// Secret packages.
    SecretPackages,
    /// The teams' SeldonRuntimes.
    Runtime,
    /// Servers.
    Servers,
    /// Models.
    Models,
}

impl Phase {
    /// Every phase in apply order.
    pub const ALL: [Phase; 9] = [
        Phase::Namespaces,
        Phase::ResourceQuotas,
        Phase::LimitRanges,
        Phase::Rbac,
        Phase::NetworkPolicies,
        Phase::SecretPackages,
        Phase::Runtime,
        Phase::Servers,
        Phase::Models,
    ];

    /// The kinds (apiVersion, kind) objects of this phase have, for label-based cleanup.
    pub fn kinds(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Phase::Namespaces => &[("v1", "Namespace")],
            Phase::ResourceQuotas => &[("v1", "ResourceQuota")],
            Phase::LimitRanges => &[("v1", "LimitRange")],
            Phase::Rbac => &[
                ("v1", "ServiceAccount"),
                ("rbac.authorization.k8s.io/v1", "Role"),
                ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ],
            Phase::NetworkPolicies => &[("networking.k8s.io/v1", "NetworkPolicy")],
            Phase::SecretPackages => &[("v1", "Secret"), ("v1", "ConfigMap")],
            Phase::Runtime => &[("mlops.seldon.io/v1alpha1", "SeldonRuntime")],
            Phase::Servers => &[("mlops.seldon.io/v1alpha1", "Server")],
            Phase::Models => &[("mlops.seldon.io/v1alpha1", "Model")],
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Namespaces => "namespaces",
            Phase::ResourceQuotas => "resource quotas",
            Phase::LimitRanges => "limit ranges",
            Phase::Rbac => "service accounts and RBAC",
            Phase::NetworkPolicies => "network policies",
            Phase::SecretPackages => "secret packages",
            Phase::Runtime => "SeldonRuntimes",
            Phase::Servers => "Servers",
            Phase::Models => "Models",
        })
    }
}

/// One step of a plan.
#[derive(Debug, Clone)]
pub enum Step {
    /// An object from the scenario (namespace set), without ownership labels.
    Object {
        /// Its phase.
        phase: Phase,
        /// The object.
        object: Value,
    },
    /// A secret package for a namespace.
    Package {
        /// The team namespace.
        namespace: String,
        /// The package reference from the scenario.
        package: SecretPackageRef,
    },
}

impl Step {
    /// The step's phase.
    pub fn phase(&self) -> Phase {
        match self {
            Step::Object { phase, .. } => *phase,
            Step::Package { .. } => Phase::SecretPackages,
        }
    }
}

fn namespace_object(name: &str, labels: &BTreeMap<String, String>) -> Value {
    let mut labels = labels.clone();
    labels
        .entry("name".to_string())
        .or_insert_with(|| name.to_string());
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn in_namespace(obj: &Value, ns: &str) -> Value {
    let mut o = obj.clone();
    if o["metadata"]["namespace"].as_str().is_none() {
        o["metadata"]["namespace"] = Value::String(ns.to_string());
    }
    o
}

/// Everything a scenario applies, in order (phase by phase across teams).
pub fn plan(scenario: &Scenario) -> Vec<Step> {
    let spec = &scenario.doc.spec;
    let mut steps = Vec::new();
    for ns in &spec.namespaces {
        steps.push(Step::Object {
            phase: Phase::Namespaces,
            object: namespace_object(&ns.name, &ns.labels),
        });
    }
    for t in &spec.teams {
        steps.push(Step::Object {
            phase: Phase::Namespaces,
            object: namespace_object(&t.namespace, &t.labels),
        });
    }
    for phase in Phase::ALL.into_iter().skip(1) {
        for t in &spec.teams {
            let ns = t.namespace.as_str();
            let objects: Vec<&Value> = match phase {
                Phase::ResourceQuotas => t.resource_quotas.iter().collect(),
                Phase::LimitRanges => t.limit_ranges.iter().collect(),
                Phase::Rbac => t.rbac.iter().collect(),
                Phase::NetworkPolicies => t.network_policies.iter().collect(),
                Phase::SecretPackages => {
                    for p in &t.secret_packages {
                        steps.push(Step::Package {
                            namespace: ns.to_string(),
                            package: p.clone(),
                        });
                    }
                    Vec::new()
                }
                Phase::Runtime => t.runtime.iter().collect(),
                Phase::Servers => t.servers.iter().collect(),
                Phase::Models => t.models.iter().collect(),
                Phase::Namespaces => Vec::new(),
            };
            for o in objects {
                steps.push(Step::Object {
                    phase,
                    object: in_namespace(o, ns),
                });
            }
        }
    }
    steps
}

/// What a run is: its labels, where packages are extracted, how to reach the cluster by hand.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// Ownership labels (scenario, run id).
    pub labels: RunLabels,
    /// Packages are extracted into `<work_dir>/k8s/manifests/<namespace>/`.
    pub work_dir: PathBuf,
    /// The kubeconfig, for the "how to inspect" hints of `--keep`.
    pub kubeconfig: Option<PathBuf>,
    /// How long cleanup may take.
    pub cleanup_timeout: Duration,
    /// `YYYYMMDD` dating packages packed from folders (the run's start date).
    pub package_date: String,
    /// Packages the target supplies instead of the scenario's, by (namespace, provided Secret):
    /// e.g. on kind, the model store's real credentials replace the scenario's placeholder package.
    pub package_overrides: BTreeMap<(String, String), PathBuf>,
}

impl RunContext {
    /// A context for given labels, working in the current directory.
    pub fn new(labels: RunLabels) -> Self {
        Self {
            labels,
            work_dir: PathBuf::from("."),
            kubeconfig: None,
            cleanup_timeout: CLEANUP_TIMEOUT,
            package_date: secrets::today(),
            package_overrides: BTreeMap::new(),
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

    fn intend(&self, phase: Phase, object: &ObjectRef) {
        let mut a = self.0.lock().expect("recorder");
        if !a.records.iter().any(|r| &r.object == object) {
            a.records.push(Record {
                phase,
                object: object.clone(),
                outcome: None,
            });
        }
    }

    fn done(&self, outcome: AppliedObject) {
        let mut a = self.0.lock().expect("recorder");
        if let Some(r) = a.records.iter_mut().find(|r| r.object == outcome.object) {
            // A re-apply keeps the fact that an earlier apply in this run created it.
            let created = r.outcome.as_ref().is_some_and(|o| o.created);
            r.outcome = Some(AppliedObject {
                created: outcome.created || created,
                ..outcome
            });
        }
    }
}

/// What went wrong in setup.
#[derive(Debug, thiserror::Error)]
pub enum SetupCause {
    /// Applying an object failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A secret package (or an rclone Secret in it) is unusable.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// Setup failed; `applied` holds what was applied before, for cleanup.
#[derive(Debug, thiserror::Error)]
#[error("setting up scenario `{scenario}` (run {run_id}) failed at {phase}: {cause}")]
pub struct SetupError {
    /// The scenario.
    pub scenario: String,
    /// The run id.
    pub run_id: String,
    /// Where it failed.
    pub phase: Phase,
    /// Why.
    pub cause: SetupCause,
    /// What was applied before the failure.
    pub applied: Applied,
}

/// Applies a scenario (see the module docs for the order). Returns everything applied; on error
/// the [`SetupError`] carries the partial record for cleanup.
pub async fn setup(
    client: &Client,
    scenario: &Scenario,
    ctx: impl Into<RunContext>,
) -> Result<Applied, SetupError> {
    let ctx = ctx.into();
    let recorder = Recorder::new(ctx.labels.clone());
    match setup_recorded(client, scenario, &ctx, &recorder).await {
        Ok(()) => Ok(recorder.snapshot()),
        Err(mut e) => {
            e.applied = recorder.snapshot();
            Err(e)
        }
    }
}

/// Applies a scenario, recording each object in `recorder` before applying it (so a guard holding
/// the recorder cleans up whatever an interrupted setup left).
pub async fn setup_recorded(
    client: &Client,
    scenario: &Scenario,
    ctx: &RunContext,
    recorder: &Recorder,
) -> Result<(), SetupError> {
    let fail = |phase: Phase, cause: SetupCause| SetupError {
        scenario: scenario.name().to_string(),
        run_id: ctx.labels.run_id.clone(),
        phase,
        cause,
        applied: Applied::new(ctx.labels.clone()),
    };
    let steps = plan(scenario);
    // Local work first: a broken package fails the run before the cluster is touched.
    let mut packages: Vec<RenderedPackage> = Vec::new();
    for step in &steps {
        if let Step::Package { namespace, package } = step {
            let replaced = package
                .provides
                .iter()
                .find_map(|s| ctx.package_overrides.get(&(namespace.clone(), s.clone())))
                .map(|dir| SecretPackageRef {
                    path: dir.clone(),
                    ..package.clone()
                });
            if let Some(r) = &replaced {
                tracing::info!(
                    "{namespace}: the target supplies package {} instead of {}",
                    r.path.display(),
                    package.path.display()
                );
            }
            let r = secrets::prepare(
                replaced.as_ref().unwrap_or(package),
                scenario.base_dir(),
                namespace,
                &ctx.work_dir,
                Some(&ctx.package_date),
            )
            .map_err(|e| fail(Phase::SecretPackages, e.into()))?;
            packages.push(r);
        }
    }
    check_storage_secrets(scenario, &packages).map_err(|(phase, e)| fail(phase, e.into()))?;

    let applier = Applier::new(client.clone(), ctx.labels.clone());
    let mut rendered = packages.iter();
    let mut current = None;
    for step in &steps {
        let phase = step.phase();
        if current != Some(phase) {
            tracing::info!("run {}: applying {phase}", ctx.labels.run_id);
            current = Some(phase);
        }
        let objects: Vec<&Value> = match step {
            Step::Object { object, .. } => vec![object],
            Step::Package { .. } => {
                let p = rendered
                    .next()
                    .expect("one rendered package per package step");
                tracing::info!(
                    "applying package {} overlay {} to namespace {} ({} objects)",
                    p.package,
                    p.overlay,
                    p.namespace,
                    p.objects.len()
                );
                p.objects.iter().collect()
            }
        };
        for obj in objects {
            let object = ObjectRef::from_value(obj).map_err(|e| fail(phase, e.into()))?;
            recorder.intend(phase, &object);
            let outcome = applier
                .apply(obj)
                .await
                .map_err(|e| fail(phase, e.into()))?;
            recorder.done(outcome);
        }
    }
    let applied = recorder.snapshot();
    tracing::info!(
        "run {}: set up {} objects ({} changed)",
        ctx.labels.run_id,
        applied.records.len(),
        applied.outcomes().filter(|o| o.changed).count()
    );
    Ok(())
}

/// Checks the rclone Secrets that Models (`spec.secretName`) and runtimes
/// (`config.agentConfig.rclone.config_secrets`) use, in the packages of their team.
fn check_storage_secrets(
    scenario: &Scenario,
    packages: &[RenderedPackage],
) -> Result<(), (Phase, SecretsError)> {
    for t in &scenario.doc.spec.teams {
        let find = |name: &str| {
            packages
                .iter()
                .filter(|p| p.namespace == t.namespace)
                .find_map(|p| p.secret(name))
        };
        for m in &t.models {
            let (Some(secret), Some(uri)) = (
                m["spec"]["secretName"].as_str(),
                m["spec"]["storageUri"].as_str(),
            ) else {
                continue;
            };
            let scheme = uri.split_once("://").map_or("", |(s, _)| s);
            if let Some(s) = find(secret) {
                secrets::check_rclone_secret(s, scheme).map_err(|e| (Phase::Models, e))?;
            }
        }
        if let Some(rt) = &t.runtime
            && let Some(names) =
                rt["spec"]["config"]["agentConfig"]["rclone"]["config_secrets"].as_array()
        {
            for name in names.iter().filter_map(Value::as_str) {
                if let Some(s) = find(name) {
                    secrets::parse_rclone_secret(s).map_err(|e| (Phase::Runtime, e))?;
                }
            }
        }
    }
    Ok(())
}

/// What cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Deleted and confirmed gone.
    pub deleted: Vec<ObjectRef>,
    /// Already gone before cleanup got to them.
    pub already_gone: Vec<ObjectRef>,
    /// Left alone, with why (adopted, not labelled with this run).
    pub left_alone: Vec<(ObjectRef, String)>,
}

/// Cleanup could not remove everything.
#[derive(Debug, thiserror::Error)]
pub struct CleanupError {
    /// The run.
    pub run_id: String,
    /// Objects that remain or could not be handled, with why.
    pub problems: Vec<(ObjectRef, String)>,
    /// What was done.
    pub report: CleanupReport,
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cleanup of run {} left {} object(s):",
            self.run_id,
            self.problems.len()
        )?;
        for (o, why) in &self.problems {
            write!(f, "\n  {o}: {why}")?;
        }
        write!(
            f,
            "\n  find them with: kubectl get namespaces,models,servers,seldonruntimes,secrets -A -l {}={}",
            crate::apply::RUN_LABEL,
            self.run_id
        )
    }
}

/// Deletes what a run applied, in reverse order, waiting up to [`CLEANUP_TIMEOUT`].
pub async fn cleanup(client: &Client, applied: &Applied) -> Result<CleanupReport, CleanupError> {
    cleanup_with_timeout(client, applied, CLEANUP_TIMEOUT).await
}

/// Deletes what a run applied, in reverse phase order; within a phase deletes everything, then
/// waits for all of it to be gone (finalizers) before the next phase. Only objects carrying this
/// run's label are deleted; adopted namespaces never.
pub async fn cleanup_with_timeout(
    client: &Client,
    applied: &Applied,
    timeout: Duration,
) -> Result<CleanupReport, CleanupError> {
    let deadline = Instant::now() + timeout;
    let applier = Applier::new(client.clone(), applied.labels.clone());
    let mut report = CleanupReport::default();
    let mut problems: Vec<(ObjectRef, String)> = Vec::new();
    for phase in Phase::ALL.into_iter().rev() {
        let mut waiting: Vec<wait::Target> = Vec::new();
        for r in applied.records.iter().rev().filter(|r| r.phase == phase) {
            if r.outcome.as_ref().is_some_and(|o| o.adopted) {
                report
                    .left_alone
                    .push((r.object.clone(), "existed before the run (adopted)".into()));
                continue;
            }
            match delete_if_ours(&applier, &r.object).await {
                Ok(Deleted::Gone) => report.already_gone.push(r.object.clone()),
                Ok(Deleted::NotOurs(why)) => report.left_alone.push((r.object.clone(), why)),
                Ok(Deleted::Pending(target)) => waiting.push(target),
                Err(e) => problems.push((r.object.clone(), e.to_string())),
            }
        }
        let waits = waiting.iter().map(|t| async move {
            let left = deadline.saturating_duration_since(Instant::now());
            (t, wait::wait_for(client, t, &wait::gone(), left).await)
        });
        for (t, result) in futures::future::join_all(waits).await {
            match result {
                Ok(_) => report.deleted.push(t.object.clone()),
                Err(e) => {
                    let why = match e.report().and_then(|r| r.last.as_ref()) {
                        Some(last) => format!("still there after the deadline: {}", last.state()),
                        None => e.to_string(),
                    };
                    problems.push((t.object.clone(), why));
                }
            }
        }
    }
    tracing::info!(
        "run {}: cleanup deleted {}, {} already gone, left {} alone",
        applied.labels.run_id,
        report.deleted.len(),
        report.already_gone.len(),
        report.left_alone.len()
    );
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(CleanupError {
            run_id: applied.labels.run_id.clone(),
            problems,
            report,
        })
    }
}

enum Deleted {
    Gone,
    NotOurs(String),
    Pending(wait::Target),
}

async fn delete_if_ours(applier: &Applier, object: &ObjectRef) -> Result<Deleted, ApplyError> {
    let resolved = match applier.resolve(object).await {
        Ok(r) => r,
        // The kind is not served any more (CRDs removed): nothing of it can remain.
        Err(ApplyError::UnknownKind { .. }) => return Ok(Deleted::Gone),
        Err(e) => return Err(e),
    };
    let api = applier.api(object).await?;
    let Some(live) = api
        .get_opt(&object.name)
        .await
        .map_err(|e| ApplyError::from_kube(object, "get", e, &[]))?
    else {
        return Ok(Deleted::Gone);
    };
    if !applier.labels().owns(&live) {
        return Ok(Deleted::NotOurs(format!(
            "does not carry {}={} (not this run's)",
            crate::apply::RUN_LABEL,
            applier.labels().run_id
        )));
    }
    if live.metadata.deletion_timestamp.is_none() {
        match api.delete(&object.name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Deleted::Gone),
            Err(e) => return Err(ApplyError::from_kube(object, "delete", e, &[])),
        }
        tracing::debug!("deleting {object}");
    }
    Ok(Deleted::Pending(wait::Target::new(
        object.clone(),
        resolved.resource,
    )))
}

/// Finds a run's objects by label (for runs whose record is lost, e.g. `harness cleanup --run`)
/// and cleans them up like [`cleanup_with_timeout`]. Kinds the cluster does not serve are skipped.
pub async fn cleanup_run(
    client: &Client,
    labels: &RunLabels,
    timeout: Duration,
) -> Result<CleanupReport, CleanupError> {
    let applier = Applier::new(client.clone(), labels.clone());
    let mut applied = Applied::new(labels.clone());
    let lp = ListParams::default().labels(&labels.selector());
    for phase in Phase::ALL {
        for (api_version, kind) in phase.kinds() {
            let probe = ObjectRef::new(api_version, kind, None, "-");
            let Ok(r) = applier.resolve(&probe).await else {
                continue;
            };
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &r.resource);
            let list = api.list(&lp).await.map_err(|e| CleanupError {
                run_id: labels.run_id.clone(),
                problems: vec![(probe.clone(), format!("cannot list {kind} by label: {e}"))],
                report: CleanupReport::default(),
            })?;
            for o in list.items {
                applied.records.push(Record {
                    phase,
                    object: ObjectRef::new(
                        api_version,
                        kind,
                        o.metadata.namespace.as_deref(),
                        o.metadata.name.as_deref().unwrap_or_default(),
                    ),
                    outcome: None,
                });
            }
        }
    }
    cleanup_with_timeout(client, &applied, timeout).await
}

/// How to look at a kept run by hand.
pub fn inspect_hint(ctx: &RunContext) -> String {
    let kc = ctx
        .kubeconfig
        .as_ref()
        .map(|k| format!(" --kubeconfig {}", k.display()))
        .unwrap_or_default();
    let sel = ctx.labels.selector();
    format!(
        "kept everything from run {id} (scenario {s}); inspect it with:\n  \
         kubectl{kc} get namespaces -l {sel}\n  \
         kubectl{kc} get seldonruntimes,servers,models,secrets,resourcequotas,networkpolicies -A -l {sel}\n\
         remove it later with:\n  \
         kubectl{kc} delete models,servers,seldonruntimes -A -l {sel} && kubectl{kc} delete namespaces -l {sel}",
        id = ctx.labels.run_id,
        s = ctx.labels.scenario,
    )
}

/// Cleans a run up on every path: call [`CleanupGuard::finish`] (or [`CleanupGuard::keep`]);
/// if neither happens, Drop cleans up synchronously (see the module docs).
pub struct CleanupGuard {
    client: Client,
    ctx: RunContext,
    recorder: Recorder,
    config: Option<kube::Config>,
    armed: bool,
}

impl fmt::Debug for CleanupGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CleanupGuard")
            .field("run", &self.ctx.labels.run_id)
            .field("armed", &self.armed)
            .finish()
    }
}

impl CleanupGuard {
    /// A guard for a run, with an empty recorder.
    pub fn new(client: Client, ctx: &RunContext) -> Self {
        Self {
            client,
            ctx: ctx.clone(),
            recorder: Recorder::new(ctx.labels.clone()),
            config: None,
            armed: true,
        }
    }

    /// The client configuration, so Drop can clean up from a fresh client on its own thread
    /// when the caller's runtime cannot be borrowed (current-thread runtimes).
    pub fn with_config(mut self, config: kube::Config) -> Self {
        self.config = Some(config);
        self
    }

    /// The recorder to pass to [`setup_recorded`].
    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// What was applied so far.
    pub fn applied(&self) -> Applied {
        self.recorder.snapshot()
    }

    /// Cleans up now.
    pub async fn finish(mut self) -> Result<CleanupReport, CleanupError> {
        self.armed = false;
        let applied = self.recorder.snapshot();
        cleanup_with_timeout(&self.client, &applied, self.ctx.cleanup_timeout).await
    }

    /// Keeps everything (`--keep`): logs and returns how to inspect it.
    pub fn keep(mut self) -> String {
        self.armed = false;
        let hint = inspect_hint(&self.ctx);
        tracing::info!("{hint}");
        hint
    }

    fn cleanup_blocking(&self) -> Result<CleanupReport, String> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let applied = self.recorder.snapshot();
        let timeout = self.ctx.cleanup_timeout;
        if let Ok(h) = Handle::try_current()
            && h.runtime_flavor() == RuntimeFlavor::MultiThread
        {
            let client = self.client.clone();
            return tokio::task::block_in_place(|| {
                h.block_on(cleanup_with_timeout(&client, &applied, timeout))
            })
            .map_err(|e| e.to_string());
        }
        // Our runtime (if any) cannot run while we block it: use a thread with its own runtime
        // and a client of its own (a client's connection task lives on the runtime that made it).
        let config = self.config.clone();
        let client = self.client.clone();
        let in_runtime = Handle::try_current().is_ok();
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a runtime for cleanup: {e}"))?;
                rt.block_on(async {
                    let client = match (config, in_runtime) {
                        (Some(c), _) => Client::try_from(c).map_err(|e| e.to_string())?,
                        (None, false) => client,
                        (None, true) => {
                            return Err(
                                "no kube::Config for a fresh client (CleanupGuard::with_config) \
                                        and the current-thread runtime cannot be borrowed"
                                    .to_string(),
                            );
                        }
                    };
                    cleanup_with_timeout(&client, &applied, timeout)
                        .await
                        .map_err(|e| e.to_string())
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the cleanup thread panicked".into()))
        })
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if !self.armed || self.recorder.snapshot().records.is_empty() {
            return;
        }
        self.armed = false;
        tracing::warn!(
            "run {}: cleaning up from Drop ({}); call CleanupGuard::finish on normal paths",
            self.ctx.labels.run_id,
            if std::thread::panicking() {
                "after a panic"
            } else {
                "finish() was not called"
            }
        );
        match self.cleanup_blocking() {
            Ok(r) => tracing::info!(
                "run {}: cleanup deleted {} objects",
                self.ctx.labels.run_id,
                r.deleted.len()
            ),
            Err(e) => tracing::error!(
                "run {}: cleanup failed: {e}\n{}",
                self.ctx.labels.run_id,
                inspect_hint(&self.ctx)
            ),
        }
    }
}
