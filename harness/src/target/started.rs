//! The started target the run layer holds: it never asks which backend it has.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use super::mesh::{BoxFuture, MeshAccess, MeshEndpoint};
use super::options::{TargetOptions, work_dir};
use super::provider::{PackageOverrides, Provider};
use crate::scenario::{Scenario, TargetKind};

/// A target that is up and has Seldon installed, ready for scenario setup.
pub struct Target {
    provider: Box<dyn Provider>,
    work_dir: PathBuf,
    sealing_cert: Option<PathBuf>,
    diagnostics_dir: Option<PathBuf>,
}

impl Target {
    /// Brings the target up for a scenario: starts the embedded platform, or provisions/uses a
    /// cluster, and makes sure Seldon Core v2 is installed as the scenario says.
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
        // Choosing the target is the one place that names each backend.
        let provider = match kind {
            TargetKind::Sim => {
                super::embedded::start(&opts.embedded, &opts.install_settings(scenario), scenario)
                    .await?
            }
            TargetKind::Kind => super::kind::start(opts, scenario).await?,
            TargetKind::Existing => super::existing::start(opts, scenario).await?,
        };
        Ok(Target {
            provider,
            work_dir: work_dir(opts),
            sealing_cert: opts.sealing_cert.clone(),
            diagnostics_dir: opts.diagnostics_dir.clone(),
        })
    }

    /// The certificate to seal `seal:` packages with, when given instead of the controller's.
    pub fn sealing_cert(&self) -> Option<&Path> {
        self.sealing_cert.as_deref()
    }

    /// Which target this is.
    pub fn kind(&self) -> TargetKind {
        self.provider.kind()
    }

    /// A client for the target's API server.
    pub fn client(&self) -> kube::Client {
        self.provider.client()
    }

    /// How to upgrade this target's Seldon install in place, when it can be.
    pub fn in_place_upgrade(&self) -> Option<std::sync::Arc<dyn super::upgrade::InPlaceUpgrade>> {
        self.provider.in_place_upgrade()
    }

    /// Secret packages this target supplies instead of the scenario's, and its model store.
    pub async fn package_overrides(&self, scenario: &Scenario) -> anyhow::Result<PackageOverrides> {
        self.provider.package_overrides(scenario).await
    }

    /// Where secret packages are extracted for this target's runs.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Where a failed run writes its diagnostics bundle (`--report DIR` gives `DIR/diagnostics`);
    /// `None`: no bundle is written.
    pub fn diagnostics_dir(&self) -> Option<&Path> {
        self.diagnostics_dir.as_deref()
    }

    /// Platform facts the target knows and the cluster may not show (node image, CNI).
    pub fn facts(&self) -> Vec<(String, String)> {
        self.provider.facts()
    }

    /// Where the target's model store is when it is outside the pod network (kind's MinIO).
    pub fn model_store(&self) -> Option<std::net::SocketAddrV4> {
        self.provider.model_store()
    }

    /// The kubeconfig file to inspect a kept target with, when there is one.
    pub fn kubeconfig(&self) -> Option<&Path> {
        self.provider.kubeconfig()
    }

    /// An upper bound for check timeouts: the embedded platform settles in milliseconds, so a check
    /// still waiting after a few seconds there has its answer.
    pub fn timeout_cap(&self) -> Option<Duration> {
        self.provider.timeout_cap()
    }

    /// The target's stall clock (see [`Provider::platform_stall`]).
    pub fn platform_stall(&self) -> Option<crate::kube::clock::PlatformStall> {
        self.provider.platform_stall()
    }

    /// API requests served so far, by verb, where the target counts them (the embedded platform).
    pub fn api_requests(&self) -> Option<std::collections::BTreeMap<String, u64>> {
        self.provider.api_requests()
    }

    /// The target's own settle window (see [`Provider::settle_window`]).
    pub fn settle_window(&self) -> Option<Duration> {
        self.provider.settle_window()
    }

    /// Stops what the run started, keeping it when the keep policy says so (and printing how to reach it).
    pub async fn finish(self, run_failed: bool) {
        self.provider.finish(run_failed).await
    }
}

impl MeshAccess for Target {
    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>> {
        self.provider.endpoint(namespace)
    }
}
