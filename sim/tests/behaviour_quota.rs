//! Seed challenge "ResourceQuota CPU Limits": a default SeldonRuntime under a quota on `limits.cpu`.

mod behaviour_support;

use behaviour_support::*;
use serde_json::json;
use sim::faults::{Defect, Faults};

const NS: &str = "financial-ml";

fn quota(p: &Platform) {
    p.create("ResourceQuota", json!({"metadata": {"name": "financial-ml-quota", "namespace": NS}, "spec": {"hard": {"limits.cpu": "8", "pods": "20"}}}));
}

#[tokio::test]
async fn default_runtime_under_cpu_limit_quota_reports_the_kubernetes_events() {
    let p = Platform::start(Faults::default());
    p.namespace(NS);
    quota(&p);
    p.create("SeldonRuntime", seed_runtime(NS));
    let sts_event = p
        .event(NS, |m| {
            m.starts_with(
                "create Pod seldon-scheduler-0 in StatefulSet seldon-scheduler failed error:",
            )
        })
        .await;
    assert_eq!(
        sts_event["message"],
        "create Pod seldon-scheduler-0 in StatefulSet seldon-scheduler failed error: pods \"seldon-scheduler-0\" is forbidden: failed quota: financial-ml-quota: must specify limits.cpu for: scheduler"
    );
    assert_eq!(
        (sts_event["type"].as_str(), sts_event["reason"].as_str()),
        (Some("Warning"), Some("FailedCreate"))
    );
    assert_eq!(sts_event["involvedObject"]["kind"], "StatefulSet");
    assert!(sts_event["firstTimestamp"].is_string() && sts_event["count"].as_i64() >= Some(1));
    let rs_event = p
        .event(NS, |m| {
            m.starts_with("Error creating: pods \"seldon-envoy-")
        })
        .await;
    let msg = rs_event["message"].as_str().unwrap();
    assert!(
        msg.ends_with(
            "is forbidden: failed quota: financial-ml-quota: must specify limits.cpu for: envoy"
        ),
        "{msg}"
    );
    assert_eq!(rs_event["involvedObject"]["kind"], "ReplicaSet");
    let envoy = p.get("Deployment", NS, "seldon-envoy").unwrap();
    let failure = condition(&envoy, "ReplicaFailure").expect("ReplicaFailure condition");
    assert_eq!(failure["reason"], "FailedCreate");
    assert!(p.list("Pod", NS).is_empty(), "no pod may be admitted");
    // Seldon's component reconcilers compare readyReplicas with status.replicas (0 >= 0), so the
    // runtime reports Ready although no pod exists: only the workloads tell the truth.
    let rt = p
        .wait("runtime Ready despite rejected pods", |p| {
            p.get("SeldonRuntime", NS, &format!("{NS}-runtime"))
                .filter(|r| is_true(r, "Ready"))
        })
        .await;
    assert!(is_true(&rt, "SchedulerReady"));
    let q = p.get("ResourceQuota", NS, "financial-ml-quota").unwrap();
    assert_eq!(q["status"]["used"]["limits.cpu"], "0");
}

#[tokio::test]
async fn cpu_limits_in_override_pod_specs_let_the_runtime_come_up() {
    let p = Platform::start(Faults::default());
    p.namespace(NS);
    quota(&p);
    let mut runtime = seed_runtime(NS);
    p.create("SeldonRuntime", runtime.clone());
    p.event(NS, |m| m.contains("must specify limits.cpu for: scheduler"))
        .await;
    // The documented fix (docs/seldon-behaviour.md §2): overrides[].podSpec.containers[].resources.limits.cpu.
    let containers = [
        ("hodometer", "hodometer"),
        ("seldon-scheduler", "scheduler"),
        ("seldon-envoy", "envoy"),
        ("seldon-dataflow-engine", "dataflow-engine"),
        ("seldon-modelgateway", "modelgateway"),
        ("seldon-pipelinegateway", "pipelinegateway"),
    ];
    for o in runtime["spec"]["overrides"].as_array_mut().unwrap() {
        if let Some((_, c)) = containers.iter().find(|(n, _)| o["name"] == *n) {
            o["podSpec"] =
                json!({"containers": [{"name": c, "resources": {"limits": {"cpu": "200m"}}}]});
        }
    }
    let mut stored = p
        .get("SeldonRuntime", NS, &format!("{NS}-runtime"))
        .unwrap();
    stored["spec"] = runtime["spec"].clone();
    p.store.update(rt("SeldonRuntime"), stored).unwrap();
    p.runtime_pods_ready(NS).await;
    let pod = p.get("Pod", NS, "seldon-scheduler-0").unwrap();
    let r = &pod["spec"]["containers"][0]["resources"];
    assert_eq!(
        (r["limits"]["cpu"].as_str(), r["limits"]["memory"].as_str()),
        (Some("200m"), Some("1Gi"))
    );
    let q = p
        .wait("quota usage", |p| {
            p.get("ResourceQuota", NS, "financial-ml-quota")
                .filter(|q| q["status"]["used"]["limits.cpu"] == "1200m")
        })
        .await;
    assert_eq!(q["status"]["used"]["pods"], "6");
    let rt_obj = p
        .get("SeldonRuntime", NS, &format!("{NS}-runtime"))
        .unwrap();
    assert_eq!(
        rt_obj["status"]["observedGeneration"],
        rt_obj["metadata"]["generation"]
    );
    let envoy = p
        .wait("envoy Available", |p| {
            p.get("Deployment", NS, "seldon-envoy")
                .filter(|d| is_true(d, "Available") && condition(d, "ReplicaFailure").is_none())
        })
        .await;
    assert_eq!(envoy["status"]["availableReplicas"], 1);
}

#[tokio::test]
async fn a_limit_range_added_later_lets_rejected_pods_come_up() {
    let p = Platform::start(Faults::default());
    p.namespace(NS);
    quota(&p);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.event(NS, |m| m.contains("must specify limits.cpu for: scheduler"))
        .await;
    p.create(
        "LimitRange",
        json!({"metadata": {"name": "defaults", "namespace": NS}, "spec": {"limits": [{"type": "Container", "default": {"cpu": "250m"}, "defaultRequest": {"cpu": "100m"}}]}}),
    );
    p.runtime_pods_ready(NS).await;
    let pod = p.get("Pod", NS, "seldon-scheduler-0").unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "250m"
    );
    assert!(
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"]
            .as_str()
            .unwrap()
            .contains("cpu limit for container scheduler")
    );
}

#[tokio::test]
async fn limit_range_ignored_defect_keeps_pods_rejected() {
    let p = Platform::start(Faults::defect(Defect::LimitRangeIgnored));
    p.namespace(NS);
    quota(&p);
    p.create("LimitRange", json!({"metadata": {"name": "defaults", "namespace": NS}, "spec": {"limits": [{"type": "Container", "default": {"cpu": "250m"}}]}}));
    p.create("SeldonRuntime", seed_runtime(NS));
    p.event(NS, |m| m.contains("must specify limits.cpu for: scheduler"))
        .await;
    assert!(p.get("Pod", NS, "seldon-scheduler-0").is_none());
}

#[tokio::test]
async fn quota_not_enforced_defect_admits_pods_without_limits() {
    let p = Platform::start(Faults::defect(Defect::QuotaNotEnforced));
    p.namespace(NS);
    quota(&p);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.runtime_pods_ready(NS).await;
    assert!(
        !p.list("Event", NS)
            .iter()
            .any(|e| e["reason"] == "FailedCreate")
    );
}

#[tokio::test]
async fn podspec_overrides_ignored_defect_drops_override_resources() {
    let p = Platform::start(Faults::defect(Defect::PodSpecOverridesIgnored));
    p.namespace(NS);
    let mut runtime = seed_runtime(NS);
    for o in runtime["spec"]["overrides"].as_array_mut().unwrap() {
        if o["name"] == "seldon-scheduler" {
            o["podSpec"] = json!({"containers": [{"name": "scheduler", "resources": {"limits": {"cpu": "200m"}}}]});
        }
    }
    p.create("SeldonRuntime", runtime);
    let sts = p
        .wait("the scheduler StatefulSet", |p| {
            p.get("StatefulSet", NS, "seldon-scheduler")
        })
        .await;
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "scheduler");
    assert!(
        c["resources"]["limits"]["cpu"].is_null(),
        "the override's CPU limit must not reach the component: {c}"
    );
}
