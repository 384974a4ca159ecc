//! The running controller's scope: which namespaces it reconciles, read from its Deployment.

use serde_json::Value;

use super::components::CONTROLLER_DEPLOYMENT;
use crate::control::context::Ctx;
use crate::control::objects::{deleting, name, namespace, res};
use crate::faults::Defect;

/// The running controller's scope, read from its Deployment as the operator reads its flags.
pub(crate) struct Controller {
    /// `POD_NAMESPACE`: where SeldonConfigs and ServerConfigs live.
    pub namespace: String,
    clusterwide: bool,
    watch: Vec<String>,
}

impl Controller {
    /// Whether objects in `ns` are reconciled.
    pub fn watches(&self, ns: &str) -> bool {
        ns == self.namespace
            || (self.clusterwide && (self.watch.is_empty() || self.watch.iter().any(|w| w == ns)))
    }
}

fn env_value(container: &Value, key: &str) -> Option<String> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == key)?["value"]
        .as_str()
        .map(str::to_string)
}

/// The installed controller, if its Deployment has an available pod.
pub(super) fn controller(ctx: &Ctx) -> Option<Controller> {
    let (deps, _) = ctx.store.list(res("Deployment"), None);
    let d = deps
        .into_iter()
        .find(|d| name(d) == CONTROLLER_DEPLOYMENT && !deleting(d))?;
    if d["status"]["availableReplicas"].as_i64().unwrap_or(0) < 1 {
        return None;
    }
    let manager = d["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "manager")?
        .clone();
    let clusterwide = env_value(&manager, "CLUSTERWIDE").as_deref() == Some("true")
        && !ctx.faults.has(Defect::ControllerNotClusterWide);
    // Upstream (`operator/main.go` getWatchNamespaceConfig): the list narrows a cluster-wide
    // controller to those namespaces plus its own; the defect drops it.
    let watch = env_value(&manager, "WATCH_NAMESPACES")
        .filter(|_| !ctx.faults.has(Defect::WatchNamespacesIgnored))
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Some(Controller {
        namespace: namespace(&d).to_string(),
        clusterwide,
        watch,
    })
}
