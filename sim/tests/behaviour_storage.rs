//! Claims and the scheduler (issue 13): what the real control plane in CI cannot show, having no
//! scheduler or kubelet. Upstream: kubernetes `pkg/scheduler/framework/plugins/volumebinding`
//! (`pod has unbound immediate PersistentVolumeClaims`, as a v1.33 scheduler words the whole
//! message), `pkg/controller/volume/persistentvolume/pv_controller.go` (`FailedBinding`,
//! `WaitForFirstConsumer`), kind's default StorageClass `standard` (local-path-provisioner,
//! `WaitForFirstConsumer`). The PV controller's no-class event is also compared with a real
//! 1.20.2 controller-manager in `differential_workloads.rs`.

mod behaviour_support;

use behaviour_support::{Platform, with_kafka};
use serde_json::{Value, json};
use sim::faults::Faults;

const UNBOUND: &str = "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";

fn scheduled_condition(pod: &Value) -> Option<Value> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .cloned()
}

fn event(p: &Platform, ns: &str, reason: &str) -> Option<Value> {
    p.list("Event", ns)
        .into_iter()
        .find(|e| e["reason"] == reason)
}

fn statefulset(name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "st"}, "spec": {"serviceName": name, "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1",
                                     "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
}

#[tokio::test]
async fn without_a_storage_class_a_claim_stays_pending_and_its_pod_unschedulable() {
    let p = Platform::start_storage(Faults::default(), with_kafka(), false);
    p.namespace("st");
    p.create("StatefulSet", statefulset("db"));
    let pod = p
        .wait("pod db-0 marked unschedulable", |p| {
            p.get("Pod", "st", "db-0")
                .filter(|pod| scheduled_condition(pod).is_some())
        })
        .await;
    let cond = scheduled_condition(&pod).unwrap();
    assert_eq!(
        (&cond["status"], &cond["reason"], cond["message"].as_str()),
        (&json!("False"), &json!("Unschedulable"), Some(UNBOUND))
    );
    assert_eq!(pod["status"]["phase"], "Pending");
    assert!(pod["status"]["podIP"].is_null(), "never started: {pod}");
    let ev = p
        .wait("FailedScheduling", |p| event(p, "st", "FailedScheduling"))
        .await;
    assert_eq!(
        (
            &ev["type"],
            ev["message"].as_str(),
            &ev["source"]["component"]
        ),
        (
            &json!("Warning"),
            Some(UNBOUND),
            &json!("default-scheduler")
        )
    );
    let pvc = p.get("PersistentVolumeClaim", "st", "data-db-0").unwrap();
    assert_eq!(pvc["status"]["phase"], "Pending");
    assert!(pvc["spec"]["storageClassName"].is_null(), "{pvc}");
    let ev = p
        .wait("FailedBinding", |p| event(p, "st", "FailedBinding"))
        .await;
    assert_eq!(
        ev["message"],
        "no persistent volumes available for this claim and no storage class is set"
    );
    assert!(p.get("Pod", "st", "db-1").is_none());
}

#[tokio::test]
async fn kinds_default_class_binds_a_claim_once_its_pod_is_scheduled() {
    let p = Platform::start_storage(Faults::default(), with_kafka(), true);
    p.namespace("st");
    p.create("StatefulSet", statefulset("db"));
    let pod = p
        .wait("pod db-0 running", |p| {
            p.get("Pod", "st", "db-0")
                .filter(|pod| pod["status"]["phase"] == "Running")
        })
        .await;
    assert!(scheduled_condition(&pod).is_some_and(|c| c["status"] == "True"));
    let pvc = p.get("PersistentVolumeClaim", "st", "data-db-0").unwrap();
    let uid = pvc["metadata"]["uid"].as_str().unwrap();
    assert_eq!(pvc["spec"]["storageClassName"], "standard", "defaulted");
    assert_eq!(pvc["status"]["phase"], "Bound");
    assert_eq!(pvc["spec"]["volumeName"], format!("pvc-{uid}"));
    assert_eq!(
        pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"],
        "kind-control-plane"
    );
    let pv = p
        .store
        .get(
            behaviour_support::rt("PersistentVolume"),
            None,
            &format!("pvc-{uid}"),
        )
        .expect("a provisioned PersistentVolume");
    assert_eq!(pv["spec"]["claimRef"]["name"], "data-db-0");
    assert_eq!(pv["status"]["phase"], "Bound");
    let waited = event(&p, "st", "WaitForFirstConsumer").expect("WaitForFirstConsumer event");
    assert_eq!(
        waited["message"],
        "waiting for first consumer to be created before binding"
    );
    assert!(event(&p, "st", "ProvisioningSucceeded").is_some());
    assert!(event(&p, "st", "FailedScheduling").is_none());
}

#[tokio::test]
async fn a_claim_naming_a_missing_class_is_not_provisioned() {
    let p = Platform::start_storage(Faults::default(), with_kafka(), true);
    p.namespace("st");
    p.create(
        "PersistentVolumeClaim",
        json!({"metadata": {"name": "fast", "namespace": "st"}, "spec": {"storageClassName": "fast",
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
    );
    let ev = p
        .wait("ProvisioningFailed", |p| {
            event(p, "st", "ProvisioningFailed")
        })
        .await;
    assert_eq!(
        (&ev["type"], ev["message"].as_str()),
        (
            &json!("Warning"),
            Some("storageclass.storage.k8s.io \"fast\" not found")
        )
    );
    assert_eq!(
        p.get("PersistentVolumeClaim", "st", "fast").unwrap()["status"]["phase"],
        "Pending"
    );
}

/// Seldon's scheduler StatefulSet carries a claim template (`scheduler-state`): on a cluster
/// without a default StorageClass its pod is never scheduled and the runtime never Ready; with
/// kind's default class it binds and the scheduler runs (docs/seldon-behaviour.md §16).
#[tokio::test]
async fn seldons_scheduler_needs_its_claim_bound() {
    for storage in [false, true] {
        let p = Platform::start_storage(Faults::default(), with_kafka(), storage);
        p.namespace("team");
        p.create(
            "SeldonRuntime",
            json!({"metadata": {"name": "rt", "namespace": "team"}, "spec": {"seldonConfig": "default"}}),
        );
        let pod = p
            .wait("the scheduler pod is decided", |p| {
                p.get("Pod", "team", "seldon-scheduler-0").filter(|pod| {
                    pod["status"]["phase"] == "Running" || scheduled_condition(pod).is_some()
                })
            })
            .await;
        let claim = p
            .get(
                "PersistentVolumeClaim",
                "team",
                "scheduler-state-seldon-scheduler-0",
            )
            .expect("the scheduler's claim");
        if storage {
            assert_eq!(pod["status"]["phase"], "Running", "{pod}");
            p.wait("claim bound", |p| {
                p.get(
                    "PersistentVolumeClaim",
                    "team",
                    "scheduler-state-seldon-scheduler-0",
                )
                .filter(|c| c["status"]["phase"] == "Bound")
            })
            .await;
        } else {
            assert_eq!(
                scheduled_condition(&pod).unwrap()["message"].as_str(),
                Some(UNBOUND)
            );
            assert_eq!(claim["status"]["phase"], "Pending");
            let rt = p.get("SeldonRuntime", "team", "rt").unwrap();
            let scheduler_ready = rt["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "SchedulerReady" && c["status"] == "True");
            assert!(!scheduler_ready, "{rt}");
        }
    }
}
