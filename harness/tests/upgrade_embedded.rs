//! `harness run --upgrade-to` end to end on the embedded platform: the scenario is set up once,
//! checked, upgraded in place (new CRDs, every Seldon object dry-run against them, components
//! recreated), checked again on the same objects (same UIDs), and cleaned up once; an object the
//! new CRDs reject stops the upgrade with the object and the field; `--mode` defaults per target.

use std::path::PathBuf;

use harness::run::upgrade::{KEPT_CHECK, run_all};
use harness::run::{Mode, Selection};
use harness::scenario::{Scenario, TargetKind};
use harness::target::{Defect, EmbeddedOptions, Faults, Keep, TargetOptions};

fn scenario(name: &str) -> Scenario {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.yaml"));
    harness::run::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

fn opts(faults: Faults) -> TargetOptions {
    TargetOptions {
        kind: Some(TargetKind::Sim),
        embedded: EmbeddedOptions::with_faults(faults),
        keep: Keep::Never,
        upgrade_to: Some("2.10.3".into()),
        ..Default::default()
    }
}

fn run(name: &str, faults: Faults) -> Vec<harness::run::ScenarioReport> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run_all(
        &opts(faults),
        &[scenario(name)],
        &Selection::default(),
        1,
    ))
}

#[test]
fn an_upgrade_keeps_the_objects_and_every_check_passes_before_and_after() {
    let reports = run("financial-ml", Faults::default());
    assert_eq!(reports.len(), 2, "{reports:#?}");
    let (before, after) = (&reports[0], &reports[1]);
    assert!(
        before
            .scenario
            .ends_with("(on 2.10.2, before the upgrade to 2.10.3)"),
        "{}",
        before.scenario
    );
    assert!(before.succeeded(), "{before:#?}");
    assert_eq!(after.scenario, "financial-ml (after the upgrade to 2.10.3)");
    assert_eq!(after.chart_version.as_deref(), Some("2.10.3"));
    assert!(after.succeeded(), "{after:#?}");
    // The same run (same objects), and the UIDs asserted first.
    assert_eq!(before.run_id, after.run_id);
    let kept = &after.checks[0];
    assert_eq!(kept.name, KEPT_CHECK);
    assert!(
        kept.verdict
            .message()
            .contains("kept their UIDs across the upgrade to 2.10.3"),
        "{kept:?}"
    );
    // Every check of the scenario ran again after the upgrade.
    assert_eq!(after.checks.len(), before.checks.len() + 1);
    // What the upgrade found reaches the report: summary.md and results.json, not only stderr.
    assert!(
        after
            .notes
            .iter()
            .any(|n| n.starts_with("upgrade to 2.10.3: ") && n.contains("dry-run")),
        "{:?}",
        after.notes
    );
    let md = harness::report::markdown(&reports);
    assert!(md.contains("> upgrade to 2.10.3: "), "{md}");
    let meta = harness::report::RunMeta {
        started_at: "2026-12-05T00:00:00Z".into(),
        duration: std::time::Duration::ZERO,
        target: "sim".into(),
        interrupted: false,
    };
    let json = harness::report::results_json(&reports, &meta);
    assert_eq!(
        json["scenarios"][1]["notes"],
        serde_json::json!(after.notes)
    );
}

#[test]
fn an_object_the_new_crds_reject_stops_the_upgrade_naming_it_and_the_field() {
    let reports = run(
        "shared-scheduler",
        Faults::defect(Defect::UpgradeBreaksExistingModels),
    );
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert!(reports[0].succeeded(), "{:#?}", reports[0]);
    let error = reports[1].setup_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("the upgrade to 2.10.3 failed")
            && error.contains("Model financial-ml/")
            && error.contains("status.selector: Required value")
            && error.contains("CRDs were put back")
            && error.contains("components were left on the old version"),
        "{error}"
    );
    assert!(reports[1].checks.is_empty());
    assert!(!reports[1].succeeded());
}

#[test]
fn a_failing_baseline_is_not_upgraded() {
    let reports = run(
        "shared-scheduler",
        Faults::defect(Defect::WrongScheduleReason),
    );
    // Only the run before the upgrade: it failed, so nothing was upgraded.
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(!reports[0].succeeded());
}

#[test]
fn modes_default_per_target_and_parse_with_a_hint() {
    assert_eq!(Mode::default_for(TargetKind::Existing), Mode::NonDisruptive);
    assert_eq!(Mode::default_for(TargetKind::Kind), Mode::Disruptive);
    assert_eq!(Mode::default_for(TargetKind::Sim), Mode::Disruptive);
    assert_eq!(Mode::parse("non-disruptive"), Ok(Mode::NonDisruptive));
    let err = Mode::parse("gentle").unwrap_err();
    assert!(
        err.contains("non-disruptive") && err.contains("disruptive"),
        "{err}"
    );
}

#[test]
fn non_disruptive_mode_skips_exactly_the_disruptive_checks_with_the_reason() {
    let s = scenario("financial-ml");
    let selection = Selection {
        mode: Some(Mode::NonDisruptive),
        ..Selection::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut o = opts(Faults::default());
    o.upgrade_to = None;
    let report = rt
        .block_on(harness::run::run_on_fresh_target_selected(
            &o, &s, &selection,
        ))
        .unwrap();
    for (check, result) in s.doc.spec.checks.iter().zip(&report.checks) {
        if check.expect.disruptive() {
            assert!(result.skipped_by_mode, "{result:?}");
            assert!(
                result.verdict.message().contains("--mode disruptive"),
                "{result:?}"
            );
        } else {
            assert!(
                !result.skipped_by_mode && result.verdict.passed(),
                "{result:?}"
            );
        }
    }
    assert!(
        report.succeeded(),
        "skips by mode are not failures: {report:#?}"
    );
}

/// An "upgrade" that re-creates one of the scenario's objects (same content, new UID).
struct Recreates {
    client: kube::Client,
}

impl harness::target::upgrade::InPlaceUpgrade for Recreates {
    fn upgrade_in_place<'a>(
        &'a self,
        _version: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Vec<String>>> + Send + 'a>>
    {
        Box::pin(async move {
            use k8s_openapi::api::core::v1::Secret;
            let api: kube::Api<Secret> = kube::Api::namespaced(self.client.clone(), "financial-ml");
            let mut secret = api.get("harness-models-s3").await?;
            api.delete("harness-models-s3", &Default::default()).await?;
            secret.metadata.uid = None;
            secret.metadata.resource_version = None;
            secret.metadata.managed_fields = None;
            secret.metadata.creation_timestamp = None;
            api.create(&Default::default(), &secret).await?;
            Ok(Vec::new())
        })
    }
}

#[test]
fn an_object_re_created_by_the_upgrade_fails_the_kept_objects_check() {
    let s = scenario("shared-scheduler");
    let o = opts(Faults::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reports = rt.block_on(async {
        let target = harness::target::Target::start(&o, &s).await.unwrap();
        let upgrade = std::sync::Arc::new(Recreates {
            client: target.client(),
        });
        let r =
            harness::run::upgrade::run_one(&target, &s, &Selection::default(), &o, Some(upgrade))
                .await;
        target.finish(false).await;
        r
    });
    assert_eq!(reports.len(), 2, "{reports:#?}");
    let kept = &reports[1].checks[0];
    assert_eq!(kept.name, KEPT_CHECK);
    assert!(!kept.verdict.passed(), "{kept:?}");
    assert!(
        kept.verdict
            .message()
            .contains("Secret financial-ml/harness-models-s3 was re-created (uid"),
        "{kept:?}"
    );
}
