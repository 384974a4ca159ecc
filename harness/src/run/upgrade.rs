//! `harness run --upgrade-to VERSION`: every scenario is set up once and checked, Seldon is
//! upgraded in place once (`target::upgrade`: new CRDs, a dry-run of every existing Seldon object
//! against them, the components), and the checks run again on the same objects, which must keep
//! their UIDs; cleanup happens once, at the end, per the keep policy. When a scenario fails before
//! the upgrade nothing is upgraded: a broken baseline says nothing about the upgrade.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{
    CheckResult, Interlude, ScenarioReport, Selection, Stage, all_succeeded, broken, partition,
    run_checks, run_scenario_with, signals_received,
};
use crate::checks::Verdict;
use crate::scenario::{Scenario, TargetKind};
use crate::setup::Phase;
use crate::target::upgrade::InPlaceUpgrade;
use crate::target::{Target, TargetOptions, fresh_per_scenario};

/// The name of the assertion every scenario gets after the upgrade.
pub const KEPT_CHECK: &str = "objects-kept-across-upgrade";

/// What became of the one upgrade.
#[derive(Debug, Clone)]
enum Outcome {
    /// Some scenario failed (or did not set up) before it: not upgraded.
    NotUpgraded,
    /// The upgrade failed (or was refused), with why.
    Failed(String),
    /// Upgraded; the new version's components are Ready; what the upgrade found on the way.
    Upgraded(Vec<String>),
}

/// Where the scenarios sharing one target meet: the last to arrive upgrades, if all passed.
struct Gate {
    expected: usize,
    upgrade: Option<Arc<dyn InPlaceUpgrade>>,
    version: String,
    arrived: std::sync::Mutex<(usize, bool)>,
    done: tokio::sync::watch::Sender<Option<Outcome>>,
}

impl Gate {
    fn new(expected: usize, upgrade: Option<Arc<dyn InPlaceUpgrade>>, version: &str) -> Gate {
        Gate {
            expected,
            upgrade,
            version: version.to_string(),
            arrived: std::sync::Mutex::new((0, true)),
            done: tokio::sync::watch::channel(None).0,
        }
    }

    /// Counts one scenario in; the last one runs the upgrade (when every scenario passed).
    async fn count(&self, passed: bool) {
        let last = {
            let mut a = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
            a.0 += 1;
            a.1 &= passed;
            (a.0 == self.expected).then_some(a.1)
        };
        let Some(all_passed) = last else { return };
        let outcome = match (&self.upgrade, all_passed) {
            (_, false) => Outcome::NotUpgraded,
            (None, true) => Outcome::Failed(
                "this target cannot upgrade Seldon in place: it did not install it (on an existing cluster pass --manage-install)"
                    .into(),
            ),
            (Some(u), true) => {
                let started = Instant::now();
                match u.upgrade_in_place(&self.version).await {
                    Ok(found) => {
                        eprintln!(
                            "upgraded Seldon to {} in place in {}s",
                            self.version,
                            started.elapsed().as_secs()
                        );
                        Outcome::Upgraded(found)
                    }
                    Err(e) => Outcome::Failed(format!("{e:#}")),
                }
            }
        };
        self.done.send_replace(Some(outcome));
    }

    /// Counts one scenario in and waits for the outcome (other scenarios' checks bound the wait).
    async fn arrive(&self, passed: bool) -> Outcome {
        let mut rx = self.done.subscribe();
        self.count(passed).await;
        match rx.wait_for(Option::is_some).await {
            Ok(o) => o.clone().unwrap_or(Outcome::NotUpgraded),
            Err(_) => Outcome::NotUpgraded,
        }
    }
}

/// One scenario's part in the upgrade flow.
struct UpgradeStage<'g> {
    gate: &'g Gate,
    counted: AtomicBool,
}

impl UpgradeStage<'_> {
    /// Counts a scenario that ended without reaching its stage (it cannot have passed).
    async fn leave(&self) {
        if !self.counted.swap(true, Ordering::SeqCst) {
            self.gate.count(false).await;
        }
    }
}

impl Interlude for UpgradeStage<'_> {
    fn upgrade(&self) -> Option<Arc<dyn InPlaceUpgrade>> {
        self.gate.upgrade.clone()
    }

    fn upgrade_to(&self) -> Option<String> {
        Some(self.gate.version.clone())
    }

    fn between<'a>(
        &'a self,
        stage: Stage<'a>,
    ) -> Pin<Box<dyn Future<Output = Vec<ScenarioReport>> + 'a>> {
        Box::pin(async move {
            self.counted.store(true, Ordering::SeqCst);
            let version = self.gate.version.as_str();
            let after = |setup_error: Option<String>, checks: Vec<CheckResult>| ScenarioReport {
                scenario: format!("{} (after the upgrade to {version})", stage.scenario.name()),
                setup_error,
                checks,
                chart_version: Some(version.to_string()),
                ..stage.report.clone()
            };
            match self.gate.arrive(stage.report.succeeded()).await {
                Outcome::NotUpgraded => Vec::new(),
                Outcome::Failed(e) => vec![after(
                    Some(format!("the upgrade to {version} failed: {e}")),
                    Vec::new(),
                )],
                Outcome::Upgraded(found) => {
                    let kept = kept_objects(&stage, version).await;
                    let mut checks = vec![kept];
                    checks.extend(
                        run_checks(stage.target, stage.scenario, stage.selection, stage.ctx).await,
                    );
                    let mut report = after(None, checks);
                    report.notes.extend(found);
                    vec![report]
                }
            }
        })
    }
}

/// Asserts every object setup created or updated is still there with the UID it had before the
/// upgrade (the upgrade must keep objects, not re-create them).
async fn kept_objects(stage: &Stage<'_>, version: &str) -> CheckResult {
    let started = Instant::now();
    let applier = stage.ctx.applier();
    let mut problems = Vec::new();
    let mut kept = 0;
    let setup = stage
        .applied
        .records
        .iter()
        .filter(|r| r.phase != Phase::Checks)
        .filter_map(|r| r.outcome.as_ref());
    for o in setup {
        match applier.get(&o.object).await {
            Ok(Some(now)) if now.metadata.uid.as_deref() == Some(o.uid.as_str()) => kept += 1,
            Ok(Some(now)) => problems.push(format!(
                "{} was re-created (uid {} → {})",
                o.object,
                o.uid,
                now.metadata.uid.unwrap_or_default()
            )),
            Ok(None) => problems.push(format!("{} is gone", o.object)),
            Err(e) => problems.push(format!("{}: {e}", o.object)),
        }
    }
    let verdict = if problems.is_empty() {
        Verdict::pass(format!(
            "{kept} object(s) the scenario set up kept their UIDs across the upgrade to {version}"
        ))
    } else {
        Verdict::fail(format!(
            "the upgrade to {version} did not keep the scenario's objects: {}",
            problems.join("; ")
        ))
    };
    CheckResult {
        name: KEPT_CHECK.into(),
        kind: "upgradeKeepsObjects",
        verdict,
        duration: started.elapsed(),
        proven_to_catch: Vec::new(),
        tags: Vec::new(),
        retries: Vec::new(),
        skipped_by_mode: false,
        timeline: Vec::new(),
        not_requested: false,
    }
}

/// Runs one scenario through the flow on `target`, whose other scenarios share `gate`.
async fn one(
    target: &Target,
    scenario: &Scenario,
    selection: &Selection,
    opts: &TargetOptions,
    gate: &Gate,
) -> Vec<ScenarioReport> {
    let stage = UpgradeStage {
        gate,
        counted: AtomicBool::new(false),
    };
    let mut reports = run_scenario_with(target, scenario, selection, opts.keep, Some(&stage)).await;
    stage.leave().await;
    let from = opts.install_settings(scenario).chart_version;
    if let Some(first) = reports.first_mut() {
        first.chart_version = Some(from.clone());
        first.scenario.push_str(&format!(
            " (on {from}, before the upgrade to {})",
            gate.version
        ));
    }
    if reports.len() == 1 && reports[0].setup_error.is_none() && reports[0].not_applicable.is_none()
    {
        eprintln!(
            "{}: not upgraded {from} -> {}: the scenarios fail before the upgrade, so the upgrade would prove nothing",
            scenario.name(),
            gate.version
        );
    }
    reports
}

/// One scenario through the flow on a started `target`, upgraded with `upgrade` to
/// `opts.upgrade_to` (tests pass their own upgrade).
pub async fn run_one(
    target: &Target,
    scenario: &Scenario,
    selection: &Selection,
    opts: &TargetOptions,
    upgrade: Option<Arc<dyn InPlaceUpgrade>>,
) -> Vec<ScenarioReport> {
    let gate = Gate::new(1, upgrade, opts.upgrade_to.as_deref().unwrap_or_default());
    one(target, scenario, selection, opts, &gate).await
}

/// Scenarios sharing a namespace cannot all be set up at once, which keeping every scenario's
/// objects across one upgrade needs.
fn shared_namespaces(scenarios: &[&Scenario]) -> Option<String> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for s in scenarios {
        let mut own = BTreeSet::new();
        for ns in s.namespaces() {
            if !own.insert(ns.clone()) {
                continue;
            }
            if let Some((_, other)) = seen.iter().find(|(n, _)| *n == ns) {
                return Some(format!(
                    "scenarios `{other}` and `{}` both use namespace `{ns}`, and an upgrade run keeps every scenario's objects set up across the one upgrade: pass them in separate runs (--scenario)",
                    s.name()
                ));
            }
            seen.push((ns, s.name()));
        }
    }
    None
}

/// `harness run --upgrade-to`: the flow above for every scenario (`opts.upgrade_to` is the new
/// version): on the embedded platform each scenario on a platform of its own, upgraded on its own;
/// on a cluster every scenario set up at once and the cluster upgraded once.
pub async fn run_all(
    opts: &TargetOptions,
    scenarios: &[Scenario],
    selection: &Selection,
    jobs: usize,
) -> Vec<ScenarioReport> {
    let kind = opts.kind.unwrap_or(TargetKind::Sim);
    let (mut reports, applicable) = partition(kind, scenarios, selection);
    let Some(version) = opts.upgrade_to.as_deref() else {
        reports.extend(
            applicable
                .iter()
                .map(|s| broken(s, kind.name(), "no version to upgrade to".into())),
        );
        return reports;
    };
    if fresh_per_scenario(kind) {
        let done = crate::jobs::run_bounded(&applicable, jobs, false, |scenario| async move {
            if signals_received() > 0 {
                return vec![broken(
                    scenario,
                    kind.name(),
                    "interrupted before it started".into(),
                )];
            }
            let target = match Target::start(opts, scenario).await {
                Ok(t) => t,
                Err(e) => return vec![broken(scenario, kind.name(), format!("{e:#}"))],
            };
            let gate = Gate::new(1, target.in_place_upgrade(), version);
            let r = one(&target, scenario, selection, opts, &gate).await;
            drop(gate);
            target.finish(!all_succeeded(&r)).await;
            r
        })
        .await;
        reports.extend(done.into_iter().flatten());
        return reports;
    }
    let Some(first) = applicable.first() else {
        return reports;
    };
    if let Some(clash) = shared_namespaces(&applicable) {
        reports.push(broken(first, kind.name(), clash));
        return reports;
    }
    // One cluster is upgraded once: every scenario must want the same install.
    let groups = super::groups::install_groups(opts, &applicable);
    if groups.len() > 1 {
        let names: Vec<String> = groups
            .iter()
            .map(|g| g.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "))
            .collect();
        reports.push(broken(
            first,
            kind.name(),
            format!(
                "these scenarios need {} different Seldon installs ({}), and one cluster is upgraded once: run --upgrade-to with the scenarios of one install at a time",
                groups.len(),
                names.join(" | ")
            ),
        ));
        return reports;
    }
    let target = match Target::start(opts, first).await {
        Ok(t) => t,
        Err(e) => {
            reports.push(broken(first, kind.name(), format!("{e:#}")));
            return reports;
        }
    };
    let gate = Gate::new(applicable.len(), target.in_place_upgrade(), version);
    // Every scenario at once: each waits at the gate, set up, until all are checked.
    let done = crate::jobs::run_bounded(&applicable, applicable.len(), true, |scenario| {
        one(&target, scenario, selection, opts, &gate)
    })
    .await;
    drop(gate);
    reports.extend(done.into_iter().flatten());
    target.finish(!all_succeeded(&reports)).await;
    reports
}
