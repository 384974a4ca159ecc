//! Target selection: the embedded platform, a kind cluster, or an existing cluster. The only module
//! that names the embedded platform: everything else sees a `kube::Client` and [`MeshAccess`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::checks::{BoxFuture, MeshAccess, MeshEndpoint};
use crate::scenario::{Scenario, TargetKind};

/// Environment variable selecting the target when `--target` is not given.
pub const TARGET_ENV: &str = "HARNESS_TARGET";

/// Faults to inject into the embedded platform (to prove checks fail on a broken platform).
pub use sim::faults::{Defect, Faults};

/// Parses a target name (`sim`, `kind`, `existing`).
pub fn parse_kind(name: &str) -> anyhow::Result<TargetKind> {
    match name {
        "sim" | "embedded" => Ok(TargetKind::Sim),
        "kind" => Ok(TargetKind::Kind),
        "existing" => Ok(TargetKind::Existing),
        other => bail!("unknown target `{other}`: use `sim` (the embedded platform, default), `kind` or `existing`"),
    }
}

/// The target named by `HARNESS_TARGET`, else the embedded platform.
pub fn kind_from_env() -> anyhow::Result<TargetKind> {
    match std::env::var(TARGET_ENV) {
        Ok(v) if !v.is_empty() => parse_kind(&v).with_context(|| format!("reading {TARGET_ENV}")),
        _ => Ok(TargetKind::Sim),
    }
}

/// When to keep what a run created (cluster, namespaces, objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Keep {
    /// Keep only when a check failed or the run broke (default).
    #[default]
    OnFailure,
    /// Always keep.
    Always,
    /// Never keep.
    Never,
}

impl Keep {
    /// Whether to keep, given how the run went.
    pub fn keeps(self, succeeded: bool) -> bool {
        match self {
            Keep::Always => true,
            Keep::Never => false,
            Keep::OnFailure => !succeeded,
        }
    }
}

/// How to reach the target.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Which target.
    pub kind: Option<TargetKind>,
    /// Embedded platform only: what to break.
    pub faults: Faults,
    /// Existing cluster: the kubeconfig context to use.
    pub context: Option<String>,
    /// Existing cluster: contexts the user allows the harness to touch.
    pub allow_contexts: Vec<String>,
    /// Existing cluster: install or upgrade the Seldon controller (otherwise it is only verified).
    pub manage_install: bool,
    /// kind: the cluster config file.
    pub kind_config: Option<PathBuf>,
    /// Where reports, kubeconfigs and diagnostics go.
    pub work_dir: PathBuf,
}

enum Backend {
    Embedded(sim::Platform),
    Cluster,
}

/// A target that is up and has Seldon installed, ready for scenario setup.
pub struct Target {
    kind: TargetKind,
    client: kube::Client,
    kubeconfig: Option<PathBuf>,
    backend: Backend,
}

impl Target {
    /// Brings the target up for a scenario: starts the embedded platform, or provisions/uses a cluster,
    /// and makes sure Seldon Core v2 is installed as the scenario says.
    pub async fn start(opts: &TargetOptions, scenario: &Scenario) -> anyhow::Result<Target> {
        let kind = opts.kind.unwrap_or(TargetKind::Sim);
        if !scenario.runs_on(kind) {
            bail!(
                "scenario `{}` does not run on the `{}` target (its `spec.targets` lists {:?})",
                scenario.name(),
                kind.name(),
                scenario.doc.spec.targets.iter().map(|t| t.name()).collect::<Vec<_>>()
            );
        }
        match kind {
            TargetKind::Sim => Target::start_embedded(opts, scenario).await,
            TargetKind::Kind | TargetKind::Existing => bail!(
                "the `{}` target is not available in this build: use `--target sim` (the embedded platform)",
                kind.name()
            ),
        }
    }

    async fn start_embedded(opts: &TargetOptions, scenario: &Scenario) -> anyhow::Result<Target> {
        let platform = sim::Platform::start(opts.faults.clone()).context("starting the embedded platform")?;
        let install = &scenario.doc.spec.seldon;
        platform
            .install_seldon(&sim::seldon::InstallOptions {
                clusterwide: install.clusterwide,
                controller_namespace: install.controller_namespace.clone(),
                watch_namespaces: install.watch_namespaces.clone(),
            })
            .context("installing the Seldon controller on the embedded platform")?;
        for a in &scenario.doc.spec.artifacts {
            platform
                .publish_artifact(&a.storage_uri, &scenario.resolve(&a.path))
                .with_context(|| format!("publishing artifact {} to the embedded model store", a.storage_uri))?;
        }
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::from_yaml(&platform.kubeconfig_yaml()).context("reading the platform's kubeconfig")?,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .context("loading the platform's kubeconfig")?;
        let client = kube::Client::try_from(config).context("building a client for the embedded platform")?;
        Ok(Target { kind: TargetKind::Sim, client, kubeconfig: None, backend: Backend::Embedded(platform) })
    }

    /// Which target this is.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// A client for the target's API server.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The kubeconfig file to inspect a kept target with, when there is one.
    pub fn kubeconfig(&self) -> Option<&PathBuf> {
        self.kubeconfig.as_ref()
    }

    /// An upper bound for check timeouts: the embedded platform settles in milliseconds, so a check
    /// still waiting after a few seconds there has its answer.
    pub fn timeout_cap(&self) -> Option<Duration> {
        match self.backend {
            Backend::Embedded(_) => Some(embedded_timeout_cap()),
            Backend::Cluster => None,
        }
    }

    /// Stops what the run started, keeping it when asked to (and printing how to reach it).
    pub async fn finish(self, keep: bool) {
        match self.backend {
            Backend::Embedded(mut p) => {
                if keep {
                    tracing::info!("the embedded platform lives only as long as the run; use `harness platform up` to explore by hand");
                }
                p.shutdown();
            }
            Backend::Cluster => {}
        }
    }
}

/// `HARNESS_SIM_TIMEOUT` (e.g. `5s`), default 3 s.
fn embedded_timeout_cap() -> Duration {
    std::env::var("HARNESS_SIM_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(Duration::from_secs(3))
}

impl MeshAccess for Target {
    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>> {
        Box::pin(async move {
            match &self.backend {
                Backend::Embedded(p) => {
                    let addr = p.mesh_addr(namespace).with_context(|| {
                        format!("namespace `{namespace}` has no seldon-mesh endpoint: is its SeldonRuntime Ready?")
                    })?;
                    Ok(MeshEndpoint { rest_base: format!("http://{addr}"), grpc_addr: addr.to_string() })
                }
                Backend::Cluster => bail!("seldon-mesh access is not available for this target in this build"),
            }
        })
    }
}

/// Serves the embedded platform standalone until Ctrl-C, writing a kubeconfig for kubectl.
pub fn platform_up(kubeconfig: &std::path::Path, faults: Faults) -> anyhow::Result<()> {
    let platform = sim::Platform::start(faults).context("starting the embedded platform")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(platform.serve_until_interrupted(kubeconfig))
}
