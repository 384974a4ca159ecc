//! Capacity, controller scope and load failures (docs/seldon-behaviour.md §21–§23): the scheduler's
//! two passes (desired replicas, then minReplicas), and the defects breaking memory accounting,
//! watchNamespaces and the report of a failed download.

mod behaviour_support;

use behaviour_support::*;
use serde_json::json;
use sim::faults::{Defect, Faults};
use sim::seldon::InstallOptions;

const URI: &str = "gs://models/credit-risk";

/// `scheduleToServer` tries every Server for the desired replicas before any for minReplicas:
/// a one-replica Server sorted first does not take a Model a two-replica Server can hold whole.
#[tokio::test]
async fn desired_replicas_on_any_server_come_before_min_replicas() {
    let p = Platform::start(Faults::default());
    artifact(&p, URI);
    team(&p, "cap", "mlserver").await;
    p.create("Server", json!({"metadata": {"name": "zz-two", "namespace": "cap"}, "spec": {"serverConfig": "mlserver", "replicas": 2}}));
    p.wait("zz-two's pods Ready", |p| {
        p.get("StatefulSet", "cap", "zz-two")
            .filter(|s| s["status"]["readyReplicas"] == 2)
    })
    .await;
    p.create(
        "Model",
        model(
            "cap",
            "whole",
            URI,
            json!({"replicas": 2, "minReplicas": 1}),
        ),
    );
    model_ready(&p, "cap", "whole", "True").await;
    let m = p.get("Model", "cap", "whole").unwrap();
    assert_eq!(m["status"]["selector"], "server=zz-two", "{m}");
    assert_eq!(m["status"]["availableReplicas"], 2);
    // Three wanted, at least one: Available on the two replicas there are (PR #6885).
    p.create(
        "Model",
        model(
            "cap",
            "partial",
            URI,
            json!({"replicas": 3, "minReplicas": 1, "server": "zz-two"}),
        ),
    );
    model_ready(&p, "cap", "partial", "True").await;
    let m = p.get("Model", "cap", "partial").unwrap();
    assert_eq!(
        (
            m["status"]["replicas"].clone(),
            m["status"]["availableReplicas"].clone()
        ),
        (json!(2), json!(2))
    );
    // Without minReplicas the same request is refused whole (#5124).
    p.create(
        "Model",
        model(
            "cap",
            "too-many",
            URI,
            json!({"replicas": 3, "server": "zz-two"}),
        ),
    );
    let c = model_ready(&p, "cap", "too-many", "False").await;
    assert_eq!(
        c["reason"],
        "Failed to schedule model as no matching server had enough suitable replicas"
    );
}

#[tokio::test]
async fn memory_not_accounted_places_a_model_no_replica_can_hold() {
    for (faults, ready) in [
        (Faults::default(), "False"),
        (Faults::defect(Defect::MemoryNotAccounted), "True"),
    ] {
        let p = Platform::start(faults);
        artifact(&p, URI);
        team(&p, "mem", "mlserver").await;
        p.create("Model", model("mem", "big", URI, json!({"memory": "2Gi"})));
        model_ready(&p, "mem", "big", ready).await;
    }
}

#[tokio::test]
async fn storage_errors_hidden_leaves_a_failed_download_progressing_without_reason() {
    for (faults, state, reason) in [
        (
            Faults::default(),
            "ModelFailed",
            "secrets \"absent\" not found",
        ),
        (
            Faults::defect(Defect::StorageErrorsHidden),
            "ModelProgressing",
            "",
        ),
    ] {
        let p = Platform::start(faults);
        artifact(&p, URI);
        team(&p, "st", "mlserver").await;
        p.create(
            "Model",
            model("st", "m", URI, json!({"secretName": "absent"})),
        );
        let c = p
            .wait("the load decided", |p| {
                let m = p.get("Model", "st", "m")?;
                condition(&m, "ModelReady").filter(|c| c["message"] == state)
            })
            .await;
        assert_eq!(c["reason"].as_str().unwrap_or_default(), reason);
    }
}

#[tokio::test]
async fn watch_namespaces_ignored_reconciles_every_namespace() {
    let opts = InstallOptions {
        watch_namespaces: vec!["team-a".into()],
        ..with_kafka()
    };
    let p = Platform::start_with(Faults::defect(Defect::WatchNamespacesIgnored), opts);
    team(&p, "team-a", "mlserver").await;
    p.namespace("team-b");
    p.create("SeldonRuntime", seed_runtime("team-b"));
    p.wait("team-b reconciled although unlisted", |p| {
        p.get("StatefulSet", "team-b", "seldon-scheduler")
    })
    .await;
}
