//! `harness run --report DIR` writes results.json, junit.xml and summary.md (conformance statement
//! first, also appended to $GITHUB_STEP_SUMMARY); `--tag` selects checks by tag and
//! `--rerun-failed results.json` reruns exactly the checks that did not pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn harness(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .env("HARNESS_WORK_DIR", dir.join("work"))
        .env("HARNESS_STATE_DIR", dir.join("state"))
        .env("GITHUB_STEP_SUMMARY", dir.join("step-summary.md"))
        .env_remove("HARNESS_TARGET")
        .env_remove("HARNESS_RUN_ID")
        .args(args)
        .output()
        .expect("harness runs")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (check, verdict) of every check in a results.json.
fn verdicts(results: &Value) -> Vec<(String, String)> {
    results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap().iter())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn results_junit_summary_tags_and_rerun_of_failed_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = dir.join("first");
    let out = harness(
        dir,
        &[
            "run",
            "--scenario",
            "scenarios/financial-ml.yaml",
            "--tag",
            "isolation",
            "--defect",
            "networkpolicy-ignored",
            "--report",
            first.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing check fails the run\n{err}"
    );

    let results = read_json(&first.join("results.json"));
    let run = &results["run"];
    assert_eq!(run["target"], "sim");
    assert_eq!(run["conformant"], false);
    assert!(
        run["kubernetesVersion"].as_str().unwrap().starts_with('v'),
        "the API server's version is recorded: {run}"
    );
    assert_ne!(run["chartVersion"], "unknown", "{run}");
    assert!(run["startedAt"].as_str().unwrap().contains('T'));
    // --tag isolation: exactly the five tagged checks ran.
    let v = verdicts(&results);
    let names: Vec<&str> = v.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "networkpolicy-enforced",
            "cross-team-mesh-denied",
            "serving-cannot-reach-training-mesh",
            "seldon-system-mesh-allowed",
            "same-namespace-mesh-allowed"
        ]
    );
    let canary = &results["scenarios"][0]["checks"][0];
    assert_eq!(canary["verdict"], "fail");
    assert!(
        canary["cause"]
            .as_str()
            .unwrap()
            .contains("does not enforce NetworkPolicy"),
        "{canary}"
    );
    assert_eq!(canary["tags"], serde_json::json!(["isolation"]));
    assert!(
        canary["provenToCatch"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "networkpolicy-ignored"),
        "{canary}"
    );
    assert!(canary["durationSeconds"].as_f64().unwrap() >= 0.0);
    let not_passed: Vec<String> = v
        .iter()
        .filter(|(_, verdict)| verdict != "pass")
        .map(|(n, _)| n.clone())
        .collect();
    assert!(!not_passed.is_empty());

    let junit = std::fs::read_to_string(first.join("junit.xml")).unwrap();
    assert!(junit.starts_with("<?xml"), "{junit}");
    assert!(
        junit.contains("<testcase classname=\"financial-ml\" name=\"networkpolicy-enforced\"")
            && junit.contains("<failure message="),
        "{junit}"
    );
    assert_eq!(
        junit.matches("<testcase ").count(),
        5,
        "one test case per check: {junit}"
    );

    let summary = std::fs::read_to_string(first.join("summary.md")).unwrap();
    let statement = summary.lines().nth(2).unwrap_or_default();
    assert!(
        statement.starts_with("**Not conformant"),
        "the conformance statement comes first:\n{summary}"
    );
    assert!(summary.contains("Scenarios: financial-ml"), "{summary}");
    let step = std::fs::read_to_string(dir.join("step-summary.md")).unwrap();
    assert_eq!(step, summary, "$GITHUB_STEP_SUMMARY gets the same summary");

    // On a healthy platform, --rerun-failed reruns exactly the checks that did not pass.
    let second = dir.join("second");
    let out = harness(
        dir,
        &[
            "run",
            "--scenario",
            "scenarios/financial-ml.yaml",
            "--rerun-failed",
            first.join("results.json").to_str().unwrap(),
            "--report",
            second.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let rerun = read_json(&second.join("results.json"));
    let rerun_names: Vec<String> = verdicts(&rerun).into_iter().map(|(n, _)| n).collect();
    assert_eq!(rerun_names, not_passed);
    assert_eq!(rerun["run"]["conformant"], true);
    assert!(
        std::fs::read_to_string(second.join("summary.md"))
            .unwrap()
            .contains("**Conformant:**")
    );

    // A file that is not a results.json is refused with a clear message.
    std::fs::write(dir.join("bad.json"), "{}").unwrap();
    let out = harness(
        dir,
        &[
            "run",
            "--scenario",
            "scenarios/financial-ml.yaml",
            "--rerun-failed",
            dir.join("bad.json").to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no `scenarios` list"), "{err}");
}
