//! Upgrading a target's Seldon install in place (`harness run --upgrade-to`), keeping every object.

/// Upgrades the target's Seldon install in place (helm upgrade to `version`), keeping every object.
pub trait InPlaceUpgrade: Send + Sync {
    /// Runs the upgrade; returns when the new version's components are Ready.
    fn upgrade_in_place<'a>(
        &'a self,
        version: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send + 'a>>;
}
