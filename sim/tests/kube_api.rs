//! The platform's API through kube-rs, exactly as the harness uses it.

mod common;

use std::time::Duration;

use common::{client, platform, rt, wait_until};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::core::ApiResource;
use kube::discovery::{Discovery, Scope};
use kube::runtime::{WatchStreamExt, wait::await_condition, watcher};
use serde_json::{Value, json};
use sim::store::{RESOURCES, ResourceType};

const TIMEOUT: Duration = Duration::from_secs(10);

fn api_error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

/// A minimal valid body for each kind (fields besides apiVersion/kind/metadata).
fn body(kind: &str, ns: &str) -> Value {
    match kind {
        "Secret" => json!({"type": "Opaque", "data": {"k": "dg=="}}),
        "ConfigMap" => json!({"data": {"k": "v"}}),
        "Service" => json!({"spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}),
        "Pod" => json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
        "Event" => json!({"involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
                          "reason": "Tested", "message": "hello", "type": "Normal"}),
        "ResourceQuota" => json!({"spec": {"hard": {"pods": "10"}}}),
        "LimitRange" => {
            json!({"spec": {"limits": [{"type": "Container", "default": {"cpu": "100m"}}]}})
        }
        "PersistentVolumeClaim" => {
            json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        }
        "Deployment" | "StatefulSet" => {
            json!({"spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
        }
        "NetworkPolicy" => json!({"spec": {"podSelector": {}}}),
        "Role" | "ClusterRole" => {
            json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
        }
        "RoleBinding" | "ClusterRoleBinding" => json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}),
        "CustomResourceDefinition" => {
            json!({"spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}})
        }
        "Model" => json!({"spec": {"storageUri": "gs://bucket/iris", "requirements": ["sklearn"]}}),
        _ => json!({"spec": {}}),
    }
}

fn crud_name(rt: &ResourceType) -> String {
    if rt.kind == "CustomResourceDefinition" {
        "widgets.example.com".into()
    } else {
        format!("crud-{}", rt.singular)
    }
}

/// Create, conflict, get, list, merge patch, apply, stale replace, status, delete — for one type.
async fn crud(
    p: &sim::Platform,
    client: &kube::Client,
    discovery: &Discovery,
    rt: &'static ResourceType,
) {
    let gvk = GroupVersionKind::gvk(rt.group, rt.version, rt.kind);
    let (ar, caps) = discovery
        .resolve_gvk(&gvk)
        .unwrap_or_else(|| panic!("{} is discoverable", rt.kind));
    assert_eq!(
        caps.scope == Scope::Namespaced,
        rt.namespaced,
        "{} scope",
        rt.kind
    );
    assert_eq!(
        caps.subresources.iter().any(|(s, _)| s.plural == "status"),
        rt.has_status,
        "{} status subresource",
        rt.kind
    );
    let ns = format!("crud-{}", rt.plural);
    if rt.namespaced {
        let nsapi: Api<Namespace> = Api::all(client.clone());
        nsapi
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
            )
            .await
            .unwrap();
    }
    let api: Api<DynamicObject> = if rt.namespaced {
        Api::namespaced_with(client.clone(), &ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    let name = crud_name(rt);
    let what = format!("{} {name}", rt.kind);

    let mut obj = DynamicObject::new(&name, &ar).data(body(rt.kind, &ns));
    obj.metadata.labels = Some([("suite".to_string(), "crud".to_string())].into());
    let created = api
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {what}: {e}"));
    assert!(
        created.metadata.uid.is_some() && created.metadata.resource_version.is_some(),
        "{what} has uid and rv"
    );
    assert_eq!(
        api_error(api.create(&PostParams::default(), &obj).await.unwrap_err()),
        (409, "AlreadyExists".into()),
        "{what}"
    );

    let got = api.get(&name).await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid, "{what}");
    let listed = api
        .list(&ListParams::default().labels("suite=crud"))
        .await
        .unwrap();
    assert!(
        listed
            .items
            .iter()
            .any(|o| o.metadata.name.as_deref() == Some(&name)),
        "{what} listed by label"
    );
    let listed = api
        .list(&ListParams::default().labels("suite!=crud"))
        .await
        .unwrap();
    assert!(
        !listed
            .items
            .iter()
            .any(|o| o.metadata.name.as_deref() == Some(&name)),
        "{what} excluded by label"
    );

    let patched = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"patched": "yes"}}})),
        )
        .await
        .unwrap();
    let labels = patched.metadata.labels.clone().unwrap();
    assert_eq!(
        (labels["suite"].as_str(), labels["patched"].as_str()),
        ("crud", "yes"),
        "{what} merge patch"
    );

    let applied = api
        .patch(
            &name,
            &PatchParams::apply("harness").force(),
            &Patch::Apply(json!({"apiVersion": rt.api_version(), "kind": rt.kind,
                                 "metadata": {"name": name, "annotations": {"applied": "yes"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        applied.metadata.annotations.unwrap()["applied"],
        "yes",
        "{what} apply"
    );
    assert_eq!(
        applied.metadata.labels.unwrap()["patched"],
        "yes",
        "{what} apply merges, keeps labels"
    );
    // Server-side apply records its field manager's ownership (api/managed.rs).
    let owners = applied.metadata.managed_fields.clone().unwrap_or_default();
    let harness = owners
        .iter()
        .find(|m| m.manager.as_deref() == Some("harness"))
        .unwrap_or_else(|| panic!("{what}: no managedFields entry for the applier: {owners:?}"));
    assert_eq!(harness.operation.as_deref(), Some("Apply"), "{what}");
    assert_eq!(
        harness.fields_v1.as_ref().map(|f| f.0.clone()),
        Some(json!({"f:metadata": {"f:annotations": {"f:applied": {}}}})),
        "{what}: the applier owns exactly what it sent"
    );

    // `created` carries a resource version that two writes made stale.
    let err = api
        .replace(&name, &PostParams::default(), &created)
        .await
        .unwrap_err();
    assert_eq!(
        api_error(err),
        (409, "Conflict".into()),
        "{what} stale replace"
    );

    if rt.has_status {
        let status = json!({"status": {"observedGeneration": 1, "conditions": [{"type": "Tested", "status": "True"}]}});
        let with_status = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
        assert_eq!(
            with_status.data["status"]["conditions"][0]["type"], "Tested",
            "{what} status patch"
        );
        let spec_write = api
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": []}})),
            )
            .await
            .unwrap();
        assert_eq!(
            spec_write.data["status"]["conditions"][0]["type"], "Tested",
            "{what}: status changes only through /status"
        );
        let st = api.get_status(&name).await.unwrap();
        assert_eq!(
            st.data["status"]["observedGeneration"], 1,
            "{what} get status"
        );
    } else {
        let err = api.get_status(&name).await.unwrap_err();
        assert_eq!(api_error(err).0, 404, "{what} has no status subresource");
    }

    api.delete(&name, &DeleteParams::default()).await.unwrap();
    // Namespaces terminate asynchronously; everything else goes at once.
    let ns_opt = rt.namespaced.then_some(ns.as_str());
    wait_until(&format!("{what} to be deleted"), TIMEOUT, || {
        p.store().get(rt, ns_opt, &name).is_none()
    })
    .await;
    let err = api.get(&name).await.unwrap_err();
    assert_eq!(
        api_error(err),
        (404, "NotFound".into()),
        "{what} after delete"
    );
}

#[tokio::test]
async fn every_catalogue_type_supports_crud_through_discovery() {
    let p = platform();
    let client = client(&p).await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let writable: Vec<_> = RESOURCES
        .iter()
        .filter(|r| r.verbs.contains(&"update"))
        .collect();
    assert!(
        writable.len() > 20,
        "the catalogue lists the writable types"
    );
    for rt in writable {
        crud(&p, &client, &discovery, rt).await;
    }
}

#[tokio::test]
async fn custom_types_are_served_only_while_their_crd_exists() {
    let p = sim::Platform::start_api_only(Default::default()).unwrap();
    let client = client(&p).await;
    let gvk = GroupVersionKind::gvk("mlops.seldon.io", "v1alpha1", "Model");
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(
        discovery.resolve_gvk(&gvk).is_none(),
        "no CRD, no Model type"
    );
    let models: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk));
    assert_eq!(
        api_error(models.list(&ListParams::default()).await.unwrap_err()).0,
        404
    );
    common::install_crds(&p);
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.resolve_gvk(&gvk).is_some());
    assert!(
        models
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn typed_apis_round_trip_k8s_openapi_types() {
    let p = platform();
    let client = client(&p).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"generateName": "web-", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    let name = created.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("web-") && name.len() == 9,
        "generateName gives {name}"
    );
    let listed = pods
        .list(&ListParams::default().labels("app in (web,api)"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());
    let metas = pods.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(metas.items[0].metadata.name.as_deref(), Some(name.as_str()));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = cms
        .patch(
            "applied",
            &PatchParams::apply("harness"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "applied"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["a"], "1", "apply creates what is absent");
    let err = cms.get("missing").await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
            assert_eq!(s.message, "configmaps \"missing\" not found");
        }
        other => panic!("{other:?}"),
    }
    let bad: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    let err = api_error(cms.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(err, (422, "Invalid".into()));
    let err = cms
        .list(&ListParams::default().fields("data.k=v"))
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (400, "BadRequest".into()));
}

#[tokio::test]
async fn watcher_and_await_condition_see_a_status_condition_set_later() {
    let p = platform();
    let client = client(&p).await;
    let gvk = GroupVersionKind::gvk("mlops.seldon.io", "v1alpha1", "Model");
    let models: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk));
    let model =
        DynamicObject::new("iris", &ApiResource::from_gvk(&gvk)).data(body("Model", "default"));
    models.create(&PostParams::default(), &model).await.unwrap();

    let ready = |o: Option<&DynamicObject>| {
        o.and_then(|o| o.data["status"]["conditions"].as_array().cloned())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    };
    let before = p.store().subscriber_count();
    // Both watchers are polled continuously in tasks, so their watches really are established.
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher(models.clone(), watcher::Config::default()).applied_objects();
    let forward = tokio::spawn(async move {
        let mut stream = stream.boxed();
        while let Some(ev) = stream.next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    let waiter = tokio::spawn(await_condition(models.clone(), "iris", ready));
    wait_until("both watches to be established", TIMEOUT, || {
        p.store().subscriber_count() >= before + 2
    })
    .await;
    let first = tokio::time::timeout(TIMEOUT, seen.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!ready(Some(&first)), "not ready yet");

    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    models
        .patch_status("iris", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();

    let done = tokio::time::timeout(TIMEOUT, waiter)
        .await
        .expect("await_condition returns")
        .unwrap()
        .unwrap();
    assert!(ready(done.as_ref()));
    let later = tokio::time::timeout(TIMEOUT, seen.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(ready(Some(&later)), "the watcher saw the condition");
    forward.abort();
}

type Events = futures::stream::BoxStream<'static, kube::Result<WatchEvent<ConfigMap>>>;

async fn next(s: &mut Events) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(TIMEOUT, s.try_next())
        .await
        .expect("an event arrives")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version_and_follows_selectors() {
    let p = platform();
    let client = client(&p).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "w", "labels": {"team": "a"}}}))
            .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();

    // Resuming from the creation's version replays the later modification, then follows live.
    let mut stream = cms
        .watch(&WatchParams::default().labels("team=a"), &rv)
        .await
        .unwrap()
        .boxed();
    match next(&mut stream).await {
        WatchEvent::Modified(o) => assert_eq!(o.data.unwrap()["x"], "1"),
        other => panic!("expected the replayed modification, got {other:?}"),
    }
    // Leaving the selector is a deletion for this watch; coming back is an addition.
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(next(&mut stream).await, WatchEvent::Deleted(_)));
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    assert!(matches!(next(&mut stream).await, WatchEvent::Added(_)));
    cms.delete("w", &DeleteParams::default()).await.unwrap();
    assert!(matches!(next(&mut stream).await, WatchEvent::Deleted(_)));

    // A version older than the kept history is Gone (410), reported as an ERROR event.
    let store = p.store();
    for i in 0..10_001 {
        let o = json!({"metadata": {"name": format!("churn-{}", i % 3), "namespace": "default"}, "data": {"i": i.to_string()}});
        if store.update(rt("ConfigMap"), o.clone()).is_err() {
            store.create(rt("ConfigMap"), o).unwrap();
        }
    }
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next(&mut stream).await {
        WatchEvent::Error(s) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test]
async fn access_reviews_answer_without_being_stored() {
    let p = platform();
    let client = client(&p).await;
    let ar = |kind: &str| {
        ApiResource::from_gvk(&GroupVersionKind::gvk("authorization.k8s.io", "v1", kind))
    };
    let ssar: Api<DynamicObject> = Api::all_with(client.clone(), &ar("SelfSubjectAccessReview"));
    let review = DynamicObject::new("", &ar("SelfSubjectAccessReview"))
        .data(json!({"spec": {"resourceAttributes": {"verb": "delete", "resource": "secrets", "namespace": "x"}}}));
    let answer = ssar.create(&PostParams::default(), &review).await.unwrap();
    assert_eq!(
        answer.data["status"]["allowed"], true,
        "the kubeconfig user is system:masters"
    );

    let sar: Api<DynamicObject> = Api::all_with(client.clone(), &ar("SubjectAccessReview"));
    let review = |user: &str, groups: Value| {
        DynamicObject::new("", &ar("SubjectAccessReview"))
            .data(json!({"spec": {"user": user, "groups": groups,
            "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "team-a"}}}))
    };
    let admin = sar
        .create(
            &PostParams::default(),
            &review("root", json!(["system:masters"])),
        )
        .await
        .unwrap();
    assert_eq!(admin.data["status"]["allowed"], true);
    let nobody = sar
        .create(&PostParams::default(), &review("nobody", json!([])))
        .await
        .unwrap();
    assert_eq!(
        nobody.data["status"]["allowed"], false,
        "no binding grants anything to nobody"
    );
    let err = sar
        .create(&PostParams::default(), &review("", json!([])))
        .await
        .unwrap_err();
    assert_eq!(api_error(err).0, 422);
    let err = sar.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(
        api_error(err),
        (405, "MethodNotAllowed".into()),
        "reviews are create-only"
    );
}

#[tokio::test]
async fn pod_logs_come_from_the_log_annotation() {
    let p = platform();
    let client = client(&p).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "annotations": {sim::api::LOG_ANNOTATION: "one\ntwo\nthree\n"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(
        pods.logs("p", &Default::default()).await.unwrap(),
        "one\ntwo\nthree\n"
    );
    let tail = kube::api::LogParams {
        tail_lines: Some(2),
        container: Some("c".into()),
        ..Default::default()
    };
    assert_eq!(pods.logs("p", &tail).await.unwrap(), "two\nthree\n");
    let wrong = kube::api::LogParams {
        container: Some("nope".into()),
        ..Default::default()
    };
    assert_eq!(api_error(pods.logs("p", &wrong).await.unwrap_err()).0, 400);
    assert_eq!(
        api_error(pods.logs("missing", &Default::default()).await.unwrap_err()).0,
        404
    );
}

#[tokio::test]
async fn deleting_a_namespace_takes_its_objects_and_finalizers_delay_deletion() {
    let p = platform();
    let client = client(&p).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    let pending = cms.delete("held", &DeleteParams::default()).await.unwrap();
    let obj = pending
        .left()
        .expect("an object held by a finalizer is returned, not a Status");
    assert!(obj.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api_error(cms.get("held").await.unwrap_err()).0,
        404,
        "gone once its finalizer is removed"
    );

    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap(),
    )
    .await
    .unwrap();
    let terminating = nss
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let ns = terminating
        .left()
        .expect("a namespace terminates before it goes");
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(
        cms.get("c").await.is_ok(),
        "contents stay until the namespace controller runs"
    );
    let store = p.store().clone();
    wait_until("the namespace and its contents to go", TIMEOUT, || {
        store.get(rt("ConfigMap"), Some("doomed"), "c").is_none()
            && store.get(rt("Namespace"), None, "doomed").is_none()
    })
    .await;
}

#[tokio::test]
async fn rbac_decides_reviews_and_impersonated_requests() {
    let p = platform();
    let client = client(&p).await;
    for ns in ["team-a", "team-b"] {
        p.store()
            .create(rt("Namespace"), json!({"metadata": {"name": ns}}))
            .unwrap();
    }
    p.store()
        .create(
            rt("RoleBinding"),
            json!({"metadata": {"name": "alice-edit", "namespace": "team-a"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}),
        )
        .unwrap();
    let sar_ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
    ));
    let sar: Api<DynamicObject> = Api::all_with(client.clone(), &sar_ar);
    let ask = |verb: &str, resource: &str, ns: &str| {
        let review = DynamicObject::new("", &sar_ar).data(
            json!({"spec": {"user": "alice", "groups": ["system:authenticated"],
            "resourceAttributes": {"verb": verb, "resource": resource, "namespace": ns}}}),
        );
        let sar = sar.clone();
        async move {
            sar.create(&PostParams::default(), &review)
                .await
                .unwrap()
                .data["status"]
                .clone()
        }
    };
    let allowed = ask("get", "secrets", "team-a").await;
    assert_eq!(allowed["allowed"], true, "edit reads secrets: {allowed}");
    assert!(
        allowed["reason"].as_str().unwrap().contains("alice-edit"),
        "{allowed}"
    );
    assert_eq!(
        ask("get", "secrets", "team-b").await["allowed"],
        false,
        "no binding in team-b"
    );
    assert_eq!(
        ask("update", "resourcequotas", "team-a").await["allowed"],
        false,
        "edit never changes quotas"
    );
    assert_eq!(
        ask("create", "rolebindings", "team-a").await["allowed"],
        false,
        "edit never changes RBAC"
    );

    // Requests impersonating alice are authorized as alice.
    let as_alice = |path: &str| {
        axum::http::Request::get(path)
            .header("Impersonate-User", "alice")
            .body(Vec::new())
            .unwrap()
    };
    let ok = client
        .send(as_alice("/api/v1/namespaces/team-a/pods").map(Into::into))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let denied = client
        .send(as_alice("/api/v1/namespaces/team-b/pods").map(Into::into))
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let body = axum::body::to_bytes(axum::body::Body::new(denied.into_body()), 1 << 20)
        .await
        .unwrap();
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"team-b\""
    );
}

#[tokio::test]
async fn installing_the_controller_serves_its_custom_types() {
    let p = sim::Platform::start(Default::default()).unwrap();
    let client = client(&p).await;
    let gvk = GroupVersionKind::gvk("mlops.seldon.io", "v1alpha1", "Model");
    assert!(
        Discovery::new(client.clone())
            .run()
            .await
            .unwrap()
            .resolve_gvk(&gvk)
            .is_none()
    );
    p.install_seldon(&sim::seldon::InstallOptions {
        clusterwide: true,
        controller_namespace: "seldon-system".into(),
        watch_namespaces: vec![],
        ..Default::default()
    })
    .unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for kind in [
        "Model",
        "Server",
        "SeldonRuntime",
        "SeldonConfig",
        "ServerConfig",
        "Pipeline",
    ] {
        let gvk = GroupVersionKind::gvk("mlops.seldon.io", "v1alpha1", kind);
        assert!(
            discovery.resolve_gvk(&gvk).is_some(),
            "{kind} is served after install"
        );
    }
}

/// A scale patch is re-applied to the fresh object when a controller writes the workload's status
/// between the server's read and its write (the API server's GuaranteedUpdate); only a request
/// that names a resource version gets a 409. Without the retry, CI saw a dry-run scale
/// patch answer 409 while the StatefulSet controller updated status.
#[tokio::test]
async fn scale_patches_are_reapplied_while_status_changes_underneath() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::autoscaling::v1::Scale;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let p = platform();
    let client = client(&p).await;
    let sets: Api<StatefulSet> = Api::namespaced(client, "default");
    let mut sts =
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}});
    sts.as_object_mut()
        .unwrap()
        .extend(body("StatefulSet", "default").as_object().unwrap().clone());
    sets.create(
        &PostParams::default(),
        &serde_json::from_value(sts).unwrap(),
    )
    .await
    .unwrap();

    // A writer that keeps changing status, as the StatefulSet controller does on a live cluster.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, writes) = (p.store().clone(), stop.clone(), writes.clone());
        std::thread::spawn(move || {
            let rt = rt("StatefulSet");
            while !stop.load(Ordering::Relaxed) {
                let mut o = store.get(rt, Some("default"), "db").unwrap();
                o["status"]["observedGeneration"] = json!(writes.load(Ordering::Relaxed) + 1);
                if store.update_status(rt, o).is_ok() {
                    writes.fetch_add(1, Ordering::Relaxed);
                }
                // A controller's pace, not a spin that holds the store's lock: the server
                // retries a bounded number of times, as it should for a live object.
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let mut refused = Vec::new();
    for i in 0..200 {
        let pp = if i % 2 == 0 {
            PatchParams::default()
        } else {
            PatchParams::default().dry_run()
        };
        let patch = Patch::Merge(json!({"spec": {"replicas": i % 7}}));
        if let Err(e) = sets.patch_scale("db", &pp, &patch).await {
            refused.push(format!("patch {i}: {e}"));
        }
    }
    let before_stop = writes.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        before_stop > 0,
        "the writer changed status during the patches"
    );
    assert!(refused.is_empty(), "refused scale patches: {refused:#?}");

    // A request naming a stale resource version is refused, not retried.
    let stale = sets.get_scale("db").await.unwrap();
    let rt_ = rt("StatefulSet");
    let mut o = p.store().get(rt_, Some("default"), "db").unwrap();
    o["status"]["observedGeneration"] = json!(0);
    p.store().update_status(rt_, o).unwrap();
    let mut put: Scale = stale.clone();
    put.spec.as_mut().unwrap().replicas = Some(4);
    let err = sets
        .replace_scale("db", &PostParams::default(), &put)
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (409, "Conflict".into()));
    let rv = stale.metadata.resource_version.unwrap();
    let err = sets
        .patch_scale(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"resourceVersion": rv}, "spec": {"replicas": 4}})),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (409, "Conflict".into()));
    // Without a resource version, a replace is unconditional.
    put.metadata.resource_version = None;
    let got = sets
        .replace_scale("db", &PostParams::default(), &put)
        .await
        .unwrap();
    assert_eq!(got.spec.unwrap().replicas, Some(4));
}

/// `Platform::reconciled(rv)` returns once the controllers finished a pass that saw the store at
/// `rv`, and not before: a version the store has not reached yet is never reported reconciled.
#[tokio::test]
async fn reconciled_waits_for_a_pass_that_saw_the_version() {
    let p = sim::Platform::start(sim::faults::Faults::default()).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&p).await, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let rv: u64 = created.metadata.resource_version.unwrap().parse().unwrap();
    tokio::time::timeout(TIMEOUT, p.reconciled(rv))
        .await
        .expect("a pass after the change finishes");
    let ahead = p.store().resource_version() + 1_000;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), p.reconciled(ahead))
            .await
            .is_err(),
        "a version the store has not reached is not reconciled"
    );
}
