//! Upgrading a target's Seldon install in place, keeping every object: the one sequence every
//! target follows (new CRDs first, verified changed; every existing Seldon object dry-run against
//! them; single-replica Servers warned about; then the components), with the target's own steps
//! ([`UpgradeSteps`]) and the cluster's answers ([`UpgradeCluster`], `target::upgrader` over the
//! API; a double in golden tests).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Upgrades the target's Seldon install in place (helm upgrade to `version`), keeping every object.
pub trait InPlaceUpgrade: Send + Sync {
    /// Runs the upgrade; returns when the new version's components are Ready, with what it found
    /// on the way (CRDs changed, objects dry-run, warnings), one line each, for the report.
    fn upgrade_in_place<'a>(
        &'a self,
        version: &'a str,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<String>>> + Send + 'a>>;
}

/// The two halves of an upgrade a target performs (Helm charts, or the embedded platform's).
pub trait UpgradeSteps: Sync {
    /// Installs `version`'s CRDs (Helm never upgrades a chart's `crds/`; Seldon's CRDs chart keeps
    /// them in `templates/`, so its `helm upgrade` does).
    fn apply_crds(&self, version: &str) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Puts back the installed version's CRDs (after the new ones rejected existing objects).
    fn restore_crds(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Upgrades everything else to `version` and waits for the controller.
    fn upgrade_components(&self, version: &str) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// One Seldon object the new CRDs reject, with the API server's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `Model team/iris`.
    pub object: String,
    /// The API server's message (`... is invalid: status.selector: Required value`).
    pub message: String,
}

/// What the dry-run of every existing Seldon object found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRun {
    /// How many objects were dry-run.
    pub checked: usize,
    /// Those the new CRDs reject.
    pub rejected: Vec<Rejection>,
    /// Servers running one replica (`Server team/mlserver`): they have downtime on the upgrade.
    pub single_replica_servers: Vec<String>,
}

/// What an upgrade asks of the cluster.
pub trait UpgradeCluster: Sync {
    /// Every Seldon CRD with its `metadata.generation` (bumped by any spec change).
    fn crd_generations(&self)
    -> impl Future<Output = anyhow::Result<BTreeMap<String, i64>>> + Send;
    /// Server-side dry-runs (`dryRun=All`) an update of every existing Seldon object.
    fn dry_run_objects(&self) -> impl Future<Output = anyhow::Result<DryRun>> + Send;
    /// The SeldonRuntimes and Servers that are Ready now (`SeldonRuntime team/seldon`), and the
    /// workloads they own whose every pod is Ready (`StatefulSet team/mlserver`).
    fn serving(&self) -> impl Future<Output = anyhow::Result<Vec<String>>> + Send;
    /// Waits until each runtime and Server of `serving` (from [`UpgradeCluster::serving`]) is
    /// Ready again and the rollout of each workload of `serving` is done.
    fn wait_serving(
        &self,
        serving: &[String],
        timeout: Duration,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What an upgrade found on its way, for the log and the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// CRDs whose spec the new version changed (`name: generation a → b`).
    pub crds_changed: Vec<String>,
    /// CRDs the new version left as they were.
    pub crds_unchanged: Vec<String>,
    /// The dry-run of the existing objects.
    pub dry_run: DryRun,
}

impl Findings {
    /// One line per finding, as printed before the components are upgraded.
    pub fn lines(&self, version: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.crds_changed.is_empty() {
            out.push(format!(
                "upgrade to {version}: the new CRDs are the same as the installed ones ({} unchanged)",
                self.crds_unchanged.len()
            ));
        } else {
            out.push(format!(
                "upgrade to {version}: CRDs changed: {}{}",
                self.crds_changed.join(", "),
                if self.crds_unchanged.is_empty() {
                    String::new()
                } else {
                    format!("; unchanged: {}", self.crds_unchanged.join(", "))
                }
            ));
        }
        out.push(format!(
            "upgrade to {version}: {} existing Seldon object(s) pass a server-side dry-run against the new CRDs",
            self.dry_run.checked
        ));
        for s in &self.dry_run.single_replica_servers {
            out.push(format!(
                "warning: {s} runs one replica: its models are unavailable while its pod restarts during the upgrade (Seldon #4478); give it 2 replicas to keep serving"
            ));
        }
        out
    }
}

/// The error of an upgrade refused because existing objects would break, naming each; `restored`
/// says whether the installed CRDs were put back.
pub fn rejected_error(
    version: &str,
    rejected: &[Rejection],
    restored: &anyhow::Result<()>,
) -> anyhow::Error {
    let lines: Vec<String> = rejected
        .iter()
        .map(|r| format!("  {}: {}", r.object, r.message))
        .collect();
    anyhow::anyhow!(
        "not upgrading to {version}: its CRDs reject {} existing object(s) on their next write (a server-side dry-run of each):\n{}\n\
         Fix the objects (or the new CRDs) first: with these CRDs no write to them passes (status updates by the controller, `kubectl apply`, \
         even removing a finalizer to delete them). {}; the components were left on the old version.",
        rejected.len(),
        lines.join("\n"),
        match restored {
            Ok(()) => "The installed version's CRDs were put back".to_string(),
            Err(e) => format!(
                "Putting the installed version's CRDs back failed ({e:#}): the new CRDs are still installed, roll them back by hand (`helm rollback seldon-core-v2-crds -n default`)"
            ),
        }
    )
}

/// The upgrade sequence: CRDs, verified; dry-run of every existing Seldon object against them
/// (any rejection stops here, before the components change); single-replica Servers warned
/// about; the components; every runtime and Server that was Ready before Ready again within
/// `timeout`.
pub async fn upgrade_sequence<S: UpgradeSteps, C: UpgradeCluster>(
    steps: &S,
    cluster: &C,
    version: &str,
    timeout: Duration,
) -> anyhow::Result<Findings> {
    let before = cluster.crd_generations().await?;
    steps.apply_crds(version).await?;
    let after = cluster.crd_generations().await?;
    let mut findings = Findings::default();
    for (name, generation) in &after {
        match before.get(name) {
            Some(old) if old == generation => findings.crds_unchanged.push(name.clone()),
            Some(old) => findings
                .crds_changed
                .push(format!("{name} (generation {old} → {generation})")),
            None => findings.crds_changed.push(format!("{name} (new)")),
        }
    }
    findings.dry_run = cluster.dry_run_objects().await?;
    if !findings.dry_run.rejected.is_empty() {
        let restored = steps.restore_crds().await;
        return Err(rejected_error(
            version,
            &findings.dry_run.rejected,
            &restored,
        ));
    }
    for line in findings.lines(version) {
        eprintln!("{line}");
    }
    let serving = cluster.serving().await?;
    steps.upgrade_components(version).await?;
    cluster.wait_serving(&serving, timeout).await?;
    Ok(findings)
}
