//! `inference` and `inferenceRejected` through the namespace's seldon-mesh on the embedded
//! platform: pass when healthy, fail naming the cause under the defect meant to break them.

mod checks_support;

use checks_support::*;
use harness::target::Defect;

const FIN: &str = "financial-ml.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_matches_the_reference_outputs_over_rest_and_grpc() {
    for check in ["credit-risk-rest", "credit-risk-grpc"] {
        let d = assert_pass(&healthy(FIN, check).await).to_string();
        assert!(d.contains("every output matched"), "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_fails_on_wrong_numbers() {
    let v = broken(FIN, "credit-risk-rest", Defect::WrongInferenceOutput).await;
    assert_fail(
        &v,
        &["samples to model credit-risk over REST", "of 5 wrong"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_inference_fails_when_the_mesh_ignores_the_model_header() {
    let v = broken(FIN, "credit-risk-grpc", Defect::MeshIgnoresModelHeader).await;
    // Caught at the first gRPC call that depends on the header: the readiness RPCs (which carry no
    // model name in the message) or, failing that, the header-less request answered anyway.
    assert_fail(&v, &["seldon-model"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_fails_with_the_model_state_when_the_model_never_gets_ready() {
    let v = broken(FIN, "credit-risk-rest", Defect::ModelNeverReady).await;
    assert_fail(
        &v,
        &["inference not attempted: Model financial-ml/credit-risk is not Ready"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_models_are_refused_and_a_200_fails() {
    for check in ["unknown-model-rejected-rest", "unknown-model-rejected-grpc"] {
        assert_pass(&healthy(FIN, check).await);
        let v = broken(FIN, check, Defect::UnknownModelAnswered200).await;
        assert_fail(&v, &["NOT refused correctly", "success with outputs"]);
    }
}
