//! Documented Seldon Core v2 control-plane behaviour: runtimes, servers, model scheduling.

use crate::store::{ApiError, Store};

/// How the controller is installed (the Helm setup chart's settings that matter).
#[derive(Debug, Clone, PartialEq)]
pub struct InstallOptions {
    /// `controller.clusterwide`.
    pub clusterwide: bool,
    /// The namespace of the controller, its SeldonConfig and ServerConfigs.
    pub controller_namespace: String,
    /// `controller.watchNamespaces` (only with clusterwide; empty means all).
    pub watch_namespaces: Vec<String>,
}

/// Installs the controller: CRDs, controller namespace and Deployment, SeldonConfig `default`, ServerConfigs.
pub fn install(_store: &Store, _opts: &InstallOptions) -> Result<(), ApiError> {
    Ok(())
}
