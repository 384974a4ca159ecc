use serde_json::{Value, json};

use super::*;
use crate::store::Store;

fn store(faults: &Faults) -> Store {
    let s = Store::new(chain(faults));
    s.create(res("Namespace"), json!({"metadata": {"name": "team"}}))
        .unwrap();
    s
}

fn pod(name: &str, containers: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "team"}, "spec": {"containers": containers}})
}

fn quota(s: &Store, hard: Value) {
    s.create(res("ResourceQuota"), json!({"metadata": {"name": "financial-ml-quota", "namespace": "team"}, "spec": {"hard": hard}}))
        .unwrap();
}

#[test]
fn namespace_lifecycle_rejects_missing_and_terminating_namespaces() {
    let s = store(&Faults::default());
    let err = s
        .create(
            res("ConfigMap"),
            json!({"metadata": {"name": "c", "namespace": "nope"}}),
        )
        .unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );
    s.create(
        res("Namespace"),
        json!({"metadata": {"name": "going", "finalizers": ["kubernetes"]}}),
    )
    .unwrap();
    s.delete(res("Namespace"), None, "going").unwrap();
    let err = s
        .create(
            res("Model"),
            json!({"metadata": {"name": "m", "namespace": "going"}}),
        )
        .unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "models.mlops.seldon.io \"m\" is forbidden: unable to create new content in namespace going because it is being terminated"
    );
    let ns = s.get(res("Namespace"), None, "team").unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
}

#[test]
fn quota_requires_limits_per_container_with_kubernetes_wording() {
    let s = store(&Faults::default());
    quota(
        &s,
        json!({"limits.cpu": "4", "limits.memory": "8Gi", "requests.cpu": "2"}),
    );
    let p = pod(
        "seldon-scheduler-0",
        json!([{"name": "scheduler", "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "1Gi"}}}]),
    );
    let err = s.create(res("Pod"), p).unwrap_err();
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "pods \"seldon-scheduler-0\" is forbidden: failed quota: financial-ml-quota: must specify limits.cpu for: scheduler"
    );
    let p = pod(
        "two",
        json!([{"name": "b"}, {"name": "a", "resources": {"requests": {"cpu": "1"}}}]),
    );
    let err = s.create(res("Pod"), p).unwrap_err();
    assert_eq!(
        err.message,
        "pods \"two\" is forbidden: failed quota: financial-ml-quota: must specify limits.cpu for: a,b; limits.memory for: a,b; requests.cpu for: b"
    );
}

#[test]
fn quota_usage_over_hard_is_rejected_in_kubernetes_format() {
    let s = store(&Faults::default());
    quota(&s, json!({"limits.cpu": "2", "pods": "5"}));
    let one = |n: &str, cpu: &str| {
        pod(
            n,
            json!([{"name": "c", "resources": {"limits": {"cpu": cpu}}}]),
        )
    };
    s.create(res("Pod"), one("a", "1")).unwrap();
    let err = s.create(res("Pod"), one("b", "2")).unwrap_err();
    assert_eq!(
        err.message,
        "pods \"b\" is forbidden: exceeded quota: financial-ml-quota, requested: limits.cpu=2, used: limits.cpu=1, limited: limits.cpu=2"
    );
    s.create(res("Pod"), one("c", "500m")).unwrap();
    // Limits imply requests (pod defaulting).
    let c = s.get(res("Pod"), Some("team"), "c").unwrap();
    assert_eq!(
        c["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "500m"
    );
}

#[test]
fn pod_count_quota() {
    let s = store(&Faults::default());
    quota(&s, json!({"pods": "1"}));
    s.create(res("Pod"), pod("a", json!([{"name": "c"}])))
        .unwrap();
    let err = s
        .create(res("Pod"), pod("b", json!([{"name": "c"}])))
        .unwrap_err();
    assert_eq!(
        err.message,
        "pods \"b\" is forbidden: exceeded quota: financial-ml-quota, requested: pods=1, used: pods=1, limited: pods=1"
    );
}

#[test]
fn quota_not_enforced_defect_admits_everything() {
    let s = store(&Faults::defect(Defect::QuotaNotEnforced));
    quota(&s, json!({"limits.cpu": "1"}));
    s.create(res("Pod"), pod("a", json!([{"name": "c"}])))
        .unwrap();
}

#[test]
fn limit_range_defaults_satisfy_quota_unless_ignored() {
    for (faults, admitted) in [
        (Faults::default(), true),
        (Faults::defect(Defect::LimitRangeIgnored), false),
    ] {
        let s = store(&faults);
        quota(&s, json!({"limits.cpu": "4"}));
        s.create(
            res("LimitRange"),
            json!({"metadata": {"name": "lr", "namespace": "team"}, "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}}),
        )
        .unwrap();
        let got = s.create(res("Pod"), pod("p", json!([{"name": "c"}])));
        assert_eq!(got.is_ok(), admitted, "{got:?}");
        if let Ok(p) = got {
            let r = &p["spec"]["containers"][0]["resources"];
            assert_eq!(
                (r["limits"]["cpu"].as_str(), r["requests"]["cpu"].as_str()),
                (Some("500m"), Some("500m"))
            );
        }
    }
}

#[test]
fn secret_package_objects_are_dropped_only_with_the_defect() {
    let secret = json!({"metadata": {"name": "s", "namespace": "team", "labels": {SECRET_PACKAGE_LABEL: "pkg"}}, "stringData": {"k": "v"}});
    let s = store(&Faults::default());
    let stored = s.create(res("Secret"), secret.clone()).unwrap();
    assert_eq!(stored["data"]["k"], "dg==");
    assert!(stored.get("stringData").is_none());
    let s = store(&Faults::defect(Defect::SecretPackageObjectsDropped));
    let err = s.create(res("Secret"), secret).unwrap_err();
    assert!(dropped_object(&err).is_some());
    assert!(s.get(res("Secret"), Some("team"), "s").is_none());
}

#[test]
fn base64_round_trips() {
    for s in ["", "a", "ab", "abc", "type: s3\nname: s3\n"] {
        assert_eq!(
            base64_decode(&base64_encode(s.as_bytes())).unwrap(),
            s.as_bytes()
        );
    }
}

// Issue 13: what a real kube-apiserver 1.20.2 answered (docs/real-apiserver-facts.md); the
// differential tests compare the same requests with a real server when one is configured.

#[test]
fn a_new_namespace_has_a_default_service_account_and_pods_run_as_it() {
    let s = store(&Faults::default());
    assert!(
        s.get(res("ServiceAccount"), Some("team"), "default")
            .is_some()
    );
    let p = s
        .create(res("Pod"), pod("p", json!([{"name": "c", "image": "x"}])))
        .unwrap();
    assert_eq!(p["spec"]["serviceAccountName"], "default");
}

#[test]
fn a_pod_naming_a_missing_service_account_is_forbidden() {
    let s = store(&Faults::default());
    let mut p = pod("nosa", json!([{"name": "c", "image": "x"}]));
    p["spec"]["serviceAccountName"] = json!("missing");
    let err = s.create(res("Pod"), p).unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            403,
            "pods \"nosa\" is forbidden: error looking up service account team/missing: serviceaccount \"missing\" not found"
        )
    );
}

#[test]
fn limitrange_max_and_min_are_enforced() {
    let s = store(&Faults::default());
    s.create(res("LimitRange"), json!({"metadata": {"name": "lr", "namespace": "team"},
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "64Mi"}}]}}))
        .unwrap();
    let c = |limits: Value, requests: Value| json!([{"name": "c", "image": "x", "resources": {"limits": limits, "requests": requests}}]);
    let err = s
        .create(
            res("Pod"),
            pod("toobig", c(json!({"cpu": "2"}), json!({"memory": "64Mi"}))),
        )
        .unwrap_err();
    assert_eq!(
        err.message,
        "pods \"toobig\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
    );
    let err = s
        .create(
            res("Pod"),
            pod("small", c(json!({}), json!({"memory": "1Mi"}))),
        )
        .unwrap_err();
    assert_eq!(
        err.message,
        "pods \"small\" is forbidden: minimum memory usage per Container is 64Mi, but request is 1Mi"
    );
    // `default` falls back to `max`, so a pod without limits gets cpu: 1 and fits.
    s.create(
        res("Pod"),
        pod("fits", c(json!({}), json!({"memory": "64Mi"}))),
    )
    .unwrap();
    let limited = Store::new(chain(&Faults::defect(Defect::LimitRangeIgnored)));
    limited
        .create(res("Namespace"), json!({"metadata": {"name": "team"}}))
        .unwrap();
    limited
        .create(
            res("LimitRange"),
            json!({"metadata": {"name": "lr", "namespace": "team"},
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}}),
        )
        .unwrap();
    limited
        .create(res("Pod"), pod("toobig", c(json!({"cpu": "2"}), json!({}))))
        .unwrap();
}

#[test]
fn invalid_built_in_objects_are_422_and_bad_base64_is_400() {
    let s = store(&Faults::default());
    let err = s
        .create(
            res("Role"),
            json!({"metadata": {"name": "noverbs", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []}]}),
        )
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "Role.rbac.authorization.k8s.io \"noverbs\" is invalid: rules[0].verbs: Required value: verbs must contain at least one value"
    );
    assert_eq!(
        err.details.unwrap()["causes"][0]["reason"],
        "FieldValueRequired"
    );
    let err = s
        .create(
            res("NetworkPolicy"),
            json!({"metadata": {"name": "np", "namespace": "team"},
            "spec": {"podSelector": {"matchLabels": {"team": "data science"}},
                     "ingress": [{"ports": [{"protocol": "tcp", "port": 80}, {"port": 70000}]}]}}),
        )
        .unwrap_err();
    assert_eq!(err.code, 422);
    let causes: Vec<String> = err.details.unwrap()["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        causes,
        [
            "spec.podSelector.matchLabels",
            "spec.ingress[0].ports[0].protocol",
            "spec.ingress[0].ports[1].port"
        ]
    );
    let err = s
        .create(
            res("Secret"),
            json!({"metadata": {"name": "b", "namespace": "team"}, "data": {"k": "not base64!"}}),
        )
        .unwrap_err();
    assert_eq!(err.code, 400);
    assert!(
        err.message
            .ends_with("decode base64: illegal base64 data at input byte 3"),
        "{}",
        err.message
    );
    // Updates are validated too.
    let cm = s
        .create(
            res("ConfigMap"),
            json!({"metadata": {"name": "c", "namespace": "team"}}),
        )
        .unwrap();
    let mut bad = cm.clone();
    bad["metadata"]["labels"] = json!({"team": "data science"});
    assert_eq!(s.update(res("ConfigMap"), bad).unwrap_err().code, 422);
}
