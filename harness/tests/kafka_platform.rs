//! Kafka as a declared platform fact (docs/seldon-behaviour.md §14): validation warns about a
//! runtime that enables the Kafka components without Kafka, and on the embedded platform such a
//! runtime fails `runtimeReady` naming the dataflow engine; declaring Kafka makes it pass.

use std::path::Path;

use harness::checks::Verdict;
use harness::run::run_on_fresh_target;
use harness::scenario::{Scenario, TargetKind};
use harness::target::{Keep, TargetOptions};

fn scenario(kafka: &str, disable: bool) -> Scenario {
    let overrides = if disable {
        "\n          overrides:\n            - {name: seldon-modelgateway, disable: true}\n            - {name: seldon-pipelinegateway, disable: true}\n            - {name: seldon-dataflow-engine, disable: true}"
    } else {
        ""
    };
    let text = format!(
        r#"apiVersion: conformance.harness/v1alpha1
kind: Scenario
metadata:
  name: kafka
spec:
  seldon:
    chartVersion: "2.10.2"
    kafka: {kafka}
  teams:
    - namespace: team-k
      runtime:
        apiVersion: mlops.seldon.io/v1alpha1
        kind: SeldonRuntime
        metadata:
          name: rt
        spec:
          seldonConfig: default{overrides}
  checks:
    - name: runtime-ready
      timeout: 60s
      expect:
        runtimeReady: {{namespace: team-k}}
"#
    );
    Scenario::parse(Path::new("scenarios/kafka.yaml"), &text).expect("scenario loads")
}

async fn verdict(s: &Scenario) -> Verdict {
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        ..Default::default()
    };
    let report = run_on_fresh_target(&opts, s, None).await.expect("run");
    assert!(report.setup_error.is_none(), "{:?}", report.setup_error);
    report.checks[0].verdict.clone()
}

#[test]
fn validate_warns_about_kafka_components_without_kafka() {
    let s = scenario("none", false);
    let w: Vec<String> = s.warnings.iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter().any(|d| d.contains("spec.teams[0].runtime")
            && d.contains("seldon-dataflow-engine")
            && d.contains("`spec.seldon.kafka` is `none`")),
        "{w:?}"
    );
    assert!(scenario("none", true).warnings.is_empty());
    assert!(scenario("installed", false).warnings.is_empty());
}

#[test]
fn an_external_bootstrap_must_be_host_and_port() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/kafka-missing.yaml"),
    )
    .unwrap()
    .replace(
        "kafka: none",
        "kafka: {external: {bootstrap: kafka-without-port}}",
    );
    let Err(err) = Scenario::parse(Path::new("scenarios/kafka-missing.yaml"), &text) else {
        panic!("a bootstrap without a port must be rejected");
    };
    let err = err.to_string();
    assert!(
        err.contains("spec.seldon.kafka.external.bootstrap"),
        "{err}"
    );
}

#[tokio::test]
async fn without_kafka_runtime_ready_fails_naming_the_dataflow_engine() {
    match verdict(&scenario("none", false)).await {
        Verdict::Fail { reason } => {
            assert!(reason.contains("seldon-dataflow-engine"), "{reason}");
            assert!(reason.contains("CrashLoopBackOff"), "{reason}");
            assert!(reason.contains("seldon-kafka-bootstrap"), "{reason}");
        }
        v => panic!("expected a failure, got {v:?}"),
    }
}

#[tokio::test]
async fn with_kafka_installed_or_the_components_disabled_runtime_ready_passes() {
    for (kafka, disable) in [
        ("installed", false),
        ("{external: {bootstrap: \"kafka.example:9092\"}}", false),
        ("none", true),
    ] {
        match verdict(&scenario(kafka, disable)).await {
            Verdict::Pass { detail } => {
                if disable {
                    assert!(
                        detail.contains("aggregate Ready can never become True"),
                        "{detail}"
                    );
                }
            }
            v => panic!("kafka {kafka}, disabled {disable}: {v:?}"),
        }
    }
}
