//! The Helm steps of an in-place upgrade (kind, and existing clusters with `--manage-install`):
//! the CRDs chart first, then the setup chart, each release checked, then the controller.

use std::sync::Arc;
use std::time::Duration;

use super::helm::{
    CRDS_NAMESPACE, CRDS_RELEASE, ControllerReadiness, InstallSettings, Installer, SETUP_RELEASE,
    validate,
};
use crate::target::upgrade::UpgradeSteps;

/// Upgrades the releases `installer` installed with `settings` to another chart version.
pub struct HelmSteps<R> {
    installer: Arc<Installer>,
    settings: InstallSettings,
    readiness: R,
}

impl<R: ControllerReadiness> HelmSteps<R> {
    /// The steps for the install `settings` describes (its chart version is the one installed).
    pub fn new(installer: Arc<Installer>, settings: InstallSettings, readiness: R) -> Self {
        Self {
            installer,
            settings,
            readiness,
        }
    }

    /// The install settings at `version`, validated.
    fn at(&self, version: &str) -> anyhow::Result<InstallSettings> {
        let mut to = self.settings.clone();
        to.chart_version = version.to_string();
        validate(&to)?;
        Ok(to)
    }
}

impl<R: ControllerReadiness + Send> UpgradeSteps for HelmSteps<R> {
    async fn apply_crds(&self, version: &str) -> anyhow::Result<()> {
        let to = self.at(version)?;
        self.installer.add_repo(&to).await?;
        self.installer.install_crds_chart(&to).await?;
        self.installer
            .verify_release(CRDS_RELEASE, CRDS_NAMESPACE, version)
            .await?;
        Ok(())
    }

    async fn restore_crds(&self) -> anyhow::Result<()> {
        self.installer
            .rollback(CRDS_RELEASE, CRDS_NAMESPACE, self.settings.timeout_seconds)
            .await?;
        self.installer
            .verify_release(CRDS_RELEASE, CRDS_NAMESPACE, &self.settings.chart_version)
            .await?;
        Ok(())
    }

    async fn upgrade_components(&self, version: &str) -> anyhow::Result<()> {
        let to = self.at(version)?;
        self.installer.install_setup_chart(&to).await?;
        self.installer
            .verify_release(SETUP_RELEASE, &to.controller_namespace, version)
            .await?;
        self.readiness
            .wait_ready(
                &to.controller_namespace,
                Duration::from_secs(to.timeout_seconds),
            )
            .await?;
        Ok(())
    }
}

/// The in-place upgrade of a Helm install (`installer`, `settings`) whose API `client` reaches.
pub fn in_place(
    (installer, settings): &(Arc<Installer>, InstallSettings),
    client: &kube::Client,
) -> Option<Arc<dyn crate::target::upgrade::InPlaceUpgrade>> {
    let steps = HelmSteps::new(
        installer.clone(),
        settings.clone(),
        super::helm::KubeReadiness::new(client.clone()),
    );
    // Servers restart on the new images: as long as the install's own wait, at least 5 minutes.
    let timeout = Duration::from_secs(settings.timeout_seconds.max(300));
    Some(Arc::new(crate::target::upgrader::Upgrader::new(
        steps,
        client.clone(),
        timeout,
    )))
}
