//! Holding a run's Lease (see `lease`): taken before setup, renewed in the background every
//! [`RENEW_EVERY`] while the run goes on, then marked kept or deleted when it ends.

use std::time::Duration;

use kube::api::{Api, DeleteParams};
use serde_json::json;

use super::apply::{Applier, ApplyError};
use super::lease::{HARNESS_NAMESPACE, RENEW_EVERY, lease_name, lease_object};

/// A run's Lease, renewed until [`RunLease::keep`] or [`RunLease::release`] (or drop: then it
/// simply expires, as a crashed run's does).
pub struct RunLease {
    applier: Applier,
    renewer: tokio::task::JoinHandle<()>,
}

impl RunLease {
    /// Creates the harness namespace if needed, takes the run's Lease and starts renewing it.
    pub async fn acquire(applier: Applier) -> Result<RunLease, ApplyError> {
        Self::acquire_renewing(applier, RENEW_EVERY).await
    }

    /// [`RunLease::acquire`], renewing every `every` (tests use a short interval).
    pub async fn acquire_renewing(
        applier: Applier,
        every: Duration,
    ) -> Result<RunLease, ApplyError> {
        applier
            .ensure_shared(&json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": HARNESS_NAMESPACE}}))
            .await?;
        applier
            .apply(&lease_object(applier.labels(), false))
            .await?;
        let renewing = applier.clone();
        let renewer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = renewing
                    .apply(&lease_object(renewing.labels(), false))
                    .await
                {
                    tracing::warn!("renewing the run's Lease: {e}");
                }
            }
        });
        Ok(RunLease { applier, renewer })
    }

    /// Stops renewing and marks the Lease kept: other runs leave the kept objects alone, and
    /// `harness cleanup --run` may remove them.
    pub async fn keep(self) {
        self.renewer.abort();
        if let Err(e) = self
            .applier
            .apply(&lease_object(self.applier.labels(), true))
            .await
        {
            tracing::warn!("marking the run's Lease kept: {e}");
        }
    }

    /// Stops renewing and deletes the Lease (the run is over and cleaned up).
    pub async fn release(self) {
        self.renewer.abort();
        delete(self.applier.client(), &self.applier.labels().run_id).await;
    }
}

impl Drop for RunLease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Deletes a run's Lease (also what `harness cleanup --run` does last); a missing one is fine.
pub async fn delete(client: &kube::Client, run_id: &str) {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), HARNESS_NAMESPACE);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        api.delete(&lease_name(run_id), &DeleteParams::default()),
    )
    .await;
    match r {
        Ok(Ok(_)) | Ok(Err(kube::Error::Api(_))) => {}
        Ok(Err(e)) => tracing::warn!("deleting the Lease of run {run_id}: {e}"),
        Err(_) => tracing::warn!("deleting the Lease of run {run_id}: no answer"),
    }
}
