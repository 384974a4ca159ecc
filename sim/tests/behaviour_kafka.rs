//! Kafka as a platform fact (docs/seldon-behaviour.md §14): the runtime's Kafka components crash-loop
//! without a reachable broker, disabled components get no workload and no condition.

mod behaviour_support;

use behaviour_support::*;
use serde_json::{Value, json};
use sim::faults::{Defect, Faults};
use sim::seldon::{InstallOptions, KAFKA_COMPONENTS, Kafka};

const NS: &str = "team-k";

fn no_kafka() -> InstallOptions {
    InstallOptions::default()
}

/// The pod of a component Deployment, once it has a status.
async fn component_pod(p: &Platform, component: &str) -> Value {
    p.wait(&format!("a started {component} pod"), |p| {
        p.list("Pod", NS).into_iter().find(|pod| {
            pod["metadata"]["labels"]["app.kubernetes.io/name"] == component
                && pod["status"]["phase"] == "Running"
        })
    })
    .await
}

fn crash_looping(pod: &Value) -> bool {
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
}

#[tokio::test]
async fn without_kafka_the_kafka_components_crash_loop_and_the_runtime_names_them() {
    let p = Platform::start_with(Faults::default(), no_kafka());
    p.namespace(NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    for c in KAFKA_COMPONENTS {
        let pod = component_pod(&p, c).await;
        assert!(crash_looping(&pod), "{c}: {pod}");
        let cs = &pod["status"]["containerStatuses"][0];
        assert!(
            cs["restartCount"].as_i64().unwrap() >= 1,
            "{c}: restarts counted"
        );
        assert_eq!(cs["ready"], false);
        let why = cs["lastState"]["terminated"]["message"].as_str().unwrap();
        assert!(
            why.contains("seldon-kafka-bootstrap.seldon-mesh:9092"),
            "{c}: the failure names the bootstrap server: {why}"
        );
        assert_eq!(
            condition(&pod, "Ready").unwrap()["reason"],
            "ContainersNotReady"
        );
    }
    // The scheduler, envoy and hodometer need no Kafka.
    for c in ["seldon-envoy", "hodometer"] {
        assert!(!crash_looping(&component_pod(&p, c).await), "{c}");
    }
    let rt = p
        .wait("the runtime's DataflowEngineReady False", |p| {
            p.get("SeldonRuntime", NS, &format!("{NS}-runtime"))
                .filter(|r| {
                    condition(r, "DataflowEngineReady").is_some_and(|c| c["status"] == "False")
                })
        })
        .await;
    assert!(is_true(&rt, "SchedulerReady"));
    assert!(is_true(&rt, "EnvoyReady"));
    let ready = condition(&rt, "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert!(
        ready["reason"]
            .as_str()
            .unwrap()
            .contains("DataflowEngineReady"),
        "{ready}"
    );
}

#[tokio::test]
async fn disabled_components_get_no_workload_and_no_condition() {
    let p = Platform::start_with(Faults::default(), no_kafka());
    p.namespace(NS);
    let mut rt = seed_runtime(NS);
    for o in rt["spec"]["overrides"].as_array_mut().unwrap() {
        if KAFKA_COMPONENTS.contains(&o["name"].as_str().unwrap()) {
            o["disable"] = json!(true);
        }
    }
    p.create("SeldonRuntime", rt);
    let rt = p
        .wait("the enabled components Ready", |p| {
            p.get("SeldonRuntime", NS, &format!("{NS}-runtime"))
                .filter(|r| {
                    ["SchedulerReady", "EnvoyReady", "HodometerReady"]
                        .iter()
                        .all(|c| is_true(r, c))
                })
        })
        .await;
    for c in KAFKA_COMPONENTS {
        assert!(p.get("Deployment", NS, c).is_none(), "{c} has no workload");
    }
    for c in [
        "ModelGatewayReady",
        "PipelineGatewayReady",
        "DataflowEngineReady",
    ] {
        assert!(condition(&rt, c).is_none(), "{c} is never set");
    }
    // The aggregate depends on every component's condition: with one never set it is never True.
    let ready = condition(&rt, "Ready").unwrap();
    assert_eq!(ready["status"], "Unknown", "{ready}");
    assert!(p.get("Service", NS, "seldon-pipelinegateway").is_none());
}

#[tokio::test]
async fn an_external_kafka_lets_the_components_run() {
    let opts = InstallOptions {
        kafka: Kafka::External("kafka.example.internal:9092".into()),
        ..InstallOptions::default()
    };
    let p = Platform::start_with(Faults::default(), opts);
    let sc = p.get("SeldonConfig", "seldon-mesh", "default").unwrap();
    assert_eq!(
        sc["spec"]["config"]["kafkaConfig"]["bootstrap.servers"],
        "kafka.example.internal:9092"
    );
    p.namespace(NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.runtime_pods_ready(NS).await;
}

#[tokio::test]
async fn installed_kafka_lets_the_components_run_and_losing_it_crashes_them() {
    let p = Platform::start(Faults::default());
    p.namespace(NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.runtime_pods_ready(NS).await;
    // The broker goes away: liveness fails and the components crash-loop.
    let sts = p.get("StatefulSet", "seldon-mesh", "seldon-kafka").unwrap();
    let mut scaled = sts.clone();
    scaled["spec"]["replicas"] = json!(0);
    p.store.update(rt("StatefulSet"), scaled).unwrap();
    p.wait("the dataflow engine crash-looping", |p| {
        p.list("Pod", NS).into_iter().find(|pod| {
            pod["metadata"]["labels"]["app.kubernetes.io/name"] == "seldon-dataflow-engine"
                && crash_looping(pod)
        })
    })
    .await;
}

#[tokio::test]
async fn defect_kafka_components_ready_without_kafka() {
    let p = Platform::start_with(
        Faults::defect(Defect::KafkaComponentsReadyWithoutKafka),
        no_kafka(),
    );
    p.namespace(NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.runtime_pods_ready(NS).await;
}
