//! The embedded simulated platform as a target: the only module of the harness that names `sim`.
//! Its defects (and any other fault options) are options of this provider only.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::mesh::{BoxFuture, LocalBoxFuture, MeshEndpoint};
use super::provider::{PackageOverrides, Provider};
use super::upgrade::{InPlaceUpgrade, UpgradeSteps};
use super::upgrader::Upgrader;
use crate::package::store::{Credentials, StoreAccess, store_packages};
use crate::scenario::seldon::{InstallSettings, Kafka};
use crate::scenario::{Scenario, TargetKind};

/// Faults to inject into the embedded platform (to prove checks fail on a broken platform).
pub use sim::faults::{Defect, Faults, TransportFaults};

/// Options of the embedded platform, and of no other target.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// What to break (named defects), to prove checks fail on a broken platform.
    pub faults: Faults,
    /// The cap on check timeouts (`None`: `HARNESS_SIM_TIMEOUT`, default 3 s).
    pub timeout_cap: Option<Duration>,
}

impl EmbeddedOptions {
    /// Options that break the given behaviours.
    pub fn with_faults(faults: Faults) -> EmbeddedOptions {
        EmbeddedOptions {
            faults,
            timeout_cap: None,
        }
    }
}

/// The embedded platform, running in this process.
struct Embedded {
    platform: Option<std::sync::Arc<sim::Platform>>,
    /// Where the controller runs (for an in-place upgrade).
    controller_namespace: String,
    client: kube::Client,
    timeout_cap: Duration,
    /// The keys its model store accepts (random per run, as kind's MinIO store).
    credentials: Credentials,
    /// Private folder (0700) for the generated credential packages; removed with the provider.
    packages: tempfile::TempDir,
}

/// The S3 endpoint written into the store's rclone Secret: the platform's model store Service,
/// which rclone dials under NetworkPolicy (docs/seldon-behaviour.md §17) and which accepts only
/// the run's keys (§12).
fn store_endpoint() -> String {
    format!(
        "http://{}.{}:{}",
        sim::model_store::SERVICE,
        sim::model_store::NAMESPACE,
        sim::model_store::PORT
    )
}

/// Starts the embedded platform for a scenario, with Seldon installed as it says.
pub async fn start(
    options: &EmbeddedOptions,
    install: &InstallSettings,
    scenario: &Scenario,
) -> anyhow::Result<Box<dyn Provider>> {
    let platform = embedded_platform(options.faults.clone(), install, Some(scenario))?;
    // Like kind's MinIO, the store accepts only its own random keys: the scenario's models get
    // them through generated packages (`package_overrides`), never the scenario's placeholders.
    let credentials = Credentials::random()?;
    platform.secure_model_store(sim::seldon::StoreKeys {
        access_key: credentials.access_key.clone(),
        secret_key: credentials.secret_key().to_string(),
    });
    let packages = tempfile::Builder::new()
        .prefix("harness-embedded-store-")
        .tempdir()
        .context("creating a private folder for the model store's secret packages")?;
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&platform.kubeconfig_yaml())
            .context("reading the platform's kubeconfig")?,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .context("loading the platform's kubeconfig")?;
    let client = crate::kube::retry::client(config)
        .context("building a client for the embedded platform")?;
    Ok(Box::new(Embedded {
        platform: Some(std::sync::Arc::new(platform)),
        controller_namespace: install.controller_namespace.clone(),
        client,
        timeout_cap: options.timeout_cap.unwrap_or_else(embedded_timeout_cap),
        credentials,
        packages,
    }))
}

impl Provider for Embedded {
    fn kind(&self) -> TargetKind {
        TargetKind::Sim
    }

    fn client(&self) -> kube::Client {
        self.client.clone()
    }

    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>> {
        Box::pin(async move {
            let platform = self
                .platform
                .as_ref()
                .context("the embedded platform has stopped")?;
            let addr = platform.mesh_addr(namespace).with_context(|| {
                format!(
                    "namespace `{namespace}` has no seldon-mesh endpoint: is its SeldonRuntime Ready?"
                )
            })?;
            Ok(MeshEndpoint {
                rest_base: format!("http://{addr}"),
                grpc_addr: addr.to_string(),
            })
        })
    }

    fn timeout_cap(&self) -> Option<Duration> {
        Some(self.timeout_cap)
    }

    fn api_requests(&self) -> Option<std::collections::BTreeMap<String, u64>> {
        self.platform.as_deref().map(sim::Platform::api_requests)
    }

    fn platform_stall(&self) -> Option<crate::kube::clock::PlatformStall> {
        let platform = self.platform.clone()?;
        Some(std::sync::Arc::new(move || platform.stalled()))
    }

    fn settle_window(&self) -> Option<Duration> {
        Some(EMBEDDED_SETTLE)
    }

    fn in_place_upgrade(&self) -> Option<std::sync::Arc<dyn InPlaceUpgrade>> {
        let steps = EmbeddedSteps {
            platform: self.platform.clone()?,
            controller_namespace: self.controller_namespace.clone(),
            readiness: super::kind::helm::KubeReadiness::new(self.client.clone()),
        };
        Some(std::sync::Arc::new(Upgrader::new(
            steps,
            self.client.clone(),
            self.timeout_cap * 4,
        )))
    }

    /// The store's rclone Secret, delivered as kind delivers its MinIO keys; Secrets broken on
    /// purpose are pointed at the store keeping their wrong part (`package::broken`).
    fn package_overrides<'a>(
        &'a self,
        scenario: &'a Scenario,
    ) -> LocalBoxFuture<'a, anyhow::Result<PackageOverrides>> {
        Box::pin(async move {
            let store = StoreAccess {
                endpoint: store_endpoint(),
                credentials: self.credentials.clone(),
            };
            Ok(store_packages(scenario, self.packages.path(), &store)?)
        })
    }

    fn facts(&self) -> Vec<(String, String)> {
        vec![
            (
                "node image".into(),
                "none: the embedded platform runs no nodes (its \"kubelet\" is simulated)".into(),
            ),
            (
                "CNI".into(),
                "none: the embedded platform's NetworkPolicy model (sim::network)".into(),
            ),
        ]
    }

    fn finish(mut self: Box<Self>, _run_failed: bool) -> BoxFuture<'static, ()> {
        // An upgrade handed out may still hold the platform: it stops when that is dropped.
        if let Some(mut p) = self
            .platform
            .take()
            .and_then(|p| std::sync::Arc::try_unwrap(p).ok())
        {
            p.shutdown();
        }
        Box::pin(async {})
    }
}

/// The embedded platform's in-place upgrade: its new CRDs, then its components on the new images,
/// rolled by their workload controllers (docs/seldon-behaviour.md §20, §26).
struct EmbeddedSteps {
    platform: std::sync::Arc<sim::Platform>,
    controller_namespace: String,
    readiness: super::kind::helm::KubeReadiness,
}

impl UpgradeSteps for EmbeddedSteps {
    async fn apply_crds(&self, _version: &str) -> anyhow::Result<()> {
        self.platform.upgrade_seldon_crds().map(|_| ())
    }

    async fn restore_crds(&self) -> anyhow::Result<()> {
        self.platform.restore_seldon_crds()
    }

    async fn upgrade_components(&self, version: &str) -> anyhow::Result<()> {
        use super::kind::helm::ControllerReadiness;
        self.platform
            .roll_seldon(&self.controller_namespace, version)?;
        self.readiness
            .wait_ready(&self.controller_namespace, Duration::from_secs(30))
            .await?;
        Ok(())
    }
}

/// The embedded platform's settle window: one reconcile pass writes a Server's status and then
/// the Models' scheduling decisions taken with it (`sim/src/reconcile.rs`), and a pass takes
/// milliseconds; this bounds a pass with a wide margin for a loaded machine.
const EMBEDDED_SETTLE: Duration = Duration::from_millis(500);

/// `HARNESS_SIM_TIMEOUT` (e.g. `5s`), default 3 s: the cap on check timeouts of one embedded
/// platform having the machine to itself.
pub fn embedded_timeout_cap() -> Duration {
    std::env::var("HARNESS_SIM_TIMEOUT")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(Duration::from_secs(3))
}

/// Serves the embedded platform standalone until Ctrl-C, writing a kubeconfig for kubectl. With a
/// scenario, Seldon is installed as it says and its model artifacts are published, so the scenario
/// can be applied by hand or run with `harness run --target existing`.
pub fn platform_up(
    kubeconfig: &Path,
    faults: Faults,
    scenario: Option<&Scenario>,
) -> anyhow::Result<()> {
    let install = scenario
        .map(|s| s.doc.spec.seldon.clone())
        .unwrap_or_else(|| InstallSettings::new("2.10.2"));
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
    install: &InstallSettings,
    scenario: Option<&Scenario>,
) -> anyhow::Result<sim::Platform> {
    let platform = sim::Platform::start(faults).context("starting the embedded platform")?;
    // kind ships a default StorageClass (`standard`, local-path, WaitForFirstConsumer): Seldon's
    // scheduler claim binds there, so it does here (docs/seldon-behaviour.md §16).
    platform
        .install_kind_storage()
        .context("creating the default StorageClass on the embedded platform")?;
    platform
        .install_seldon(&sim::seldon::InstallOptions {
            clusterwide: install.clusterwide,
            controller_namespace: install.controller_namespace.clone(),
            watch_namespaces: install.watch_namespaces.clone(),
            kafka: match &install.kafka {
                Kafka::None => sim::seldon::Kafka::None,
                Kafka::External { bootstrap } => sim::seldon::Kafka::External(bootstrap.clone()),
                Kafka::Installed => sim::seldon::Kafka::Installed,
            },
        })
        .context("installing the Seldon controller on the embedded platform")?;
    platform
        .install_sealed_secrets()
        .context("installing the sealed-secrets controller on the embedded platform")?;
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
