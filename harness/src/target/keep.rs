//! When to keep what a run created: the kind cluster, and the team namespaces and objects.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// When to keep what a run created (the kind cluster, the team namespaces and objects).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepPolicy {
    /// Keep it when the run failed (to debug), delete it when it passed. The default.
    #[default]
    OnFailure,
    /// Always keep it (fast local iterations: the next run reuses it).
    Always,
    /// Always delete it (CI).
    Never,
}

impl KeepPolicy {
    /// Whether to keep the cluster after a run that `failed`.
    pub fn keeps(self, failed: bool) -> bool {
        match self {
            KeepPolicy::Always => true,
            KeepPolicy::Never => false,
            KeepPolicy::OnFailure => failed,
        }
    }
}

impl FromStr for KeepPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "on-failure" => Ok(KeepPolicy::OnFailure),
            "always" => Ok(KeepPolicy::Always),
            "never" => Ok(KeepPolicy::Never),
            other => Err(format!(
                "unknown keep policy {other:?}: use on-failure, always or never"
            )),
        }
    }
}
