//! How checks reach a namespace's `seldon-mesh`: each target implements [`MeshAccess`] (the
//! embedded platform directly, clusters through the API server's port-forward).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::kube::Deadline;
use crate::scenario::Protocol;
use crate::v2::{self, InferenceClient};

/// How to reach a namespace's `seldon-mesh` (REST and gRPC share one port, as Seldon's envoy does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshEndpoint {
    /// Base URL for V2 REST, e.g. `http://127.0.0.1:41234`.
    pub rest_base: String,
    /// `host:port` for V2 gRPC (plaintext h2c).
    pub grpc_addr: String,
}

/// A boxed future, so targets can implement [`MeshAccess`] without async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed future that need not be `Send` (the kind model store's container handle is not `Sync`).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Gives checks a way to reach `seldon-mesh` in a namespace; implemented by each target.
pub trait MeshAccess: Send + Sync {
    /// The endpoint of the namespace's `seldon-mesh`, opening a port-forward if the target needs one.
    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>>;
}

/// A V2 client for the namespace's `seldon-mesh` over the check's protocol.
pub async fn v2_client(
    mesh: &dyn MeshAccess,
    namespace: &str,
    protocol: Protocol,
    deadline: Deadline,
) -> Result<InferenceClient, String> {
    let endpoint = mesh
        .endpoint(namespace)
        .await
        .map_err(|e| format!("cannot reach seldon-mesh of namespace {namespace}: {e:#}"))?;
    let client = match protocol {
        Protocol::Rest => InferenceClient::rest(&endpoint.rest_base),
        Protocol::Grpc => InferenceClient::grpc(&endpoint.grpc_addr),
    }
    .map_err(|e| format!("cannot build a V2 client for {namespace}: {e}"))?;
    let per_call = deadline
        .remaining()
        .min(v2::DEFAULT_TIMEOUT)
        .max(Duration::from_secs(1));
    Ok(client.with_timeout(per_call))
}
