//! Which namespaces the installed Seldon controller reconciles, read from its Deployment's
//! `CLUSTERWIDE` and `WATCH_NAMESPACES` as upstream's operator reads its flags
//! (docs/seldon-behaviour.md §1, §22 controller scope).

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};

/// The controller's Deployment name (setup chart).
pub const CONTROLLER_DEPLOYMENT: &str = "seldon-v2-controller-manager";

/// The installed controller's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerScope {
    /// The controller's own namespace (always watched).
    pub namespace: String,
    /// `CLUSTERWIDE` as set (`--clusterwide`).
    pub clusterwide: String,
    /// `WATCH_NAMESPACES` as set (`--watch-namespaces`, comma-separated).
    pub watch_namespaces: String,
}

impl ControllerScope {
    /// Whether the controller reconciles `ns`: its own namespace; with `--clusterwide=true` every
    /// namespace, or only those listed (plus its own) when the list is not empty
    /// (`operator/main.go` getWatchNamespaceConfig).
    pub fn watches(&self, ns: &str) -> bool {
        let listed: Vec<&str> = self
            .watch_namespaces
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        ns == self.namespace
            || (self.clusterwide == "true" && (listed.is_empty() || listed.contains(&ns)))
    }

    /// The controller and its flags, for messages.
    pub fn flags(&self) -> String {
        format!(
            "the controller {}/{CONTROLLER_DEPLOYMENT} runs with CLUSTERWIDE={:?} WATCH_NAMESPACES={:?}",
            self.namespace, self.clusterwide, self.watch_namespaces
        )
    }

    /// Why `ns` is (not) reconciled, naming the Helm values that decide it.
    pub fn explain(&self, ns: &str) -> String {
        let flags = self.flags();
        match (self.watches(ns), self.clusterwide == "true") {
            (true, _) => format!("{flags}, which includes namespace {ns}"),
            (false, false) => format!(
                "{flags}: a controller that is not cluster-wide reconciles only its own namespace, so namespace {ns} is ignored (install with controller.clusterwide=true)"
            ),
            (false, true) => format!(
                "{flags}: controller.watchNamespaces restricts it to those namespaces and its own, so namespace {ns} is ignored (add {ns} to controller.watchNamespaces, or leave the list empty to watch every namespace)"
            ),
        }
    }
}

/// Reads the controller's scope from its Deployment in `controller_ns`.
pub async fn read(client: &Client, controller_ns: &str) -> Result<ControllerScope, String> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), controller_ns);
    let dep = match api.get_opt(CONTROLLER_DEPLOYMENT).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(format!(
                "there is no Deployment {controller_ns}/{CONTROLLER_DEPLOYMENT}: the Seldon controller is not installed there"
            ));
        }
        Err(e) => return Err(format!("the controller Deployment could not be read: {e}")),
    };
    let env = |key: &str| {
        dep.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.iter().find(|c| c.name == "manager"))
            .and_then(|c| c.env.as_ref())
            .and_then(|e| e.iter().find(|v| v.name == key))
            .and_then(|v| v.value.clone())
            .unwrap_or_default()
    };
    Ok(ControllerScope {
        namespace: controller_ns.to_string(),
        clusterwide: env("CLUSTERWIDE"),
        watch_namespaces: env("WATCH_NAMESPACES"),
    })
}

#[cfg(test)]
mod tests {
    use super::ControllerScope;

    fn scope(clusterwide: &str, watch: &str) -> ControllerScope {
        ControllerScope {
            namespace: "seldon-mesh".into(),
            clusterwide: clusterwide.into(),
            watch_namespaces: watch.into(),
        }
    }

    #[test]
    fn watch_namespaces_narrow_only_a_cluster_wide_controller() {
        assert!(scope("true", "").watches("team-a"));
        assert!(scope("true", "team-a, team-b").watches("team-b"));
        assert!(!scope("true", "team-a").watches("team-b"));
        assert!(scope("true", "team-a").watches("seldon-mesh"));
        assert!(!scope("false", "team-a").watches("team-a"));
        assert!(scope("false", "").watches("seldon-mesh"));
        let why = scope("true", "team-a").explain("team-b");
        assert!(
            why.contains("controller.watchNamespaces") && why.contains("team-b"),
            "{why}"
        );
        assert!(
            scope("false", "")
                .explain("team-b")
                .contains("controller.clusterwide=true")
        );
    }
}
