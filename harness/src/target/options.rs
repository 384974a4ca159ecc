//! How to reach a target: which one, and the options of each (the environment contract the
//! suites and workflows use).

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::embedded::EmbeddedOptions;
use crate::scenario::seldon::InstallSettings;
use crate::scenario::{Scenario, TargetKind};

/// Environment variable selecting the target when `--target` is not given.
pub const TARGET_ENV: &str = "HARNESS_TARGET";

/// Parses a target name (`sim`, `kind`, `existing`).
pub fn parse_kind(name: &str) -> anyhow::Result<TargetKind> {
    match name {
        "sim" | "embedded" => Ok(TargetKind::Sim),
        "kind" => Ok(TargetKind::Kind),
        "existing" => Ok(TargetKind::Existing),
        other => bail!(
            "unknown target `{other}`: use `sim` (the embedded platform, default), `kind` or `existing`"
        ),
    }
}

/// The target named by `HARNESS_TARGET`, else the embedded platform.
pub fn kind_from_env() -> anyhow::Result<TargetKind> {
    match std::env::var(TARGET_ENV) {
        Ok(v) if !v.is_empty() => parse_kind(&v).with_context(|| format!("reading {TARGET_ENV}")),
        _ => Ok(TargetKind::Sim),
    }
}

/// When to keep what a run created (kind cluster, team namespaces and objects).
pub use super::keep::KeepPolicy as Keep;

/// How to reach the target.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Which target.
    pub kind: Option<TargetKind>,
    /// The embedded platform's own options (its defects); ignored by every other target.
    pub embedded: EmbeddedOptions,
    /// Existing cluster: the kubeconfig context to use.
    pub context: Option<String>,
    /// Existing cluster: contexts the user allows the harness to touch.
    pub allow_contexts: Vec<String>,
    /// Existing cluster: install or upgrade the Seldon controller (otherwise it is only verified).
    pub manage_install: bool,
    /// kind: the cluster config file (default `kind-config.yaml`).
    pub kind_config: Option<PathBuf>,
    /// kind: the cluster name (default `seldon-harness`; the same name is reused across runs).
    pub kind_cluster: Option<String>,
    /// Overrides every scenario's `spec.seldon.chartVersion` (`HARNESS_CHART_VERSION`).
    pub chart_version: Option<String>,
    /// When to keep what the run created.
    pub keep: Keep,
    /// kind, or an existing cluster with `manage_install`: after the scenarios pass on the installed
    /// chart version, `helm upgrade` to this version and run them again (`HARNESS_UPGRADE_TO`).
    pub upgrade_to: Option<String>,
    /// Kubeconfigs and other state (`HARNESS_STATE_DIR`, default `target/harness-state`).
    pub state_dir: Option<PathBuf>,
    /// Diagnostics such as `kind export logs` (`HARNESS_DIAGNOSTICS_DIR`, default `reports/diagnostics`).
    pub diagnostics_dir: Option<PathBuf>,
    /// The run's work directory (`HARNESS_WORK_DIR`, default the state directory): secret packages
    /// are extracted into a private folder under it (`harness-secrets/<run>…/<namespace>/`).
    pub work_dir: Option<PathBuf>,
    /// Setup and cleanup only (`--setup-only`): no checks, and an existing cluster's Seldon
    /// controller is not waited for (its namespace and CRDs are still required).
    pub setup_only: bool,
    /// Seal `seal:` packages with this certificate (PEM, as `kubeseal --fetch-cert` saves it)
    /// instead of fetching the cluster's sealed-secrets controller's (`HARNESS_SEALING_CERT`).
    pub sealing_cert: Option<PathBuf>,
}

impl TargetOptions {
    /// Options from the environment contract used by the suites and the workflows: `HARNESS_TARGET`,
    /// `HARNESS_CHART_VERSION`, `HARNESS_KEEP`, `HARNESS_STATE_DIR`, `HARNESS_DIAGNOSTICS_DIR`,
    /// `HARNESS_CONTEXT`, `HARNESS_ALLOW_CONTEXT` (comma-separated), `HARNESS_KIND_CLUSTER`, `HARNESS_WORK_DIR`,
    /// `HARNESS_SEALING_CERT`.
    pub fn from_env() -> anyhow::Result<TargetOptions> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let keep = match var("HARNESS_KEEP") {
            Some(k) => k
                .parse::<Keep>()
                .map_err(|e| anyhow::anyhow!("HARNESS_KEEP: {e}"))?,
            None => Keep::default(),
        };
        Ok(TargetOptions {
            kind: Some(kind_from_env()?),
            context: var("HARNESS_CONTEXT"),
            allow_contexts: var("HARNESS_ALLOW_CONTEXT")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            chart_version: var("HARNESS_CHART_VERSION"),
            kind_cluster: var("HARNESS_KIND_CLUSTER"),
            keep,
            state_dir: var("HARNESS_STATE_DIR").map(PathBuf::from),
            diagnostics_dir: var("HARNESS_DIAGNOSTICS_DIR").map(PathBuf::from),
            work_dir: var("HARNESS_WORK_DIR").map(PathBuf::from),
            upgrade_to: var("HARNESS_UPGRADE_TO"),
            sealing_cert: var("HARNESS_SEALING_CERT").map(PathBuf::from),
            ..TargetOptions::default()
        })
    }

    /// Kubeconfigs and other state.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("target/harness-state"))
    }

    /// Where diagnostics go.
    pub fn diagnostics_dir(&self) -> PathBuf {
        self.diagnostics_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("reports/diagnostics"))
    }

    /// The install settings for a scenario, with the chart version override applied.
    pub fn install_settings(&self, scenario: &Scenario) -> InstallSettings {
        let mut s = scenario.doc.spec.seldon.clone();
        if let Some(v) = &self.chart_version {
            s.chart_version = v.clone();
        }
        s
    }
}

/// Whether each scenario gets a target of its own: the embedded platform starts in milliseconds,
/// so every scenario gets a fresh one; a cluster is shared by every scenario of a run.
pub fn fresh_per_scenario(kind: TargetKind) -> bool {
    kind == TargetKind::Sim
}

/// The work directory: secret packages are extracted under it (default the state directory).
pub fn work_dir(opts: &TargetOptions) -> PathBuf {
    opts.work_dir.clone().unwrap_or_else(|| opts.state_dir())
}
