//! `pipeline` and `pipelineNotReady` on the embedded platform: pass when healthy, fail naming the
//! cause under the defect meant to break them (docs/seldon-behaviour.md §24).

mod checks_support;

use checks_support::*;
use harness::target::Defect;

const WITH_KAFKA: &str = "pipelines.yaml";
const WITHOUT_KAFKA: &str = "pipelines-without-kafka.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_answers_the_composed_samples_over_rest_and_grpc() {
    for (check, transport) in [("pipeline-rest", "REST"), ("pipeline-grpc", "gRPC")] {
        let d = assert_pass(&healthy(WITH_KAFKA, check).await).to_string();
        for part in [
            "Pipeline lending/credit-decision Ready (PipelineGwReady, PipelineReady, ModelsReady, Ready)",
            "5 samples to `seldon-model: credit-decision.pipeline`",
            transport,
            "every output matched",
        ] {
            assert!(d.contains(part), "{check}: `{part}` missing in: {d}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_skips_a_step_fails_naming_the_outputs() {
    for check in ["pipeline-rest", "pipeline-grpc"] {
        let v = broken(WITH_KAFKA, check, Defect::PipelineStepSkipped).await;
        assert_fail(&v, &["credit-decision.pipeline", "of 5 wrong", "decision"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_whose_models_never_get_ready_fails_naming_the_conditions() {
    let v = broken(WITH_KAFKA, "pipeline-rest", Defect::ModelNeverReady).await;
    assert_fail(
        &v,
        &[
            "Pipeline lending/credit-decision is not Ready",
            "ModelsReady=False",
            "Some models are not available",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kafka_the_pipeline_names_its_reason_and_a_platform_hiding_it_fails() {
    let d =
        assert_pass(&healthy(WITHOUT_KAFKA, "pipeline-not-ready-without-kafka").await).to_string();
    assert!(
        d.contains("no dataflow engines available to handle pipeline")
            && d.contains("PipelineCreate"),
        "{d}"
    );
    // A dataflow engine Ready without Kafka takes the pipeline: the reason is gone.
    let v = broken(
        WITHOUT_KAFKA,
        "pipeline-not-ready-without-kafka",
        Defect::DataflowEngineReadyWithoutKafka,
    )
    .await;
    assert_fail(
        &v,
        &[
            "did not report `no dataflow engines available to handle pipeline` within the deadline",
            "instead of hanging",
        ],
    );
    assert_pass(&healthy(WITHOUT_KAFKA, "pipeline-gateway-reason-without-kafka").await);
    let v = broken(
        WITHOUT_KAFKA,
        "pipeline-gateway-reason-without-kafka",
        Defect::GatewaysReadyWithoutKafka,
    )
    .await;
    assert_fail(&v, &["No pipeline gateway available to handle pipeline"]);
}
