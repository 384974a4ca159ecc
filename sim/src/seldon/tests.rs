use serde_json::json;

use super::merge_pod_spec;

#[test]
fn pod_spec_override_merges_containers_by_name_and_appends_lists() {
    let base = json!({"containers": [
        {"name": "scheduler", "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "1Gi"}}, "env": [{"name": "A", "value": "1"}]},
    ], "serviceAccountName": "x"});
    let over = json!({"containers": [
        {"name": "scheduler", "resources": {"limits": {"cpu": "200m"}}, "env": [{"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "busybox"},
    ], "serviceAccountName": ""});
    let merged = merge_pod_spec(&base, &over);
    let s = &merged["containers"][0];
    assert_eq!(
        s["resources"],
        json!({"limits": {"memory": "1Gi", "cpu": "200m"}, "requests": {"cpu": "100m", "memory": "1Gi"}})
    );
    assert_eq!(s["env"].as_array().unwrap().len(), 2);
    assert_eq!(merged["containers"][1]["name"], "sidecar");
    assert_eq!(
        merged["serviceAccountName"], "x",
        "an empty override value does not replace"
    );
    assert_eq!(merge_pod_spec(&base, &serde_json::Value::Null), base);
}
