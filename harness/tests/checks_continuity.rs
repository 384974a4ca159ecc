//! The `continuity` check on the embedded platform: each new defect fails its check with the
//! reason, the `helmUpgrade` action is dispatched through `CheckContext::upgrade` (a fake here),
//! and the after-action assertions catch an upgrade that re-creates a Model or strands it.

mod checks_support;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checks_support::{broken, scenario};
use harness::checks::{self, CheckContext, Verdict};
use harness::kube::{Applier, RunLabels, Watched, gone, wait_for};
use harness::scenario::{Action, Check, Expectation, Scenario, TargetKind};
use harness::setup::{CleanupGuard, RunContext, setup_recorded};
use harness::target::upgrade::InPlaceUpgrade;
use harness::target::{Defect, Keep, Target, TargetOptions};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

const FILE: &str = "upgrade-continuity.yaml";

fn fail_reason(v: &Verdict) -> &str {
    match v {
        Verdict::Fail { reason } => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_that_forgets_models_leaves_them_ready_but_not_served() {
    let v = broken(
        FILE,
        "scheduler-and-server-deleted-together",
        Defect::SchedulerForgetsModelsOnRestart,
    )
    .await;
    let reason = fail_reason(&v);
    assert!(
        reason.contains("Model financial-ml/credit-risk is Ready but not served"),
        "{reason}"
    );
    assert!(
        reason.contains("Server financial-ml/mlserver did not get its model count back"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_dropping_routes_during_a_rollout_breaks_the_budget() {
    let v = broken(FILE, "server-rollout", Defect::EnvoyDropsDuringRollout).await;
    let reason = fail_reason(&v);
    assert!(
        reason.contains("rolled out Server financial-ml/mlserver"),
        "{reason}"
    );
    assert!(reason.contains("is below the budget's 99.00 %"), "{reason}");
    assert!(
        reason.contains("model `credit-risk` is not ready"),
        "{reason}"
    );
}

/// A fake in-place upgrade: records the version, then does `what` to the platform.
struct FakeUpgrade {
    seen: Mutex<Vec<String>>,
    what: What,
    client: kube::Client,
    scenario: Scenario,
    /// The run's labels: what the fake re-creates belongs to the run, as an upgrade keeps labels.
    labels: RunLabels,
}

#[derive(Clone, Copy)]
enum What {
    Nothing,
    RecreateModel,
    StrandModel,
}

impl InPlaceUpgrade for FakeUpgrade {
    fn upgrade_in_place<'a>(
        &'a self,
        version: &'a str,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<String>>> + Send + 'a>> {
        Box::pin(async move {
            self.seen.lock().unwrap().push(version.to_string());
            let target = Watched::seldon("Model", "financial-ml", "credit-risk");
            let api = target.api(&self.client);
            match self.what {
                What::Nothing => {}
                What::RecreateModel => {
                    api.delete("credit-risk", &DeleteParams::default()).await?;
                    wait_for(&self.client, &target, &gone(), Duration::from_secs(10)).await?;
                    let mut m = self.scenario.team("financial-ml").unwrap().models[0].clone();
                    m["metadata"]["namespace"] = json!("financial-ml");
                    Applier::new(self.client.clone(), self.labels.clone())
                        .apply(&m)
                        .await?;
                }
                What::StrandModel => {
                    let patch = json!({"spec": {"requirements": ["no-server-has-this"]}});
                    api.patch(
                        "credit-risk",
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
                }
            }
            Ok(vec![format!(
                "upgrade to {version}: CRDs changed: models.mlops.seldon.io (generation 1 → 2)"
            )])
        })
    }
}

/// Runs the scenario's helmUpgrade check (short settle) with `upgrade`; returns its verdict.
async fn helm_upgrade_check(
    what: Option<What>,
    skip_without_upgrade: bool,
) -> (Verdict, Vec<String>) {
    let s = scenario(FILE);
    let work = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        work_dir: Some(work.path().to_path_buf()),
        ..Default::default()
    };
    let target = Target::start(&opts, &s).await.expect("embedded platform");
    let client = target.client();
    let run_id = RunLabels::generate_run_id();
    let mut ctx = RunContext::new(RunLabels::new(s.name(), &run_id)).with_work_dir(work.path());
    // The embedded store accepts only its own keys: the target supplies the package.
    ctx.package_overrides = target
        .package_overrides(&s)
        .await
        .expect("package overrides");
    let guard = CleanupGuard::new(client.clone(), &ctx);
    let recorder = guard.recorder();
    setup_recorded(&client, &s, &ctx, &recorder)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let fake = what.map(|what| {
        Arc::new(FakeUpgrade {
            seen: Mutex::new(Vec::new()),
            what,
            client: client.clone(),
            scenario: s.clone(),
            labels: RunLabels::new(s.name(), &run_id),
        })
    });
    let check_ctx = CheckContext {
        model_store: None,
        client: client.clone(),
        scenario: &s,
        mesh: &target,
        run_id: &run_id,
        recorder: Some(recorder.clone()),
        settle: target.settle_window(),
        upgrade: fake.clone().map(|f| f as Arc<dyn InPlaceUpgrade>),
        upgrade_to: fake.as_ref().map(|_| "9.9.9".to_string()),
        figures: Default::default(),
        platform_stall: target.platform_stall(),
    };
    let mut check: Check = s.check("helm-upgrade-in-place").unwrap().clone();
    check.timeout = Some(Duration::from_secs(5));
    let Expectation::Continuity(c) = &mut check.expect else {
        panic!("not a continuity check")
    };
    c.settle = Duration::from_secs(2);
    c.traffic.duration = Duration::from_secs(1);
    let Action::HelmUpgrade(h) = &mut c.action else {
        panic!("not a helmUpgrade action")
    };
    h.skip_without_upgrade = skip_without_upgrade;
    let verdict = checks::run(&check_ctx, &check).await;
    let _ = guard.finish().await;
    let seen = fake
        .map(|f| f.seen.lock().unwrap().clone())
        .unwrap_or_default();
    (verdict, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_upgrade_is_dispatched_to_the_target_with_the_requested_version() {
    let (v, seen) = helm_upgrade_check(Some(What::Nothing), true).await;
    assert_eq!(seen, vec!["9.9.9".to_string()]);
    match &v {
        Verdict::Pass { detail } => {
            assert!(
                detail.contains("upgraded Seldon in place to 9.9.9"),
                "{detail}"
            );
            assert!(detail.contains("every object kept its UID"), "{detail}");
            // What the upgrade found is in the verdict, so in the report.
            assert!(
                detail.contains("CRDs changed: models.mlops.seldon.io (generation 1 → 2)"),
                "{detail}"
            );
        }
        other => panic!("expected a pass, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_upgrade_without_upgrade_to_is_skipped_or_failed_as_the_scenario_says() {
    let (v, _) = helm_upgrade_check(None, true).await;
    assert!(
        matches!(&v, Verdict::Skip { reason } if reason.contains("--upgrade-to VERSION")),
        "{v:?}"
    );
    let (v, _) = helm_upgrade_check(None, false).await;
    assert!(fail_reason(&v).contains("--upgrade-to VERSION"), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_that_recreates_a_model_fails_on_its_uid() {
    let (v, _) = helm_upgrade_check(Some(What::RecreateModel), true).await;
    let reason = fail_reason(&v);
    assert!(
        reason.contains("Model/credit-risk was re-created (UID"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_that_strands_a_model_fails_as_stuck() {
    let (v, _) = helm_upgrade_check(Some(What::StrandModel), true).await;
    let reason = fail_reason(&v);
    assert!(
        reason.contains("Model financial-ml/credit-risk is stuck after the action"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_carries_the_per_second_figures() {
    let s = scenario(FILE);
    let work = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        work_dir: Some(work.path().to_path_buf()),
        ..Default::default()
    };
    let report = harness::run::run_on_fresh_target(&opts, &s, Some("scheduler-restart"))
        .await
        .unwrap();
    let check = &report.checks[0];
    assert!(check.verdict.passed(), "{:?}", check.verdict);
    assert!(!check.timeline.is_empty(), "{:?}", check.timeline);
    assert!(check.timeline.iter().map(|s| s.sent).sum::<u32>() >= 10);
    let dir = work.path().join("report");
    let meta = harness::report::RunMeta {
        started_at: "2026-01-01T00:00:00Z".into(),
        duration: Duration::from_secs(1),
        target: "sim".into(),
        interrupted: false,
    };
    harness::report::write_all(&dir, &[report], &meta).unwrap();
    let csv = std::fs::read_to_string(dir.join("traffic/upgrade-continuity-scheduler-restart.csv"))
        .unwrap();
    assert!(
        csv.starts_with("second,sent,ok,failed,wrong,p95_ms\n0,"),
        "{csv}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains("Traffic of `scheduler-restart` per second (correct/sent"),
        "{summary}"
    );
    assert!(summary.contains("0s "), "{summary}");
}
