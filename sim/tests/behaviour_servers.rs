//! Server readiness as the operator's Server StatefulSet reconciler judges it
//! (docs/seldon-behaviour.md §14): ready replicas against `spec.replicas`.

mod behaviour_support;

use behaviour_support::*;
use serde_json::json;
use sim::faults::Faults;

const NS: &str = "team-s";

#[tokio::test]
async fn a_server_whose_pods_are_all_rejected_is_not_ready() {
    let p = Platform::start(Faults::default());
    p.namespace(NS);
    // Admits no pod at all: the StatefulSet has status.replicas 0 and readyReplicas 0.
    p.create(
        "ResourceQuota",
        json!({"metadata": {"name": "no-pods", "namespace": NS}, "spec": {"hard": {"pods": "0"}}}),
    );
    p.create(
        "Server",
        json!({"metadata": {"name": "mlserver", "namespace": NS}, "spec": {"serverConfig": "mlserver", "replicas": 2}}),
    );
    p.event(NS, |m| m.contains("forbidden")).await;
    let server = p
        .wait("the Server's conditions", |p| {
            p.get("Server", NS, "mlserver")
                .filter(|s| condition(s, "StatefulSetOrDeploymentReady").is_some())
        })
        .await;
    let sts = p.get("StatefulSet", NS, "mlserver").unwrap();
    assert_eq!(sts["status"]["readyReplicas"].as_i64().unwrap_or(0), 0);
    let c = condition(&server, "StatefulSetOrDeploymentReady").unwrap();
    assert_eq!(c["status"], "False", "0 ready of 2 desired: {c}");
    assert_eq!(condition(&server, "Ready").unwrap()["status"], "False");
}

#[tokio::test]
async fn a_server_with_all_desired_pods_ready_is_ready() {
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    p.wait("Server Ready", |p| {
        p.get("Server", NS, "mlserver")
            .filter(|s| is_true(s, "Ready"))
    })
    .await;
}
