//! Running scenarios end to end: target, setup, checks, verdicts, diagnostics, cleanup.

pub mod attempts;
pub mod diagnostics;
mod execute;
mod results;
mod signals;

pub use execute::run_checks;
pub use results::{CheckResult, Selection};
use signals::signalled;
pub use signals::{listen_for_signals, signals_received};
pub mod mode;
pub mod upgrade;

pub use mode::Mode;
pub mod groups;

use std::time::Duration;

use anyhow::Context;

use crate::checks::CheckContext;
use crate::kube::run_lease::RunLease;
use crate::kube::{Applier, RunLabels};
use crate::scenario::{Check, Scenario, ScenarioErrors, TargetKind};
use crate::setup::{CleanupError, CleanupGuard, CleanupReport, RunContext, setup_recorded};
use crate::target::{Keep, Target, TargetOptions, fresh_per_scenario};

/// Loads a scenario file: its format (`Scenario::load`), then the flow analysis (unknown flow
/// names are errors, required flows its policies block are warnings).
pub fn load(file: &std::path::Path) -> Result<Scenario, ScenarioErrors> {
    crate::flows::analyse(Scenario::load(file)?)
}

/// Everything one scenario run produced.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// Scenario name.
    pub scenario: String,
    /// Target name.
    pub target: &'static str,
    /// The run id labelling every object the run created.
    pub run_id: String,
    /// Set when setup itself failed: no check could run.
    pub setup_error: Option<String>,
    /// Set when the scenario does not run on this target (not a failure).
    pub not_applicable: Option<String>,
    /// One entry per check, in file order.
    pub checks: Vec<CheckResult>,
    /// The Kubernetes API server's version (`gitVersion`), when it answered.
    pub kubernetes_version: Option<String>,
    /// The Seldon chart version the run installed or was told the platform runs.
    pub chart_version: Option<String>,
    /// Setup only (`--setup-only`): what was set up and whether cleanup left anything.
    pub setup_only: Option<String>,
    /// What the run found beside the checks' verdicts (an upgrade's CRD changes and warnings).
    pub notes: Vec<String>,
}

impl ScenarioReport {
    /// Whether every check passed and setup worked.
    pub fn succeeded(&self) -> bool {
        self.not_applicable.is_some()
            || (self.setup_error.is_none()
                && self
                    .checks
                    .iter()
                    .all(|c| c.verdict.passed() || c.skipped_by_mode || c.not_requested))
    }
}

/// The run id: `HARNESS_RUN_ID` when set (test processes of one suite run share it, so they share
/// the scenario's objects on a cluster), else a fresh one.
pub fn run_id() -> String {
    std::env::var("HARNESS_RUN_ID")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(RunLabels::generate_run_id)
}

/// Which checks of a scenario to run.
pub fn select<'a>(scenario: &'a Scenario, only: Option<&str>) -> Vec<&'a Check> {
    Selection::only(only).checks(scenario)
}

/// What a scenario run does between its checks and its cleanup, on the same objects (the upgrade
/// flow, `run::upgrade`).
pub trait Interlude: Sync {
    /// The in-place upgrade checks may perform (`CheckContext::upgrade`).
    fn upgrade(&self) -> Option<std::sync::Arc<dyn crate::target::upgrade::InPlaceUpgrade>>;
    /// The version that upgrade goes to (`CheckContext::upgrade_to`).
    fn upgrade_to(&self) -> Option<String>;
    /// Runs once setup and the checks are done (setup failed: `stage.report.setup_error`), and
    /// returns the reports of what it ran.
    fn between<'a>(
        &'a self,
        stage: Stage<'a>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<ScenarioReport>> + 'a>>;
}

/// A scenario run between its checks and its cleanup.
pub struct Stage<'a> {
    /// The target.
    pub target: &'a Target,
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Which checks run.
    pub selection: &'a Selection,
    /// The checks' context.
    pub ctx: &'a CheckContext<'a>,
    /// The report so far (setup and the checks).
    pub report: &'a ScenarioReport,
    /// What setup applied.
    pub applied: crate::setup::Applied,
}

/// Prints what cleanup did (on interruption the user must see what is left).
fn print_cleanup(run_id: &str, r: &Result<CleanupReport, CleanupError>) {
    match r {
        Ok(r) => eprintln!(
            "run {run_id}: cleanup deleted {} object(s), {} already gone, left {} alone{}",
            r.deleted.len(),
            r.already_gone.len(),
            r.left_alone.len(),
            r.left_alone
                .iter()
                .map(|(o, why)| format!("\n  left {o}: {why}"))
                .collect::<String>()
        ),
        Err(e) => eprintln!(
            "{e}\n  `harness cleanup --run {run_id}` retries it (deleted {} before that)",
            e.report.deleted.len()
        ),
    }
}

/// Runs one scenario on a target that is up: setup, the selected checks (concurrently), cleanup
/// of what the run created unless the keep policy keeps it. SIGINT/SIGTERM (see
/// [`listen_for_signals`]) stop it at any instant and delete everything it created, the objects
/// its checks created included.
pub async fn run_scenario(
    target: &Target,
    scenario: &Scenario,
    only: Option<&str>,
    keep: Keep,
) -> ScenarioReport {
    run_scenario_selected(target, scenario, &Selection::only(only), keep).await
}

/// [`run_scenario`] with a full [`Selection`].
pub async fn run_scenario_selected(
    target: &Target,
    scenario: &Scenario,
    selection: &Selection,
    keep: Keep,
) -> ScenarioReport {
    let mut reports = run_scenario_with(target, scenario, selection, keep, None).await;
    reports.remove(0)
}

/// [`run_scenario_selected`] with an [`Interlude`] between the checks and cleanup: the first
/// report is the scenario's, then the interlude's.
pub async fn run_scenario_with(
    target: &Target,
    scenario: &Scenario,
    selection: &Selection,
    keep: Keep,
    interlude: Option<&dyn Interlude>,
) -> Vec<ScenarioReport> {
    let run_id = run_id();
    let mut report = ScenarioReport {
        scenario: scenario.name().to_string(),
        target: target.kind().name(),
        run_id: run_id.clone(),
        setup_error: None,
        not_applicable: None,
        checks: Vec::new(),
        kubernetes_version: None,
        chart_version: None,
        setup_only: None,
        notes: Vec::new(),
    };
    if signals_received() > 0 {
        report.setup_error = Some("interrupted before it started".into());
        return vec![report];
    }
    let client = target.client();
    report.kubernetes_version =
        tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|v| v.git_version);
    let mut run_ctx = RunContext::new(RunLabels::new(scenario.name(), &run_id));
    run_ctx.work_dir = target.work_dir().to_path_buf();
    run_ctx.keep_packages = keep != Keep::Never;
    run_ctx.kubeconfig = target.kubeconfig().map(|p| p.to_path_buf());
    // The embedded platform unloads a Model within milliseconds when its scheduler is up.
    if let Some(cap) = target.timeout_cap() {
        run_ctx.model_unload_timeout = run_ctx.model_unload_timeout.min(cap);
    }
    run_ctx.sealing_cert = target.sealing_cert().map(|p| p.to_path_buf());
    match target.package_overrides(scenario).await {
        Ok(o) => run_ctx.package_overrides = o,
        Err(e) => {
            report.setup_error = Some(format!("{e:#}"));
            return vec![report];
        }
    }
    // The run's Lease tells other runs this one is live (and later kept, or crashed).
    let lease = match RunLease::acquire(Applier::new(client.clone(), run_ctx.labels.clone())).await
    {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(
                "run {run_id} holds no Lease, so other runs cannot tell it is live: {e}"
            );
            None
        }
    };
    // The guard records every object as it is applied, so whatever stops the run (a failed setup,
    // Ctrl-C, a panic) can still delete exactly what the run created.
    let guard = CleanupGuard::new(client.clone(), &run_ctx);
    let recorder = guard.recorder();
    let mut extra = Vec::new();
    let work = async {
        let ctx = CheckContext {
            client: client.clone(),
            scenario,
            mesh: target,
            run_id: &run_id,
            model_store: target.model_store(),
            recorder: Some(recorder.clone()),
            settle: target.settle_window(),
            upgrade: interlude.and_then(Interlude::upgrade),
            upgrade_to: interlude.and_then(Interlude::upgrade_to),
            figures: Default::default(),
            platform_stall: target.platform_stall(),
        };
        let (setup_error, checks) =
            match setup_recorded(&client, scenario, &run_ctx, &recorder).await {
                Err(e) => (Some(e.to_string()), Vec::new()),
                Ok(_) => (None, run_checks(target, scenario, selection, &ctx).await),
            };
        let mut extra = Vec::new();
        if let Some(interlude) = interlude {
            let so_far = ScenarioReport {
                setup_error: setup_error.clone(),
                checks: checks.clone(),
                ..report.clone()
            };
            let stage = Stage {
                target,
                scenario,
                selection,
                ctx: &ctx,
                report: &so_far,
                applied: recorder.snapshot(),
            };
            extra = interlude.between(stage).await;
        }
        (setup_error, checks, extra)
    };
    let interrupted = tokio::select! {
        (setup_error, checks, more) = work => {
            report.setup_error = setup_error;
            report.checks = checks;
            extra = more;
            false
        }
        _ = signalled(1) => {
            eprintln!("interrupted: cleaning up run {run_id} (press Ctrl-C again to abandon it)");
            report.setup_error = Some("interrupted (SIGINT/SIGTERM) before the checks finished".into());
            true
        }
    };
    let failed = std::iter::once(&report)
        .chain(&extra)
        .find(|r| !r.succeeded());
    if let Some(failed) = failed
        && !interrupted
    {
        // Before cleanup, while the objects exist; a signal meanwhile stops it and counts below.
        write_diagnostics(target, scenario, failed, &recorder).await;
    }
    // A signal that arrived as the work finished still means: clean up, keep nothing.
    let interrupted_now = interrupted_now(interrupted);
    if interrupted_now && !interrupted {
        report.setup_error = Some("interrupted (SIGINT/SIGTERM) as the checks finished".into());
    }
    let interrupted = interrupted_now;
    let all_ok = report.succeeded() && extra.iter().all(ScenarioReport::succeeded);
    let kept = keep.keeps(!all_ok) && !interrupted;
    if kept {
        // keep() prints how to inspect and remove what was kept.
        let _ = guard.keep();
    } else {
        let labels = run_ctx.labels.clone();
        let timeout = run_ctx.cleanup_timeout;
        let cleanup = async {
            let recorded = guard.finish().await;
            if !interrupted {
                return recorded;
            }
            // A create the interruption cut off may have reached the API server after the record
            // cleanup looked for it (it counted as "already gone"): sweep the run's label too.
            let swept = crate::setup::cleanup_run(&client, &labels, timeout).await;
            merge_cleanups(recorded, swept)
        };
        let outcome = tokio::select! {
            r = cleanup => Some(r),
            _ = signalled(2), if interrupted => None,
        };
        if selection.setup_only && !interrupted {
            verify_setup_only(&client, &run_ctx, &recorder, &mut report).await;
        }
        match outcome {
            Some(r) if interrupted => print_cleanup(&run_id, &r),
            Some(Ok(_)) => {}
            Some(Err(e)) => tracing::warn!(
                "cleanup of run {run_id} failed: {e:#}; `harness cleanup --run {run_id}` retries it"
            ),
            None => eprintln!(
                "cleanup abandoned; `harness cleanup --run {run_id}` removes what is left"
            ),
        }
    }
    match lease {
        Some(l) if kept => l.keep().await,
        Some(l) => l.release().await,
        None => {}
    }
    std::iter::once(report).chain(extra).collect()
}

/// `--setup-only`: after cleanup, sweeps the run's label over every kind setup applies; anything
/// still there (and deleted by the sweep) means cleanup left it, which fails the scenario.
async fn verify_setup_only(
    client: &kube::Client,
    run_ctx: &RunContext,
    recorder: &crate::setup::Recorder,
    report: &mut ScenarioReport,
) {
    let applied = recorder.snapshot();
    let swept = crate::setup::cleanup_run(client, &run_ctx.labels, run_ctx.cleanup_timeout).await;
    let summary = format!(
        "{} objects applied ({} created), then cleaned up",
        applied.records.len(),
        applied.outcomes().filter(|o| o.created).count()
    );
    match swept {
        Ok(r) if r.deleted.is_empty() => {
            report.setup_only = Some(format!(
                "{summary}; no object labelled with run {} is left",
                run_ctx.labels.run_id
            ));
        }
        Ok(r) => {
            report.setup_only = Some(summary);
            report.setup_error = Some(format!(
                "cleanup left {} objects labelled with run {} (deleted now by a label sweep): {}",
                r.deleted.len(),
                run_ctx.labels.run_id,
                r.deleted
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Err(e) => {
            report.setup_only = Some(summary);
            report.setup_error = Some(format!("cleanup left objects it cannot delete: {e}"));
        }
    }
}

/// Writes the failed run's diagnostics bundle (before cleanup: the objects are still there) when
/// the target has a diagnostics folder; a bundle that cannot be written is a warning.
async fn write_diagnostics(
    target: &Target,
    scenario: &Scenario,
    report: &ScenarioReport,
    recorder: &crate::setup::Recorder,
) {
    let Some(dir) = target.diagnostics_dir() else {
        return;
    };
    let failures: Vec<diagnostics::Failure<'_>> = report
        .checks
        .iter()
        .filter(|c| !c.verdict.passed())
        .map(|c| diagnostics::Failure {
            name: &c.name,
            kind: c.kind,
            duration: c.duration,
            tags: &c.tags,
            verdict: &c.verdict,
        })
        .collect();
    let run = diagnostics::RunFacts {
        run_id: &report.run_id,
        chart_version: report.chart_version.as_deref(),
        setup_error: report.setup_error.as_deref(),
    };
    let applied = recorder.snapshot();
    let written = tokio::select! {
        r = diagnostics::write(target, scenario, run, &failures, &applied, dir) => Some(r),
        _ = signalled(1) => None,
    };
    match written {
        Some(Ok(path)) => eprintln!("diagnostics of run {}: {}", report.run_id, path.display()),
        Some(Err(e)) => tracing::warn!("writing the diagnostics of run {}: {e:#}", report.run_id),
        None => {}
    }
}

/// The record-based cleanup followed by the label sweep, as one report.
fn merge_cleanups(
    recorded: Result<CleanupReport, CleanupError>,
    swept: Result<CleanupReport, CleanupError>,
) -> Result<CleanupReport, CleanupError> {
    let (mut report, mut problems, run_id) = match recorded {
        Ok(r) => (r, Vec::new(), None),
        Err(e) => (*e.report, e.problems, Some(e.run_id)),
    };
    let (more, more_problems, run_id) = match swept {
        Ok(r) => (r, Vec::new(), run_id),
        Err(e) => (*e.report, e.problems, Some(e.run_id)),
    };
    report
        .already_gone
        .retain(|o| !more.deleted.contains(o) && !more.already_gone.contains(o));
    report.deleted.extend(more.deleted);
    report.finalizers_removed.extend(more.finalizers_removed);
    problems.extend(more_problems);
    match run_id {
        Some(run_id) if !problems.is_empty() => Err(CleanupError {
            run_id,
            problems,
            report: Box::new(report),
        }),
        _ => Ok(report),
    }
}

/// Whether the run counts as interrupted: it was, or a signal arrived since.
fn interrupted_now(was: bool) -> bool {
    was || signals_received() > 0
}

/// Starts a target for one scenario, runs it, and stops the target: the embedded platform's way
/// (a fresh platform per scenario) and the suites' way (one test process per check).
pub async fn run_on_fresh_target(
    opts: &TargetOptions,
    scenario: &Scenario,
    only: Option<&str>,
) -> anyhow::Result<ScenarioReport> {
    run_on_fresh_target_selected(opts, scenario, &Selection::only(only)).await
}

/// [`run_on_fresh_target`] with a full [`Selection`].
pub async fn run_on_fresh_target_selected(
    opts: &TargetOptions,
    scenario: &Scenario,
    selection: &Selection,
) -> anyhow::Result<ScenarioReport> {
    let target = Target::start(opts, scenario)
        .await
        .with_context(|| format!("preparing the target for `{}`", scenario.name()))?;
    let mut report = run_scenario_selected(&target, scenario, selection, opts.keep).await;
    report.chart_version = Some(opts.install_settings(scenario).chart_version);
    target.finish(!report.succeeded()).await;
    Ok(report)
}

/// What went wrong for a scenario that could not even start (target or setup), as a report.
pub fn broken(scenario: &Scenario, target: &'static str, error: String) -> ScenarioReport {
    ScenarioReport {
        setup_only: None,
        notes: Vec::new(),
        scenario: scenario.name().to_string(),
        target,
        run_id: String::new(),
        setup_error: Some(error),
        not_applicable: None,
        checks: Vec::new(),
        kubernetes_version: None,
        chart_version: None,
    }
}

/// Runs scenarios one after another: a fresh embedded platform for each, or one cluster for all.
/// Scenarios that do not run on the target are reported with every check skipped.
pub async fn run_all(
    opts: &TargetOptions,
    scenarios: &[Scenario],
    only: Option<&str>,
) -> Vec<ScenarioReport> {
    run_all_selected(opts, scenarios, &Selection::only(only)).await
}

/// [`run_all`] with a full [`Selection`]: scenarios with no selected check are not run.
pub async fn run_all_selected(
    opts: &TargetOptions,
    scenarios: &[Scenario],
    selection: &Selection,
) -> Vec<ScenarioReport> {
    run_all_jobs(opts, scenarios, selection, 1).await
}

/// The scenarios to run on `kind` (those with a selected check), and reports for those that do
/// not run there.
pub fn partition<'a>(
    kind: TargetKind,
    scenarios: &'a [Scenario],
    selection: &Selection,
) -> (Vec<ScenarioReport>, Vec<&'a Scenario>) {
    let mut reports = Vec::new();
    let mut applicable = Vec::new();
    for scenario in scenarios {
        if !selection.setup_only
            && selection.checks(scenario).is_empty()
            && !scenario.doc.spec.checks.is_empty()
        {
            continue;
        }
        if scenario.runs_on(kind) {
            applicable.push(scenario);
        } else {
            let targets: Vec<&str> = scenario.doc.spec.targets.iter().map(|t| t.name()).collect();
            reports.push(ScenarioReport {
                scenario: scenario.name().to_string(),
                target: kind.name(),
                run_id: String::new(),
                setup_error: None,
                not_applicable: Some(format!("runs only on: {}", targets.join(", "))),
                setup_only: None,
                notes: Vec::new(),
                checks: Vec::new(),
                kubernetes_version: None,
                chart_version: None,
            });
        }
    }
    (reports, applicable)
}

/// [`run_all_selected`] running up to `jobs` scenarios at once ([`crate::jobs::run_bounded`]):
/// each on a fresh embedded platform, or on the one cluster with no namespace shared by two
/// scenarios running together. Reports come in the order of `scenarios`.
pub async fn run_all_jobs(
    opts: &TargetOptions,
    scenarios: &[Scenario],
    selection: &Selection,
    jobs: usize,
) -> Vec<ScenarioReport> {
    let kind = opts.kind.unwrap_or(TargetKind::Sim);
    let (mut reports, applicable) = partition(kind, scenarios, selection);
    if fresh_per_scenario(kind) {
        // Embedded platforms running at once share the CPU: each check's time budget grows with
        // them, so a busy machine does not turn a slow platform into a failed check.
        let at_once = jobs.min(applicable.len()).max(1) as u32;
        let mut shared = opts.clone();
        if at_once > 1 && shared.embedded.timeout_cap.is_none() {
            shared.embedded.timeout_cap =
                Some(crate::target::embedded::embedded_timeout_cap() * at_once);
        }
        let opts = &shared;
        let done = crate::jobs::run_bounded(&applicable, jobs, false, |scenario| async move {
            if signals_received() > 0 {
                return broken(
                    scenario,
                    kind.name(),
                    "interrupted before it started".into(),
                );
            }
            match run_on_fresh_target_selected(opts, scenario, selection).await {
                Ok(r) => r,
                Err(e) => broken(scenario, kind.name(), format!("{e:#}")),
            }
        })
        .await;
        reports.extend(done);
        return reports;
    }
    // A cluster: one target per group of scenarios with the same Seldon install.
    let groups = groups::install_groups(opts, &applicable);
    if groups.len() > 1 {
        eprintln!(
            "these scenarios need {} different Seldon installs; running them one install after another: {}",
            groups.len(),
            groups
                .iter()
                .map(|g| g.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    let mut on_cluster = Vec::new();
    for group in &groups {
        if signals_received() > 0 {
            on_cluster.extend(
                group
                    .iter()
                    .map(|s| broken(s, kind.name(), "interrupted before it started".into())),
            );
            continue;
        }
        on_cluster.extend(run_on_cluster(opts, group, selection, jobs).await);
    }
    if opts.upgrade_to.is_none() {
        // Back in the scenarios' order (groups ran one after another).
        let at = |r: &ScenarioReport| {
            applicable
                .iter()
                .position(|s| s.name() == r.scenario)
                .unwrap_or(usize::MAX)
        };
        on_cluster.sort_by_key(at);
    }
    reports.extend(on_cluster);
    reports
}

/// Runs scenarios that share one Seldon install on one cluster target (and the upgrade sequence
/// when asked), then finishes the target.
async fn run_on_cluster(
    opts: &TargetOptions,
    applicable: &[&Scenario],
    selection: &Selection,
    jobs: usize,
) -> Vec<ScenarioReport> {
    let kind = opts.kind.unwrap_or(TargetKind::Sim);
    let mut reports = Vec::new();
    let Some(first) = applicable.first() else {
        return reports;
    };
    let target = match Target::start(opts, first).await {
        Ok(t) => t,
        Err(e) => {
            // Every scenario of the group needed that install.
            let why = format!("{e:#}");
            reports.extend(
                applicable
                    .iter()
                    .map(|s| broken(s, kind.name(), why.clone())),
            );
            return reports;
        }
    };
    // `--upgrade-to` runs `run::upgrade::run_all` instead.
    let done = crate::jobs::run_bounded(applicable, jobs, true, |scenario| {
        let target = &target;
        async move {
            let mut r = run_scenario_selected(target, scenario, selection, opts.keep).await;
            r.chart_version = Some(opts.install_settings(scenario).chart_version);
            r
        }
    })
    .await;
    reports.extend(done);
    target.finish(!all_succeeded(&reports)).await;
    reports
}

/// Whether every scenario set up and every check passed (skips count as not passed).
pub fn all_succeeded(reports: &[ScenarioReport]) -> bool {
    reports.iter().all(ScenarioReport::succeeded)
}
