//! Pipelines in scenario files: the `pipelines` of a team and the `pipeline` / `pipelineNotReady`
//! checks are validated with `file:line:column`, the field path and a hint; a `pipeline` check on
//! a platform declaring no Kafka is refused (docs/seldon-behaviour.md §24).

use std::path::PathBuf;

use harness::scenario::Scenario;
use rstest::rstest;

const BASE: &str = r#"apiVersion: conformance.harness/v1alpha1
kind: Scenario
metadata:
  name: pipelines-base
spec:
  seldon:
    chartVersion: "2.10.2"
    kafka: installed
  artifacts:
    - {storageUri: s3://models/credit-risk, path: models/credit-risk}
    - {storageUri: s3://models/loan-decision, path: models/loan-decision}
  teams:
    - namespace: lending
      runtime:
        apiVersion: mlops.seldon.io/v1alpha1
        kind: SeldonRuntime
        metadata: {name: rt}
        spec: {seldonConfig: default}
      servers:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Server
          metadata: {name: mlserver}
          spec: {serverConfig: mlserver}
      models:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Model
          metadata: {name: credit-risk}
          spec: {storageUri: s3://models/credit-risk, requirements: [mlserver]}
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Model
          metadata: {name: loan-decision}
          spec: {storageUri: s3://models/loan-decision, requirements: [mlserver]}
      pipelines:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Pipeline
          metadata: {name: credit-decision}
          spec:
            steps:
              - name: credit-risk
              - name: loan-decision
                inputs: [credit-risk.outputs]
            output:
              steps: [loan-decision]
  checks:
    - name: pipeline-rest
      expect:
        pipeline: {namespace: lending, pipeline: credit-decision, protocol: rest, samples: models/loan-decision/pipeline-samples.json}
    - name: not-ready
      expect:
        pipelineNotReady: {namespace: lending, pipeline: credit-decision, reason: no dataflow engines}
"#;

/// The file sits in `scenarios/`, so the samples paths resolve as in the real scenarios.
fn file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/pipelines-base.yaml")
}

fn load(text: &str) -> Result<Scenario, String> {
    Scenario::parse(&file(), text).map_err(|e| e.to_string())
}

#[test]
fn base_with_a_pipeline_is_valid() {
    let s = load(BASE).expect("the base must be valid");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.team("lending").unwrap().pipelines.len(), 1);
}

/// (replace this, with this, expected `line:col`, field path, message fragment)
#[rstest]
#[case::pipeline_check_without_kafka(
    "    kafka: installed\n",
    "    kafka: none\n",
    "47:9",
    "spec.checks[0].expect.pipeline",
    "a `pipeline` check needs Kafka, but `spec.seldon.kafka` is `none`"
)]
#[case::step_without_a_model(
    "              - name: credit-risk\n",
    "              - name: fraud-score\n",
    "39:23",
    "spec.teams[0].pipelines[0].spec.steps[0].name",
    "step `fraud-score` names no Model of this team"
)]
#[case::input_from_an_unknown_step(
    "inputs: [credit-risk.outputs]",
    "inputs: [credit-rsk.outputs]",
    "41:26",
    "spec.teams[0].pipelines[0].spec.steps[1].inputs[0]",
    "names step `credit-rsk`, which is not a step of this Pipeline"
)]
#[case::input_that_is_not_a_reference(
    "inputs: [credit-risk.outputs]",
    "inputs: [credit-risk.results]",
    "41:26",
    "spec.teams[0].pipelines[0].spec.steps[1].inputs[0]",
    "is not `<step>`, `<step>.outputs` or `<step>.outputs.<tensor>`"
)]
#[case::output_from_an_unknown_step(
    "steps: [loan-decision]",
    "steps: [decision]",
    "43:23",
    "spec.teams[0].pipelines[0].spec.output.steps[0]",
    "names step `decision`"
)]
#[case::unknown_pipeline_field(
    "            output:\n",
    "            outputs: {}\n            output:\n",
    "42:13",
    "spec.teams[0].pipelines[0].spec.outputs",
    "Pipeline: unknown field `outputs`"
)]
#[case::check_naming_an_undeclared_pipeline(
    "pipeline: credit-decision, protocol: rest",
    "pipeline: credit-decisions, protocol: rest",
    "47:50",
    "spec.checks[0].expect.pipeline.pipeline",
    "check names Pipeline `credit-decisions`, which does not exist in namespace `lending`"
)]
#[case::missing_samples(
    "samples: models/loan-decision/pipeline-samples.json",
    "samples: models/loan-decision/missing.json",
    "47:92",
    "spec.checks[0].expect.pipeline.samples",
    "samples file `models/loan-decision/missing.json` does not exist"
)]
#[case::empty_reason(
    "reason: no dataflow engines}",
    "reason: \"\"}",
    "50:83",
    "spec.checks[1].expect.pipelineNotReady.reason",
    "reason must not be empty"
)]
#[case::unknown_check_field(
    "protocol: rest, samples",
    "protocol: rest, tolerance: 0.1, samples",
    "47:83",
    "spec.checks[0].expect.pipeline.tolerance",
    "unknown field `tolerance`"
)]
fn malformed_pipelines_are_rejected_with_position_and_field(
    #[case] from: &str,
    #[case] to: &str,
    #[case] position: &str,
    #[case] path: &str,
    #[case] message: &str,
) {
    assert!(BASE.contains(from), "test bug: `{from}` not in the base");
    let text = BASE.replacen(from, to, 1);
    let err = load(&text).expect_err("the malformed file must be rejected");
    let first = err.lines().next().unwrap_or_default().to_string();
    let expected = format!("pipelines-base.yaml:{position}: error: ");
    assert!(
        first.contains(&expected),
        "expected `{expected}…`, got:\n{err}"
    );
    assert!(
        first.contains(&format!("`{path}`")),
        "expected `{path}` in:\n{err}"
    );
    assert!(err.contains(message), "expected `{message}` in:\n{err}");
}

#[test]
fn a_pipeline_without_output_steps_is_warned_about() {
    let text = BASE.replacen(
        "            output:\n              steps: [loan-decision]\n",
        "",
        1,
    );
    let s = load(&text).expect("a warning, not an error");
    let w: Vec<String> = s.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("`spec.teams[0].pipelines[0].spec`")
                && w.contains("no `output.steps`")),
        "{w:?}"
    );
}
