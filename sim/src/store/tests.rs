use serde_json::json;

use super::*;

fn rt(kind: &str) -> &'static ResourceType {
    RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}

#[test]
fn create_sets_metadata_and_conflicts_are_detected() {
    let s = Store::new(vec![]);
    let cm = s
        .create(
            rt("ConfigMap"),
            json!({"metadata": {"name": "a", "namespace": "n"}, "data": {"k": "v"}}),
        )
        .unwrap();
    assert_eq!(cm["metadata"]["generation"], 1);
    assert_eq!(cm["apiVersion"], "v1");
    let err = s.create(rt("ConfigMap"), cm.clone()).unwrap_err();
    assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
    let mut stale = cm.clone();
    stale["data"]["k"] = json!("w");
    let updated = s.update(rt("ConfigMap"), stale.clone()).unwrap();
    assert_eq!(updated["metadata"]["generation"], 2);
    let err = s.update(rt("ConfigMap"), stale).unwrap_err();
    assert_eq!(err.reason, "Conflict");
}

#[test]
fn no_op_update_keeps_resource_version() {
    let s = Store::new(vec![]);
    let cm = s
        .create(
            rt("ConfigMap"),
            json!({"metadata": {"name": "a", "namespace": "n"}}),
        )
        .unwrap();
    let again = s.update(rt("ConfigMap"), cm.clone()).unwrap();
    assert_eq!(
        again["metadata"]["resourceVersion"],
        cm["metadata"]["resourceVersion"]
    );
}

#[test]
fn status_changes_only_through_subresource() {
    let s = Store::new(vec![]);
    let m = s
        .create(
            rt("Model"),
            json!({"metadata": {"name": "m", "namespace": "n"}, "spec": {"storageUri": "s3://x"}}),
        )
        .unwrap();
    let mut with_status = m.clone();
    with_status["status"] = json!({"replicas": 1});
    let after = s.update(rt("Model"), with_status.clone()).unwrap();
    assert!(after["status"].is_null());
    let after = s.update_status(rt("Model"), with_status).unwrap();
    assert_eq!(after["status"]["replicas"], 1);
    assert_eq!(after["metadata"]["generation"], 1);
}

#[test]
fn finalizers_delay_deletion_and_owners_cascade() {
    let s = Store::new(vec![]);
    let owner = s
        .create(
            rt("StatefulSet"),
            json!({"metadata": {"name": "o", "namespace": "n", "finalizers": ["x"]}}),
        )
        .unwrap();
    let uid = owner["metadata"]["uid"].clone();
    s.create(
        rt("Pod"),
        json!({"metadata": {"name": "p", "namespace": "n", "ownerReferences": [{"uid": uid}]}}),
    )
    .unwrap();
    let marked = s.delete(rt("StatefulSet"), Some("n"), "o").unwrap();
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert!(s.get(rt("Pod"), Some("n"), "p").is_some());
    let mut done = marked.clone();
    done["metadata"]["finalizers"] = json!([]);
    s.update(rt("StatefulSet"), done).unwrap();
    assert!(s.get(rt("StatefulSet"), Some("n"), "o").is_none());
    assert!(s.get(rt("Pod"), Some("n"), "p").is_none());
}

#[test]
fn watch_resumes_from_a_resource_version() {
    let s = Store::new(vec![]);
    let rv = s.resource_version();
    s.create(
        rt("ConfigMap"),
        json!({"metadata": {"name": "a", "namespace": "n"}}),
    )
    .unwrap();
    let (backlog, _rx) = s.watch_from(rv).unwrap();
    assert_eq!(backlog.len(), 1);
    assert_eq!(backlog[0].kind, ChangeType::Added);
}

#[test]
fn a_list_holds_exactly_the_resource_and_namespace_asked_for() {
    let s = Store::new(vec![]);
    for (kind, ns, name) in [
        ("Secret", "b", "s1"),
        ("ConfigMap", "c", "x"),
        ("ConfigMap", "a", "y"),
        ("Secret", "a", "s2"),
        ("ConfigMap", "b", "z"),
        ("ConfigMap", "b", "a"),
        ("Namespace", "", "b"),
    ] {
        let mut obj = json!({"metadata": {"name": name}});
        if !ns.is_empty() {
            obj["metadata"]["namespace"] = json!(ns);
        }
        s.create(rt(kind), obj).unwrap();
    }
    let names = |kind: &str, ns: Option<&str>| -> Vec<String> {
        s.list(rt(kind), ns)
            .0
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(names("ConfigMap", Some("b")), ["b/a", "b/z"]);
    assert_eq!(names("ConfigMap", None), ["a/y", "b/a", "b/z", "c/x"]);
    assert_eq!(names("Secret", None), ["a/s2", "b/s1"]);
    assert_eq!(names("Secret", Some("c")), Vec::<String>::new());
    assert_eq!(names("Namespace", None), ["/b"]);
    assert_eq!(names("Pod", None), Vec::<String>::new());
}
