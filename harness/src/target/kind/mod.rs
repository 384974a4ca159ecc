//! kind as a target: the cluster from `kind-config.yaml` (`provision`), Seldon installed with Helm
//! (`helm`), the sealed-secrets controller and Kafka next to it (`addons`), and the MinIO model
//! store serving the harness's sample models (`minio`).

pub mod addons;
pub mod fingerprint;
pub mod helm;
pub mod helm_output;
pub mod helm_upgrade;
pub mod minio;
pub mod provision;
pub mod settings;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use self::minio::ModelStore;
use self::provision::{KindCluster, KindProvisioner, KindSettings, fingerprint_from_files};
use super::lock::StateLock;
use super::mesh::{BoxFuture, LocalBoxFuture, MeshEndpoint};
use super::options::TargetOptions;
use super::portforward::ClusterMesh;
use super::provider::{PackageOverrides, Provider};
use crate::package::store::store_packages;
use crate::scenario::seldon::InstallSettings;
use crate::scenario::{Scenario, TargetKind};
use crate::tools;

/// A kind cluster the harness provisioned (or reused), with Seldon installed.
struct Kind {
    client: kube::Client,
    cluster: Option<KindCluster>,
    mesh: ClusterMesh,
    helm: Option<(Arc<helm::Installer>, InstallSettings)>,
    /// The MinIO model store holding the harness's sample models, started on first need.
    model_store: tokio::sync::OnceCell<ModelStore>,
    /// Kubeconfigs, generated packages and other state.
    state_dir: PathBuf,
    /// Node image and CNI as the kind settings say (for diagnostics).
    facts: Vec<(String, String)>,
}

/// Provisions (or reuses) the kind cluster and installs Seldon with Helm.
pub async fn start(opts: &TargetOptions, scenario: &Scenario) -> anyhow::Result<Box<dyn Provider>> {
    let runner: tools::SharedRunner = Arc::new(tools::DuctRunner);
    let install = opts.install_settings(scenario);
    let base = opts
        .kind_cluster
        .clone()
        .unwrap_or_else(|| "seldon-harness".into());
    let mut settings = KindSettings::new(fingerprint::cluster_for_install(&base, &install));
    if let Some(c) = &opts.kind_config {
        settings.config_path = c.clone();
    }
    settings.images_to_load = scenario.doc.spec.images.clone();
    settings.keep = opts.keep;
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
    let installer = Arc::new(helm::Installer::new(runner, cluster.kube_target(), &state));
    let readiness = helm::KubeReadiness::new(client.clone());
    addons::install_platform(&installer, &install, &readiness).await?;
    let helm = Some((installer, install.clone()));
    cluster.record_fingerprint(&fp).await?;
    if !scenario.doc.spec.artifacts.is_empty() {
        tracing::warn!(
            "scenario `{}` publishes model artifacts; on kind they must be reachable at their storageUri \
             (see docs/targets.md, \"Model artifacts on kind\")",
            scenario.name()
        );
    }
    Ok(Box::new(Kind {
        mesh: ClusterMesh::new(client.clone()),
        client,
        cluster: Some(cluster),
        helm,
        model_store: Default::default(),
        state_dir: opts.state_dir(),
        facts: vec![
            (
                "node image".into(),
                settings
                    .node_image
                    .clone()
                    .unwrap_or_else(|| format!("as pinned in {}", settings.config_path.display())),
            ),
            ("CNI".into(), "kindnet (kind's default CNI)".into()),
            ("kind cluster".into(), settings.cluster_name.clone()),
        ],
    }))
}

impl Kind {
    /// Secret packages this target supplies instead of the scenario's, by (namespace, Secret).
    ///
    /// On kind the harness's sample models live in a MinIO store on the kind network whose
    /// credentials and address exist only at run time; the rclone Secret the scenario's models use
    /// is delivered from a package generated with them (the scenario's own package holds test
    /// placeholders), and Secrets broken on purpose are pointed at the store keeping their wrong
    /// part (`package::broken`). Elsewhere the scenario's packages are used as they are.
    async fn overrides(&self, scenario: &Scenario) -> anyhow::Result<PackageOverrides> {
        let artifacts = &scenario.doc.spec.artifacts;
        if artifacts.is_empty() {
            return Ok(PackageOverrides::default());
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
        Ok(store_packages(scenario, &self.state_dir, &store.access())?)
    }
}

impl Provider for Kind {
    fn kind(&self) -> TargetKind {
        TargetKind::Kind
    }

    fn client(&self) -> kube::Client {
        self.client.clone()
    }

    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>> {
        Box::pin(self.mesh.endpoint(namespace))
    }

    fn kubeconfig(&self) -> Option<&Path> {
        self.cluster.as_ref().map(|c| c.kubeconfig())
    }

    fn in_place_upgrade(&self) -> Option<Arc<dyn super::upgrade::InPlaceUpgrade>> {
        Some(Arc::new(ForgetsFingerprint {
            inner: helm_upgrade::in_place(self.helm.as_ref()?, &self.client)?,
            client: self.client.clone(),
        }))
    }

    fn model_store(&self) -> Option<std::net::SocketAddrV4> {
        self.model_store.get().and_then(|s| s.cluster_address())
    }

    /// On kind the harness's sample models live in a MinIO store on the kind network whose
    /// credentials and address exist only at run time; the rclone Secret the scenario's models use
    /// is delivered from a package generated with them (the scenario's own package holds test
    /// placeholders), and Secrets broken on purpose point at the store (`package::broken`).
    fn package_overrides<'a>(
        &'a self,
        scenario: &'a Scenario,
    ) -> LocalBoxFuture<'a, anyhow::Result<PackageOverrides>> {
        Box::pin(self.overrides(scenario))
    }

    fn facts(&self) -> Vec<(String, String)> {
        self.facts.clone()
    }

    fn finish(mut self: Box<Self>, run_failed: bool) -> BoxFuture<'static, ()> {
        let cluster = self.cluster.take();
        Box::pin(async move {
            let Some(cluster) = cluster else { return };
            let teardown = cluster.finish(run_failed).await;
            for p in teardown.problems {
                tracing::warn!("kind teardown: {p}");
            }
            if let Some(logs) = teardown.logs {
                eprintln!("kind logs exported to {}", logs.display());
            }
        })
    }
}

/// An upgrade of a kind cluster: its recorded fingerprint names the install it no longer runs, so
/// it is deleted first and the next run recreates the cluster instead of reusing it as the old
/// version.
struct ForgetsFingerprint {
    inner: Arc<dyn super::upgrade::InPlaceUpgrade>,
    client: kube::Client,
}

impl super::upgrade::InPlaceUpgrade for ForgetsFingerprint {
    fn upgrade_in_place<'a>(
        &'a self,
        version: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Vec<String>>> + Send + 'a>>
    {
        Box::pin(async move {
            let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
                kube::Api::namespaced(self.client.clone(), fingerprint::FINGERPRINT_NAMESPACE);
            match api
                .delete(fingerprint::FINGERPRINT_CONFIGMAP, &Default::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => anyhow::bail!(
                    "deleting the cluster's fingerprint before upgrading it (so no later run reuses it as the old version): {e}"
                ),
            }
            self.inner.upgrade_in_place(version).await
        })
    }
}
