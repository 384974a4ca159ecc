//! `harness run --setup-only`: every selected scenario is set up and cleaned up with no check run,
//! and the run reports that a sweep of its label found nothing left (on the embedded platform
//! here; against a real kube-apiserver in `setup_real_apiserver.rs`). `--help` documents it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn harness(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .env("HARNESS_WORK_DIR", dir.join("work"))
        .env("HARNESS_STATE_DIR", dir.join("state"))
        .env_remove("HARNESS_TARGET")
        .env_remove("HARNESS_RUN_ID")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(args)
        .output()
        .expect("harness runs")
}

#[test]
fn setup_only_sets_up_and_cleans_up_without_running_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = harness(
        tmp.path(),
        &[
            "run",
            "--setup-only",
            "--scenario",
            "scenarios/financial-ml.yaml",
            "--scenario",
            "scenarios/sealed-packages.yaml",
            "--report",
            tmp.path().join("report").to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("setup only: "))
        .collect();
    assert_eq!(done.len(), 2, "one line per scenario:\n{stdout}");
    assert!(
        done.iter()
            .all(|l| l.contains("then cleaned up; no object labelled with run")),
        "{stdout}"
    );
    assert!(
        done[0].contains("27 objects applied (27 created)"),
        "financial-ml's 27 objects (25 of the scenario, the runtime chart's Secret per runtime): {stdout}"
    );
    assert!(!stdout.contains("PASS"), "no check ran:\n{stdout}");
    assert!(
        stdout.contains("set up 2 scenario(s), 0 failed; no checks were run (--setup-only)")
            && !stdout.contains("0 passed"),
        "the closing line says what was done, not a count of zero checks:\n{stdout}"
    );
    let summary = std::fs::read_to_string(tmp.path().join("report/summary.md")).unwrap();
    assert!(summary.contains("Setup only: "), "{summary}");
}

#[test]
fn help_documents_setup_only_and_the_sealing_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let out = harness(tmp.path(), &["run", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--setup-only",
        "--sealing-cert <PEM>",
        "HARNESS_SEALING_CERT",
    ] {
        assert!(
            help.contains(flag),
            "`harness run --help` lacks {flag}:\n{help}"
        );
    }
}
