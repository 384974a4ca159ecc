//! Reaching a namespace's `seldon-mesh` from the host on real clusters through the API server.
//!
//! `seldon-mesh` is a Service in front of the team's envoy (port 80 → targetPort `http`, envoy
//! 9000, REST and gRPC/h2c on the same port). Instead of host ports or LoadBalancers (which stay
//! `<pending>` on kind), the harness opens a local `127.0.0.1:0` listener and forwards each
//! connection to a ready pod behind the Service through the API server's pod port-forward
//! (kube-rs `Api<Pod>::portforward`, feature `ws`), re-resolving the pod per connection so an
//! envoy restart does not break later requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::mesh::MeshEndpoint;

/// The Service every Seldon runtime namespace exposes its data plane on.
pub const MESH_SERVICE: &str = "seldon-mesh";
/// The Service port clients use (REST and gRPC).
pub const MESH_PORT: i32 = 80;
/// Bound on resolving the pod and opening the forward for one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The pod and container port a Service port leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardTarget {
    /// Pod name.
    pub pod: String,
    /// Container port.
    pub port: u16,
}

/// Port-forward failures.
#[derive(Debug, thiserror::Error)]
pub enum PortForwardError {
    /// The Service is missing.
    #[error(
        "Service {namespace}/{service} does not exist: is the team's SeldonRuntime created and reconciled?"
    )]
    NoService {
        /// Namespace.
        namespace: String,
        /// Service.
        service: String,
    },
    /// The Service has no selector (endpoints managed by hand).
    #[error(
        "Service {namespace}/{service} has no pod selector, so no pod can be chosen to forward to"
    )]
    NoSelector {
        /// Namespace.
        namespace: String,
        /// Service.
        service: String,
    },
    /// The Service does not expose the port.
    #[error("Service {namespace}/{service} has no port {port} (it has: {available})")]
    NoSuchPort {
        /// Namespace.
        namespace: String,
        /// Service.
        service: String,
        /// Wanted port.
        port: i32,
        /// Ports present.
        available: String,
    },
    /// No ready pod matches.
    #[error("no ready pod behind Service {namespace}/{service} ({detail})")]
    NoReadyPod {
        /// Namespace.
        namespace: String,
        /// Service.
        service: String,
        /// What was found instead.
        detail: String,
    },
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(String),
    /// The local listener failed.
    #[error("local listener: {0}")]
    Io(#[from] std::io::Error),
}

fn labels_match(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

fn pod_ready(pod: &Pod) -> Result<(), String> {
    if pod.metadata.deletion_timestamp.is_some() {
        return Err("terminating".into());
    }
    let status = pod.status.as_ref().ok_or("no status")?;
    let phase = status.phase.as_deref().unwrap_or("Unknown");
    if phase != "Running" {
        return Err(format!("phase {phase}"));
    }
    let ready = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(
            format!("Ready={} {}", c.status, c.reason.as_deref().unwrap_or(""))
                .trim()
                .to_string(),
        ),
        None => Err("no Ready condition".into()),
    }
}

fn container_port_named(pod: &Pod, name: &str) -> Option<i32> {
    pod.spec.as_ref()?.containers.iter().find_map(|c| {
        c.ports
            .as_ref()?
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port)
    })
}

/// Picks a ready pod behind `service` and the container port its `service_port` targets.
///
/// Pods are tried in name order (deterministic); a named targetPort is looked up in each pod's
/// containers, as kube-proxy does.
pub fn resolve_target(
    service: &Service,
    pods: &[Pod],
    service_port: i32,
) -> Result<ForwardTarget, PortForwardError> {
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    let spec = service.spec.as_ref();
    let selector = spec
        .and_then(|s| s.selector.clone())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PortForwardError::NoSelector {
            namespace: namespace.clone(),
            service: name.clone(),
        })?;
    let ports = spec.and_then(|s| s.ports.clone()).unwrap_or_default();
    let sp = ports
        .iter()
        .find(|p| p.port == service_port)
        .ok_or_else(|| PortForwardError::NoSuchPort {
            namespace: namespace.clone(),
            service: name.clone(),
            port: service_port,
            available: ports
                .iter()
                .map(|p| match &p.name {
                    Some(n) => format!("{} ({n})", p.port),
                    None => p.port.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let target = sp.target_port.clone().unwrap_or(IntOrString::Int(sp.port));
    let mut candidates: Vec<&Pod> = pods.iter().filter(|p| labels_match(&selector, p)).collect();
    candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rejected = Vec::new();
    for pod in &candidates {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        if let Err(why) = pod_ready(pod) {
            rejected.push(format!("{pod_name}: {why}"));
            continue;
        }
        let port = match &target {
            IntOrString::Int(n) => Some(*n),
            IntOrString::String(port_name) => container_port_named(pod, port_name),
        };
        match port.and_then(|p| u16::try_from(p).ok()) {
            Some(port) => {
                return Ok(ForwardTarget {
                    pod: pod_name,
                    port,
                });
            }
            None => rejected.push(format!("{pod_name}: no container port named {target:?}")),
        }
    }
    let selector_text = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    Err(PortForwardError::NoReadyPod {
        namespace,
        service: name,
        detail: if candidates.is_empty() {
            format!("no pod matches selector {selector_text}")
        } else {
            rejected.join("; ")
        },
    })
}

async fn resolve_live(
    client: &kube::Client,
    namespace: &str,
) -> Result<ForwardTarget, PortForwardError> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let svc = services
        .get_opt(MESH_SERVICE)
        .await
        .map_err(|e| PortForwardError::Kube(e.to_string()))?
        .ok_or_else(|| PortForwardError::NoService {
            namespace: namespace.to_string(),
            service: MESH_SERVICE.to_string(),
        })?;
    let selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .map(|s| {
            s.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .map_err(|e| PortForwardError::Kube(e.to_string()))?;
    resolve_target(&svc, &list.items, MESH_PORT)
}

/// A local listener forwarding to a namespace's `seldon-mesh`; stops when dropped.
pub struct MeshForward {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MeshForward {
    /// Checks a ready target exists, then listens on `127.0.0.1:0` and forwards every connection.
    pub async fn start(client: kube::Client, namespace: &str) -> Result<Self, PortForwardError> {
        // Fail early with a clear reason rather than on the first request.
        resolve_live(&client, namespace).await?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let local_addr = listener.local_addr()?;
        let namespace = namespace.to_string();
        let task = tokio::spawn(async move {
            // Connection tasks live in the set, so aborting the accept loop ends them too.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => {
                            let client = client.clone();
                            let namespace = namespace.clone();
                            connections.spawn(async move {
                                if let Err(e) = forward_one(client, &namespace, socket).await {
                                    tracing::warn!(%namespace, error = %e, "seldon-mesh port-forward connection failed");
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "port-forward listener failed");
                            break;
                        }
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Self { local_addr, task })
    }

    /// The local address to send requests to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:<port>` for REST and gRPC (h2c) clients.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }
}

impl Drop for MeshForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward_one(
    client: kube::Client,
    namespace: &str,
    mut socket: TcpStream,
) -> Result<(), PortForwardError> {
    let (mut forwarder, port) = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let target = resolve_live(&client, namespace).await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let forwarder = pods
            .portforward(&target.pod, &[target.port])
            .await
            .map_err(|e| {
                PortForwardError::Kube(format!("port-forward to pod {}: {e}", target.pod))
            })?;
        Ok::<_, PortForwardError>((forwarder, target.port))
    })
    .await
    .map_err(|_| {
        PortForwardError::Kube(format!(
            "opening the port-forward took longer than {CONNECT_TIMEOUT:?}"
        ))
    })??;
    let mut upstream = forwarder
        .take_stream(port)
        .ok_or_else(|| PortForwardError::Kube("port-forward stream missing".into()))?;
    let copied = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
    drop(upstream);
    let joined = forwarder.join().await;
    copied?;
    joined.map_err(|e| PortForwardError::Kube(e.to_string()))
}

/// `seldon-mesh` access on a cluster: one port-forward per namespace, opened on first use.
pub struct ClusterMesh {
    client: kube::Client,
    forwards: tokio::sync::Mutex<BTreeMap<String, MeshForward>>,
}

impl ClusterMesh {
    /// Access through `client`'s API server.
    pub fn new(client: kube::Client) -> ClusterMesh {
        ClusterMesh {
            client,
            forwards: Default::default(),
        }
    }

    /// The local address forwarding to `seldon-mesh` in `namespace`.
    pub async fn endpoint(&self, namespace: &str) -> anyhow::Result<MeshEndpoint> {
        use anyhow::Context as _;
        let mut forwards = self.forwards.lock().await;
        if !forwards.contains_key(namespace) {
            let f = MeshForward::start(self.client.clone(), namespace)
                .await
                .with_context(|| format!("port-forwarding to seldon-mesh in `{namespace}`"))?;
            forwards.insert(namespace.to_string(), f);
        }
        let addr = forwards[namespace].local_addr();
        Ok(MeshEndpoint {
            rest_base: format!("http://{addr}"),
            grpc_addr: addr.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(selector: serde_json::Value, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "seldon-mesh", "namespace": "team-a"},
            "spec": {"selector": selector, "ports": ports},
        }))
        .unwrap()
    }

    fn pod(name: &str, app: &str, phase: &str, ready: &str, ports: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "team-a", "labels": {"app": app}},
            "spec": {"containers": [{"name": "envoy", "ports": ports}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]},
        }))
        .unwrap()
    }

    fn mesh() -> Service {
        service(
            serde_json::json!({"app": "seldon-envoy"}),
            serde_json::json!([
                {"name": "data", "port": 80, "targetPort": "http"},
                {"name": "stats", "port": 9003, "targetPort": 9003}
            ]),
        )
    }

    fn envoy_ports() -> serde_json::Value {
        serde_json::json!([{"name": "http", "containerPort": 9000}, {"name": "envoy-stats", "containerPort": 9003}])
    }

    #[test]
    fn named_target_port_resolves_to_the_ready_pods_container_port() {
        let pods = vec![
            pod(
                "seldon-envoy-b",
                "seldon-envoy",
                "Running",
                "True",
                envoy_ports(),
            ),
            pod(
                "seldon-envoy-a",
                "seldon-envoy",
                "Running",
                "False",
                envoy_ports(),
            ),
            pod(
                "mlserver-0",
                "mlserver",
                "Running",
                "True",
                serde_json::json!([{"name": "http", "containerPort": 9001}]),
            ),
        ];
        let t = resolve_target(&mesh(), &pods, 80).unwrap();
        assert_eq!(
            t,
            ForwardTarget {
                pod: "seldon-envoy-b".into(),
                port: 9000
            }
        );
        let t = resolve_target(&mesh(), &pods, 9003).unwrap();
        assert_eq!(t.port, 9003);
    }

    #[test]
    fn missing_pieces_are_explained() {
        let not_ready = vec![pod(
            "seldon-envoy-a",
            "seldon-envoy",
            "Pending",
            "False",
            envoy_ports(),
        )];
        let e = resolve_target(&mesh(), &not_ready, 80)
            .unwrap_err()
            .to_string();
        assert!(e.contains("seldon-envoy-a: phase Pending"), "{e}");
        let e = resolve_target(&mesh(), &[], 80).unwrap_err().to_string();
        assert!(
            e.contains("no pod matches selector app=seldon-envoy"),
            "{e}"
        );
        let e = resolve_target(&mesh(), &[], 8080).unwrap_err().to_string();
        assert!(
            e.contains("has no port 8080 (it has: 80 (data), 9003 (stats))"),
            "{e}"
        );
        let no_named = vec![pod(
            "seldon-envoy-a",
            "seldon-envoy",
            "Running",
            "True",
            serde_json::json!([]),
        )];
        let e = resolve_target(&mesh(), &no_named, 80)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no container port named"), "{e}");
        let headless = service(serde_json::json!({}), serde_json::json!([{"port": 80}]));
        assert!(matches!(
            resolve_target(&headless, &[], 80),
            Err(PortForwardError::NoSelector { .. })
        ));
    }

    #[test]
    fn missing_target_port_means_the_service_port() {
        let svc = service(
            serde_json::json!({"app": "seldon-envoy"}),
            serde_json::json!([{"port": 80}]),
        );
        let pods = vec![pod(
            "seldon-envoy-a",
            "seldon-envoy",
            "Running",
            "True",
            envoy_ports(),
        )];
        assert_eq!(resolve_target(&svc, &pods, 80).unwrap().port, 80);
    }
}
