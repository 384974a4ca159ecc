//! README's "Exploring by hand" flow, as a new user runs it: `harness platform up --scenario
//! scenarios/financial-ml.yaml`, then `harness run --target existing` with the kubeconfig and
//! context it prints. Every check passes, the six inference checks included: they reach
//! `seldon-mesh` through the API server's `pods/portforward`, as on any cluster.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Bound on the platform announcing itself and on the whole run.
const DEADLINE: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_up_then_run_against_it_as_an_existing_cluster_passes_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut platform = tokio::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args([
            "platform",
            "up",
            "--scenario",
            "scenarios/financial-ml.yaml",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("harness platform up starts");
    let mut lines = BufReader::new(platform.stdout.take().unwrap()).lines();
    let announced = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(path) = line.strip_prefix("export KUBECONFIG=") {
                return Some(path.to_string());
            }
        }
        None
    })
    .await
    .expect("the platform announces its kubeconfig in time")
    .expect("harness platform up printed `export KUBECONFIG=…`");
    assert_eq!(Path::new(&announced), kubeconfig);
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let report = dir.path().join("report");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .env("KUBECONFIG", &announced)
        .env("HARNESS_WORK_DIR", dir.path().join("work"))
        .env("HARNESS_STATE_DIR", dir.path().join("state"))
        .env_remove("HARNESS_TARGET")
        .env_remove("HARNESS_RUN_ID")
        .args([
            "run",
            "--target",
            "existing",
            "--context",
            "embedded-platform",
            "--allow-context",
            "embedded-platform",
            "--scenario",
            "scenarios/financial-ml.yaml",
            "--keep",
            "always",
            "--report",
        ])
        .arg(&report)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(DEADLINE, run)
        .await
        .expect("the run finishes in time")
        .expect("harness run starts");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the run failed:\n{text}");

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["run"]["target"], "existing", "{}", results["run"]);
    let checks: Vec<&Value> = results["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .collect();
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["verdict"] != "pass")
        .map(|c| format!("{}: {} ({})", c["name"], c["verdict"], c["cause"]))
        .collect();
    assert!(
        failed.is_empty(),
        "checks did not pass: {failed:#?}\n{text}"
    );
    // Every check of the scenario ran (and passed, above).
    let declared = harness::scenario::Scenario::load(&repo().join("scenarios/financial-ml.yaml"))
        .expect("financial-ml loads")
        .doc
        .spec
        .checks
        .len();
    assert_eq!(checks.len(), declared, "{text}");
    let inference = checks
        .iter()
        .filter(|c| {
            c["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("inference"))
        })
        .count();
    assert_eq!(inference, 6, "the six inference checks ran: {text}");
    platform.kill().await.unwrap();
}
