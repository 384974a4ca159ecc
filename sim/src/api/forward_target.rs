//! Where a forwarded pod port leads on the embedded platform, and how a refused one fails.
//!
//! A kubelet forwards a port by dialling `localhost:<port>` inside the pod's network namespace
//! (containerd's CRI `PortForward`). Here the only pod process that really listens is the team's
//! envoy: its `http` container port (9000, REST and gRPC/h2c) leads to the namespace's inference
//! endpoint (`PlatformState::mesh_addrs`). Every other port of every pod is refused, as a port
//! nothing listens on is: harsher than a cluster, where other processes may listen (named in
//! docs/real-apiserver-facts.md, "Port-forward").

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;

use crate::control::PlatformState;
use crate::seldon::NAME_LABEL;
use crate::store::{ResourceType, Store};

/// The envoy component's label value and its data-plane container port name.
const ENVOY: &str = "seldon-envoy";
const ENVOY_DATA_PORT: &str = "http";

/// One pod's ports, dialled as its kubelet would.
#[derive(Clone)]
pub(super) struct PodPorts {
    store: Store,
    state: Arc<PlatformState>,
    namespace: String,
    name: String,
    uid: String,
}

impl PodPorts {
    /// The ports of the pod `namespace/name` with `uid` (the pod seen when the forward began).
    pub(super) fn new(
        store: Store,
        state: Arc<PlatformState>,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> PodPorts {
        PodPorts {
            store,
            state,
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    /// Connects to `port` of the pod, or the text the kubelet writes to the error stream.
    pub(super) async fn connect(&self, port: u16) -> Result<TcpStream, String> {
        let refused = || self.refused(port);
        let addr = self.served_addr(port).ok_or_else(refused)?;
        TcpStream::connect(addr).await.map_err(|_| refused())
    }

    /// The address behind `port` if the pod (still the same, running and ready) serves it.
    fn served_addr(&self, port: u16) -> Option<SocketAddr> {
        let rt = ResourceType::by_plural("", "pods")?;
        let pod = self.store.get(rt, Some(&self.namespace), &self.name)?;
        let same = pod["metadata"]["uid"] == self.uid.as_str();
        if !same || !serving(&pod) || pod["metadata"]["labels"][NAME_LABEL] != ENVOY {
            return None;
        }
        let data_port = pod["spec"]["containers"]
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find(|p| p["name"] == ENVOY_DATA_PORT)?["containerPort"]
            .as_u64()?;
        if data_port != u64::from(port) {
            return None;
        }
        self.state
            .mesh_addrs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.namespace)
            .copied()
    }

    /// The kubelet's error-stream text for a port nothing listens on: the kubelet's prefix
    /// (`error forwarding port … to pod <sandbox id>, uid : …`, the CRI streaming server passes
    /// the sandbox id as the pod and no uid) around containerd's dial failure.
    pub(super) fn refused(&self, port: u16) -> String {
        let sandbox = self.sandbox_id();
        format!(
            "error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network namespace \"/var/run/netns/cni-{netns}\": failed to connect to localhost:{port} inside namespace \"{sandbox}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused ",
            netns = self.netns_id(),
        )
    }

    /// A stable 64-hex sandbox id for the pod, as containerd shows them.
    fn sandbox_id(&self) -> String {
        let digest = Sha256::digest(format!("sandbox/{}", self.uid));
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A stable UUID-shaped network namespace name for the pod (CNI's `cni-<uuid>`).
    fn netns_id(&self) -> String {
        let d: String = Sha256::digest(format!("netns/{}", self.uid))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "{}-{}-{}-{}-{}",
            &d[0..8],
            &d[8..12],
            &d[12..16],
            &d[16..20],
            &d[20..32]
        )
    }
}

/// Whether the pod's containers run and pass readiness (only then does envoy listen here).
fn serving(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Whether the kubelet has a running sandbox for the pod (else: `pod not found`).
pub(super) fn sandbox_running(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null() && pod["status"]["phase"] == "Running"
}
