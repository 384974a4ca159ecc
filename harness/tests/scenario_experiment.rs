//! Experiments in scenario files: the teams' Experiment objects (Seldon's CRD shape and the
//! scheduler's rules) and the `experiment` check's fields, each mistake reported at
//! `file:line:column` with its field path.

use std::path::PathBuf;

use harness::scenario::Scenario;
use rstest::rstest;

const BASE: &str = r#"apiVersion: conformance.harness/v1alpha1
kind: Scenario
metadata:
  name: base
spec:
  seldon:
    chartVersion: "2.10.2"
  teams:
    - namespace: team-a
      runtime:
        apiVersion: mlops.seldon.io/v1alpha1
        kind: SeldonRuntime
        metadata:
          name: rt
        spec:
          seldonConfig: default
          overrides:
            - {name: seldon-modelgateway, disable: true}
            - {name: seldon-pipelinegateway, disable: true}
            - {name: seldon-dataflow-engine, disable: true}
      servers:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Server
          metadata:
            name: mlserver
          spec:
            serverConfig: mlserver
      models:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Model
          metadata:
            name: a
          spec:
            storageUri: gs://models/credit-risk
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Model
          metadata:
            name: b
          spec:
            storageUri: gs://models/credit-risk
      experiments:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Experiment
          metadata:
            name: ab
          spec:
            default: a
            candidates:
              - name: a
                weight: 50
              - name: b
                weight: 50
  checks:
    - name: split
      expect:
        experiment:
          namespace: team-a
          experiment: ab
          protocol: rest
          samples:
            - {model: a, file: models/credit-risk/samples.json}
            - {model: b, file: models/credit-risk/samples.json}
          reweight:
            - {name: a, weight: 100}
            - {name: b, weight: 0}
"#;

/// The file sits in the repository's `scenarios/`, so its samples paths resolve.
fn file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/base.yaml")
}

fn load(text: &str) -> Result<Scenario, String> {
    Scenario::parse(&file(), text).map_err(|e| e.to_string())
}

#[test]
fn base_is_valid() {
    let s = load(BASE).expect("the base scenario must be valid");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.doc.spec.checks[0].expect.kind(), "experiment");
    assert_eq!(s.doc.spec.teams[0].experiments.len(), 1);
}

/// (replace this, with this, expected `line:col`, field path, message fragment)
#[rstest]
#[case::default_not_a_candidate(
    "            default: a\n",
    "            default: c\n",
    "47:22",
    "spec.teams[0].experiments[0].spec.default",
    "default model `c` is not a candidate of Experiment `ab`"
)]
#[case::candidate_not_a_model(
    "              - name: b\n                weight: 50\n",
    "              - name: z\n                weight: 50\n",
    "51:23",
    "spec.teams[0].experiments[0].spec.candidates[1].name",
    "names model `z`, which team `team-a` does not declare"
)]
#[case::candidate_twice(
    "              - name: b\n                weight: 50\n",
    "              - name: a\n                weight: 50\n",
    "51:23",
    "spec.teams[0].experiments[0].spec.candidates[1].name",
    "model `a` appears twice in Experiment `ab`"
)]
#[case::unknown_experiment_field(
    "            default: a\n",
    "            default: a\n            weights: {}\n",
    "48:13",
    "spec.teams[0].experiments[0].spec.weights",
    "unknown field `weights`"
)]
#[case::negative_weight(
    "                weight: 50\n  checks",
    "                weight: -5\n  checks",
    "52:25",
    "spec.teams[0].experiments[0].spec.candidates[1].weight",
    "invalid value: integer `-5`, expected u32"
)]
#[case::check_names_an_unknown_experiment(
    "          experiment: ab\n",
    "          experiment: abc\n",
    "58:23",
    "spec.checks[0].expect.experiment.experiment",
    "names Experiment `abc`, which team `team-a` does not declare"
)]
#[case::reweight_misses_a_candidate(
    "            - {name: b, weight: 0}\n",
    "",
    "63:11",
    "spec.checks[0].expect.experiment.reweight",
    "the edit must give every candidate a weight (a, b)"
)]
#[case::samples_missing_for_a_candidate(
    "            - {model: b, file: models/credit-risk/samples.json}\n",
    "",
    "60:11",
    "spec.checks[0].expect.experiment.samples",
    "no samples for candidate(s) b"
)]
#[case::samples_file_missing(
    "            - {model: b, file: models/credit-risk/samples.json}\n",
    "            - {model: b, file: models/nope.json}\n",
    "62:32",
    "spec.checks[0].expect.experiment.samples[1].file",
    "samples file `models/nope.json` does not exist"
)]
fn malformed_experiments_are_rejected_with_position_and_field(
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
    let expected_prefix = format!("{}:{position}: error: ", file().display());
    assert!(
        first.starts_with(&expected_prefix),
        "expected `{expected_prefix}…`, got:\n{err}"
    );
    assert!(
        first.contains(&format!("`{path}`")),
        "expected field path `{path}` in:\n{err}"
    );
    assert!(err.contains(message), "expected `{message}` in:\n{err}");
}

#[test]
fn a_small_share_needs_enough_requests_to_judge() {
    let text = BASE
        .replacen(
            "                weight: 50\n",
            "                weight: 99\n",
            1,
        )
        .replacen(
            "                weight: 50\n",
            "                weight: 1\n",
            1,
        )
        .replacen(
            "          protocol: rest\n",
            "          protocol: rest\n          requests: 100\n",
            1,
        );
    let err = load(&text).expect_err("1 % of 100 requests cannot be judged");
    assert!(
        err.contains("`spec.checks[0].expect.experiment.requests`"),
        "{err}"
    );
    assert!(
        err.contains("too few to judge a 1.0 % share of `b`"),
        "{err}"
    );
    assert!(err.contains("raise `requests` to at least 910"), "{err}");
}

#[test]
fn via_default_needs_a_default_model() {
    let text = BASE.replacen("            default: a\n", "", 1).replacen(
        "          protocol: rest\n",
        "          protocol: rest\n          via: default\n",
        1,
    );
    let err = load(&text).expect_err("no default to address");
    assert!(
        err.contains("`spec.checks[0].expect.experiment.via`"),
        "{err}"
    );
    assert!(
        err.contains("Experiment `ab` has no `default` model"),
        "{err}"
    );
}

#[test]
fn requests_out_of_range_are_refused() {
    let text = BASE.replacen(
        "          protocol: rest\n",
        "          protocol: rest\n          requests: 10\n",
        1,
    );
    let err = load(&text).expect_err("10 requests are too few");
    assert!(
        err.contains("`spec.checks[0].expect.experiment.requests`"),
        "{err}"
    );
    assert!(err.contains("use 50 to 20000"), "{err}");
}
