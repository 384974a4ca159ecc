//! Existing clusters: context allow-listing and the controller guard for pre-upgrade validation.
//!
//! Against a shared cluster (staging before a platform upgrade) the harness only uses a kubeconfig
//! context the user explicitly allowed (`--allow-context NAME`) and leaves the Seldon controller
//! install alone unless asked. Ownership of namespaces and objects is enforced where they are
//! written, by `apply` (never takes over an object without the run's labels) and `runtime`
//! (deletes only what the run created, never a namespace it did not create).

use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::kind::helm;
use super::mesh::{BoxFuture, MeshEndpoint};
use super::options::TargetOptions;
use super::portforward::ClusterMesh;
use super::provider::Provider;
use crate::kube::ServerVersion;
use crate::scenario::seldon::InstallSettings;
use crate::scenario::{Scenario, TargetKind};
use crate::tools;

fn default_controller_namespace() -> String {
    "seldon-mesh".to_string()
}

/// How to use an existing cluster (embeddable in a scenario or built from CLI flags).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingSettings {
    /// Kubeconfig file; `None` = `$KUBECONFIG` or `~/.kube/config`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The context to use. Required: the current context is never used implicitly.
    pub context: String,
    /// Contexts the user allowed with `--allow-context` (never read from a scenario file).
    #[serde(skip)]
    pub allowed_contexts: Vec<String>,
    /// Whether the harness may install/upgrade the Seldon controller release (`--manage-install`).
    #[serde(skip)]
    pub manage_controller: bool,
    /// Where the Seldon controller runs (read-only readiness checks).
    #[serde(default = "default_controller_namespace")]
    pub controller_namespace: String,
}

/// Refusals and connection failures on existing clusters.
#[derive(Debug, thiserror::Error)]
pub enum ExistingError {
    /// The context was not allowed on the command line.
    #[error(
        "refusing to use kubeconfig context {context:?}: it was not allowed explicitly. The harness creates \
         and deletes namespaces; re-run with `--allow-context {context}` if this cluster is meant for it{}",
        if .allowed.is_empty() { String::new() } else { format!(" (allowed: {})", .allowed.join(", ")) }
    )]
    ContextNotAllowed {
        /// Requested context.
        context: String,
        /// What was allowed.
        allowed: Vec<String>,
    },
    /// The context is not in the kubeconfig.
    #[error("kubeconfig {kubeconfig} has no context {context:?}; it has: {}", .available.join(", "))]
    UnknownContext {
        /// Kubeconfig description.
        kubeconfig: String,
        /// Requested context.
        context: String,
        /// Contexts present.
        available: Vec<String>,
    },
    /// The controller install would be changed without `--manage-install`.
    #[error(
        "refusing to {action} the Seldon controller on context {context:?}: pass --manage-install to \
         let the harness install or upgrade it (otherwise it only checks the controller is ready)"
    )]
    ControllerNotManaged {
        /// What would have been done.
        action: String,
        /// Context.
        context: String,
    },
    /// Reading the kubeconfig failed.
    #[error("could not read kubeconfig {kubeconfig}: {message}")]
    Kubeconfig {
        /// Kubeconfig description.
        kubeconfig: String,
        /// Error.
        message: String,
    },
    /// Building the client failed.
    #[error("could not build a Kubernetes client for context {context:?}: {message}")]
    Client {
        /// Context.
        context: String,
        /// Error.
        message: String,
    },
}

/// Refuses any context not explicitly allowed (exact, case-sensitive match).
pub fn check_context_allowed(context: &str, allowed: &[String]) -> Result<(), ExistingError> {
    if allowed.iter().any(|a| a == context) {
        Ok(())
    } else {
        Err(ExistingError::ContextNotAllowed {
            context: context.to_string(),
            allowed: allowed.to_vec(),
        })
    }
}

/// Call before installing or upgrading the controller on an existing cluster.
pub fn guard_controller_change(
    settings: &ExistingSettings,
    action: &str,
) -> Result<(), ExistingError> {
    if settings.manage_controller {
        Ok(())
    } else {
        Err(ExistingError::ControllerNotManaged {
            action: action.to_string(),
            context: settings.context.clone(),
        })
    }
}

fn describe(kubeconfig: Option<&Path>) -> String {
    kubeconfig.map_or_else(
        || "($KUBECONFIG or ~/.kube/config)".to_string(),
        |p| p.display().to_string(),
    )
}

/// A client for `context` in `kubeconfig` (no allow-list check: kind clusters the harness created).
pub async fn client_for(
    kubeconfig: Option<&Path>,
    context: &str,
) -> Result<kube::Client, ExistingError> {
    let kc = match kubeconfig {
        Some(p) => kube::config::Kubeconfig::read_from(p),
        None => kube::config::Kubeconfig::read(),
    }
    .map_err(|e| ExistingError::Kubeconfig {
        kubeconfig: describe(kubeconfig),
        message: e.to_string(),
    })?;
    let available: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    if !available.iter().any(|c| c == context) {
        return Err(ExistingError::UnknownContext {
            kubeconfig: describe(kubeconfig),
            context: context.to_string(),
            available,
        });
    }
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| ExistingError::Client {
            context: context.to_string(),
            message: e.to_string(),
        })?;
    crate::kube::retry::client(config).map_err(|e| ExistingError::Client {
        context: context.to_string(),
        message: e.to_string(),
    })
}

/// Connects to an existing cluster after checking the context was allowed.
pub async fn connect(settings: &ExistingSettings) -> Result<kube::Client, ExistingError> {
    check_context_allowed(&settings.context, &settings.allowed_contexts)?;
    client_for(settings.kubeconfig.as_deref(), &settings.context).await
}

/// An existing cluster the harness connected to.
struct Existing {
    client: kube::Client,
    kubeconfig: Option<PathBuf>,
    mesh: ClusterMesh,
    helm: Option<(Arc<helm::Installer>, InstallSettings)>,
}

/// Connects to an existing cluster through an allowed context; installs Seldon only with
/// `--manage-install`, otherwise checks its controller is ready.
pub async fn start(opts: &TargetOptions, scenario: &Scenario) -> anyhow::Result<Box<dyn Provider>> {
    let Some(context) = opts.context.clone() else {
        bail!(
            "the `existing` target needs a kubeconfig context: pass `--context NAME --allow-context NAME`"
        );
    };
    let install = opts.install_settings(scenario);
    let settings = ExistingSettings {
        kubeconfig: std::env::var_os("KUBECONFIG")
            .map(PathBuf::from)
            .filter(|p| p.is_file()),
        context: context.clone(),
        allowed_contexts: opts.allow_contexts.clone(),
        manage_controller: opts.manage_install,
        controller_namespace: install.controller_namespace.clone(),
    };
    let client = connect(&settings).await?;
    let version = ServerVersion::read(&client)
        .await
        .map_err(anyhow::Error::msg)?;
    let stated = version.check().map_err(anyhow::Error::msg)?;
    tracing::info!(context = %settings.context, "{stated}");
    eprintln!("{stated}");
    if !opts.manage_install {
        preflight(&client, &settings).await?;
        preflight_kafka(&client, &install).await?;
    }
    let readiness = helm::KubeReadiness::new(client.clone());
    let mut helm = None;
    if opts.manage_install {
        guard_controller_change(&settings, "install or upgrade")?;
        let runner: tools::SharedRunner = Arc::new(tools::DuctRunner);
        let target = helm::KubeTarget {
            kubeconfig: settings.kubeconfig.clone(),
            context,
        };
        let installer = Arc::new(helm::Installer::new(runner, target, opts.state_dir()));
        installer.install(&install, &readiness).await?;
        // Kafka for `kafka: installed`, as on kind; the sealed-secrets controller is not installed
        // here: a shared cluster may run its own in kube-system, which the harness must not touch.
        super::kind::addons::install_kafka(&installer, &install, &readiness).await?;
        helm = Some((installer, install.clone()));
    } else if opts.setup_only {
        // Setup only applies objects: nothing it does needs the controller running.
        eprintln!(
            "setup only: not waiting for the Seldon controller in `{}` (its namespace and CRDs were checked)",
            install.controller_namespace
        );
    } else {
        use helm::ControllerReadiness;
        readiness
            .wait_ready(&install.controller_namespace, Duration::from_secs(60))
            .await
            .context("the Seldon controller is not ready on this cluster (the harness does not touch it without --manage-install)")?;
    }
    Ok(Box::new(Existing {
        mesh: ClusterMesh::new(client.clone()),
        client,
        kubeconfig: settings.kubeconfig,
        helm,
    }))
}

/// Fails at once, naming the cause, when Seldon is not installed where the run expects it: the
/// controller namespace or one of Seldon's CRDs is missing (instead of waiting for a controller
/// that cannot appear).
pub async fn preflight(client: &kube::Client, settings: &ExistingSettings) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let ns = &settings.controller_namespace;
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let found = namespaces
        .get_opt(ns)
        .await
        .with_context(|| format!("reading namespace {ns} on context {:?}", settings.context))?;
    if found.is_none() {
        bail!(
            "the Seldon controller namespace `{ns}` does not exist on context {:?}: Seldon Core v2 is not installed \
             there. Install it (or pass --manage-install to let the harness), or set the scenario's \
             `spec.seldon.controllerNamespace` to where it runs",
            settings.context
        );
    }
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let mut missing = Vec::new();
    for name in helm::SELDON_CRDS {
        if crds
            .get_opt(name)
            .await
            .with_context(|| format!("reading CustomResourceDefinition {name}"))?
            .is_none()
        {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        bail!(
            "Seldon's CRDs are missing on context {:?}: {} (install the `{}` chart, or pass --manage-install)",
            settings.context,
            missing.join(", "),
            helm::CRDS_RELEASE
        );
    }
    Ok(())
}

/// For a scenario declaring `kafka: installed` on a cluster the harness does not manage: fails
/// at once, with what to do, when the Kafka it stands for (Strimzi's `seldon` cluster in the
/// controller namespace, the bootstrap Service the setup chart is pointed at) is not there,
/// instead of letting the runtime's Kafka components crash-loop until the checks time out.
pub async fn preflight_kafka(
    client: &kube::Client,
    install: &InstallSettings,
) -> anyhow::Result<()> {
    use crate::scenario::seldon::{KAFKA_CLUSTER, Kafka, installed_kafka_bootstrap};
    use k8s_openapi::api::core::v1::Service;
    if install.kafka != Kafka::Installed {
        return Ok(());
    }
    let ns = &install.controller_namespace;
    let service = format!("{KAFKA_CLUSTER}-kafka-bootstrap");
    let services: kube::Api<Service> = kube::Api::namespaced(client.clone(), ns);
    let found = services
        .get_opt(&service)
        .await
        .with_context(|| format!("reading Service {ns}/{service}"))?;
    if found.is_none() {
        bail!(
            "the scenario declares `kafka: installed`, but this cluster has no Service {ns}/{service} \
             (the bootstrap `{}` of a Strimzi Kafka named `{KAFKA_CLUSTER}`), so the runtime's model gateway, \
             pipeline gateway and dataflow engine would crash-loop: install Kafka there (README \"Kafka\"), pass \
             --manage-install to let the harness install Strimzi and Kafka, or declare \
             `kafka: {{external: {{bootstrap: host:port}}}}` for the broker you run",
            installed_kafka_bootstrap(ns)
        );
    }
    Ok(())
}

impl Provider for Existing {
    fn kind(&self) -> TargetKind {
        TargetKind::Existing
    }

    fn client(&self) -> kube::Client {
        self.client.clone()
    }

    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>> {
        Box::pin(self.mesh.endpoint(namespace))
    }

    fn kubeconfig(&self) -> Option<&Path> {
        self.kubeconfig.as_deref()
    }

    fn in_place_upgrade(&self) -> Option<Arc<dyn super::upgrade::InPlaceUpgrade>> {
        super::kind::helm_upgrade::in_place(self.helm.as_ref()?, &self.client)
    }

    fn finish(self: Box<Self>, _run_failed: bool) -> BoxFuture<'static, ()> {
        // Nothing to stop: the cluster is not ours. The run's objects were cleaned up by the run.
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_explicitly_allowed_contexts_pass() {
        assert!(check_context_allowed("staging", &["staging".into()]).is_ok());
        let e = check_context_allowed("prod", &["staging".into()]).unwrap_err();
        assert!(e.to_string().contains("--allow-context prod"), "{e}");
        assert!(check_context_allowed("Staging", &["staging".into()]).is_err());
        assert!(check_context_allowed("staging", &[]).is_err());
    }

    #[test]
    fn controller_changes_need_the_flag() {
        let mut s = ExistingSettings {
            kubeconfig: None,
            context: "staging".into(),
            allowed_contexts: vec!["staging".into()],
            manage_controller: false,
            controller_namespace: "seldon-mesh".into(),
        };
        assert!(guard_controller_change(&s, "upgrade").is_err());
        s.manage_controller = true;
        assert!(guard_controller_change(&s, "upgrade").is_ok());
    }
}
