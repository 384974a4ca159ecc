//! How to provision the kind cluster: its settings (name, config file, node image, timeouts,
//! images to load, keep policy), the rules on its name, and what can go wrong.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::target::keep::KeepPolicy;
use crate::tools::ToolError;

fn default_config_path() -> PathBuf {
    PathBuf::from("kind-config.yaml")
}
fn default_create_timeout() -> u64 {
    600
}

/// How to get a kind cluster (embeddable in a scenario file; camelCase keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindSettings {
    /// Cluster name (kind: `^[a-z0-9.-]+$`); see [`cluster_name_for_run`].
    pub cluster_name: String,
    /// kind config file (default `kind-config.yaml` at the repository root).
    #[serde(default = "default_config_path")]
    pub config_path: PathBuf,
    /// Overrides the node image of the config (`kind create cluster --image`).
    #[serde(default)]
    pub node_image: Option<String>,
    /// Local Docker images to load into the nodes (`kind load docker-image`).
    #[serde(default)]
    pub images_to_load: Vec<String>,
    /// When to keep the cluster.
    #[serde(default)]
    pub keep: KeepPolicy,
    /// Timeout of `kind create cluster`, in seconds (default 600: a cold node image pull is slow).
    #[serde(default = "default_create_timeout")]
    pub create_timeout_seconds: u64,
}

impl KindSettings {
    /// Settings for `cluster_name` with every default.
    pub fn new(cluster_name: impl Into<String>) -> Self {
        Self {
            cluster_name: cluster_name.into(),
            config_path: default_config_path(),
            node_image: None,
            images_to_load: Vec::new(),
            keep: KeepPolicy::default(),
            create_timeout_seconds: default_create_timeout(),
        }
    }

    /// The kubeconfig context kind creates for the cluster.
    pub fn context(&self) -> String {
        format!("kind-{}", self.cluster_name)
    }
}

/// kind provisioning failures, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Bad settings.
    #[error("kind settings: {field}: {message}")]
    Settings {
        /// Field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The kind config file could not be read.
    #[error("could not read kind config {path}: {source}")]
    Config {
        /// Path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// kind failed; `advice` interprets its error text.
    #[error("{source}\n{advice}")]
    Kind {
        /// The failed command.
        source: Box<ToolError>,
        /// What it means.
        advice: String,
    },
    /// Another tool failure.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// Writing state files failed.
    #[error("could not write {path}: {source}")]
    State {
        /// Path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Unexpected tool output.
    #[error("could not parse `{command}` output: {message}")]
    Parse {
        /// Command.
        command: String,
        /// Error.
        message: String,
    },
}

/// Checks a name against kind's rule (`^[a-z0-9.-]+$`, validated by `kind create cluster`).
pub fn validate_cluster_name(name: &str) -> Result<(), ProvisionError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !ok {
        return Err(ProvisionError::Settings {
            field: "clusterName".into(),
            message: format!(
                "{name:?} is not a valid kind cluster name: use lowercase letters, digits, '.' and '-'"
            ),
        });
    }
    // kind appends "-control-plane" to the node container's hostname (max 64 chars).
    if name.len() > 50 {
        return Err(ProvisionError::Settings {
            field: "clusterName".into(),
            message: format!("{name:?} is longer than 50 characters (kind's hostname limit)"),
        });
    }
    Ok(())
}

/// A kind cluster name for a run id: `seldon-h-` + the id lowercased, other characters → `-`.
pub fn cluster_name_for_run(run_id: &str) -> String {
    let mut s: String = run_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(41);
    let s = s.trim_matches('-');
    if s.is_empty() {
        "seldon-h".to_string()
    } else {
        format!("seldon-h-{s}")
    }
}
