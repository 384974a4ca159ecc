//! `experiment` through the namespace's seldon-mesh on the embedded platform: passes when
//! healthy, fails naming the Experiment, the models and the counts under the defects meant to
//! break it.

mod checks_support;

use checks_support::*;
use harness::target::Defect;

const EXP: &str = "experiments.yaml";
const REST: &str = "ab-on-default-endpoint-rest";
const GRPC: &str = "rollout-on-experiment-endpoint-grpc";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_follows_the_weights_before_and_after_the_edit() {
    let d = assert_pass(&healthy(EXP, REST).await).to_string();
    assert!(
        d.contains("Experiment financial-ml/credit-risk-ab over REST"),
        "{d}"
    );
    assert!(d.contains("seldon-model: credit-risk,"), "{d}");
    // After the edit to 100/0 every request went to credit-risk.
    assert!(
        d.contains(
            "after the edit to credit-risk=100, credit-risk-challenger=0 credit-risk 200/200"
        ),
        "{d}"
    );
    let d = assert_pass(&healthy(EXP, GRPC).await).to_string();
    assert!(
        d.contains("seldon-model: challenger-rollout.experiment"),
        "{d}"
    );
    assert!(d.contains("credit-risk-challenger 200/200"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_not_applied_leaves_the_zero_weight_candidate_traffic() {
    let v = broken(EXP, REST, Defect::ExperimentWeightsIgnored).await;
    assert_fail(
        &v,
        &[
            "Experiment financial-ml/credit-risk-ab",
            "after the edit to credit-risk=100, credit-risk-challenger=0",
            "`credit-risk-challenger` served",
            "a candidate of weight 0 must serve nothing (upstream #5181",
        ],
    );
    let v = broken(EXP, GRPC, Defect::ExperimentWeightsIgnored).await;
    assert_fail(
        &v,
        &["`credit-risk` served", "expected 0.0 % (weight 0 of 100)"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_numbers_are_attributed_to_the_model_that_served() {
    let v = broken(EXP, REST, Defect::WrongInferenceOutput).await;
    assert_fail(
        &v,
        &[
            "before the edit",
            "requests failed or were wrong",
            "wrong answer",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_experiment_route_exists_only_in_the_model_header() {
    let v = broken(EXP, GRPC, Defect::MeshIgnoresModelHeader).await;
    assert_fail(&v, &["challenger-rollout", "NOT_FOUND"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_whose_models_never_get_ready_is_named_with_its_condition() {
    let v = broken(EXP, REST, Defect::ModelNeverReady).await;
    assert_fail(
        &v,
        &[
            "Experiment financial-ml/credit-risk-ab: not Ready",
            "condition Ready=True",
        ],
    );
}

/// The candidates answer with different numbers (the challenger is another artifact), so an
/// answer attributed to the wrong model fails on its values: with the two samples files swapped
/// the check must fail on the first phase, naming the model and the sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_attributed_by_their_numbers_too() {
    let mut s = scenario(EXP);
    let check = s
        .doc
        .spec
        .checks
        .iter_mut()
        .find(|c| c.name == REST)
        .unwrap();
    let harness::scenario::Expectation::Experiment(x) = &mut check.expect else {
        panic!("{REST} is an experiment check")
    };
    let (a, b) = (x.samples[0].file.clone(), x.samples[1].file.clone());
    x.samples[0].file = b;
    x.samples[1].file = a;
    let v = verdict_of(&s, REST, Default::default()).await;
    assert_fail(
        &v,
        &["before the edit", "served by `credit-risk", "wrong answer"],
    );
}
