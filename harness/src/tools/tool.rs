//! The tools the harness drives (kind, helm, kubectl, docker): where to get them, the oldest
//! version each supports, and how each prints its version.

use std::time::Duration;

use crate::names::Version;

/// A command-line tool the harness drives, with where to get it and the oldest version it supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    /// Binary name looked up on `PATH`.
    pub binary: &'static str,
    /// Where to get it; shown when it is missing or too old.
    pub install_hint: &'static str,
    /// Oldest version the harness supports.
    pub min_version: Version,
    /// Why the minimum is what it is (shown with a too-old error).
    pub min_reason: &'static str,
    /// Arguments that print the version.
    pub version_args: &'static [&'static str],
    /// How the version command prints the version.
    pub version_format: VersionFormat,
    /// Timeout for commands that do not set their own.
    pub default_timeout: Duration,
}

/// How a tool prints its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionFormat {
    /// The first whitespace-separated token shaped like `v1.2.3` or `1.2.3` (build suffixes ignored).
    FirstSemverToken,
    /// `kubectl version --client -o json`: `.clientVersion.gitVersion`.
    KubectlJson,
}

/// kind: creates the local clusters. v0.24.0 is the first release whose kindnet enforces NetworkPolicy.
pub const KIND: Tool = Tool {
    binary: "kind",
    install_hint: "Install kind v0.24.0 or newer: `go install sigs.k8s.io/kind@v0.30.0`, or download the \
                   release binary from https://github.com/kubernetes-sigs/kind/releases (ci/install-tools.sh \
                   pins and checksums it).",
    min_version: Version::new(0, 24, 0),
    min_reason: "kindnet enforces NetworkPolicy only from kind v0.24.0, and the isolation checks need it",
    version_args: &["version"],
    version_format: VersionFormat::FirstSemverToken,
    default_timeout: Duration::from_secs(120),
};

/// Helm 3: installs the Seldon Core v2 charts.
pub const HELM: Tool = Tool {
    binary: "helm",
    install_hint: "Install Helm 3 (v3.12 or newer): https://helm.sh/docs/intro/install/ — e.g. the \
                   get-helm-3 script (https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3) \
                   or a release archive from https://github.com/helm/helm/releases (ci/install-tools.sh pins \
                   and checksums it).",
    min_version: Version::new(3, 12, 0),
    min_reason: "the harness uses `helm repo update <name>` and JSON output of `helm status`/`helm list`",
    version_args: &["version", "--short"],
    version_format: VersionFormat::FirstSemverToken,
    default_timeout: Duration::from_secs(120),
};

/// kubectl: reads and writes the harness's fingerprint ConfigMap on kind clusters.
pub const KUBECTL: Tool = Tool {
    binary: "kubectl",
    install_hint: "Install kubectl v1.28 or newer: https://kubernetes.io/docs/tasks/tools/ \
                   (ci/install-tools.sh pins and checksums it).",
    min_version: Version::new(1, 28, 0),
    min_reason: "older clients are outside the supported version skew of current kind node images",
    version_args: &["version", "--client", "-o", "json"],
    version_format: VersionFormat::KubectlJson,
    default_timeout: Duration::from_secs(60),
};

/// Docker: the engine kind runs its nodes in. The version command also proves the daemon answers.
pub const DOCKER: Tool = Tool {
    binary: "docker",
    install_hint: "Install Docker Engine 20.10 or newer (https://docs.docker.com/engine/install/) and make \
                   sure the daemon is running and your user may use it (`docker info` must work).",
    min_version: Version::new(20, 10, 0),
    min_reason: "kind needs a working Docker daemon",
    version_args: &["version", "--format", "{{.Server.Version}}"],
    version_format: VersionFormat::FirstSemverToken,
    default_timeout: Duration::from_secs(30),
};

/// Reads a tool's version from the output of its version command.
pub fn parse_version(format: VersionFormat, stdout: &str) -> Option<Version> {
    match format {
        VersionFormat::FirstSemverToken => stdout
            .split_whitespace()
            .filter(|t| t.starts_with('v') || t.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .find_map(Version::parse),
        VersionFormat::KubectlJson => {
            let v: serde_json::Value = serde_json::from_str(stdout).ok()?;
            Version::parse(v.get("clientVersion")?.get("gitVersion")?.as_str()?)
        }
    }
}
