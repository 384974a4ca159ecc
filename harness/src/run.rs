//! Running scenarios end to end: target, setup, checks, verdicts, diagnostics, cleanup.

pub mod attempts;
pub mod diagnostics;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;

use crate::checks::{self, CheckContext, Verdict};
use crate::kube::run_lease::RunLease;
use crate::kube::{Applier, RunLabels};
use crate::scenario::{Check, Scenario, ScenarioErrors, TargetKind};
use crate::setup::{CleanupError, CleanupGuard, CleanupReport, RunContext, setup_recorded};
use crate::target::kind::helm::UpgradePhase;
use crate::target::{Keep, Target, TargetOptions, fresh_per_scenario};

/// Loads a scenario file: its format (`Scenario::load`), then the flow analysis (unknown flow
/// names are errors, required flows its policies block are warnings).
pub fn load(file: &std::path::Path) -> Result<Scenario, ScenarioErrors> {
    crate::flows::analyse(Scenario::load(file)?)
}

/// The verdict of one check, with how long it took.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// The check's kind (`modelReady`, `inference`, ...).
    pub kind: &'static str,
    /// What happened.
    pub verdict: Verdict,
    /// Wall time of the check.
    pub duration: Duration,
    /// Defects of the embedded platform this check is proven (by the mutation suite) to catch.
    pub proven_to_catch: Vec<&'static str>,
    /// The check's tags from the scenario.
    pub tags: Vec<String>,
    /// Extra attempts after infrastructure errors, each with its reason (see `run::attempts`).
    pub retries: Vec<String>,
    /// Per-second traffic figures (continuity checks; empty for the others).
    pub timeline: Vec<crate::v2::traffic::Second>,
    /// Skipped because the run did not ask for what the check needs (`--upgrade-to` for a
    /// `helmUpgrade` action): reported, but not a failure of the run.
    pub not_requested: bool,
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
}

impl ScenarioReport {
    /// Whether every check passed and setup worked.
    pub fn succeeded(&self) -> bool {
        self.not_applicable.is_some()
            || (self.setup_error.is_none()
                && self
                    .checks
                    .iter()
                    .all(|c| c.verdict.passed() || c.not_requested))
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

/// Which checks to run: by name (`--check`), by tag (`--tag`, any of them), and only those that
/// did not pass in an earlier run (`--rerun-failed results.json`). Empty means every check.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only the check of this name.
    pub check: Option<String>,
    /// Only checks carrying at least one of these tags.
    pub tags: Vec<String>,
    /// Only these (scenario, check) pairs (check `*`: all of the scenario's); a scenario absent
    /// from it is not run at all.
    pub rerun: Option<std::collections::BTreeSet<(String, String)>>,
    /// Setup and cleanup only (`--setup-only`): no check is run.
    pub setup_only: bool,
}

impl Selection {
    /// Every check, or only the one named.
    pub fn only(check: Option<&str>) -> Selection {
        Selection {
            check: check.map(str::to_string),
            ..Selection::default()
        }
    }

    /// Whether a check of a scenario is selected.
    pub fn matches(&self, scenario: &Scenario, check: &Check) -> bool {
        self.check.as_deref().is_none_or(|o| o == check.name)
            && (self.tags.is_empty() || check.tags.iter().any(|t| self.tags.contains(t)))
            && self.rerun.as_ref().is_none_or(|r| {
                let name = scenario.name().to_string();
                r.contains(&(name.clone(), check.name.clone())) || r.contains(&(name, "*".into()))
            })
    }

    /// The selected checks of a scenario, in file order (none when setting up only).
    pub fn checks<'a>(&self, scenario: &'a Scenario) -> Vec<&'a Check> {
        if self.setup_only {
            return Vec::new();
        }
        scenario
            .doc
            .spec
            .checks
            .iter()
            .filter(|c| self.matches(scenario, c))
            .collect()
    }
}

/// How many interrupting signals (SIGINT, SIGTERM) the process has received, counted from the
/// first call of [`listen_for_signals`].
static SIGNALS: OnceLock<watch::Receiver<u32>> = OnceLock::new();

/// Starts counting SIGINT and SIGTERM (once per process; later calls return the same counter).
/// From then on a signal no longer kills the process: a run stops starting new work, cleans up
/// and exits non-zero; a second signal abandons the cleanup. Call it before anything is created.
pub fn listen_for_signals() -> watch::Receiver<u32> {
    SIGNALS
        .get_or_init(|| {
            let (tx, rx) = watch::channel(0u32);
            // Registered here, not in the task: a signal arriving before the task first runs
            // must already be counted rather than kill the process mid-setup.
            #[cfg(unix)]
            let streams = {
                use tokio::signal::unix::{SignalKind, signal};
                (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                )
            };
            tokio::spawn(async move {
                #[cfg(unix)]
                {
                    let (Ok(mut int), Ok(mut term)) = streams else {
                        tracing::warn!("cannot listen for SIGINT/SIGTERM");
                        return;
                    };
                    loop {
                        let name = tokio::select! {
                            _ = int.recv() => "SIGINT",
                            _ = term.recv() => "SIGTERM",
                        };
                        tx.send_modify(|n| *n += 1);
                        tracing::debug!("received {name}");
                    }
                }
                #[cfg(not(unix))]
                loop {
                    if tokio::signal::ctrl_c().await.is_err() {
                        return;
                    }
                    tx.send_modify(|n| *n += 1);
                }
            });
            rx
        })
        .clone()
}

/// How many interrupting signals have been received so far.
pub fn signals_received() -> u32 {
    SIGNALS.get().map_or(0, |rx| *rx.borrow())
}

/// Resolves once `n` interrupting signals have been received (never, if nothing listens).
async fn signalled(n: u32) {
    let mut rx = listen_for_signals();
    if rx.wait_for(|c| *c >= n).await.is_err() {
        // The listener's runtime is gone (a test's runtime): no signal can be counted any more.
        std::future::pending::<()>().await;
    }
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
    };
    if signals_received() > 0 {
        report.setup_error = Some("interrupted before it started".into());
        return report;
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
            return report;
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
    let work = async {
        if let Err(e) = setup_recorded(&client, scenario, &run_ctx, &recorder).await {
            return (Some(e.to_string()), Vec::new());
        }
        let ctx = CheckContext {
            client: client.clone(),
            scenario,
            mesh: target,
            run_id: &run_id,
            model_store: target.model_store(),
            recorder: Some(recorder.clone()),
            settle: target.settle_window(),
            upgrade: None,
            upgrade_to: None,
            figures: Default::default(),
        };
        let cap = target.timeout_cap();
        let run_one = |check: &Check| {
            let ctx = &ctx;
            let check = check.clone();
            async move {
                let mut check = check.clone();
                if let Some(cap) = cap {
                    let t = check
                        .timeout
                        .unwrap_or_else(|| check.expect.default_timeout());
                    check.timeout = Some(t.min(cap));
                }
                let started = Instant::now();
                let attempted = attempts::attempt_check(
                    || checks::run_classified(ctx, &check),
                    attempts::detect_flaky_from_env(),
                )
                .await;
                let not_requested = check.expect.needs_upgrade()
                    && ctx.upgrade.is_none()
                    && matches!(attempted.verdict, Verdict::Skip { .. });
                CheckResult {
                    not_requested,
                    name: check.name.clone(),
                    kind: check.expect.kind(),
                    tags: check.tags.clone(),
                    verdict: attempted.verdict,
                    retries: attempted.retries,
                    duration: started.elapsed(),
                    proven_to_catch: crate::proof::proven_to_catch(scenario, &check),
                    timeline: ctx
                        .figures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&check.name)
                        .unwrap_or_default(),
                }
            }
        };
        // Disruptive checks (restarts, rollouts, upgrades) run one at a time after the others,
        // so no other check sees the platform mid-transition.
        let (disruptive, steady): (Vec<&Check>, Vec<&Check>) = selection
            .checks(scenario)
            .into_iter()
            .partition(|c| c.expect.disruptive());
        let mut results = futures::future::join_all(steady.into_iter().map(run_one)).await;
        for check in disruptive {
            results.push(run_one(check).await);
        }
        let order: Vec<&str> = scenario
            .doc
            .spec
            .checks
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        results.sort_by_key(|r| order.iter().position(|n| *n == r.name));
        (None, results)
    };
    let interrupted = tokio::select! {
        (setup_error, checks) = work => {
            report.setup_error = setup_error;
            report.checks = checks;
            false
        }
        _ = signalled(1) => {
            eprintln!("interrupted: cleaning up run {run_id} (press Ctrl-C again to abandon it)");
            report.setup_error = Some("interrupted (SIGINT/SIGTERM) before the checks finished".into());
            true
        }
    };
    if !report.succeeded() && !interrupted {
        // Before cleanup, while the objects exist; a signal meanwhile stops it and counts below.
        write_diagnostics(target, scenario, &report, &recorder).await;
    }
    // A signal that arrived as the work finished still means: clean up, keep nothing.
    let interrupted_now = interrupted_now(interrupted);
    if interrupted_now && !interrupted {
        report.setup_error = Some("interrupted (SIGINT/SIGTERM) as the checks finished".into());
    }
    let interrupted = interrupted_now;
    let kept = keep.keeps(!report.succeeded()) && !interrupted;
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
    report
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
fn broken(scenario: &Scenario, target: &'static str, error: String) -> ScenarioReport {
    ScenarioReport {
        setup_only: None,
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
                checks: Vec::new(),
                kubernetes_version: None,
                chart_version: None,
            });
        }
    }
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
    // A cluster: one target for every scenario.
    let Some(first) = applicable.first() else {
        return reports;
    };
    let target = match Target::start(opts, first).await {
        Ok(t) => t,
        Err(e) => {
            reports.push(broken(first, kind.name(), format!("{e:#}")));
            return reports;
        }
    };
    let run_every = |suffix: String| {
        let (target, applicable) = (&target, &applicable);
        async move {
            crate::jobs::run_bounded(applicable, jobs, true, |scenario| {
                let suffix = &suffix;
                async move {
                    let mut r = run_scenario_selected(target, scenario, selection, opts.keep).await;
                    r.chart_version = Some(opts.install_settings(scenario).chart_version);
                    r.scenario.push_str(suffix);
                    r
                }
            })
            .await
        }
    };
    match &opts.upgrade_to {
        None => reports.extend(run_every(String::new()).await),
        Some(version) => {
            // The one upgrade sequence (also golden-tested): baseline install, scenarios, upgrade,
            // scenarios again; no upgrade when the baseline already fails.
            let collected = std::sync::Mutex::new(Vec::new());
            let outcome = target
                .validate_upgrade(version, |phase| {
                    let (collected, run_every) = (&collected, &run_every);
                    async move {
                        let (suffix, installed) = match phase {
                            UpgradePhase::Before { version } => {
                                (format!(" (on {version}, before the upgrade)"), version)
                            }
                            UpgradePhase::After { version } => {
                                (format!(" (after the upgrade to {version})"), version)
                            }
                        };
                        let mut phase_reports = run_every(suffix).await;
                        for r in &mut phase_reports {
                            r.chart_version = Some(installed.to_string());
                        }
                        let ok = all_succeeded(&phase_reports);
                        collected
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(phase_reports);
                        if ok {
                            Ok(())
                        } else {
                            anyhow::bail!("scenarios failed")
                        }
                    }
                })
                .await;
            reports.extend(collected.into_inner().unwrap_or_else(|e| e.into_inner()));
            match outcome {
                Ok(u) if u.after.is_none() => eprintln!(
                    "not upgraded {} -> {}: the scenarios fail before the upgrade, so the upgrade would prove nothing",
                    u.from, u.to
                ),
                Ok(_) => {}
                Err(e) => reports.push(ScenarioReport {
                    scenario: format!("upgrade to {version}"),
                    target: kind.name(),
                    run_id: String::new(),
                    setup_error: Some(format!("{e:#}")),
                    not_applicable: None,
                    setup_only: None,
                    checks: Vec::new(),
                    kubernetes_version: None,
                    chart_version: None,
                }),
            }
        }
    }
    target.finish(!all_succeeded(&reports)).await;
    reports
}

/// Whether every scenario set up and every check passed (skips count as not passed).
pub fn all_succeeded(reports: &[ScenarioReport]) -> bool {
    reports.iter().all(ScenarioReport::succeeded)
}
