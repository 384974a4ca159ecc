//! Differential tests, second part (issue 13): controllers and API features compared between the
//! embedded platform and a real kube-apiserver + kube-controller-manager 1.20.2 — ReplicaSets
//! under Deployments, StatefulSet claims without a StorageClass, event aggregation, server-side
//! apply field ownership and conflicts, the `scale` subresource and `dryRun=All`.
//!
//! Same setup and skip rules as `differential.rs` (`HARNESS_REAL_APISERVER_KUBECONFIG`). The real
//! control plane has no scheduler or kubelet: its pods stay Pending without conditions, so what
//! depends on pods running (readiness, the scheduler's messages) is compared nowhere here and
//! checked by `behaviour_storage.rs` instead. Generated parts of names (`pod-template-hash`, pod
//! suffixes) are replaced by `HASH`/`XXXXX` before comparing: upstream hashes the Go struct.

#[macro_use]
mod real_apiserver;

use real_apiserver::{Target, assert_same, call_as, status, targets, unique};
use serde_json::{Value, json};

const APPLY: &str = "application/apply-patch+yaml";

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"metadata": {"name": name}, "spec": {"replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]}}}})
}

fn items(list: Option<Value>) -> Vec<Value> {
    list.and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default()
}

/// Replaces `<prefix><generated>` by `<prefix>HASH` (and a pod's 5-character suffix by `XXXXX`).
fn generic(text: &str, prefix: &str, hash: &str) -> String {
    if text == hash {
        return "HASH".into();
    }
    let t = text.replace(&format!("{prefix}{hash}"), &format!("{prefix}HASH"));
    let marker = format!("{prefix}HASH-");
    let mut out = String::new();
    let mut rest = t.as_str();
    while let Some(at) = rest.find(&marker) {
        out.push_str(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        let n = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if n == 5 {
            out.push_str("XXXXX");
            rest = &rest[5..];
        }
    }
    out.push_str(rest);
    out
}

/// Every string in `v` through [`generic`].
fn generic_all(v: &mut Value, prefix: &str, hash: &str) {
    match v {
        Value::String(s) => *s = generic(s, prefix, hash),
        Value::Array(a) => a.iter_mut().for_each(|x| generic_all(x, prefix, hash)),
        Value::Object(o) => o.values_mut().for_each(|x| generic_all(x, prefix, hash)),
        _ => {}
    }
}

async fn events(t: &Target, ns: &str) -> Vec<Value> {
    items(t.get(&format!("/api/v1/namespaces/{ns}/events")).await)
}

/// A Deployment gets a ReplicaSet `<name>-<pod-template-hash>` it owns, with the hash label on
/// the ReplicaSet, its selector and template; the pods are the ReplicaSet's (generateName
/// `<replicaset>-`); the deployment controller's `ScalingReplicaSet` and the ReplicaSet
/// controller's `Created pod: …` events.
#[tokio::test]
async fn a_deployment_runs_its_pods_through_a_replicaset() {
    differential!("deployment_replicaset", "rs", |t, ns| {
        t.namespace(ns).await;
        t.create(
            &format!("/apis/apps/v1/namespaces/{ns}/deployments"),
            deployment("web", 2),
        )
        .await;
        let rs_path = format!("/apis/apps/v1/namespaces/{ns}/replicasets");
        let rs = t
            .wait("a ReplicaSet with 2 pods", || async {
                items(t.get(&rs_path).await)
                    .into_iter()
                    .find(|r| r["status"]["replicas"] == 2)
            })
            .await;
        let hash = rs["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap()
            .to_string();
        let pods = items(t.get(&format!("/api/v1/namespaces/{ns}/pods")).await);
        let evs = t
            .wait(
                "the ScalingReplicaSet and both SuccessfulCreate events",
                || async {
                    let evs = events(t, ns).await;
                    (evs.len() >= 3).then_some(evs)
                },
            )
            .await;
        let mut summary: Vec<Value> = evs
            .iter()
            .map(|e| json!({"type": e["type"], "reason": e["reason"], "message": e["message"],
                            "source": e["source"]["component"], "involved": e["involvedObject"]["kind"],
                            "involvedName": e["involvedObject"]["name"], "count": e["count"]}))
            .collect();
        let mut out = json!({
            "replicaset": {"name": rs["metadata"]["name"], "labels": rs["metadata"]["labels"],
                "annotations": rs["metadata"]["annotations"], "owner": rs["metadata"]["ownerReferences"][0]["kind"],
                "ownerName": rs["metadata"]["ownerReferences"][0]["name"],
                "controller": rs["metadata"]["ownerReferences"][0]["controller"],
                "replicas": rs["spec"]["replicas"], "selector": rs["spec"]["selector"],
                "templateLabels": rs["spec"]["template"]["metadata"]["labels"]},
            "pods": pods.iter().map(|p| json!({"name": p["metadata"]["name"], "generateName": p["metadata"]["generateName"],
                "labels": p["metadata"]["labels"], "owner": p["metadata"]["ownerReferences"][0]["kind"],
                "ownerName": p["metadata"]["ownerReferences"][0]["name"]})).collect::<Vec<_>>(),
        });
        generic_all(&mut out, "web-", &hash);
        for s in summary.iter_mut() {
            generic_all(s, "web-", &hash);
        }
        summary
            .iter_mut()
            .for_each(real_apiserver::allowed_divergences);
        summary.sort_by_key(|s| s.to_string());
        out["events"] = Value::Array(summary);
        out
    });
}

/// Under a quota that requires limits, every retry of the ReplicaSet's pod creation names a new
/// pod, and client-go's EventCorrelator folds them: nine `Error creating: …` events, then one
/// `(combined from similar events): …` whose count grows.
#[tokio::test]
async fn refused_pod_creations_are_combined_into_one_event() {
    differential!("combined_events", "agg", |t, ns| {
        t.namespace(ns).await;
        t.quota(ns, json!({"limits.cpu": "2"})).await;
        t.create(
            &format!("/apis/apps/v1/namespaces/{ns}/deployments"),
            deployment("web", 1),
        )
        .await;
        let evs = t
            .wait("a combined FailedCreate event", || async {
                let evs = events(t, ns).await;
                evs.iter()
                    .any(|e| {
                        e["message"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("(combined from similar events): "))
                    })
                    .then_some(evs)
            })
            .await;
        let failed: Vec<&Value> = evs
            .iter()
            .filter(|e| e["reason"] == "FailedCreate")
            .collect();
        let plain = failed
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Error creating: pods \"web-"))
            })
            .count();
        let combined: Vec<String> = failed
            .iter()
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.starts_with("(combined"))
            .map(|m| {
                let at = m.find(" is forbidden: ").unwrap_or(0);
                format!(
                    "(combined from similar events): Error creating: pods \"…\"{}",
                    &m[at..]
                )
            })
            .collect();
        json!({"plain FailedCreate events": plain, "combined": combined,
               "source": failed[0]["source"]["component"], "involved": failed[0]["involvedObject"]["kind"]})
    });
}

/// A StatefulSet whose pod is refused retries the same pod name: one FailedCreate event whose
/// count grows (11 within 6 s on the real controller-manager).
#[tokio::test]
async fn a_repeated_failed_create_counts_up_one_event() {
    differential!("counted_events", "cnt", |t, ns| {
        t.namespace(ns).await;
        t.quota(ns, json!({"limits.cpu": "2"})).await;
        t.create(
            &format!("/apis/apps/v1/namespaces/{ns}/statefulsets"),
            json!({"metadata": {"name": "web"}, "spec": {"serviceName": "web", "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]}}}}),
        )
        .await;
        let evs = t
            .wait("a FailedCreate event counted 4 times", || async {
                let evs = events(t, ns).await;
                evs.iter()
                    .any(|e| e["reason"] == "FailedCreate" && e["count"].as_i64() >= Some(4))
                    .then_some(evs)
            })
            .await;
        let failed: Vec<&Value> = evs
            .iter()
            .filter(|e| e["reason"] == "FailedCreate")
            .collect();
        json!({"FailedCreate events": failed.len(),
               "lastTimestamp after firstTimestamp or equal": failed[0]["lastTimestamp"].as_str() >= failed[0]["firstTimestamp"].as_str()})
    });
}

/// A StatefulSet's claim template gives `data-db-0` (labels = the selector's), created before
/// the pod and mounted by it; without a StorageClass it stays Pending with the PV controller's
/// `FailedBinding` event, and (pod 0 never Ready) pod 1 is never created.
#[tokio::test]
async fn statefulset_claims_stay_pending_without_a_storage_class() {
    differential!("statefulset_claims", "pvc", |t, ns| {
        t.namespace(ns).await;
        t.create(
            &format!("/apis/apps/v1/namespaces/{ns}/statefulsets"),
            json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db", "replicas": 2,
                "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db", "tier": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1",
                                             "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        )
        .await;
        let evs = t
            .wait("FailedBinding and both SuccessfulCreate events", || async {
                let evs = events(t, ns).await;
                let created = evs
                    .iter()
                    .filter(|e| e["reason"] == "SuccessfulCreate")
                    .count();
                (created == 2 && evs.iter().any(|e| e["reason"] == "FailedBinding")).then_some(evs)
            })
            .await;
        let pvc = t
            .get(&format!(
                "/api/v1/namespaces/{ns}/persistentvolumeclaims/data-db-0"
            ))
            .await
            .expect("claim data-db-0");
        let pod = t
            .get(&format!("/api/v1/namespaces/{ns}/pods/db-0"))
            .await
            .expect("pod db-0");
        let claims: Vec<&Value> = pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["persistentVolumeClaim"].is_object())
            .collect();
        // The real control plane has no scheduler: its FailedScheduling is behaviour_storage.rs's.
        let mut summary: Vec<Value> = evs
            .iter()
            .filter(|e| e["reason"] != "FailedScheduling")
            .map(|e| json!({"type": e["type"], "reason": e["reason"], "message": e["message"],
                            "source": e["source"]["component"], "involved": e["involvedObject"]["kind"]}))
            .collect();
        summary.sort_by_key(|s| s.to_string());
        json!({
            "claim": {"labels": pvc["metadata"]["labels"], "spec": pvc["spec"], "status": pvc["status"],
                      "owners": pvc["metadata"]["ownerReferences"]},
            "pod volumes": claims,
            "pod db-1": t.get(&format!("/api/v1/namespaces/{ns}/pods/db-1")).await.is_some(),
            "events": summary,
        })
    });
}

/// Server-side apply: managers and their fields (Apply owns leaves; an Update owns what it set,
/// maps it created included), a conflicting apply refused with the apiserver's message and
/// causes (one and several conflicts), `force=true` taking the fields over, co-owned equal values.
#[tokio::test]
async fn server_side_apply_tracks_managers_and_reports_conflicts() {
    differential!("server_side_apply", "ssa", |t, ns| {
        t.namespace(ns).await;
        let cms = format!("/api/v1/namespaces/{ns}/configmaps");
        let cm = |name: &str, labels: Value, data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": data});
        let managed = |o: &Value| {
            let mut m = o["metadata"]["managedFields"].clone();
            for e in m.as_array_mut().into_iter().flatten() {
                e.as_object_mut().unwrap().remove("time");
            }
            m
        };
        let mut out = Vec::new();
        let c = cm("c", json!({"app": "a"}), json!({"k": "v", "j": "w"}));
        let (code, b) = call_as(
            &t.client,
            "PATCH",
            &format!("{cms}/c?fieldManager=alice"),
            APPLY,
            Some(c.clone()),
        )
        .await;
        out.push(
            json!({"step": "alice applies (creates)", "http": code, "managedFields": managed(&b)}),
        );
        let (code, b) = call_as(
            &t.client,
            "PATCH",
            &format!("{cms}/c?fieldManager=bob"),
            "application/merge-patch+json",
            Some(json!({"data": {"k": "v2", "n": "1"}})),
        )
        .await;
        out.push(json!({"step": "bob merge-patches", "http": code, "managedFields": managed(&b)}));
        let (code, b) = call_as(
            &t.client,
            "PATCH",
            &format!("{cms}/c?fieldManager=alice"),
            APPLY,
            Some(c.clone()),
        )
        .await;
        out.push(json!({"step": "alice re-applies", "response": status(code, &b)}));
        let (code, b) = call_as(
            &t.client,
            "POST",
            &format!("{cms}?fieldManager=carol"),
            "application/json",
            Some(cm("d", json!({"x": "1"}), json!({"a": "1", "b": "2"}))),
        )
        .await;
        out.push(json!({"step": "carol creates", "http": code, "managedFields": managed(&b)}));
        let d = cm(
            "d",
            json!({"x": "2"}),
            json!({"a": "9", "b": "2", "c": "3"}),
        );
        let (code, b) = call_as(
            &t.client,
            "PATCH",
            &format!("{cms}/d?fieldManager=dave"),
            APPLY,
            Some(d.clone()),
        )
        .await;
        out.push(json!({"step": "dave applies over carol", "response": status(code, &b)}));
        let (code, b) = call_as(
            &t.client,
            "PATCH",
            &format!("{cms}/d?fieldManager=dave&force=true"),
            APPLY,
            Some(d),
        )
        .await;
        out.push(json!({"step": "dave forces", "http": code, "managedFields": managed(&b), "data": b["data"], "labels": b["metadata"]["labels"]}));
        let (code, b) = call_as(
            &t.client,
            "PATCH",
            &format!("{cms}/d?fieldManager=dave"),
            APPLY,
            Some(cm("d", json!({"x": "2"}), json!({"a": "9", "b": "2"}))),
        )
        .await;
        // Only dave's entry: 1.20 also hands `.metadata.labels.x` back to carol here, which the
        // platform does not model (docs/real-apiserver-facts.md, Server-side apply).
        let dave = managed(&b)
            .as_array()
            .and_then(|m| m.iter().find(|e| e["manager"] == "dave").cloned());
        out.push(
            json!({"step": "dave stops applying c", "http": code, "data": b["data"], "dave": dave}),
        );
        let (code, b) = call_as(
            &t.client,
            "PATCH",
            &format!("{cms}/d?fieldManager=erin&force=true"),
            "application/merge-patch+json",
            Some(json!({"data": {"a": "0"}})),
        )
        .await;
        out.push(json!({"step": "force on a merge patch", "response": status(code, &b)}));
        Value::Array(out)
    });
}

/// `GET`/`PATCH` of `deployments/<name>/scale` and `statefulsets/<name>/scale`: an
/// `autoscaling/v1 Scale` with the selector as a string; the patch changes `spec.replicas`; a
/// dry-run patch answers the same without persisting; a missing object is
/// `deployments/scale.apps "nope" not found`.
#[tokio::test]
async fn the_scale_subresource_reads_and_writes_replicas() {
    differential!("scale_subresource", "scale", |t, ns| {
        t.namespace(ns).await;
        let apps = format!("/apis/apps/v1/namespaces/{ns}");
        t.create(&format!("{apps}/deployments"), deployment("web", 1))
            .await;
        t.create(
            &format!("{apps}/statefulsets"),
            json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db", "replicas": 1,
                "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                             "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]}}}}),
        )
        .await;
        let scale = |b: &Value| {
            json!({"kind": b["kind"], "apiVersion": b["apiVersion"], "name": b["metadata"]["name"],
                   "namespace": b["metadata"]["namespace"].as_str().map(|_| "NS"),
                   "uid": b["metadata"]["uid"].is_string(), "spec": b["spec"], "status": b["status"]})
        };
        let mut out = Vec::new();
        for kind in ["deployments", "statefulsets"] {
            let name = if kind == "deployments" { "web" } else { "db" };
            let path = format!("{apps}/{kind}/{name}");
            t.wait("status.replicas 1", || async {
                t.get(&path).await.filter(|o| o["status"]["replicas"] == 1)
            })
            .await;
            let (code, b) = t.call("GET", &format!("{path}/scale"), None).await;
            out.push(
                json!({"step": format!("GET {kind}/scale"), "http": code, "scale": scale(&b)}),
            );
            let (code, b) = t
                .call(
                    "PATCH",
                    &format!("{path}/scale"),
                    Some(json!({"spec": {"replicas": 3}})),
                )
                .await;
            out.push(json!({"step": format!("PATCH {kind}/scale to 3"), "http": code, "scale": scale(&b)}));
            // Controllers keep writing status, so only the stored replicas show nothing was
            // persisted (dry_run_answers_as_if_and_persists_nothing compares resource versions).
            let (code, b) = t
                .call(
                    "PATCH",
                    &format!("{path}/scale?dryRun=All"),
                    Some(json!({"spec": {"replicas": 5}})),
                )
                .await;
            let after = t.get(&path).await.unwrap();
            out.push(
                json!({"step": format!("dry-run PATCH {kind}/scale to 5"), "http": code,
                "answer": b["spec"], "stored replicas": after["spec"]["replicas"]}),
            );
        }
        let (code, b) = t
            .call("GET", &format!("{apps}/deployments/nope/scale"), None)
            .await;
        out.push(json!({"step": "GET a missing deployment's scale", "response": status(code, &b)}));
        let (code, b) = t
            .call(
                "GET",
                &format!("/api/v1/namespaces/{ns}/configmaps/x/scale"),
                None,
            )
            .await;
        out.push(json!({"step": "scale of a ConfigMap", "response": status(code, &b)}));
        Value::Array(out)
    });
}

/// `dryRun=All`: create, update, patch, apply and delete answer as if done (a created object has
/// a uid and no resourceVersion) and nothing is stored; any other value is a 422.
#[tokio::test]
async fn dry_run_answers_as_if_and_persists_nothing() {
    differential!("dry_run", "dry", |t, ns| {
        t.namespace(ns).await;
        let cms = format!("/api/v1/namespaces/{ns}/configmaps");
        let meta = |b: &Value| {
            let mut m = b["metadata"].clone();
            let o = m.as_object_mut().unwrap();
            for k in ["uid", "creationTimestamp", "resourceVersion"] {
                if let Some(v) = o.get_mut(k) {
                    *v = json!(format!("<{}>", if v.is_string() { "set" } else { "other" }));
                }
            }
            if let Some(mf) = o.get_mut("managedFields") {
                for e in mf.as_array_mut().into_iter().flatten() {
                    e.as_object_mut().unwrap().remove("time");
                }
            }
            o.remove("generation");
            json!({"metadata": m, "data": b["data"]})
        };
        let mut out = Vec::new();
        let cm = json!({"metadata": {"name": "dr", "labels": {"a": "b"}}, "data": {"k": "v"}});
        let (code, b) = t
            .call(
                "POST",
                &format!("{cms}?dryRun=All&fieldManager=m"),
                Some(cm.clone()),
            )
            .await;
        out.push(json!({"step": "dry-run create", "http": code, "object": meta(&b)}));
        out.push(json!({"step": "then GET", "found": t.get(&format!("{cms}/dr")).await.is_some()}));
        let (code, b) = t
            .call("POST", &format!("{cms}?dryRun=Bogus"), Some(cm.clone()))
            .await;
        out.push(json!({"step": "dryRun=Bogus", "response": status(code, &b)}));
        let stored = t
            .create(
                &format!("{cms}?fieldManager=m"),
                json!({"metadata": {"name": "real"}, "data": {"k": "v"}}),
            )
            .await;
        let rv = stored["metadata"]["resourceVersion"].clone();
        let (code, b) = t
            .call(
                "PUT",
                &format!("{cms}/real?dryRun=All&fieldManager=m"),
                Some(json!({"metadata": {"name": "real"}, "data": {"k": "v2"}})),
            )
            .await;
        out.push(json!({"step": "dry-run update", "http": code, "data": b["data"], "same resourceVersion": b["metadata"]["resourceVersion"] == rv}));
        let (code, b) = t
            .call(
                "PATCH",
                &format!("{cms}/real?dryRun=All&fieldManager=m"),
                Some(json!({"data": {"k": "v3"}})),
            )
            .await;
        out.push(json!({"step": "dry-run patch", "http": code, "data": b["data"], "same resourceVersion": b["metadata"]["resourceVersion"] == rv}));
        let (code, b) = call_as(&t.client, "PATCH", &format!("{cms}/new?dryRun=All&fieldManager=z"), APPLY,
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}, "data": {"k": "v"}}))).await;
        out.push(json!({"step": "dry-run apply (create)", "http": code, "object": meta(&b)}));
        out.push(
            json!({"step": "then GET new", "found": t.get(&format!("{cms}/new")).await.is_some()}),
        );
        let (code, b) = t
            .call("DELETE", &format!("{cms}/real?dryRun=All"), None)
            .await;
        let mut b = b;
        b["details"]["uid"] = json!(b["details"]["uid"].is_string());
        out.push(json!({"step": "dry-run delete", "response": status(code, &b)}));
        let (code, b) = t
            .call("DELETE", &format!("{cms}/missing?dryRun=All"), None)
            .await;
        out.push(
            json!({"step": "dry-run delete of a missing object", "response": status(code, &b)}),
        );
        let (code, b) = t
            .call(
                "POST",
                &format!("{cms}?dryRun=All"),
                Some(json!({"metadata": {"name": "real"}})),
            )
            .await;
        out.push(
            json!({"step": "dry-run create of an existing name", "response": status(code, &b)}),
        );
        let now = t.get(&format!("{cms}/real")).await.unwrap();
        out.push(json!({"step": "the stored object", "data": now["data"], "same resourceVersion": now["metadata"]["resourceVersion"] == rv}));
        Value::Array(out)
    });
}
