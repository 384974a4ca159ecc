//! The reports of a full run never contain a secret value: the financial-ml scenario delivers its
//! model-store credentials through a secret package, and neither the terminal summary nor the
//! Markdown report (nor any verdict message in them) may repeat them.

use std::path::PathBuf;

use harness::run::run_on_fresh_target;
use harness::scenario::TargetKind;
use harness::target::{Keep, TargetOptions};

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

/// The credential values of the package's rclone secret (the strings that must never leak).
fn planted_values() -> Vec<String> {
    let text = std::fs::read_to_string(
        scenarios().join("secrets/financial-ml-models/production/secret.yaml"),
    )
    .unwrap();
    let secret: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let rclone: serde_json::Value =
        serde_norway::from_str(secret["stringData"]["s3"].as_str().unwrap()).unwrap();
    let values: Vec<String> = ["access_key_id", "secret_access_key"]
        .iter()
        .map(|k| rclone["parameters"][k].as_str().unwrap().to_string())
        .collect();
    assert!(
        values.iter().all(|v| v.len() > 8),
        "test bug: planted values too short to search for"
    );
    values
}

#[test]
fn reports_of_a_full_run_contain_no_secret_value() {
    let scenario = harness::run::load(&scenarios().join("financial-ml.yaml")).unwrap();
    let planted = planted_values();
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-redaction");
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        work_dir: Some(work),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt
        .block_on(run_on_fresh_target(&opts, &scenario, None))
        .unwrap();
    // The run really used the package: its Secret was delivered and checked.
    let delivered = report
        .checks
        .iter()
        .find(|c| c.name == "secrets-delivered")
        .expect("check ran");
    assert!(delivered.verdict.passed(), "{:?}", delivered.verdict);
    let reports = [report];
    let texts = [
        harness::report::terminal(&reports),
        harness::report::markdown(&reports),
    ];
    for text in &texts {
        for v in &planted {
            assert!(
                !text.contains(v.as_str()),
                "a report contains a secret value:\n{text}"
            );
        }
    }
}
