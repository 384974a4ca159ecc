//! The components' half of an in-place upgrade (docs/seldon-behaviour.md §20, §26): the controller,
//! SeldonConfig and ServerConfigs on the new images, and the workload controllers rolling the
//! pods as upstream's do — Deployments by RollingUpdate (a one-replica Deployment's new pod Ready
//! before the old one goes), StatefulSets one pod at a time — so at no instant is the only envoy,
//! the controller or every Server pod gone. Every pod change is replayed in order from the
//! store's change stream, so a gap of any length is seen.

mod behaviour_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use behaviour_support::*;
use serde_json::{Value, json};
use sim::faults::Faults;
use sim::store::ChangeType;

const NS: &str = "team-u";
const URI: &str = "gs://models/credit-risk";
const NEW: &str = "2.10.3";

/// Workloads whose pods are counted: (what, label key, label value).
type Watched = &'static [(&'static str, &'static str, &'static str)];

/// The team's workloads and the controller, by the label that selects their pods.
const WATCHED: Watched = &[
    ("Server mlserver", "seldon-server-name", "mlserver"),
    ("envoy", "app.kubernetes.io/name", "seldon-envoy"),
    (
        "model gateway",
        "app.kubernetes.io/name",
        "seldon-modelgateway",
    ),
    (
        "pipeline gateway",
        "app.kubernetes.io/name",
        "seldon-pipelinegateway",
    ),
    ("hodometer", "app.kubernetes.io/name", "hodometer"),
    (
        "dataflow engine",
        "app.kubernetes.io/name",
        "seldon-dataflow-engine",
    ),
    ("controller", "control-plane", "v2-controller-manager"),
];

fn ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null() && is_true(pod, "Ready")
}

/// The fewest Ready pods each watched workload had at any instant, and the most pods of a
/// workload that existed at once.
#[derive(Default, Debug)]
struct Low {
    ready: BTreeMap<&'static str, usize>,
    most: BTreeMap<&'static str, usize>,
}

impl Low {
    fn observe(&mut self, pods: &BTreeMap<String, Value>, watched: Watched) {
        for &(what, key, value) in watched {
            let of: Vec<&Value> = pods
                .values()
                .filter(|p| p["metadata"]["labels"][key] == value)
                .collect();
            let n = of.iter().filter(|p| ready(p)).count();
            let low = self.ready.entry(what).or_insert(n);
            *low = (*low).min(n);
            let most = self.most.entry(what).or_insert(of.len());
            *most = (*most).max(of.len());
        }
    }
}

/// Replays every pod change from now on, recording the lows, until aborted.
fn watch_pods(p: &Platform, watched: Watched) -> (Arc<Mutex<Low>>, tokio::task::JoinHandle<()>) {
    let (list, rv, mut rx) = p.store.list_and_subscribe(rt("Pod"), None);
    let key = |o: &Value| {
        format!(
            "{}/{}",
            o["metadata"]["namespace"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        )
    };
    let mut pods: BTreeMap<String, Value> = list.into_iter().map(|o| (key(&o), o)).collect();
    let low = Arc::new(Mutex::new(Low::default()));
    low.lock().unwrap().observe(&pods, watched);
    let out = low.clone();
    let task = tokio::spawn(async move {
        loop {
            let c = match rx.recv().await {
                Ok(c) => c,
                Err(e) => panic!("the pod change stream broke ({e}): the lows would be unproven"),
            };
            if c.resource.kind != "Pod" || c.resource_version <= rv {
                continue;
            }
            match c.kind {
                ChangeType::Deleted => pods.remove(&key(&c.object)),
                _ => pods.insert(key(&c.object), c.object.clone()),
            };
            low.lock().unwrap().observe(&pods, watched);
        }
    });
    (out, task)
}

fn image_of(pod: &Value, container: &str) -> String {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container)
        .and_then(|c| c["image"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// A team whose Server runs two replicas and whose Model is loaded on both.
async fn two_replica_team(p: &Platform) {
    p.namespace(NS);
    gs_public_secret(p, NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.create(
        "Server",
        json!({"metadata": {"name": "mlserver", "namespace": NS},
               "spec": {"serverConfig": "mlserver", "replicas": 2}}),
    );
    p.runtime_pods_ready(NS).await;
    artifact(p, URI);
    p.create(
        "Model",
        model(NS, "credit-risk", URI, json!({"replicas": 2})),
    );
    model_ready(p, NS, "credit-risk", "True").await;
}

#[tokio::test]
async fn the_upgrade_rolls_pods_one_at_a_time_and_never_leaves_a_workload_without_a_ready_pod() {
    let p = Platform::start(Faults::default());
    two_replica_team(&p).await;
    let before: Vec<(String, String)> = p
        .list("Pod", NS)
        .iter()
        .map(|pod| {
            (
                pod["metadata"]["name"].as_str().unwrap().to_string(),
                pod["metadata"]["uid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mesh = p.state.mesh_addrs.lock().unwrap().get(NS).copied();
    assert!(mesh.is_some(), "the team's seldon-mesh endpoint is up");
    let (low, watcher) = watch_pods(&p, WATCHED);
    let changed = sim::seldon::roll_components(&p.store, "seldon-mesh", NEW).unwrap();
    assert_eq!(
        changed,
        [
            "Deployment seldon-mesh/seldon-v2-controller-manager",
            "SeldonConfig seldon-mesh/default",
            "ServerConfig seldon-mesh/mlserver",
            "ServerConfig seldon-mesh/triton",
        ]
    );
    // Nothing is deleted by the upgrade itself: the controllers replace every pod of the team,
    // on the new images.
    p.wait(
        "every pod of the team replaced on the new images and Ready",
        |p| {
            let now = p.list("Pod", NS);
            let replaced = before
                .iter()
                .all(|(_, uid)| now.iter().all(|pod| pod["metadata"]["uid"] != uid.as_str()));
            let on_new = now.iter().all(|pod| {
                pod["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["image"].as_str())
                    .filter(|i| i.starts_with("docker.io/seldonio/seldon"))
                    .all(|i| i.ends_with(&format!(":{NEW}")))
            });
            let servers = now
                .iter()
                .filter(|pod| pod["metadata"]["labels"]["seldon-server-name"] == "mlserver")
                .count();
            (replaced && on_new && servers == 2 && now.iter().all(ready)).then_some(())
        },
    )
    .await;
    model_ready(&p, NS, "credit-risk", "True").await;
    let controller = p
        .list("Pod", "seldon-mesh")
        .into_iter()
        .find(|pod| pod["metadata"]["labels"]["control-plane"] == "v2-controller-manager")
        .unwrap();
    assert_eq!(
        image_of(&controller, "manager"),
        format!("docker.io/seldonio/seldonv2-controller:{NEW}")
    );
    watcher.abort();
    // The endpoint was never stopped (a restarted one listens on another port): envoy's new pod
    // took over only once it had its configuration.
    assert_eq!(p.state.mesh_addrs.lock().unwrap().get(NS).copied(), mesh);
    let low = low.lock().unwrap();
    // One pod at a time: a Server pod goes only while the other one serves; every one-replica
    // Deployment (maxSurge 1, maxUnavailable 0) had its new pod Ready before the old one went.
    for &(what, _, _) in WATCHED {
        assert!(
            low.ready[what] >= 1,
            "{what} was left without a Ready pod during the upgrade: {low:?}"
        );
    }
    assert_eq!(low.most["Server mlserver"], 2, "{low:?}");
    assert_eq!(low.most["envoy"], 2, "envoy surged by one pod: {low:?}");
}

#[tokio::test]
async fn a_deployment_rolls_within_max_surge_and_max_unavailable() {
    // Four replicas, the default 25 %: surge 1 (rounded up), unavailable 1 (rounded down), so
    // never more than five pods and never fewer than three Ready (rolling.go).
    let p = Platform::start(Faults::default());
    p.namespace("apps");
    let labels = json!({"app": "web"});
    let deployment = |image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"replicas": 4, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": image}]}}}})
    };
    p.create("Deployment", deployment("registry.invalid/web:1"));
    let all_on = |p: &Platform, image: &str| {
        let pods = p.list("Pod", "apps");
        (pods.len() == 4
            && pods
                .iter()
                .all(|pod| ready(pod) && image_of(pod, "c") == image))
        .then_some(())
    };
    p.wait("four pods of web:1 Ready", |p| {
        all_on(p, "registry.invalid/web:1")
    })
    .await;
    let (low, watcher) = watch_pods(&p, &[("web", "app", "web")]);
    let mut d = p.get("Deployment", "apps", "web").unwrap();
    d["spec"]["template"] = deployment("registry.invalid/web:2")["spec"]["template"].clone();
    p.store.update(rt("Deployment"), d).unwrap();
    p.wait("four pods of web:2 Ready", |p| {
        all_on(p, "registry.invalid/web:2")
    })
    .await;
    watcher.abort();
    let low = low.lock().unwrap();
    assert!(low.most["web"] <= 5, "more than 4 + maxSurge pods: {low:?}");
    assert!(
        low.ready["web"] >= 3,
        "fewer than 4 - maxUnavailable Ready: {low:?}"
    );
    let events: Vec<String> = p
        .list("Event", "apps")
        .iter()
        .filter(|e| e["reason"] == "ScalingReplicaSet")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    // The new ReplicaSet grew and the old one shrank in steps, never all at once.
    assert!(
        events.iter().any(|m| m.contains("from 4 to 3")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|m| m.contains("from 0 to 1")),
        "{events:?}"
    );
}
