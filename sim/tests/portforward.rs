//! `pods/portforward` on the embedded platform, through the clients that use it: kube-rs (WebSocket
//! `v4.channel.k8s.io`, as the harness's existing target) and the real kubectl (SPDY/3.1 tunnelled
//! through a WebSocket, and plain SPDY/3.1). A forward to the team's envoy reaches the namespace's
//! V2 endpoint; refused ports, pods without a running sandbox and users without `create` on
//! `pods/portforward` fail as on a cluster (docs/real-apiserver-facts.md, "Port-forward").

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::wait_until;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use sim::Platform;
use sim::faults::Faults;
use sim::seldon::{InstallOptions, Kafka};
use sim::store::ResourceType;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const NS: &str = "financial-ml";
// gs: the remote every agent preloads (the runtime chart's seldon-rclone-gs-public, created below).
const URI: &str = "gs://models/credit-risk";
const DEADLINE: Duration = Duration::from_secs(30);

fn rt(plural: &str) -> &'static ResourceType {
    ResourceType::by_plural(
        match plural {
            "seldonruntimes" | "servers" | "models" => "mlops.seldon.io",
            "roles" | "rolebindings" => "rbac.authorization.k8s.io",
            _ => "",
        },
        plural,
    )
    .unwrap()
}

fn credit_risk_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/credit-risk")
}

/// The first credit-risk sample: a V2 request and its expected first output.
fn sample() -> (Value, f64) {
    let text = std::fs::read_to_string(credit_risk_dir().join("samples.json")).unwrap();
    let s: Value = serde_json::from_str(&text).unwrap();
    let first = &s["samples"][0];
    (
        json!({"inputs": first["inputs"]}),
        first["outputs"][0]["data"][0].as_f64().unwrap(),
    )
}

/// A platform with Seldon, the team's runtime and the credit-risk model Ready and served.
async fn team_platform() -> Platform {
    let p = Platform::start(Faults::default()).unwrap();
    p.install_seldon(&InstallOptions {
        kafka: Kafka::Installed,
        ..InstallOptions::default()
    })
    .unwrap();
    // kind's default StorageClass, as the harness's embedded target declares it: the scheduler's claim binds.
    p.install_kind_storage().unwrap();
    p.publish_artifact(URI, &credit_risk_dir()).unwrap();
    let s = p.store();
    s.create(rt("namespaces"), json!({"metadata": {"name": NS}}))
        .unwrap();
    // Every agent preloads it and exits at startup without it (docs/seldon-behaviour.md §12).
    s.create(rt("secrets"), json!({"metadata": {"name": "seldon-rclone-gs-public", "namespace": NS},
        "stringData": {"gs": "type: google cloud storage\nname: gs\nparameters:\n  anonymous: true\n"}}))
        .unwrap();
    let overrides: Vec<Value> = [
        "hodometer",
        "seldon-scheduler",
        "seldon-envoy",
        "seldon-dataflow-engine",
        "seldon-modelgateway",
        "seldon-pipelinegateway",
        "mlserver",
    ]
    .iter()
    .map(|n| json!({"name": n, "replicas": 1}))
    .collect();
    s.create(rt("seldonruntimes"), json!({
        "metadata": {"name": "runtime", "namespace": NS},
        "spec": {"config": {"agentConfig": {"rclone": {}}, "kafkaConfig": {}, "serviceConfig": {}, "tracingConfig": {}},
                 "overrides": overrides, "seldonConfig": "default"},
    }))
    .unwrap();
    s.create(rt("servers"), json!({"metadata": {"name": "mlserver", "namespace": NS}, "spec": {"serverConfig": "mlserver"}}))
        .unwrap();
    s.create(rt("models"), json!({"metadata": {"name": "credit", "namespace": NS}, "spec": {"storageUri": URI, "requirements": ["sklearn"]}}))
        .unwrap();
    wait_until(
        "the credit model Ready and the endpoint up",
        DEADLINE,
        || {
            let ready = s.get(rt("models"), Some(NS), "credit").is_some_and(|m| {
                m["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            });
            ready && p.mesh_addr(NS).is_some()
        },
    )
    .await;
    p
}

fn envoy_pod(p: &Platform) -> String {
    p.store()
        .list(rt("pods"), Some(NS))
        .0
        .into_iter()
        .find(|pod| pod["metadata"]["labels"]["app.kubernetes.io/name"] == "seldon-envoy")
        .and_then(|pod| pod["metadata"]["name"].as_str().map(str::to_string))
        .expect("an envoy pod")
}

async fn client_as(p: &Platform, user: Option<&str>) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&p.kubeconfig_yaml()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.auth_info.impersonate = user.map(str::to_string);
    kube::Client::try_from(config).unwrap()
}

/// One V2 inference over `io` (HTTP/1.1, `Connection: close`): the status and body.
async fn infer_over<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) -> (u16, String) {
    let (req, _) = sample();
    let body = req.to_string();
    let head = format!(
        "POST /v2/models/credit/infer HTTP/1.1\r\nHost: seldon-mesh\r\nseldon-model: credit\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    io.write_all(head.as_bytes()).await.unwrap();
    io.write_all(body.as_bytes()).await.unwrap();
    // Read exactly one response (by Content-Length) and drop the stream, as an HTTP client does:
    // the client side ends the forward first.
    let out = tokio::time::timeout(DEADLINE, async {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = io.read(&mut buf).await.unwrap();
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .expect("a Content-Length");
                if body.len() >= len {
                    return text;
                }
            }
            assert!(n > 0, "the stream ended mid-response: {text}");
        }
    })
    .await
    .expect("the response arrives in time");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn assert_credit_answer(status: u16, body: &str) {
    assert_eq!(status, 200, "{body}");
    let got: Value = serde_json::from_str(body).unwrap();
    let y = got["outputs"][0]["data"][0].as_f64().unwrap();
    let (_, expected) = sample();
    assert!((y - expected).abs() < 1e-6, "{y} vs {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_forwards_to_envoy_and_a_v2_request_is_answered() {
    let p = team_platform().await;
    let pods: Api<Pod> = Api::namespaced(client_as(&p, None).await, NS);
    let envoy = envoy_pod(&p);
    for _ in 0..2 {
        // One forward per connection, as the harness opens them.
        let mut f = pods.portforward(&envoy, &[9000]).await.unwrap();
        let stream = f.take_stream(9000).unwrap();
        let (status, body) = infer_over(stream).await;
        assert_credit_answer(status, &body);
        tokio::time::timeout(DEADLINE, f.join())
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_nothing_listens_on_is_refused_in_the_kubelets_words() {
    let p = team_platform().await;
    let pods: Api<Pod> = Api::namespaced(client_as(&p, None).await, NS);
    // envoy's stats port: declared, but nothing of the embedded platform listens there.
    let mut f = pods.portforward(&envoy_pod(&p), &[9003]).await.unwrap();
    let error = tokio::time::timeout(DEADLINE, f.take_error(9003).unwrap())
        .await
        .unwrap()
        .expect("an error message");
    assert!(
        error.starts_with("error forwarding port 9003 to pod ")
            && error.contains("connect: connection refused"),
        "{error}"
    );
    let mut stream = f.take_stream(9003).unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn missing_and_not_running_pods_fail_as_on_a_cluster() {
    let p = Platform::start_api_only(Faults::default()).unwrap();
    let pods: Api<Pod> = Api::namespaced(client_as(&p, None).await, "default");
    let e = pods
        .portforward("nope", &[80])
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("pods \"nope\" not found"), "{e}");
    // Without controllers nothing starts the pod: no sandbox, so the kubelet has no such pod.
    p.store()
        .create(rt("pods"), json!({
            "metadata": {"name": "idle", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "ports": [{"containerPort": 80}]}]},
        }))
        .unwrap();
    let e = pods
        .portforward("idle", &[80])
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("pod not found (\"idle_default\")"), "{e}");
}

#[tokio::test]
async fn port_forward_needs_create_on_the_subresource() {
    let p = Platform::start_api_only(Faults::default()).unwrap();
    let s = p.store();
    s.create(
        rt("pods"),
        json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        }),
    )
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client_as(&p, Some("alice")).await, "default");
    let e = pods.portforward("web", &[80]).await.err().unwrap();
    let kube::Error::Api(status) = &e else {
        panic!("{e}")
    };
    assert_eq!(status.code, 403, "{e}");
    assert!(
        status.message.contains(
            "User \"alice\" cannot get resource \"pods/portforward\" in API group \"\" in the namespace \"default\""
        ),
        "{e}"
    );
    // `get` alone (what a WebSocket GET maps to) is not enough since Kubernetes 1.35.
    s.create(
        rt("roles"),
        json!({
            "metadata": {"name": "pf", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["get"]}],
        }),
    )
    .unwrap();
    s.create(rt("rolebindings"), json!({
        "metadata": {"name": "pf", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pf"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
    }))
    .unwrap();
    let e = pods
        .portforward("web", &[80])
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot create resource \"pods/portforward\""),
        "{e}"
    );
    // With `create` too, authorization passes and the pod's own state decides.
    let mut role = s.get(rt("roles"), Some("default"), "pf").unwrap();
    role["rules"][0]["verbs"] = json!(["get", "create"]);
    s.update(rt("roles"), role).unwrap();
    let e = pods
        .portforward("web", &[80])
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("pod not found (\"web_default\")"), "{e}");
}

fn kubectl_on_path() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

/// `kubectl port-forward svc/seldon-mesh :80`, with WebSocket tunnelling on or off: returns the
/// local port once kubectl prints "Forwarding from", and the running kubectl.
async fn kubectl_forward(
    p: &Platform,
    dir: &std::path::Path,
    websockets: bool,
    (what, port, remote): (&str, &str, &str),
) -> Option<(u16, tokio::process::Child, tokio::task::JoinHandle<String>)> {
    let Some(bin) = kubectl_on_path() else {
        eprintln!("SKIPPED: kubectl is not on PATH; install kubectl to run the port-forward tests");
        return None;
    };
    let kubeconfig = dir.join("kubeconfig");
    p.write_kubeconfig(&kubeconfig).unwrap();
    let mut child = tokio::process::Command::new(bin)
        .env("KUBECONFIG", &kubeconfig)
        .env(
            "KUBECTL_PORT_FORWARD_WEBSOCKETS",
            if websockets { "true" } else { "false" },
        )
        .arg(format!("--cache-dir={}", dir.join("cache").display()))
        .args(["port-forward", "-n", NS, what, port, "-v=4"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // kubectl's log (-v=4) says when it falls back from the WebSocket tunnel to plain SPDY.
    let log = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            text.push_str(&l);
            text.push('\n');
        }
        text
    });
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let port = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // "Forwarding from 127.0.0.1:43567 -> 9000"
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                let (port, target) = rest.split_once(" -> ").unwrap();
                assert_eq!(target, remote, "{line}");
                return Some(port.parse::<u16>().unwrap());
            }
        }
        None
    })
    .await
    .expect("kubectl prints \"Forwarding from\" in time");
    let Some(port) = port else {
        let _ = child.start_kill();
        panic!("kubectl port-forward ended: {}", log.await.unwrap());
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some((port, child, log))
}

async fn kubectl_round_trip(websockets: bool) {
    let p = team_platform().await;
    let dir = tempfile::tempdir().unwrap();
    let Some((port, mut kubectl, log)) = kubectl_forward(
        &p,
        dir.path(),
        websockets,
        ("svc/seldon-mesh", ":80", "9000"),
    )
    .await
    else {
        return;
    };
    for _ in 0..2 {
        let conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (status, body) = infer_over(conn).await;
        assert_credit_answer(status, &body);
    }
    // A real HTTP client through the forwarded port too (keep-alive, several requests).
    let (req, _) = sample();
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = tokio::time::timeout(
            DEADLINE,
            http.post(format!("http://127.0.0.1:{port}/v2/models/credit/infer"))
                .header("seldon-model", "credit")
                .json(&req)
                .send(),
        )
        .await
        .unwrap()
        .unwrap();
        let status = r.status().as_u16();
        assert_credit_answer(status, &r.text().await.unwrap());
    }
    assert!(
        kubectl.try_wait().unwrap().is_none(),
        "kubectl port-forward exited"
    );
    kubectl.kill().await.unwrap();
    let log = tokio::time::timeout(DEADLINE, log).await.unwrap().unwrap();
    // The protocol asked for really carried it (client-go logs these at -v=4): the WebSocket
    // tunnel without falling back to the plain SPDY upgrade, or plain SPDY only.
    assert_eq!(
        log.contains("Before WebSocket Upgrade Connection"),
        websockets,
        "{log}"
    );
    assert!(!log.contains("fallback to secondary dialer"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_tunnels_spdy_through_a_websocket() {
    kubectl_round_trip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_over_plain_spdy() {
    kubectl_round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reports_the_kubelets_error_for_a_refused_port() {
    let p = team_platform().await;
    let dir = tempfile::tempdir().unwrap();
    let pod = format!("pod/{}", envoy_pod(&p));
    let Some((port, mut kubectl, log)) =
        kubectl_forward(&p, dir.path(), true, (&pod, ":9003", "9003")).await
    else {
        return;
    };
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // The forward fails on the error stream and kubectl drops the local connection.
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, conn.read_to_end(&mut rest))
        .await
        .expect("kubectl closes the local connection in time")
        .ok();
    assert!(rest.is_empty());
    // Recent kubectl ends the whole forward on an error-stream message; its log says why.
    let _ = tokio::time::timeout(DEADLINE, kubectl.wait()).await;
    let _ = kubectl.start_kill();
    let log = tokio::time::timeout(DEADLINE, log).await.unwrap().unwrap();
    assert!(
        log.contains("an error occurred forwarding ")
            && log.contains("-> 9003: error forwarding port 9003 to pod ")
            && log.contains("connect: connection refused"),
        "{log}"
    );
}
