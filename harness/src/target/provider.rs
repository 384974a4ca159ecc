//! One interface over every target: what the embedded platform, kind and existing clusters each
//! provide once started.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use super::mesh::{BoxFuture, LocalBoxFuture, MeshEndpoint};
use super::upgrade::InPlaceUpgrade;
use crate::scenario::{Scenario, TargetKind};

/// Secret packages a target supplies instead of the scenario's, and its model store.
pub use crate::package::store::PackageOverrides;

/// A started target: the embedded platform, a kind cluster, or an existing cluster.
pub trait Provider: Send + Sync {
    /// Which target this is.
    fn kind(&self) -> TargetKind;

    /// A client for the target's API server.
    fn client(&self) -> kube::Client;

    /// The endpoint of a namespace's `seldon-mesh`, opening a port-forward if the target needs one.
    fn endpoint<'a>(&'a self, namespace: &'a str) -> BoxFuture<'a, anyhow::Result<MeshEndpoint>>;

    /// The kubeconfig file to inspect a kept target with, when there is one.
    fn kubeconfig(&self) -> Option<&Path> {
        None
    }

    /// An upper bound for check timeouts, for targets that settle in milliseconds.
    fn timeout_cap(&self) -> Option<Duration> {
        None
    }

    /// The stall clock of a target whose platform runs in this process and so is slowed when the
    /// machine starves this process (`kube::clock`); `None` for clusters running on their own.
    fn platform_stall(&self) -> Option<crate::kube::clock::PlatformStall> {
        None
    }

    /// How long a decision already made can take to show on the API once the platform's Servers
    /// are seen settled, for targets that know it (`None`: checks read it from the platform).
    fn settle_window(&self) -> Option<Duration> {
        None
    }

    /// API requests the target's API server has served so far, by verb, for targets that count
    /// them (the embedded platform).
    fn api_requests(&self) -> Option<BTreeMap<String, u64>> {
        None
    }

    /// How to upgrade this target's Seldon install in place (`None`: the target did not install
    /// it, e.g. an existing cluster without `--manage-install`).
    fn in_place_upgrade(&self) -> Option<Arc<dyn InPlaceUpgrade>> {
        None
    }

    /// Where this target's model store is, when it is outside the pod network (kind: the MinIO
    /// container on the kind Docker network, once started).
    fn model_store(&self) -> Option<std::net::SocketAddrV4> {
        None
    }

    /// Secret packages this target supplies instead of the scenario's, and the store Secrets
    /// broken on purpose are pointed at (none: they are applied as packaged).
    fn package_overrides<'a>(
        &'a self,
        _scenario: &'a Scenario,
    ) -> LocalBoxFuture<'a, anyhow::Result<PackageOverrides>> {
        Box::pin(async { Ok(PackageOverrides::default()) })
    }

    /// Platform facts the target knows and the cluster may not show (node image, CNI), for
    /// diagnostics.
    fn facts(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Stops what the run started, keeping it when the keep policy says so.
    fn finish(self: Box<Self>, run_failed: bool) -> BoxFuture<'static, ()>;
}
