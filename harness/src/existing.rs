//! Existing clusters: context allow-listing and ownership guards for pre-upgrade validation.
//!
//! Against a shared cluster (staging before a platform upgrade) the harness only uses a kubeconfig
//! context the user explicitly allowed (`--allow-context NAME`), only creates or deletes namespaces
//! it labelled as its own, and leaves the Seldon controller install alone unless asked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Namespace;
use serde::{Deserialize, Serialize};

/// Label every object the harness creates carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`] on the harness's objects.
pub const MANAGED_BY_VALUE: &str = "seldon-conformance-harness";
/// Label naming the run that created a namespace.
pub const RUN_LABEL: &str = "seldon-conformance-harness/run";

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
    /// Whether the harness may install/upgrade the Seldon controller release (`--manage-controller`).
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
    /// A namespace exists and is not the harness's.
    #[error(
        "namespace {namespace} already exists and is not labelled {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}: \
         the harness never modifies or deletes namespaces it did not create. Choose other team names."
    )]
    NamespaceNotOwned {
        /// Namespace.
        namespace: String,
    },
    /// The controller install would be changed without `--manage-controller`.
    #[error(
        "refusing to {action} the Seldon controller on context {context:?}: pass --manage-controller to \
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

/// Labels for a namespace the harness creates in `run_id`.
pub fn owned_namespace_labels(run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (RUN_LABEL.to_string(), run_id.to_string()),
    ])
}

/// Whether `ns` carries the harness's ownership label.
pub fn is_owned(ns: &Namespace) -> bool {
    ns.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// What to do about a namespace the setup code wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespacePlan {
    /// It does not exist: create it with [`owned_namespace_labels`].
    Create,
    /// It exists and is the harness's (from this or an earlier run): reuse it.
    ReuseOwned,
}

/// Call before creating namespace `name`; `existing` is what a GET returned (None on 404).
pub fn guard_create_namespace(
    name: &str,
    existing: Option<&Namespace>,
) -> Result<NamespacePlan, ExistingError> {
    match existing {
        None => Ok(NamespacePlan::Create),
        Some(ns) if is_owned(ns) => Ok(NamespacePlan::ReuseOwned),
        Some(_) => Err(ExistingError::NamespaceNotOwned {
            namespace: name.to_string(),
        }),
    }
}

/// Call before deleting `ns` (as just read from the API): only the harness's namespaces may go.
pub fn guard_delete_namespace(ns: &Namespace) -> Result<(), ExistingError> {
    if is_owned(ns) {
        Ok(())
    } else {
        Err(ExistingError::NamespaceNotOwned {
            namespace: ns.metadata.name.clone().unwrap_or_default(),
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
    kube::Client::try_from(config).map_err(|e| ExistingError::Client {
        context: context.to_string(),
        message: e.to_string(),
    })
}

/// Connects to an existing cluster after checking the context was allowed.
pub async fn connect(settings: &ExistingSettings) -> Result<kube::Client, ExistingError> {
    check_context_allowed(&settings.context, &settings.allowed_contexts)?;
    client_for(settings.kubeconfig.as_deref(), &settings.context).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ns(name: &str, labels: &[(&str, &str)]) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn only_explicitly_allowed_contexts_pass() {
        assert!(check_context_allowed("staging", &["staging".into()]).is_ok());
        let e = check_context_allowed("prod", &["staging".into()]).unwrap_err();
        assert!(e.to_string().contains("--allow-context prod"), "{e}");
        assert!(check_context_allowed("Staging", &["staging".into()]).is_err());
        assert!(check_context_allowed("staging", &[]).is_err());
    }

    #[test]
    fn namespaces_are_touched_only_when_owned() {
        assert_eq!(
            guard_create_namespace("t1", None).unwrap(),
            NamespacePlan::Create
        );
        let mine = ns("t1", &[(MANAGED_BY_LABEL, MANAGED_BY_VALUE)]);
        assert_eq!(
            guard_create_namespace("t1", Some(&mine)).unwrap(),
            NamespacePlan::ReuseOwned
        );
        assert!(guard_delete_namespace(&mine).is_ok());
        let theirs = ns("t1", &[(MANAGED_BY_LABEL, "helm")]);
        assert!(guard_create_namespace("t1", Some(&theirs)).is_err());
        let e = guard_delete_namespace(&theirs).unwrap_err();
        assert!(e.to_string().contains("never modifies or deletes"), "{e}");
        assert!(guard_delete_namespace(&ns("kube-system", &[])).is_err());
        let labels = owned_namespace_labels("run-1");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE);
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
