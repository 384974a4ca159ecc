//! Shared by the `checks_*` tests: run one check of a seed scenario on a fresh embedded platform,
//! healthy or with one defect, and return its verdict.

#![allow(dead_code)] // each test file uses a subset

use std::path::PathBuf;

use harness::checks::Verdict;
use harness::run::run_on_fresh_target;
use harness::scenario::{Scenario, TargetKind};
use harness::target::{Defect, EmbeddedOptions, Faults, Keep, TargetOptions};

/// A scenario from `scenarios/`.
pub fn scenario(file: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs only `check` of `scenario` on a fresh embedded platform with `faults`.
pub async fn verdict_of(scenario: &Scenario, check: &str, faults: Faults) -> Verdict {
    assert!(scenario.check(check).is_some(), "no check {check}");
    // Each run extracts its secret packages into its own folder: tests run concurrently.
    let work = tempfile::tempdir().expect("temp dir");
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        embedded: EmbeddedOptions::with_faults(faults),
        keep: Keep::Never,
        work_dir: Some(work.path().to_path_buf()),
        ..Default::default()
    };
    let report = run_on_fresh_target(&opts, scenario, Some(check))
        .await
        .unwrap_or_else(|e| panic!("running {check}: {e:#}"));
    assert!(
        report.setup_error.is_none(),
        "setup failed: {:?}",
        report.setup_error
    );
    let result = report
        .checks
        .into_iter()
        .find(|c| c.name == check)
        .unwrap_or_else(|| panic!("check {check} did not run"));
    result.verdict
}

/// The check's verdict on a healthy platform.
pub async fn healthy(file: &str, check: &str) -> Verdict {
    verdict_of(&scenario(file), check, Faults::default()).await
}

/// The check's verdict with one defect.
pub async fn broken(file: &str, check: &str, defect: Defect) -> Verdict {
    verdict_of(&scenario(file), check, Faults::defect(defect)).await
}

/// Asserts a pass and returns its detail.
pub fn assert_pass(v: &Verdict) -> &str {
    match v {
        Verdict::Pass { detail } => detail,
        other => panic!("expected a pass, got {other:?}"),
    }
}

/// Asserts a failure whose reason contains every one of `needles`.
pub fn assert_fail(v: &Verdict, needles: &[&str]) {
    match v {
        Verdict::Fail { reason } => {
            for n in needles {
                assert!(
                    reason.contains(n),
                    "the reason does not name `{n}`:\n{reason}"
                );
            }
        }
        other => panic!("expected a failure naming {needles:?}, got {other:?}"),
    }
}

/// Asserts a skip whose reason contains `needle`.
pub fn assert_skip(v: &Verdict, needle: &str) {
    match v {
        Verdict::Skip { reason } => {
            assert!(
                reason.contains(needle),
                "the reason does not name `{needle}`:\n{reason}"
            )
        }
        other => panic!("expected a skip naming `{needle}`, got {other:?}"),
    }
}
