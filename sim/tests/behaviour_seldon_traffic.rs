//! Seldon's own traffic obeys NetworkPolicy (docs/seldon-behaviour.md §17): the agent, the
//! controller, envoy and rclone connect through the same connection model as the probes, and a
//! cut flow has the consequence a real cluster shows.

mod behaviour_support;

use behaviour_support::*;
use serde_json::{Value, json};
use sim::faults::{Defect, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "team-net";
/// An S3 URI without an endpoint: rclone goes to `s3.amazonaws.com`, outside the cluster.
const URI: &str = "s3://models/credit-risk";

fn policy(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

/// A team with the seed's runtime, one mlserver Server, the credit-risk model and `policies`.
async fn team_with(p: &Platform, policies: Vec<Value>) {
    p.namespace(NS);
    for np in policies {
        p.create("NetworkPolicy", np);
    }
    // The runtime chart's Secret every agent preloads, and the Model's own S3 remote (no endpoint).
    gs_public_secret(p, NS);
    p.create("Secret", json!({"metadata": {"name": "s3-remote", "namespace": NS},
        "stringData": {"s3": "name: s3\ntype: s3\nparameters:\n  provider: AWS\n  env_auth: false\n"}}));
    p.create("SeldonRuntime", seed_runtime(NS));
    p.create(
        "Server",
        json!({"metadata": {"name": "mlserver", "namespace": NS}, "spec": {"serverConfig": "mlserver"}}),
    );
    artifact(p, URI);
    p.create(
        "Model",
        model(
            NS,
            "credit-risk",
            URI,
            json!({"requirements": ["sklearn"], "secretName": "s3-remote"}),
        ),
    );
}

/// The Server's pod once it runs.
async fn server_pod(p: &Platform) -> Value {
    p.wait("a Running mlserver-0", |p| {
        p.get("Pod", NS, "mlserver-0")
            .filter(|pod| pod["status"]["phase"] == "Running")
    })
    .await
}

/// The scheduler accepts connections only from the controller (the seed's mistake, narrowed):
/// agents and envoy in the namespace are cut off from it.
fn scheduler_only_from_controller() -> Value {
    policy(
        "scheduler-from-controller",
        json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-scheduler"}},
               "policyTypes": ["Ingress"],
               "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"control-plane": "v2-controller-manager"}}}]}]}),
    )
}

#[tokio::test]
async fn agent_cut_from_the_scheduler_never_registers_and_models_fail_to_schedule() {
    let p = Platform::start(Faults::default());
    team_with(&p, vec![scheduler_only_from_controller()]).await;
    let ready = model_ready(&p, NS, "credit-risk", "False").await;
    assert_eq!(ready["message"], "ScheduleFailed", "{ready}");
    assert!(
        ready["reason"]
            .as_str()
            .unwrap()
            .contains("no matching servers are available"),
        "{ready}"
    );
    let pod = server_pod(&p).await;
    assert_eq!(
        condition(&pod, "Ready").unwrap()["status"],
        "False",
        "{pod}"
    );
    let agent = pod["status"]["containerStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "agent")
        .unwrap();
    assert_eq!(
        agent["ready"], false,
        "the agent is not Ready until it connects"
    );
    let server = p.get("Server", NS, "mlserver").unwrap();
    assert!(!is_true(&server, "Ready"), "{server}");
    // Lifting the policy lets the agent register, and the model is scheduled.
    p.store
        .delete(rt("NetworkPolicy"), Some(NS), "scheduler-from-controller")
        .unwrap();
    model_ready(&p, NS, "credit-risk", "True").await;
}

#[tokio::test]
async fn defect_policy_ignored_for_seldon_traffic_serves_the_model_while_probes_still_obey() {
    let p = Platform::start(Faults::defect(Defect::PolicyIgnoredForSeldonTraffic));
    team_with(&p, vec![scheduler_only_from_controller()]).await;
    model_ready(&p, NS, "credit-risk", "True").await;
    // A probe wearing the server's labels is still cut off.
    p.create(
        "Pod",
        json!({"metadata": {"name": "probe", "namespace": NS,
                            "labels": {"conformance.harness/probe": "true", "app.kubernetes.io/name": "seldon-server"},
                            "annotations": {"conformance.harness/probe-target": "seldon-scheduler:9005"}},
               "spec": {"restartPolicy": "Never", "containers": [{"name": "probe", "image": "busybox:1.36"}]}}),
    );
    let phase = p
        .wait("the probe finished", |p| {
            p.get("Pod", NS, "probe")
                .and_then(|pod| pod["status"]["phase"].as_str().map(str::to_string))
                .filter(|ph| ph == "Succeeded" || ph == "Failed")
        })
        .await;
    assert_eq!(phase, "Failed");
}

#[tokio::test]
async fn agent_cut_from_the_api_server_never_becomes_ready() {
    let p = Platform::start(Faults::default());
    // Server pods may talk inside the namespace and to DNS, nothing else: not the API server.
    let egress = policy(
        "server-egress",
        json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-server"}},
               "policyTypes": ["Egress"],
               "egress": [{"to": [{"podSelector": {}}]},
                          {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                           "ports": [{"protocol": "UDP", "port": 53}]},
                          // A selector never matches the API server (host network): only an ipBlock does.
                          {"to": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 6443}]}]}),
    );
    team_with(&p, vec![egress]).await;
    let ready = model_ready(&p, NS, "credit-risk", "False").await;
    assert_eq!(ready["message"], "ScheduleFailed", "{ready}");
    let pod = server_pod(&p).await;
    assert_eq!(condition(&pod, "Ready").unwrap()["status"], "False");
    // An ipBlock for the API server (and outside storage) fixes it.
    p.create(
        "NetworkPolicy",
        policy(
            "server-to-apiserver",
            json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-server"}},
                   "policyTypes": ["Egress"],
                   "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                               "ports": [{"protocol": "TCP", "port": 6443}, {"protocol": "TCP", "port": 443}]}]}),
        ),
    );
    model_ready(&p, NS, "credit-risk", "True").await;
}

#[tokio::test]
async fn rclone_cut_from_the_store_fails_the_download_in_the_agents_words() {
    let p = Platform::start(Faults::default());
    // Everything but storage: in-namespace, DNS, the API server.
    let egress = policy(
        "server-egress",
        json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-server"}},
               "policyTypes": ["Egress"],
               "egress": [{"to": [{"podSelector": {}}]},
                          {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                           "ports": [{"protocol": "UDP", "port": 53}]},
                          {"to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}], "ports": [{"protocol": "TCP", "port": 6443}]}]}),
    );
    team_with(&p, vec![egress]).await;
    let ready = model_ready(&p, NS, "credit-risk", "False").await;
    assert_eq!(ready["message"], "ModelFailed", "{ready}");
    let reason = ready["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("failed to sync/copy s3://models/credit-risk to /mnt/agent/rclone/")
            && reason.ends_with("Failed rclone request to host:0.0.0.0 port:5572 path:/sync/copy"),
        "{reason}"
    );
}

#[tokio::test]
async fn controller_cut_from_the_scheduler_leaves_models_progressing_with_the_dial_error() {
    let p = Platform::start(Faults::default());
    // The scheduler accepts only its own namespace: the controller (seldon-mesh) is cut off.
    let np = policy(
        "scheduler-same-namespace",
        json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-scheduler"}},
               "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}),
    );
    team_with(&p, vec![np]).await;
    let ready = p
        .wait("ModelProgressing with a dial timeout", |p| {
            let m = p.get("Model", NS, "credit-risk")?;
            condition(&m, "ModelReady").filter(|c| {
                c["message"] == "ModelProgressing"
                    && c["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("i/o timeout"))
            })
        })
        .await;
    let reason = ready["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rpc error: code = Unavailable")
            && reason.contains(":9004: i/o timeout"),
        "{reason}"
    );
}

/// One HTTP/1.1 request over a fresh connection; returns (status, body).
async fn http(addr: std::net::SocketAddr, path: &str, model: &str) -> (u16, String) {
    let mut s = tokio::time::timeout(DEADLINE, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: seldon-mesh\r\nseldon-model: {model}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

#[tokio::test]
async fn envoy_cut_from_the_server_answers_503_for_a_ready_model() {
    let p = Platform::start(Faults::default());
    // Server pods accept everyone but envoy.
    let np = policy(
        "server-not-from-envoy",
        json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-server"}},
               "policyTypes": ["Ingress"],
               "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                   {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["seldon-envoy"]}]}}]}]}),
    );
    team_with(&p, vec![np]).await;
    model_ready(&p, NS, "credit-risk", "True").await;
    let addr = p
        .wait_endpoint("the mesh serves credit-risk", |p| {
            p.state.mesh_addrs.lock().unwrap().get(NS).copied()
        })
        .await;
    // The endpoint is updated before the Model is reported Ready.
    let (status, body) = http(addr, "/v2/models/credit-risk/ready", "credit-risk").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(sim::dataplane::UPSTREAM_TIMEOUT), "{body}");
}

#[tokio::test]
async fn envoy_cut_from_the_scheduler_gets_no_listener() {
    let p = Platform::start(Faults::default());
    // The scheduler accepts everyone but envoy: agents register, envoy gets no xDS.
    let np = policy(
        "scheduler-not-from-envoy",
        json!({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-scheduler"}},
               "policyTypes": ["Ingress"],
               "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchExpressions": [
                   {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["seldon-envoy"]}]}}]}]}),
    );
    team_with(&p, vec![np]).await;
    p.runtime_pods_ready(NS).await;
    model_ready(&p, NS, "credit-risk", "True").await;
    // A Ready model would be on the endpoint before its status says so: there is none.
    assert!(p.state.mesh_addrs.lock().unwrap().get(NS).is_none());
}
