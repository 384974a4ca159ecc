//! Each control-plane defect changes the outcome a check relies on.

mod behaviour_support;

use behaviour_support::*;
use serde_json::json;
use sim::controllers::LOG_ANNOTATION;
use sim::faults::{Defect, Faults};

const NS: &str = "financial-ml";
// gs: the remote every agent preloads (seldon-rclone-gs-public); s3 needs a Secret (storage tests).
const URI: &str = "gs://models/credit-risk";

#[tokio::test]
async fn runtime_never_ready_defect_keeps_components_unready() {
    let p = Platform::start(Faults::defect(Defect::RuntimeNeverReady));
    p.namespace(NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    let name = format!("{NS}-runtime");
    let rt = p
        .wait("runtime conditions with created pods", |p| {
            p.get("SeldonRuntime", NS, &name)
                .filter(|r| condition(r, "SchedulerReady").is_some_and(|c| c["status"] == "False"))
        })
        .await;
    assert_eq!(condition(&rt, "Ready").unwrap()["status"], "False");
    let pod = p
        .wait("scheduler pod running", |p| {
            p.get("Pod", NS, "seldon-scheduler-0")
                .filter(|p| p["status"]["phase"] == "Running")
        })
        .await;
    assert_eq!(condition(&pod, "Ready").unwrap()["status"], "False");
    // Without a ready scheduler nothing schedules.
    p.create("Model", model(NS, "m", URI, json!({})));
    assert_eq!(
        model_ready(&p, NS, "m", "False").await["message"],
        "ModelProgressing"
    );
}

/// Without `seldonruntimes/status` the runtime's conditions never appear, yet its components run
/// and its Models are served: only what reads the runtime's conditions notices.
#[tokio::test]
async fn runtime_status_not_written_leaves_conditions_out_but_serves() {
    let p = Platform::start(Faults::defect(Defect::RuntimeStatusNotWritten));
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    p.create("Model", model(NS, "m", URI, json!({})));
    model_ready(&p, NS, "m", "True").await;
    let name = format!("{NS}-runtime");
    let rt = p.get("SeldonRuntime", NS, &name).unwrap();
    assert!(rt["status"]["conditions"].is_null(), "{}", rt["status"]);
    let scheduler = p.get("Pod", NS, "seldon-scheduler-0").unwrap();
    assert_eq!(condition(&scheduler, "Ready").unwrap()["status"], "True");
}

#[tokio::test]
async fn healthy_runtime_is_ready() {
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    let name = format!("{NS}-runtime");
    let rt = p
        .wait("runtime Ready", |p| {
            p.get("SeldonRuntime", NS, &name)
                .filter(|r| is_true(r, "Ready"))
        })
        .await;
    for c in [
        "SchedulerReady",
        "EnvoyReady",
        "ModelGatewayReady",
        "PipelineGatewayReady",
        "DataflowEngineReady",
        "HodometerReady",
    ] {
        assert!(is_true(&rt, c), "{c}");
    }
    let mesh = p.get("Service", NS, "seldon-mesh").unwrap();
    assert_eq!(mesh["spec"]["ports"][0]["port"], 80);
    assert_eq!(mesh["spec"]["ports"][0]["targetPort"], "http");
    // The seed's override for seldon-envoy has no serviceType: the operator then uses "" (ClusterIP).
    assert_eq!(mesh["spec"]["type"], "ClusterIP");
    let sched = p.get("Service", NS, "seldon-scheduler").unwrap();
    let ports: Vec<i64> = sched["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert!([9002, 9004, 9005, 9008].iter().all(|x| ports.contains(x)));
    let agent = p.get("ConfigMap", NS, "seldon-agent").unwrap();
    assert!(
        agent["data"]["agent.json"]
            .as_str()
            .unwrap()
            .contains("seldon-rclone-gs-public")
    );
}

#[tokio::test]
async fn server_capabilities_missing_defect_breaks_requirement_matching() {
    for (faults, expect) in [
        (Faults::default(), "True"),
        (Faults::defect(Defect::ServerCapabilitiesMissing), "False"),
    ] {
        let p = Platform::start(faults);
        team(&p, NS, "mlserver").await;
        artifact(&p, URI);
        p.create(
            "Model",
            model(NS, "m", URI, json!({"requirements": ["sklearn"]})),
        );
        model_ready(&p, NS, "m", expect).await;
    }
}

#[tokio::test]
async fn server_capabilities_can_be_replaced_or_extended() {
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    p.create("Server", json!({"metadata": {"name": "custom", "namespace": NS}, "spec": {"serverConfig": "mlserver", "capabilities": ["custom-only"]}}));
    p.create("Server", json!({"metadata": {"name": "extra", "namespace": NS}, "spec": {"serverConfig": "mlserver", "extraCapabilities": ["pytorch-lite"]}}));
    artifact(&p, URI);
    p.create(
        "Model",
        model(NS, "a", URI, json!({"requirements": ["custom-only"]})),
    );
    p.create(
        "Model",
        model(
            NS,
            "b",
            URI,
            json!({"requirements": ["sklearn", "pytorch-lite"]}),
        ),
    );
    p.create(
        "Model",
        model(
            NS,
            "c",
            URI,
            json!({"requirements": ["sklearn"], "server": "custom"}),
        ),
    );
    assert_eq!(
        model_ready(&p, NS, "a", "True").await["message"],
        "ModelAvailable"
    );
    assert_eq!(
        p.get("Model", NS, "a").unwrap()["status"]["selector"],
        "server=custom"
    );
    model_ready(&p, NS, "b", "True").await;
    assert_eq!(
        p.get("Model", NS, "b").unwrap()["status"]["selector"],
        "server=extra"
    );
    model_ready(&p, NS, "c", "False").await;
}

#[tokio::test]
async fn model_never_ready_defect_stays_progressing() {
    let p = Platform::start(Faults::defect(Defect::ModelNeverReady));
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    p.create("Model", model(NS, "m", URI, json!({})));
    let c = model_ready(&p, NS, "m", "False").await;
    assert_eq!(c["message"], "ModelProgressing");
}

async fn probe_under_deny_all(faults: Faults) -> (String, String) {
    let p = Platform::start(faults);
    p.namespace("a");
    p.namespace("b");
    p.create("Pod", json!({"metadata": {"name": "web", "namespace": "a", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}));
    let ip = p
        .wait("web pod IP", |p| {
            p.get("Pod", "a", "web")
                .and_then(|w| w["status"]["podIP"].as_str().map(str::to_string))
        })
        .await;
    p.create("NetworkPolicy", json!({"metadata": {"name": "deny-all", "namespace": "a"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}));
    let spec = sim::network::probe::ProbeSpec {
        namespace: "b".into(),
        name: "probe".into(),
        host: ip,
        port: 80,
        timeout_secs: 2,
        labels: Default::default(),
    };
    let probe = serde_json::to_value(sim::network::probe_pod(&spec)).unwrap();
    p.create("Pod", probe);
    let done = p
        .wait("probe finished", |p| {
            p.get("Pod", "b", "probe")
                .filter(|p| matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        })
        .await;
    (
        done["status"]["phase"].as_str().unwrap().to_string(),
        done["metadata"]["annotations"][LOG_ANNOTATION]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test]
async fn probes_follow_network_policy_unless_ignored() {
    let (phase, log) = probe_under_deny_all(Faults::default()).await;
    assert_eq!(phase, "Failed");
    assert!(log.contains("timed out"), "{log}");
    let (phase, _) = probe_under_deny_all(Faults::defect(Defect::NetworkPolicyIgnored)).await;
    assert_eq!(phase, "Succeeded");
}
