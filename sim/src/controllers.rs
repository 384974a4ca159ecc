//! Workload controllers: StatefulSets and Deployments create pods; failures become events.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use tokio::task::JoinHandle;

use crate::faults::Faults;
use crate::store::Store;

/// State the controllers share with the platform handle, beyond stored objects.
#[derive(Default)]
pub struct PlatformState {
    /// Inference endpoint address per namespace with a ready runtime.
    pub mesh_addrs: Mutex<HashMap<String, SocketAddr>>,
    /// Model artifacts by storage URI (what a model store would hold).
    pub artifacts: Mutex<HashMap<String, PathBuf>>,
}

/// Starts every controller; they run until the returned tasks are aborted.
pub fn spawn(
    _store: Store,
    _faults: Faults,
    _state: std::sync::Arc<PlatformState>,
) -> Vec<JoinHandle<()>> {
    Vec::new()
}
