//! Running scenarios end to end: target, setup, checks, verdicts, cleanup.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::checks::{self, CheckContext, Verdict};
use crate::scenario::{Check, Scenario};
use crate::target::{Keep, Target, TargetOptions};

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
    /// One entry per check, in file order.
    pub checks: Vec<CheckResult>,
}

impl ScenarioReport {
    /// Whether every check passed and setup worked.
    pub fn succeeded(&self) -> bool {
        self.setup_error.is_none() && self.checks.iter().all(|c| c.verdict.passed())
    }
}

/// Which checks of a scenario to run.
pub fn select<'a>(scenario: &'a Scenario, only: Option<&str>) -> Vec<&'a Check> {
    scenario.doc.spec.checks.iter().filter(|c| only.is_none_or(|o| o == c.name)).collect()
}

/// Runs one scenario on a fresh target: setup, the selected checks (concurrently), cleanup.
pub async fn run_scenario(
    opts: &TargetOptions,
    scenario: &Scenario,
    only: Option<&str>,
    keep: Keep,
) -> anyhow::Result<ScenarioReport> {
    let target = Target::start(opts, scenario).await.with_context(|| format!("preparing the target for `{}`", scenario.name()))?;
    let run_id = crate::apply::RunLabels::generate_run_id();
    let mut report = ScenarioReport {
        scenario: scenario.name().to_string(),
        target: target.kind().name(),
        run_id: run_id.clone(),
        setup_error: None,
        checks: Vec::new(),
    };
    let client = target.client();
    let labels = crate::apply::RunLabels::new(scenario.name(), &run_id);
    let setup = crate::runtime::setup(&client, scenario, &labels).await;
    let applied = match setup {
        Ok(applied) => Some(applied),
        Err(e) => {
            report.setup_error = Some(format!("{e:#}"));
            None
        }
    };
    if applied.is_some() {
        let ctx = CheckContext { client: client.clone(), scenario, mesh: &target, run_id: &run_id };
        let cap = target.timeout_cap();
        let futures = select(scenario, only).into_iter().map(|check| {
            let ctx = &ctx;
            async move {
                let mut check = check.clone();
                if let Some(cap) = cap {
                    let t = check.timeout.unwrap_or_else(|| check.expect.default_timeout());
                    check.timeout = Some(t.min(cap));
                }
                let started = Instant::now();
                let verdict = checks::run(ctx, &check).await;
                CheckResult { name: check.name.clone(), kind: check.expect.kind(), verdict, duration: started.elapsed() }
            }
        });
        report.checks = futures::future::join_all(futures).await;
    }
    let keep_it = keep.keeps(report.succeeded());
    if let Some(applied) = applied
        && !keep_it
        && let Err(e) = crate::runtime::cleanup(&client, &applied).await
    {
        tracing::warn!("cleanup of run {run_id} failed: {e:#}");
    }
    if keep_it && let Some(k) = target.kubeconfig() {
        println!("kept: export KUBECONFIG={}; kubectl get models,servers,seldonruntimes -A -l conformance.harness/run={run_id}", k.display());
    }
    target.finish(keep_it).await;
    Ok(report)
}
