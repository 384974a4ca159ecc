//! Pipelines (docs/seldon-behaviour.md §24): status as Seldon's operator writes it from the
//! scheduler's state, Kafka needed for the pipeline gateway and dataflow engine, a Pipeline created
//! before its Models becoming Ready once they are, the composed answer through the endpoint as
//! `<name>.pipeline`, and the `pipeline-step-skipped` defect.

mod behaviour_support;

use behaviour_support::*;
use serde_json::{Value, json};
use sim::faults::{Defect, Faults};
use sim::seldon::{InstallOptions, NO_DATAFLOW_ENGINE, NO_PIPELINE_GATEWAY};

const NS: &str = "lending";
const PIPELINE: &str = "credit-decision";

fn models_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models")
}

fn pipeline() -> Value {
    json!({
        "apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Pipeline",
        "metadata": {"name": PIPELINE, "namespace": NS},
        "spec": {
            "steps": [{"name": "credit-risk"}, {"name": "loan-decision", "inputs": ["credit-risk.outputs"]}],
            "output": {"steps": ["loan-decision"]},
        },
    })
}

/// Publishes both sample models and creates their Models.
fn models(p: &Platform) {
    for m in ["credit-risk", "loan-decision"] {
        let uri = format!("gs://models/{m}");
        p.state
            .artifacts
            .lock()
            .unwrap()
            .insert(uri.clone(), models_dir().join(m));
        p.create(
            "Model",
            model(NS, m, &uri, json!({"requirements": ["mlserver"]})),
        );
    }
}

/// Waits until the Pipeline's condition `type_` has `status`; returns the Pipeline.
async fn pipeline_with(p: &Platform, type_: &str, status: &str) -> Value {
    p.wait(&format!("Pipeline {type_}={status}"), |p| {
        p.get("Pipeline", NS, PIPELINE)
            .filter(|o| condition(o, type_).is_some_and(|c| c["status"] == status))
    })
    .await
}

/// POSTs the composed samples' first request to `<name>.pipeline`; returns (status, body).
async fn ask(p: &Platform, name: &str) -> (u16, Value, Value) {
    let addr = p
        .wait_endpoint("endpoint address", |p| {
            p.state.mesh_addrs.lock().unwrap().get(NS).copied()
        })
        .await;
    let text =
        std::fs::read_to_string(models_dir().join("loan-decision/pipeline-samples.json")).unwrap();
    let samples: Value = serde_json::from_str(&text).unwrap();
    // The batch of four: approve, approve, approve, refer.
    let sample = &samples["samples"][4];
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/v2/models/{name}/infer"))
        .header("seldon-model", name)
        .json(&json!({"inputs": sample["inputs"]}))
        .timeout(DEADLINE)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        resp.json().await.unwrap(),
        sample["outputs"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_created_before_its_models_becomes_ready_with_them_and_answers_the_composition()
{
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    p.create("Pipeline", pipeline());
    // Kafka is there: gateway and dataflow engine take it; its models are missing.
    let o = pipeline_with(&p, "ModelsReady", "False").await;
    let models_ready = condition(&o, "ModelsReady").unwrap();
    assert_eq!(models_ready["message"], "Some models are not available");
    for t in ["PipelineGwReady", "PipelineReady"] {
        let c = condition(&o, t).unwrap();
        assert_eq!(
            (&c["status"], &c["reason"]),
            (&json!("True"), &json!("PipelineReady")),
            "{t}"
        );
        assert_eq!(c["message"], "Empty reason | Empty reason", "{t}");
    }
    let ready = condition(&o, "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["message"], "Some models are not available");
    // Not served while not Ready.
    let (status, body, _) = ask(&p, "credit-decision.pipeline").await;
    assert_eq!(status, 404, "{body}");

    models(&p);
    let o = pipeline_with(&p, "Ready", "True").await;
    for t in ["PipelineGwReady", "PipelineReady", "ModelsReady"] {
        assert!(is_true(&o, t), "{t}: {o}");
    }
    assert_eq!(
        condition(&o, "ModelsReady").unwrap()["message"],
        "Models all available"
    );
    let (status, body, expected) = ask(&p, "credit-decision.pipeline").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["name"], "decision", "{body}");
    assert_eq!(body["outputs"][0]["data"], expected[0]["data"], "{body}");
    assert_eq!(body["outputs"][0]["data"], json!([0, 0, 0, 1]));
    // The pipeline gateway answers with an empty model name (pipeline-examples.md).
    assert_eq!(body["model_name"], "");
    // A pipeline nobody declared is not found; without `.pipeline` the name is a model's.
    assert_eq!(ask(&p, "other.pipeline").await.0, 404);
    assert_eq!(ask(&p, "credit-decision").await.0, 404);
    // Without `output` nothing writes the output topic: never an answer.
    let mut silent = pipeline();
    silent["metadata"]["name"] = json!("no-output");
    silent["spec"].as_object_mut().unwrap().remove("output");
    p.create("Pipeline", silent);
    p.wait("Pipeline no-output Ready", |p| {
        p.get("Pipeline", NS, "no-output")
            .filter(|o| is_true(o, "Ready"))
    })
    .await;
    let (status, body, _) = ask(&p, "no-output.pipeline").await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no `output.steps`"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kafka_a_pipeline_says_no_gateway_and_no_dataflow_engine_and_is_never_ready() {
    let p = Platform::start_with(Faults::default(), InstallOptions::default());
    p.namespace(NS);
    // Before the runtime exists the operator cannot reach the scheduler.
    p.create("Pipeline", pipeline());
    let o = pipeline_with(&p, "PipelineReady", "False").await;
    let c = condition(&o, "PipelineReady").unwrap();
    assert_eq!(c["message"], "PipelineCreating", "{o}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("rpc error: code = Unavailable"),
        "{o}"
    );

    gs_public_secret(&p, NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.create("Server", json!({"metadata": {"name": "mlserver", "namespace": NS}, "spec": {"serverConfig": "mlserver"}}));
    models(&p);
    model_ready(&p, NS, "loan-decision", "True").await;
    let o = p
        .wait("Pipeline reasons from the scheduler", |p| {
            p.get("Pipeline", NS, PIPELINE).filter(|o| {
                condition(o, "PipelineGwReady").is_some_and(|c| c["reason"] == "PipelineCreate")
            })
        })
        .await;
    let message = format!("{NO_PIPELINE_GATEWAY} | {NO_DATAFLOW_ENGINE}");
    for t in ["PipelineGwReady", "PipelineReady"] {
        let c = condition(&o, t).unwrap();
        assert_eq!(c["status"], "False", "{t}");
        assert_eq!(c["reason"], "PipelineCreate", "{t}");
        assert_eq!(c["message"], message.as_str(), "{t}");
    }
    // The models are Ready, but not on the model gateway, which needs Kafka too.
    assert_eq!(
        condition(&o, "ModelsReady").unwrap()["message"],
        "Some models are not available"
    );
    assert_eq!(condition(&o, "Ready").unwrap()["status"], "False");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_pipeline_step_skipped_answers_with_the_first_steps_outputs() {
    let p = Platform::start(Faults::defect(Defect::PipelineStepSkipped));
    team(&p, NS, "mlserver").await;
    models(&p);
    p.create("Pipeline", pipeline());
    let o = pipeline_with(&p, "Ready", "True").await;
    assert!(
        is_true(&o, "ModelsReady"),
        "the status is not what the defect breaks"
    );
    let (status, body, _) = ask(&p, "credit-decision.pipeline").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"][0]["name"], "default_probability", "{body}");
}
