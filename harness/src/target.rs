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
pub use crate::provision::KeepPolicy as Keep;

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
    /// Where secret packages are extracted (`<work_dir>/k8s/manifests/<namespace>/`); default `.`.
    pub work_dir: Option<PathBuf>,
}

impl TargetOptions {
    /// Options from the environment contract used by the suites and the workflows: `HARNESS_TARGET`,
    /// `HARNESS_CHART_VERSION`, `HARNESS_KEEP`, `HARNESS_STATE_DIR`, `HARNESS_DIAGNOSTICS_DIR`,
    /// `HARNESS_CONTEXT`, `HARNESS_ALLOW_CONTEXT` (comma-separated), `HARNESS_KIND_CLUSTER`, `HARNESS_WORK_DIR`.
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
            ..TargetOptions::default()
        })
    }

    fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("target/harness-state"))
    }

    fn diagnostics_dir(&self) -> PathBuf {
        self.diagnostics_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("reports/diagnostics"))
    }

    /// The install settings for a scenario, with the chart version override applied.
    pub fn install_settings(&self, scenario: &Scenario) -> crate::install::InstallSettings {
        let mut s = scenario.doc.spec.seldon.clone();
        if let Some(v) = &self.chart_version {
            s.chart_version = v.clone();
        }
        s
    }
}

enum Backend {
    Embedded(sim::Platform),
    Kind(crate::provision::KindCluster),
    Existing,
}

/// A target that is up and has Seldon installed, ready for scenario setup.
pub struct Target {
    kind: TargetKind,
    client: kube::Client,
    kubeconfig: Option<PathBuf>,
    backend: Backend,
    /// Where secret packages are extracted.
    work_dir: PathBuf,
    /// How Seldon was installed with Helm (kind, or existing with `--manage-install`), for upgrades.
    helm: Option<(crate::install::Installer, crate::install::InstallSettings)>,
    /// kind: the MinIO model store holding the harness's sample models, started on first need.
    model_store: tokio::sync::OnceCell<crate::provision::minio::ModelStore>,
    /// Kubeconfigs, generated packages and other state.
    state_dir: PathBuf,
    /// Port-forwards to `seldon-mesh`, one per namespace, opened on first use.
    forwards:
        tokio::sync::Mutex<std::collections::BTreeMap<String, crate::portforward::MeshForward>>,
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
                scenario
                    .doc
                    .spec
                    .targets
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
            );
        }
        match kind {
            TargetKind::Sim => Target::start_embedded(opts, scenario).await,
            TargetKind::Kind => Target::start_kind(opts, scenario).await,
            TargetKind::Existing => Target::start_existing(opts, scenario).await,
        }
    }

    async fn start_kind(opts: &TargetOptions, scenario: &Scenario) -> anyhow::Result<Target> {
        use crate::provision::{KindProvisioner, KindSettings, fingerprint_from_files};
        let runner: crate::tools::SharedRunner = std::sync::Arc::new(crate::tools::DuctRunner);
        let mut settings = KindSettings::new(
            opts.kind_cluster
                .clone()
                .unwrap_or_else(|| "seldon-harness".into()),
        );
        if let Some(c) = &opts.kind_config {
            settings.config_path = c.clone();
        }
        settings.images_to_load = scenario.doc.spec.images.clone();
        settings.keep = opts.keep;
        let install = opts.install_settings(scenario);
        let fp = fingerprint_from_files(&settings, &install)?;
        let state = opts.state_dir();
        // Parallel test processes share one cluster: provisioning is serialised by a lock file.
        let _lock = StateLock::acquire(&state.join("kind.lock"))?;
        let cluster = KindProvisioner::new(
            runner.clone(),
            settings.clone(),
            &state,
            opts.diagnostics_dir(),
        )
        .provision(&fp)
        .await?;
        cluster.load_images(&settings.images_to_load).await?;
        let client = cluster.client().await?;
        let installer = crate::install::Installer::new(runner, cluster.kube_target(), &state);
        installer
            .install(
                &install,
                &crate::install::KubeReadiness::new(client.clone()),
            )
            .await?;
        let helm = Some((installer, install.clone()));
        cluster.record_fingerprint(&fp).await?;
        if !scenario.doc.spec.artifacts.is_empty() {
            tracing::warn!(
                "scenario `{}` publishes model artifacts; on kind they must be reachable at their storageUri \
                 (see docs/targets.md, \"Model artifacts on kind\")",
                scenario.name()
            );
        }
        let kubeconfig = cluster.kubeconfig().to_path_buf();
        Ok(Target {
            kind: TargetKind::Kind,
            client,
            kubeconfig: Some(kubeconfig),
            backend: Backend::Kind(cluster),
            work_dir: opts.work_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
            helm,
            model_store: Default::default(),
            state_dir: opts.state_dir(),
            forwards: Default::default(),
        })
    }

    async fn start_existing(opts: &TargetOptions, scenario: &Scenario) -> anyhow::Result<Target> {
        use crate::existing::{ExistingSettings, connect};
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
        let readiness = crate::install::KubeReadiness::new(client.clone());
        let mut helm = None;
        if opts.manage_install {
            crate::existing::guard_controller_change(&settings, "install or upgrade")?;
            let runner: crate::tools::SharedRunner = std::sync::Arc::new(crate::tools::DuctRunner);
            let target = crate::install::KubeTarget {
                kubeconfig: settings.kubeconfig.clone(),
                context,
            };
            let installer = crate::install::Installer::new(runner, target, opts.state_dir());
            installer.install(&install, &readiness).await?;
            helm = Some((installer, install.clone()));
        } else {
            use crate::install::ControllerReadiness;
            readiness
                .wait_ready(&install.controller_namespace, Duration::from_secs(60))
                .await
                .context("the Seldon controller is not ready on this cluster (the harness does not touch it without --manage-install)")?;
        }
        Ok(Target {
            kind: TargetKind::Existing,
            client,
            kubeconfig: settings.kubeconfig,
            backend: Backend::Existing,
            work_dir: opts.work_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
            helm,
            model_store: Default::default(),
            state_dir: opts.state_dir(),
            forwards: Default::default(),
        })
    }

    async fn start_embedded(opts: &TargetOptions, scenario: &Scenario) -> anyhow::Result<Target> {
        let platform = embedded_platform(
            opts.faults.clone(),
            &opts.install_settings(scenario),
            Some(scenario),
        )?;
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::from_yaml(&platform.kubeconfig_yaml())
                .context("reading the platform's kubeconfig")?,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .context("loading the platform's kubeconfig")?;
        let client = kube::Client::try_from(config)
            .context("building a client for the embedded platform")?;
        Ok(Target {
            kind: TargetKind::Sim,
            client,
            kubeconfig: None,
            backend: Backend::Embedded(platform),
            work_dir: opts.work_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
            helm: None,
            model_store: Default::default(),
            state_dir: opts.state_dir(),
            forwards: Default::default(),
        })
    }

    /// Which target this is.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// A client for the target's API server.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Validates an upgrade with the installer's one sequence: the baseline install, `scenarios`,
    /// `helm upgrade` to `version`, `scenarios` again (kind, or an existing cluster with
    /// `--manage-install`).
    pub async fn validate_upgrade<F, Fut>(
        &self,
        version: &str,
        scenarios: F,
    ) -> anyhow::Result<crate::install::UpgradeReport>
    where
        F: FnMut(crate::install::UpgradePhase) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let Some((installer, settings)) = &self.helm else {
            bail!(
                "this target did not install Seldon with Helm, so it cannot upgrade it (existing clusters need --manage-install)"
            );
        };
        let readiness = crate::install::KubeReadiness::new(self.client.clone());
        Ok(installer
            .validate_upgrade(settings, version, &readiness, scenarios)
            .await?)
    }

    /// Secret packages this target supplies instead of the scenario's, by (namespace, Secret).
    ///
    /// On kind the harness's sample models live in a MinIO store on the kind network whose
    /// credentials and address exist only at run time; the rclone Secret the scenario's models use
    /// is delivered from a package generated with them (the scenario's own package holds test
    /// placeholders). Elsewhere the scenario's packages are used as they are.
    pub async fn package_overrides(
        &self,
        scenario: &Scenario,
    ) -> anyhow::Result<std::collections::BTreeMap<(String, String), PathBuf>> {
        use crate::provision::minio::{ModelStore, package_folder};
        let mut out = std::collections::BTreeMap::new();
        let artifacts = &scenario.doc.spec.artifacts;
        if !matches!(self.backend, Backend::Kind(_)) || artifacts.is_empty() {
            return Ok(out);
        }
        let folders: std::collections::BTreeSet<PathBuf> = artifacts
            .iter()
            .filter_map(|a| scenario.resolve(&a.path).parent().map(|p| p.to_path_buf()))
            .collect();
        let [folder] = &folders.into_iter().collect::<Vec<_>>()[..] else {
            bail!(
                "on kind, the artifacts of `{}` must all sit in one folder (it is uploaded to the model store whole)",
                scenario.name()
            );
        };
        for a in artifacts {
            let name = a
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let published = ModelStore::storage_uri(name);
            if a.storage_uri != published {
                bail!(
                    "on kind the model store publishes `{}` as `{published}`; set the artifact's storageUri (and its models') to it",
                    a.path.display()
                );
            }
        }
        let store = self
            .model_store
            .get_or_try_init(|| ModelStore::start(folder))
            .await
            .context("starting the MinIO model store on the kind network")?;
        let uris: std::collections::BTreeSet<&str> =
            artifacts.iter().map(|a| a.storage_uri.as_str()).collect();
        for team in &scenario.doc.spec.teams {
            let models: Vec<&serde_json::Value> = team
                .models
                .iter()
                .filter(|m| {
                    m["spec"]["storageUri"]
                        .as_str()
                        .is_some_and(|u| uris.contains(u))
                })
                .collect();
            if models.is_empty() {
                continue;
            }
            let mut names: std::collections::BTreeSet<String> = models
                .iter()
                .filter_map(|m| m["spec"]["secretName"].as_str().map(str::to_string))
                .collect();
            if let Some(rt) = &team.runtime {
                for s in rt["spec"]["config"]["agentConfig"]["rclone"]["config_secrets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    names.extend(s.as_str().map(str::to_string));
                }
            }
            for pkg in &team.secret_packages {
                for secret in pkg.provides.iter().filter(|s| names.contains(*s)) {
                    let dir = self
                        .state_dir
                        .join("model-store")
                        .join(&team.namespace)
                        .join(secret);
                    let folder = package_folder(
                        &dir,
                        &team.namespace,
                        &pkg.overlay,
                        &store.rclone_secret(secret, &team.namespace),
                    )?;
                    out.insert((team.namespace.clone(), secret.clone()), folder);
                }
            }
        }
        Ok(out)
    }

    /// Where secret packages are extracted for this target's runs.
    pub fn work_dir(&self) -> &std::path::Path {
        &self.work_dir
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
            Backend::Kind(_) | Backend::Existing => None,
        }
    }

    /// Stops what the run started, keeping it when the keep policy says so (and printing how to reach it).
    pub async fn finish(self, run_failed: bool) {
        match self.backend {
            Backend::Embedded(mut p) => p.shutdown(),
            Backend::Kind(cluster) => {
                let teardown = cluster.finish(run_failed).await;
                for p in teardown.problems {
                    tracing::warn!("kind teardown: {p}");
                }
                if let Some(logs) = teardown.logs {
                    eprintln!("kind logs exported to {}", logs.display());
                }
            }
            Backend::Existing => {}
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
                    Ok(MeshEndpoint {
                        rest_base: format!("http://{addr}"),
                        grpc_addr: addr.to_string(),
                    })
                }
                Backend::Kind(_) | Backend::Existing => {
                    let mut forwards = self.forwards.lock().await;
                    if !forwards.contains_key(namespace) {
                        let f =
                            crate::portforward::MeshForward::start(self.client.clone(), namespace)
                                .await
                                .with_context(|| {
                                    format!("port-forwarding to seldon-mesh in `{namespace}`")
                                })?;
                        forwards.insert(namespace.to_string(), f);
                    }
                    let addr = forwards[namespace].local_addr();
                    Ok(MeshEndpoint {
                        rest_base: format!("http://{addr}"),
                        grpc_addr: addr.to_string(),
                    })
                }
            }
        })
    }
}

/// Serves the embedded platform standalone until Ctrl-C, writing a kubeconfig for kubectl. With a
/// scenario, Seldon is installed as it says and its model artifacts are published, so the scenario
/// can be applied by hand or run with `harness run --target existing`.
pub fn platform_up(
    kubeconfig: &std::path::Path,
    faults: Faults,
    scenario: Option<&Scenario>,
) -> anyhow::Result<()> {
    let install = scenario
        .map(|s| s.doc.spec.seldon.clone())
        .unwrap_or_else(|| crate::install::InstallSettings::new("2.10.2"));
    let platform = embedded_platform(faults, &install, scenario)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(platform.serve_until_interrupted(kubeconfig))
}

/// Starts the embedded platform with Seldon installed as `install` says and, with a scenario, its
/// model artifacts published to the platform's model store.
fn embedded_platform(
    faults: Faults,
    install: &crate::install::InstallSettings,
    scenario: Option<&Scenario>,
) -> anyhow::Result<sim::Platform> {
    let platform = sim::Platform::start(faults).context("starting the embedded platform")?;
    platform
        .install_seldon(&sim::seldon::InstallOptions {
            clusterwide: install.clusterwide,
            controller_namespace: install.controller_namespace.clone(),
            watch_namespaces: install.watch_namespaces.clone(),
        })
        .context("installing the Seldon controller on the embedded platform")?;
    if let Some(s) = scenario {
        for a in &s.doc.spec.artifacts {
            platform
                .publish_artifact(&a.storage_uri, &s.resolve(&a.path))
                .with_context(|| {
                    format!(
                        "publishing artifact {} to the embedded model store",
                        a.storage_uri
                    )
                })?;
        }
    }
    Ok(platform)
}

/// An exclusive lock on a file in the state directory, released on drop.
struct StateLock(std::fs::File);

impl StateLock {
    fn acquire(path: &std::path::Path) -> anyhow::Result<StateLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        f.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(StateLock(f))
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first just makes it explicit.
        let _ = self.0.unlock();
    }
}

/// A documented platform behaviour a check relies on; each defect of the embedded platform breaks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// The controller reconciles runtimes in this (non-controller) namespace: cluster-wide.
    ClusterWideController,
    /// Runtime component pods become Ready.
    RuntimeReady,
    /// LimitRange defaults are applied (this namespace relies on them to satisfy its quota).
    LimitRangeDefaults,
    /// Servers carry their capabilities.
    ServerCapabilities,
    /// Schedulable models become Ready.
    ModelReady,
    /// Models stay in their namespace.
    NamespaceScheduling,
    /// Secrets from packages are stored.
    PackagedSecrets,
    /// ResourceQuota is enforced.
    Quota,
    /// NetworkPolicy is enforced.
    NetworkPolicy,
    /// `seldon-model` routes requests.
    ModelHeaderRouting,
    /// Inference returns the model's numbers.
    InferenceOutput,
    /// Unknown models are refused.
    UnknownModelRefused,
    /// Inputs that do not fit the model are refused.
    InvalidInputRefused,
    /// Access reviews evaluate RBAC (deny side).
    RbacDenies,
    /// Access reviews evaluate RBAC (allow side).
    RbacAllows,
}

fn broken_by(d: Defect) -> Behaviour {
    match d {
        Defect::ControllerNotClusterWide => Behaviour::ClusterWideController,
        Defect::RuntimeNeverReady => Behaviour::RuntimeReady,
        Defect::LimitRangeIgnored => Behaviour::LimitRangeDefaults,
        Defect::ServerCapabilitiesMissing => Behaviour::ServerCapabilities,
        Defect::ModelNeverReady => Behaviour::ModelReady,
        Defect::CrossNamespaceScheduling => Behaviour::NamespaceScheduling,
        Defect::SecretPackageObjectsDropped => Behaviour::PackagedSecrets,
        Defect::QuotaNotEnforced => Behaviour::Quota,
        Defect::NetworkPolicyIgnored => Behaviour::NetworkPolicy,
        Defect::MeshIgnoresModelHeader => Behaviour::ModelHeaderRouting,
        Defect::WrongInferenceOutput => Behaviour::InferenceOutput,
        Defect::UnknownModelAnswered200 => Behaviour::UnknownModelRefused,
        Defect::InvalidInputAnswered200 => Behaviour::InvalidInputRefused,
        Defect::AccessReviewAllowsAll => Behaviour::RbacDenies,
        Defect::AccessReviewDeniesAll => Behaviour::RbacAllows,
    }
}

/// What a team namespace needs before anything in it runs: a reconciled, Ready runtime.
fn namespace_needs(scenario: &Scenario, ns: &str, out: &mut Vec<Behaviour>) {
    if ns != scenario.doc.spec.seldon.controller_namespace {
        out.push(Behaviour::ClusterWideController);
    }
    out.push(Behaviour::RuntimeReady);
    // A quota with LimitRange defaults: without the defaults the quota rejects the runtime.
    if scenario
        .team(ns)
        .is_some_and(|t| !t.limit_ranges.is_empty() && !t.resource_quotas.is_empty())
    {
        out.push(Behaviour::LimitRangeDefaults);
    }
}

/// What a Model needs to become Ready in its namespace.
fn model_needs(scenario: &Scenario, ns: &str, model: &str, out: &mut Vec<Behaviour>) {
    namespace_needs(scenario, ns, out);
    out.extend([Behaviour::ServerCapabilities, Behaviour::ModelReady]);
    let spec = scenario
        .team(ns)
        .and_then(|t| t.models.iter().find(|m| m["metadata"]["name"] == model))
        .map(|m| m["spec"].clone())
        .unwrap_or_default();
    if spec["secretName"].is_string() {
        out.push(Behaviour::PackagedSecrets);
    }
}

/// The behaviours a check relies on: a defect breaking any of them must make the check fail, and
/// no other defect may.
fn relies_on(scenario: &Scenario, check: &crate::scenario::Check) -> Vec<Behaviour> {
    use crate::scenario::{Expectation as E, NegativeCase, Outcome};
    let mut out = Vec::new();
    match &check.expect {
        E::RuntimeReady(n) => namespace_needs(scenario, &n.namespace, &mut out),
        E::ServerReady(s) => {
            namespace_needs(scenario, &s.namespace, &mut out);
            if !s.capabilities.is_empty() {
                out.push(Behaviour::ServerCapabilities);
            }
        }
        E::ModelReady(m) => model_needs(scenario, &m.namespace, &m.model, &mut out),
        E::ScheduleFailed(f) => {
            namespace_needs(scenario, &f.namespace, &mut out);
            // Cross-namespace scheduling shows only if another namespace has a Server for it.
            let elsewhere = scenario
                .doc
                .spec
                .teams
                .iter()
                .any(|t| t.namespace != f.namespace && !t.servers.is_empty());
            if elsewhere {
                out.push(Behaviour::NamespaceScheduling);
            }
        }
        E::Inference(i) => {
            model_needs(scenario, &i.namespace, &i.model, &mut out);
            // Readiness endpoints carry no model in the path: through seldon-mesh only the
            // `seldon-model` header routes them, over REST as over gRPC.
            out.extend([Behaviour::InferenceOutput, Behaviour::ModelHeaderRouting]);
        }
        E::InferenceRejected(r) => {
            model_needs(scenario, &r.namespace, &r.model, &mut out);
            out.push(match r.case {
                NegativeCase::UnknownModel => Behaviour::UnknownModelRefused,
                NegativeCase::WrongShape | NegativeCase::WrongDatatype => {
                    Behaviour::InvalidInputRefused
                }
            });
        }
        E::NetworkPolicyEnforced(_) => out.push(Behaviour::NetworkPolicy),
        E::Connectivity(c) => {
            // Until the canary proves enforcement every connectivity verdict is withheld.
            out.push(Behaviour::NetworkPolicy);
            if scenario
                .team(&c.to.namespace)
                .is_some_and(|t| t.runtime.is_some())
            {
                namespace_needs(scenario, &c.to.namespace, &mut out);
            }
        }
        E::Access(a) => out.push(if a.expect == Outcome::Denied {
            Behaviour::RbacDenies
        } else {
            Behaviour::RbacAllows
        }),
        E::QuotaRejects(q) => {
            out.push(Behaviour::Quota);
            if q.namespace != scenario.doc.spec.seldon.controller_namespace {
                out.push(Behaviour::ClusterWideController);
            }
            // A namespace relying on LimitRange defaults is rejected for the missing limits first.
            if scenario
                .team(&q.namespace)
                .is_some_and(|t| !t.limit_ranges.is_empty())
            {
                out.push(Behaviour::LimitRangeDefaults);
            }
        }
        E::RequiredFlows(f) => {
            namespace_needs(scenario, &f.namespace, &mut out);
            if !f.expect_blocked.is_empty() {
                out.push(Behaviour::NetworkPolicy);
            }
        }
        E::SecretsApplied(_) => out.push(Behaviour::PackagedSecrets),
    }
    out
}

/// Whether a defect of the embedded platform must make a check fail. `suites/tests/mutations.rs`
/// proves this table (exactly these checks fail under each defect, the others pass), so
/// `harness run` reports it as what each check is proven to catch.
pub fn meant_to_catch(defect: Defect, scenario: &Scenario, check: &crate::scenario::Check) -> bool {
    relies_on(scenario, check).contains(&broken_by(defect))
}

/// The defects a check is proven to catch, by name (for reports).
pub fn proven_to_catch(scenario: &Scenario, check: &crate::scenario::Check) -> Vec<&'static str> {
    Defect::ALL
        .into_iter()
        .filter(|d| meant_to_catch(*d, scenario, check))
        .map(Defect::name)
        .collect()
}
