//! kind clusters: create, reuse by fingerprint, recreate, keep or delete; image loading; log export.
//!
//! A cluster is reused only when it exists and carries the fingerprint of exactly what this run
//! wants (kind config file, node image, chart versions and values). The fingerprint lives in the
//! cluster itself, in ConfigMap `kube-system/seldon-conformance-harness-fingerprint`, written only
//! after the install succeeded: a cluster deleted or recreated by hand, or a run that died half
//! way, can never be mistaken for a good one (a file in the state directory could). Every kind,
//! kubectl and docker call goes through [`crate::tools`].

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::fingerprint::*;
use super::helm;
pub use super::settings::*;
pub use crate::target::keep::KeepPolicy;
use crate::tools::{self, Command, DOCKER, KIND, KUBECTL, Output, SharedRunner};

/// Parses `kind get clusters`: one name per line on stdout; "No kind clusters found." on stderr.
pub fn parse_kind_clusters(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// What a kind error text means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KindFailure {
    /// `node(s) already exist for a cluster with the name "X"`.
    AlreadyExists {
        /// Cluster.
        name: String,
    },
    /// kind could not talk to Docker.
    DockerUnavailable,
    /// `image: "X" not present locally`.
    ImageNotPresent {
        /// Image.
        image: String,
    },
    /// `could not locate any control plane nodes for cluster named 'X'`.
    NoSuchCluster {
        /// Cluster.
        name: String,
    },
    /// Anything else.
    Other,
}

/// Classifies kind's stderr (kind prints `ERROR: <wrapped error>` and, for failed sub-commands,
/// `Command Output: …`).
pub fn classify_kind_error(stderr: &str) -> KindFailure {
    let text = tools::strip_ansi(stderr);
    let between = |start: &str, end: char| -> Option<String> {
        let i = text.find(start)? + start.len();
        let rest = &text[i..];
        Some(rest[..rest.find(end)?].to_string())
    };
    if let Some(name) = between("already exist for a cluster with the name \"", '"') {
        KindFailure::AlreadyExists { name }
    } else if text.contains("Cannot connect to the Docker daemon")
        || text.contains("failed to list nodes")
        || text.contains("failed to list clusters")
        || text.contains("permission denied while trying to connect to the Docker daemon")
    {
        KindFailure::DockerUnavailable
    } else if let Some(image) =
        between("image: \"", '"').filter(|_| text.contains("not present locally"))
    {
        KindFailure::ImageNotPresent { image }
    } else if let Some(name) = between(
        "could not locate any control plane nodes for cluster named '",
        '\'',
    ) {
        KindFailure::NoSuchCluster { name }
    } else {
        KindFailure::Other
    }
}

fn kind_error(cmd: &Command, out: Output) -> ProvisionError {
    let advice = match classify_kind_error(&out.stderr) {
        KindFailure::AlreadyExists { name } => format!(
            "A cluster named {name} exists but kind get clusters did not list it (another run racing?). \
             Delete it with `kind delete cluster --name {name}` or pick another cluster name."
        ),
        KindFailure::DockerUnavailable => {
            "kind could not use Docker: start the Docker daemon and check \
             that `docker info` works for your user."
                .to_string()
        }
        KindFailure::ImageNotPresent { image } => format!(
            "Image {image} is not in the local Docker image store: `docker pull {image}` or build it \
             before the run (kind loads local images only)."
        ),
        KindFailure::NoSuchCluster { name } => format!(
            "kind has no cluster named {name}: it was deleted during the run, or Docker was restarted."
        ),
        KindFailure::Other => String::new(),
    };
    let source = match tools::check(cmd, out) {
        Err(e) => e,
        Ok(_) => unreachable!("kind_error is only called for failed commands"),
    };
    ProvisionError::Kind {
        source: Box::new(source),
        advice,
    }
}

/// How the cluster came to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provisioned {
    /// Newly created.
    Created,
    /// Reused as is.
    Reused,
    /// Deleted and created again, for this reason.
    Recreated(String),
}

/// Creates or reuses kind clusters.
pub struct KindProvisioner {
    runner: SharedRunner,
    settings: KindSettings,
    state_dir: PathBuf,
    diagnostics_dir: PathBuf,
}

/// A kind cluster for one run; apply the keep policy with [`KindCluster::finish`] (a drop without
/// it counts as a failed run).
pub struct KindCluster {
    runner: SharedRunner,
    name: String,
    kubeconfig: PathBuf,
    keep: KeepPolicy,
    diagnostics_dir: PathBuf,
    provisioned: Provisioned,
    finished: bool,
}

/// What happened at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Teardown {
    /// `export KUBECONFIG=…` when the cluster was kept.
    pub kept: Option<String>,
    /// Where `kind export logs` wrote, when the run failed.
    pub logs: Option<PathBuf>,
    /// Problems during teardown (logged, not fatal).
    pub problems: Vec<String>,
}

impl KindProvisioner {
    /// A provisioner; the kubeconfig goes under `state_dir`, logs under `diagnostics_dir`.
    pub fn new(
        runner: SharedRunner,
        settings: KindSettings,
        state_dir: impl Into<PathBuf>,
        diagnostics_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            runner,
            settings,
            state_dir: state_dir.into(),
            diagnostics_dir: diagnostics_dir.into(),
        }
    }

    /// Where the cluster's kubeconfig is written (never the user's `~/.kube/config`).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.state_dir
            .join("kind")
            .join(&self.settings.cluster_name)
            .join("kubeconfig")
    }

    fn kind(&self) -> Command {
        Command::new(&KIND)
    }

    fn kubectl(&self) -> Command {
        Command::new(&KUBECTL).args([
            "--kubeconfig".to_string(),
            self.kubeconfig_path().display().to_string(),
            "--context".to_string(),
            self.settings.context(),
        ])
    }

    async fn kind_ok(&self, cmd: Command) -> Result<Output, ProvisionError> {
        let out = tools::run(&self.runner, cmd.clone()).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(kind_error(&cmd, out))
        }
    }

    /// Names of the existing kind clusters.
    pub async fn list_clusters(&self) -> Result<Vec<String>, ProvisionError> {
        let out = self.kind_ok(self.kind().args(["get", "clusters"])).await?;
        Ok(parse_kind_clusters(&out))
    }

    async fn export_kubeconfig(&self) -> Result<PathBuf, ProvisionError> {
        let out = self
            .kind_ok(
                self.kind()
                    .args(["get", "kubeconfig", "--name", &self.settings.cluster_name]),
            )
            .await?;
        let path = self.kubeconfig_path();
        write_private(&path, out.stdout.as_bytes())?;
        Ok(path)
    }

    async fn read_fingerprint(&self) -> Result<Option<Fingerprint>, String> {
        let cmd = self
            .kubectl()
            .args([
                "get",
                "configmap",
                FINGERPRINT_CONFIGMAP,
                "--namespace",
                FINGERPRINT_NAMESPACE,
                "--ignore-not-found",
                "-o",
                "json",
            ])
            .timeout(Duration::from_secs(30));
        let out = tools::run_ok(&self.runner, cmd)
            .await
            .map_err(|e| e.to_string())?;
        parse_fingerprint_configmap(&out.stdout)
    }

    async fn create(&self) -> Result<(), ProvisionError> {
        let mut cmd = self.kind().args([
            "create".to_string(),
            "cluster".to_string(),
            "--name".to_string(),
            self.settings.cluster_name.clone(),
            "--config".to_string(),
            self.settings.config_path.display().to_string(),
            "--kubeconfig".to_string(),
            self.kubeconfig_path().display().to_string(),
        ]);
        if let Some(image) = &self.settings.node_image {
            cmd = cmd.args(["--image", image]);
        }
        let timeout = self.settings.create_timeout_seconds;
        // kind's own --wait (control plane Ready) stays below our process timeout.
        let wait = timeout.saturating_sub(60).max(60);
        let cmd = cmd
            .arg("--wait")
            .arg(format!("{wait}s"))
            .timeout(Duration::from_secs(timeout));
        if let Some(parent) = self.kubeconfig_path().parent() {
            std::fs::create_dir_all(parent).map_err(|source| ProvisionError::State {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        self.kind_ok(cmd).await?;
        Ok(())
    }

    async fn delete(&self) -> Result<(), ProvisionError> {
        self.kind_ok(
            self.kind()
                .args(["delete", "cluster", "--name", &self.settings.cluster_name])
                .arg("--kubeconfig")
                .arg(self.kubeconfig_path().display().to_string())
                .timeout(Duration::from_secs(180)),
        )
        .await?;
        Ok(())
    }

    /// Checks tools, then creates, reuses or recreates the cluster for `wanted`.
    pub async fn provision(&self, wanted: &Fingerprint) -> Result<KindCluster, ProvisionError> {
        validate_cluster_name(&self.settings.cluster_name)?;
        for tool in [&DOCKER, &KIND, &KUBECTL] {
            tools::ensure_tool(&self.runner, tool).await?;
        }
        let name = &self.settings.cluster_name;
        let exists = self.list_clusters().await?.iter().any(|c| c == name);
        let mut exported = false;
        let recorded = if exists {
            match self.export_kubeconfig().await {
                Ok(_) => {
                    exported = true;
                    self.read_fingerprint().await
                }
                Err(e) => Err(e.to_string()),
            }
        } else {
            Ok(None)
        };
        let decision = decide(
            exists,
            recorded
                .as_ref()
                .map(Option::as_ref)
                .map_err(String::as_str),
            wanted,
        );
        let provisioned = match decision {
            Decision::Create => {
                tracing::info!(cluster = %name, "creating kind cluster");
                self.create().await?;
                Provisioned::Created
            }
            Decision::Reuse => {
                tracing::info!(cluster = %name, "reusing kind cluster (fingerprint matches)");
                Provisioned::Reused
            }
            Decision::Recreate { reason } => {
                tracing::warn!(cluster = %name, %reason, "recreating kind cluster");
                eprintln!("Recreating kind cluster {name}: {reason}");
                self.delete().await?;
                self.create().await?;
                Provisioned::Recreated(reason)
            }
        };
        // A reused cluster's kubeconfig was exported above; a new one must be exported now.
        let kubeconfig = if exported && provisioned == Provisioned::Reused {
            self.kubeconfig_path()
        } else {
            self.export_kubeconfig().await?
        };
        Ok(KindCluster {
            runner: self.runner.clone(),
            name: name.clone(),
            kubeconfig,
            keep: self.settings.keep,
            diagnostics_dir: self.diagnostics_dir.clone(),
            provisioned,
            finished: false,
        })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ProvisionError> {
    let err = |source| ProvisionError::State {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    std::fs::write(path, bytes).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    Ok(())
}

impl KindCluster {
    /// Cluster name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Kubeconfig file for this cluster.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Kubeconfig context (`kind-<name>`).
    pub fn context(&self) -> String {
        format!("kind-{}", self.name)
    }

    /// Whether it was created, reused or recreated.
    pub fn provisioned(&self) -> &Provisioned {
        &self.provisioned
    }

    /// Where helm should point.
    pub fn kube_target(&self) -> helm::KubeTarget {
        helm::KubeTarget {
            kubeconfig: Some(self.kubeconfig.clone()),
            context: self.context(),
        }
    }

    /// A kube-rs client for the cluster.
    pub async fn client(&self) -> Result<kube::Client, crate::target::existing::ExistingError> {
        crate::target::existing::client_for(Some(&self.kubeconfig), &self.context()).await
    }

    /// The line that lets a person use the cluster from a shell.
    pub fn export_line(&self) -> String {
        format!("export KUBECONFIG={}", self.kubeconfig.display())
    }

    /// Loads local Docker images into the nodes (kind skips images already present).
    pub async fn load_images(&self, images: &[String]) -> Result<(), ProvisionError> {
        for image in images {
            let cmd = Command::new(&KIND)
                .args(["load", "docker-image", image, "--name", &self.name])
                .timeout(Duration::from_secs(900));
            let out = tools::run(&self.runner, cmd.clone()).await?;
            if !out.success() {
                return Err(kind_error(&cmd, out));
            }
        }
        Ok(())
    }

    /// Records `fp` in the cluster; call after the install succeeded.
    pub async fn record_fingerprint(&self, fp: &Fingerprint) -> Result<(), ProvisionError> {
        let cmd = Command::new(&KUBECTL)
            .args([
                "--kubeconfig".to_string(),
                self.kubeconfig.display().to_string(),
                "--context".to_string(),
                self.context(),
            ])
            .args([
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager",
                crate::kube::FIELD_MANAGER,
                "-f",
                "-",
            ])
            .stdin(
                fingerprint_configmap(fp),
                format!("ConfigMap {FINGERPRINT_CONFIGMAP}"),
            )
            .timeout(Duration::from_secs(60));
        tools::run_ok(&self.runner, cmd).await?;
        Ok(())
    }

    /// Ends the run: on failure exports kind's logs into the diagnostics directory, then keeps or
    /// deletes the cluster per the keep policy. Prints the `export KUBECONFIG=…` line when kept.
    pub async fn finish(mut self, run_failed: bool) -> Teardown {
        self.finished = true;
        let runner = self.runner.clone();
        let (name, kubeconfig, keep, diag) = (
            self.name.clone(),
            self.kubeconfig.clone(),
            self.keep,
            self.diagnostics_dir.clone(),
        );
        tokio::task::spawn_blocking(move || {
            teardown_blocking(&*runner, &name, &kubeconfig, keep, &diag, run_failed)
        })
        .await
        .unwrap_or_else(|e| Teardown {
            kept: None,
            logs: None,
            problems: vec![format!("teardown task failed: {e}")],
        })
    }
}

/// The teardown itself, blocking (shared by [`KindCluster::finish`] and `Drop`).
fn teardown_blocking(
    runner: &dyn tools::Runner,
    name: &str,
    kubeconfig: &Path,
    keep: KeepPolicy,
    diagnostics_dir: &Path,
    run_failed: bool,
) -> Teardown {
    let mut problems = Vec::new();
    let mut logs = None;
    let mut run = |cmd: Command| match runner.run(&cmd).and_then(|o| tools::check(&cmd, o)) {
        Ok(_) => true,
        Err(e) => {
            problems.push(e.to_string());
            false
        }
    };
    if run_failed {
        let dir = diagnostics_dir.join("kind-logs");
        let cmd = Command::new(&KIND)
            .args(["export", "logs"])
            .arg(dir.display().to_string())
            .args(["--name", name])
            .timeout(Duration::from_secs(300));
        if run(cmd) {
            logs = Some(dir);
        }
    }
    let kept = if keep.keeps(run_failed) {
        let line = format!("export KUBECONFIG={}", kubeconfig.display());
        eprintln!("Kept kind cluster {name} (keep policy {keep:?}). To use it:\n  {line}");
        Some(line)
    } else {
        let cmd = Command::new(&KIND)
            .args(["delete", "cluster", "--name", name])
            .arg("--kubeconfig")
            .arg(kubeconfig.display().to_string())
            .timeout(Duration::from_secs(180));
        run(cmd);
        None
    };
    for p in &problems {
        tracing::warn!(problem = %p, "kind teardown");
    }
    Teardown {
        kept,
        logs,
        problems,
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        if !self.finished {
            // Dropped without finish(): a panic or early return, so treat the run as failed.
            teardown_blocking(
                &*self.runner,
                &self.name,
                &self.kubeconfig,
                self.keep,
                &self.diagnostics_dir,
                true,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::seldon::InstallSettings;

    fn fp(chart: &str) -> Fingerprint {
        fingerprint(
            &KindSettings::new("c"),
            b"kind: Cluster\n",
            &InstallSettings::new(chart),
        )
    }

    #[test]
    fn decisions_follow_existence_and_fingerprint() {
        let want = fp("2.9.1");
        assert_eq!(decide(false, Ok(None), &want), Decision::Create);
        assert_eq!(decide(true, Ok(Some(&want)), &want), Decision::Reuse);
        let old = fp("2.9.0");
        match decide(true, Ok(Some(&old)), &want) {
            Decision::Recreate { reason } => {
                assert!(
                    reason.contains("install.chartVersion: \"2.9.0\" → \"2.9.1\""),
                    "{reason}"
                )
            }
            d => panic!("{d:?}"),
        }
        assert!(matches!(
            decide(true, Ok(None), &want),
            Decision::Recreate { .. }
        ));
        assert!(matches!(
            decide(true, Err("refused"), &want),
            Decision::Recreate { .. }
        ));
    }

    #[test]
    fn fingerprint_changes_with_each_input() {
        let base = fp("2.9.1");
        assert_eq!(base, fp("2.9.1"));
        assert_ne!(base.digest, fp("2.9.0").digest);
        let other_config = fingerprint(
            &KindSettings::new("c"),
            b"other",
            &InstallSettings::new("2.9.1"),
        );
        assert_ne!(base.digest, other_config.digest);
        let mut k = KindSettings::new("c");
        k.node_image = Some("kindest/node:v1.32.8".into());
        assert_ne!(
            base.digest,
            fingerprint(&k, b"kind: Cluster\n", &InstallSettings::new("2.9.1")).digest
        );
        // An external Kafka changes the setup chart's values; installing Kafka only adds to the
        // cluster, so scenarios that do and do not install it share one.
        let mut external = InstallSettings::new("2.9.1");
        external.kafka = crate::scenario::seldon::Kafka::External {
            bootstrap: "kafka.example:9092".into(),
        };
        let k = KindSettings::new("c");
        assert_ne!(
            base.digest,
            fingerprint(&k, b"kind: Cluster\n", &external).digest
        );
        let mut installed = InstallSettings::new("2.9.1");
        installed.kafka = crate::scenario::seldon::Kafka::Installed;
        assert_eq!(
            base.digest,
            fingerprint(&k, b"kind: Cluster\n", &installed).digest
        );
        // Images to load and the keep policy do not change what the cluster is.
        let mut k = KindSettings::new("c");
        k.images_to_load = vec!["x:1".into()];
        k.keep = KeepPolicy::Always;
        assert_eq!(
            base.digest,
            fingerprint(&k, b"kind: Cluster\n", &InstallSettings::new("2.9.1")).digest
        );
    }

    #[test]
    fn keep_policy_parses_and_decides() {
        assert_eq!(
            "on-failure".parse::<KeepPolicy>().unwrap(),
            KeepPolicy::OnFailure
        );
        assert!("sometimes".parse::<KeepPolicy>().is_err());
        assert!(KeepPolicy::OnFailure.keeps(true));
        assert!(!KeepPolicy::OnFailure.keeps(false));
        assert!(KeepPolicy::Always.keeps(false));
        assert!(!KeepPolicy::Never.keeps(true));
        let s: KindSettings =
            serde_json::from_str(r#"{"clusterName":"a","keep":"never"}"#).unwrap();
        assert_eq!(s.keep, KeepPolicy::Never);
        assert_eq!(s.config_path, PathBuf::from("kind-config.yaml"));
    }

    #[test]
    fn cluster_names_are_valid_for_kind() {
        assert_eq!(
            cluster_name_for_run("Nightly_2025/11"),
            "seldon-h-nightly-2025-11"
        );
        for id in ["", "ÄÖ", &"x".repeat(200)] {
            let n = cluster_name_for_run(id);
            validate_cluster_name(&n).unwrap_or_else(|e| panic!("{id:?} → {n:?}: {e}"));
        }
        assert!(validate_cluster_name("Bad_Name").is_err());
    }
}
