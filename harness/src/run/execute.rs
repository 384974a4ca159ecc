//! Running a set-up scenario's selected checks: the steady ones concurrently, then the disruptive
//! ones (restarts, rollouts, upgrades) one at a time, so no other check sees the platform
//! mid-transition; a disruptive check outside disruptive mode is skipped with the reason.

use std::time::{Duration, Instant};

use super::attempts;
use super::mode::Mode;
use super::results::{CheckResult, Selection};
use crate::checks::{self, CheckContext, Verdict};
use crate::scenario::{Check, Scenario};
use crate::target::Target;

/// Runs the selected checks of a scenario that is set up; results in the scenario's order.
pub async fn run_checks(
    target: &Target,
    scenario: &Scenario,
    selection: &Selection,
    ctx: &CheckContext<'_>,
) -> Vec<CheckResult> {
    let cap = target.timeout_cap();
    let mode = selection
        .mode
        .unwrap_or_else(|| Mode::default_for(target.kind()));
    let run_one = |check: &Check| {
        let check = check.clone();
        async move { run_one(ctx, scenario, check, cap, mode).await }
    };
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
    results
}

async fn run_one(
    ctx: &CheckContext<'_>,
    scenario: &Scenario,
    mut check: Check,
    cap: Option<Duration>,
    mode: Mode,
) -> CheckResult {
    let proven_to_catch = crate::proof::proven_to_catch(scenario, &check);
    let (name, kind, tags) = (check.name.clone(), check.expect.kind(), check.tags.clone());
    let result = |verdict: Verdict, retries, duration, skipped_by_mode, not_requested, timeline| {
        CheckResult {
            name,
            kind,
            tags,
            verdict,
            retries,
            duration,
            proven_to_catch,
            skipped_by_mode,
            timeline,
            not_requested,
        }
    };
    if mode == Mode::NonDisruptive && check.expect.disruptive() {
        let why = format!(
            "not run: `{}` checks disrupt serving and this run is non-disruptive (the default on an existing cluster); run with `--mode disruptive` to include it",
            check.expect.kind()
        );
        return result(
            Verdict::skip(why),
            Vec::new(),
            Duration::ZERO,
            true,
            false,
            Vec::new(),
        );
    }
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
    let timeline = ctx
        .figures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&check.name)
        .unwrap_or_default();
    result(
        attempted.verdict,
        attempted.retries,
        started.elapsed(),
        false,
        not_requested,
        timeline,
    )
}
