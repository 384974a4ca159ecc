//! Verdicts hold while the API server misbehaves: every scenario runs on the embedded platform
//! answering 5 % of API requests with 500 or 429 (Retry-After), closing every watch after a
//! second and adding latency (`harness run --api-faults 5%`), and must give exactly the verdicts
//! it gives without faults. The harness retries transient API errors (`kube::retry`) inside each
//! check's deadline.
//!
//! The default test runs one round; `api_faults_20_rounds` (ignored; `.ci/run` runs it) runs 20
//! in a row (`HARNESS_API_FAULT_ROUNDS` changes the count).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::scenario::{Scenario, TargetKind};
use harness::target::{EmbeddedOptions, Faults, Keep, TargetOptions};

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| harness::run::load(f).unwrap())
        .filter(|s| s.runs_on(TargetKind::Sim))
        .collect()
}

/// `(scenario, check) -> verdict label and cause` of one run of every scenario.
fn verdicts(
    rt: &tokio::runtime::Runtime,
    scenarios: &[Scenario],
    faults: Faults,
    work: &Path,
) -> BTreeMap<(String, String), (bool, String)> {
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        work_dir: Some(work.to_path_buf()),
        embedded: EmbeddedOptions::with_faults(faults),
        ..Default::default()
    };
    let mut out = BTreeMap::new();
    for s in scenarios {
        let r = rt
            .block_on(harness::run::run_on_fresh_target(&opts, s, None))
            .unwrap();
        assert!(r.setup_error.is_none(), "{}: {:?}", s.name(), r.setup_error);
        for c in r.checks {
            out.insert(
                (s.name().to_string(), c.name),
                (c.verdict.passed(), c.verdict.message().to_string()),
            );
        }
    }
    out
}

fn same_verdicts_under_faults(rounds: usize) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let scenarios = scenarios();
    let baseline = verdicts(&rt, &scenarios, Faults::default(), work.path());
    assert!(
        baseline.len() > 30,
        "test bug: only {} checks",
        baseline.len()
    );
    let faults = Faults {
        transport: harness::cli::parse_api_faults("5%").unwrap(),
        ..Faults::default()
    };
    for round in 1..=rounds {
        let faulty = verdicts(&rt, &scenarios, faults.clone(), work.path());
        let differ: Vec<String> = baseline
            .iter()
            .filter(|(k, (passed, _))| faulty.get(*k).map(|v| v.0) != Some(*passed))
            .map(|((s, c), (passed, cause))| {
                // Both causes: a fault-free run that failed (under load, say) must say why too.
                format!(
                    "{s}::{c}: {} without faults ({cause}), under faults: {:?}",
                    if *passed { "PASS" } else { "FAIL" },
                    faulty.get(&(s.clone(), c.clone()))
                )
            })
            .collect();
        assert!(
            differ.is_empty(),
            "round {round} of {rounds}: verdicts changed under 5 % API faults:\n{}",
            differ.join("\n")
        );
        eprintln!(
            "round {round} of {rounds}: {} verdicts unchanged",
            baseline.len()
        );
    }
}

#[test]
fn api_faults_leave_every_verdict_unchanged() {
    same_verdicts_under_faults(1);
}

#[test]
#[ignore = "about 20 rounds of every scenario; .ci/run runs it"]
fn api_faults_20_rounds() {
    let rounds = std::env::var("HARNESS_API_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    same_verdicts_under_faults(rounds);
}

#[test]
fn api_fault_rates_are_parsed_and_split_between_500_and_429() {
    let t = harness::cli::parse_api_faults("5%").unwrap();
    assert!((t.error_rate - 0.025).abs() < 1e-12);
    // 429s are drawn from the requests that did not fail: 2.5 % of all requests.
    assert!(((1.0 - t.error_rate) * t.throttle_rate - 0.025).abs() < 1e-12);
    assert!(t.drop_watches_after.is_some() && !t.latency.is_zero());
    assert_eq!(harness::cli::parse_api_faults("0.05").unwrap(), t);
    for bad in ["abc", "100%", "-1", "1.5"] {
        let e = harness::cli::parse_api_faults(bad).unwrap_err();
        assert!(e.contains("--api-faults"), "{e}");
    }
}
