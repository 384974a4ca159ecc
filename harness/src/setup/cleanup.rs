//! Cleanup: deleting what a run created in reverse order, waiting for finalizers with a deadline,
//! only objects carrying the run's label (adopted namespaces never), on every path.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use tokio::time::Instant;

use super::plan::Phase;
use super::record::{Applied, CLEANUP_TIMEOUT, MODEL_UNLOAD_TIMEOUT, Record, Recorder, RunContext};
use crate::kube::{Applier, ApplyError, ObjectRef, RunLabels, Watched, gone, wait};

/// What cleanup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Deleted and confirmed gone.
    pub deleted: Vec<ObjectRef>,
    /// Already gone before cleanup got to them.
    pub already_gone: Vec<ObjectRef>,
    /// Left alone, with why (adopted, not labelled with this run).
    pub left_alone: Vec<(ObjectRef, String)>,
    /// Models whose finalizer cleanup removed itself because Seldon did not unload them in time.
    pub finalizers_removed: Vec<(ObjectRef, String)>,
}

/// The finalizer Seldon's controller puts on every Model (operator `constants.ModelFinalizerName`).
pub const MODEL_FINALIZER: &str = "seldon.model.finalizer";

/// Cleanup could not remove everything.
#[derive(Debug, thiserror::Error)]
pub struct CleanupError {
    /// The run.
    pub run_id: String,
    /// Objects that remain or could not be handled, with why.
    pub problems: Vec<(ObjectRef, String)>,
    /// What was done (boxed: the error stays small).
    pub report: Box<CleanupReport>,
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
            "\n  find them with: kubectl get namespaces,experiments,pipelines,models,servers,seldonruntimes,secrets -A -l {}={}",
            crate::kube::RUN_LABEL,
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
    cleanup_with_timeouts(
        client,
        applied,
        timeout,
        MODEL_UNLOAD_TIMEOUT.min(timeout / 4),
    )
    .await
}

/// [`cleanup_with_timeout`], waiting at most `model_unload` for Seldon to unload each deleted
/// Model: its controller removes the Model's finalizer only once the namespace's scheduler
/// unloaded it, so with the scheduler gone or unreachable deletion hangs (upstream #5043). Then
/// cleanup removes the finalizer itself, says so, and carries on within the deadline.
pub async fn cleanup_with_timeouts(
    client: &Client,
    applied: &Applied,
    timeout: Duration,
    model_unload: Duration,
) -> Result<CleanupReport, CleanupError> {
    let deadline = Instant::now() + timeout;
    let applier = Applier::new(client.clone(), applied.labels.clone());
    let mut report = CleanupReport::default();
    let mut problems: Vec<(ObjectRef, String)> = Vec::new();
    for phase in Phase::ALL.into_iter().rev() {
        let mut waiting: Vec<Watched> = Vec::new();
        for r in applied.records.iter().rev().filter(|r| r.phase == phase) {
            if let Some(o) = r.outcome.as_ref().filter(|o| o.adopted) {
                let why = match restore_labels(&applier, &r.object, o.labels_before.as_ref()).await
                {
                    Ok(()) => "existed before the run (adopted); its labels are restored".into(),
                    Err(e) => {
                        problems.push((r.object.clone(), format!("restoring its labels: {e}")));
                        "existed before the run (adopted)".into()
                    }
                };
                report.left_alone.push((r.object.clone(), why));
                continue;
            }
            match delete_if_ours(&applier, &r.object).await {
                Ok(Deleted::Gone) => report.already_gone.push(r.object.clone()),
                Ok(Deleted::NotOurs(why)) => report.left_alone.push((r.object.clone(), why)),
                Ok(Deleted::Pending(target)) => waiting.push(target),
                Err(e) => problems.push((r.object.clone(), e.to_string())),
            }
        }
        let applier = &applier;
        let waits = waiting.iter().map(|t| async move {
            let left = deadline.saturating_duration_since(Instant::now());
            if t.object.kind != "Model" {
                return (t, wait::wait_for(client, t, &gone(), left).await, None);
            }
            let namespace = t.object.namespace.as_deref().unwrap_or_default();
            // With no scheduler pod Ready nothing can unload it: waiting would only pass time.
            let unloaded = match scheduler_down(client, namespace).await {
                Some(why) => Err(why),
                None => Ok(wait::wait_for(client, t, &gone(), left.min(model_unload)).await),
            };
            // `first`: the timed-out wait, if there was one (the report of a refused removal).
            let (first, held) = match unloaded {
                Ok(Ok(o)) => return (t, Ok(o), None),
                Ok(Err(e)) => (
                    Some(Err(e)),
                    format!(
                        "Seldon did not unload it within {}s, so its finalizer {MODEL_FINALIZER} \
                         held the deletion (the scheduler of {namespace} is gone or unreachable; \
                         upstream #5043): cleanup removed the finalizer",
                        model_unload.as_secs_f32(),
                    ),
                ),
                Err(why) => (
                    None,
                    format!(
                        "Seldon cannot unload it: {why}, so its finalizer {MODEL_FINALIZER} \
                         holds the deletion (upstream #5043): cleanup removed the finalizer at once"
                    ),
                ),
            };
            let removed = match drop_model_finalizer(applier, &t.object).await {
                Ok(false) => None,
                Ok(true) => Some(held),
                // Refused (e.g. the Model no longer validates against its CRD): waiting cannot help.
                Err(e) => {
                    let why = format!("removing its finalizer {MODEL_FINALIZER} failed: {e}");
                    let first = match first {
                        Some(first) => first,
                        // Not waited yet: one look, so the report says what the Model showed.
                        None => wait::wait_for(client, t, &gone(), Duration::ZERO).await,
                    };
                    return (t, first, Some(why));
                }
            };
            if let Some(why) = &removed {
                tracing::warn!("{}: {why}", t.object);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            (t, wait::wait_for(client, t, &gone(), left).await, removed)
        });
        for (t, result, removed) in futures::future::join_all(waits).await {
            if let Some(why) = removed {
                report.finalizers_removed.push((t.object.clone(), why));
            }
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
            report: Box::new(report),
        })
    }
}

/// Why Seldon cannot unload a Model of `namespace` now, if it cannot: the controller unloads it
/// through the namespace's scheduler (the SeldonRuntime's `seldon-scheduler` StatefulSet), and
/// with no scheduler pod Ready its call fails and is retried, the finalizer held. `None` when the
/// scheduler has a Ready pod, or when the harness cannot tell (it then waits as usual).
async fn scheduler_down(client: &Client, namespace: &str) -> Option<String> {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(SCHEDULER).await {
        Ok(None) => Some(format!("namespace {namespace} has no {SCHEDULER}")),
        Ok(Some(s)) => {
            let ready = s.status.and_then(|s| s.ready_replicas).unwrap_or(0);
            (ready == 0).then(|| format!("StatefulSet {namespace}/{SCHEDULER} has no Ready pod"))
        }
        Err(_) => None,
    }
}

/// The scheduler's StatefulSet in a SeldonRuntime's namespace.
const SCHEDULER: &str = "seldon-scheduler";

/// Puts back exactly the labels an adopted object had before the run: labels it did not have are
/// removed, changed ones get their old value.
async fn restore_labels(
    applier: &Applier,
    object: &ObjectRef,
    before: Option<&BTreeMap<String, String>>,
) -> Result<(), ApplyError> {
    let Some(before) = before else {
        return Ok(());
    };
    let api = applier.api(object).await?;
    let Some(live) = api
        .get_opt(&object.name)
        .await
        .map_err(|e| ApplyError::from_kube(object, "get", e, &[]))?
    else {
        return Ok(());
    };
    let now = live.metadata.labels.unwrap_or_default();
    if &now == before {
        return Ok(());
    }
    let mut labels = serde_json::Map::new();
    for k in now.keys().filter(|k| !before.contains_key(*k)) {
        labels.insert(k.clone(), serde_json::Value::Null);
    }
    for (k, v) in before {
        labels.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let patch = serde_json::json!({"metadata": {"labels": labels}});
    api.patch(
        &object.name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .map_err(|e| ApplyError::from_kube(object, "patch", e, &[]))?;
    Ok(())
}

/// Removes Seldon's Model finalizer from a Model being deleted; `false` when it has none.
async fn drop_model_finalizer(applier: &Applier, object: &ObjectRef) -> Result<bool, ApplyError> {
    let api = applier.api(object).await?;
    let Some(live) = api
        .get_opt(&object.name)
        .await
        .map_err(|e| ApplyError::from_kube(object, "get", e, &[]))?
    else {
        return Ok(false);
    };
    let finalizers = live.metadata.finalizers.unwrap_or_default();
    if !finalizers.iter().any(|f| f == MODEL_FINALIZER) {
        return Ok(false);
    }
    let rest: Vec<&String> = finalizers
        .iter()
        .filter(|f| *f != MODEL_FINALIZER)
        .collect();
    let patch = serde_json::json!({"metadata": {"finalizers": rest}});
    match api
        .patch(
            &object.name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(ApplyError::from_kube(object, "patch", e, &[])),
    }
}

enum Deleted {
    Gone,
    NotOurs(String),
    Pending(Watched),
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
            crate::kube::RUN_LABEL,
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
    Ok(Deleted::Pending(Watched::new(
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
                report: Box::default(),
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
         kubectl{kc} get seldonruntimes,servers,models,experiments,pipelines,secrets,resourcequotas,networkpolicies -A -l {sel}\n\
         remove it later with:\n  \
         kubectl{kc} delete experiments,pipelines,models,servers,seldonruntimes -A -l {sel} && kubectl{kc} delete namespaces -l {sel}",
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
        self.remove_packages();
        let applied = self.recorder.snapshot();
        cleanup_with_timeouts(
            &self.client,
            &applied,
            self.ctx.cleanup_timeout,
            self.ctx.model_unload_timeout,
        )
        .await
    }

    /// Keeps everything (`--keep`): logs and returns how to inspect it.
    pub fn keep(mut self) -> String {
        self.armed = false;
        let mut hint = inspect_hint(&self.ctx);
        let dir = self.ctx.packages_dir();
        if dir.exists() {
            hint.push_str(&format!(
                "\nthe run's extracted secret packages (plaintext, mode 0600) are in {}; delete that folder when done",
                dir.display()
            ));
        }
        tracing::info!("{hint}");
        hint
    }

    /// Removes the run's extracted secret packages (they hold plaintext values).
    fn remove_packages(&self) {
        match self.ctx.remove_packages() {
            Ok(Some(dir)) => tracing::debug!("removed extracted packages {}", dir.display()),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "could not remove the extracted secret packages in {}: {e}; delete that folder by hand",
                self.ctx.packages_dir().display()
            ),
        }
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
                        (Some(c), _) => crate::kube::retry::client(c).map_err(|e| e.to_string())?,
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
        if !self.armed {
            return;
        }
        self.remove_packages();
        if self.recorder.snapshot().records.is_empty() {
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
