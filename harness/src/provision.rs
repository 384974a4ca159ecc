//! kind clusters: create, reuse by fingerprint, recreate, keep or delete; image loading; log export.
//!
//! A cluster is reused only when it exists and carries the fingerprint of exactly what this run
//! wants (kind config file, node image, chart versions and values). The fingerprint lives in the
//! cluster itself, in ConfigMap `kube-system/seldon-conformance-harness-fingerprint`, written only
//! after the install succeeded: a cluster deleted or recreated by hand, or a run that died half
//! way, can never be mistaken for a good one (a file in the state directory could). Every kind,
//! kubectl and docker call goes through [`crate::tools`].

pub mod minio;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::install::{self, InstallSettings};
use crate::tools::{self, Command, DOCKER, KIND, KUBECTL, Output, SharedRunner, ToolError};

/// Namespace of the fingerprint ConfigMap.
pub const FINGERPRINT_NAMESPACE: &str = "kube-system";
/// Name of the fingerprint ConfigMap.
pub const FINGERPRINT_CONFIGMAP: &str = "seldon-conformance-harness-fingerprint";
/// Bumped when the fingerprint inputs change meaning, so old clusters are recreated.
const FINGERPRINT_FORMAT: u32 = 1;

/// When to keep the kind cluster after a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepPolicy {
    /// Keep it when the run failed (to debug), delete it when it passed. The default.
    #[default]
    OnFailure,
    /// Always keep it (fast local iterations: the next run reuses it).
    Always,
    /// Always delete it (CI).
    Never,
}

impl KeepPolicy {
    /// Whether to keep the cluster after a run that `failed`.
    pub fn keeps(self, failed: bool) -> bool {
        match self {
            KeepPolicy::Always => true,
            KeepPolicy::Never => false,
            KeepPolicy::OnFailure => failed,
        }
    }
}

impl FromStr for KeepPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "on-failure" => Ok(KeepPolicy::OnFailure),
            "always" => Ok(KeepPolicy::Always),
            "never" => Ok(KeepPolicy::Never),
            other => Err(format!(
                "unknown keep policy {other:?}: use on-failure, always or never"
            )),
        }
    }
}

fn default_config_path() -> PathBuf {
    PathBuf::from("kind-config.yaml")
}
fn default_create_timeout() -> u64 {
    600
}

/// How to get a kind cluster (embeddable in a scenario file; camelCase keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindSettings {
    /// Cluster name (kind: `^[a-z0-9.-]+$`); see [`cluster_name_for_run`].
    pub cluster_name: String,
    /// kind config file (default `kind-config.yaml` at the repository root).
    #[serde(default = "default_config_path")]
    pub config_path: PathBuf,
    /// Overrides the node image of the config (`kind create cluster --image`).
    #[serde(default)]
    pub node_image: Option<String>,
    /// Local Docker images to load into the nodes (`kind load docker-image`).
    #[serde(default)]
    pub images_to_load: Vec<String>,
    /// When to keep the cluster.
    #[serde(default)]
    pub keep: KeepPolicy,
    /// Timeout of `kind create cluster`, in seconds (default 600: a cold node image pull is slow).
    #[serde(default = "default_create_timeout")]
    pub create_timeout_seconds: u64,
}

impl KindSettings {
    /// Settings for `cluster_name` with every default.
    pub fn new(cluster_name: impl Into<String>) -> Self {
        Self {
            cluster_name: cluster_name.into(),
            config_path: default_config_path(),
            node_image: None,
            images_to_load: Vec::new(),
            keep: KeepPolicy::default(),
            create_timeout_seconds: default_create_timeout(),
        }
    }

    /// The kubeconfig context kind creates for the cluster.
    pub fn context(&self) -> String {
        format!("kind-{}", self.cluster_name)
    }
}

/// kind provisioning failures, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Bad settings.
    #[error("kind settings: {field}: {message}")]
    Settings {
        /// Field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The kind config file could not be read.
    #[error("could not read kind config {path}: {source}")]
    Config {
        /// Path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// kind failed; `advice` interprets its error text.
    #[error("{source}\n{advice}")]
    Kind {
        /// The failed command.
        source: Box<ToolError>,
        /// What it means.
        advice: String,
    },
    /// Another tool failure.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// Writing state files failed.
    #[error("could not write {path}: {source}")]
    State {
        /// Path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Unexpected tool output.
    #[error("could not parse `{command}` output: {message}")]
    Parse {
        /// Command.
        command: String,
        /// Error.
        message: String,
    },
}

/// Checks a name against kind's rule (`^[a-z0-9.-]+$`, validated by `kind create cluster`).
pub fn validate_cluster_name(name: &str) -> Result<(), ProvisionError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    if !ok {
        return Err(ProvisionError::Settings {
            field: "clusterName".into(),
            message: format!(
                "{name:?} is not a valid kind cluster name: use lowercase letters, digits, '.' and '-'"
            ),
        });
    }
    // kind appends "-control-plane" to the node container's hostname (max 64 chars).
    if name.len() > 50 {
        return Err(ProvisionError::Settings {
            field: "clusterName".into(),
            message: format!("{name:?} is longer than 50 characters (kind's hostname limit)"),
        });
    }
    Ok(())
}

/// A kind cluster name for a run id: `seldon-h-` + the id lowercased, other characters → `-`.
pub fn cluster_name_for_run(run_id: &str) -> String {
    let mut s: String = run_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(41);
    let s = s.trim_matches('-');
    if s.is_empty() {
        "seldon-h".to_string()
    } else {
        format!("seldon-h-{s}")
    }
}

/// What identifies a provisioned environment: a digest and the inputs it was computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// sha256 (hex) of the canonical inputs.
    pub digest: String,
    /// Canonical JSON of the inputs (no secret values), stored for "why recreated" messages.
    pub inputs: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fingerprint of `kind` + `install` given the kind config file's bytes.
pub fn fingerprint(
    kind: &KindSettings,
    kind_config: &[u8],
    install: &InstallSettings,
) -> Fingerprint {
    let inputs = install::canonical_json(&serde_json::json!({
        "format": FINGERPRINT_FORMAT,
        "kindConfigSha256": sha256_hex(kind_config),
        "nodeImage": kind.node_image,
        "install": install::fingerprint_inputs(install),
    }));
    let inputs = serde_json::to_string(&inputs).expect("JSON serialises");
    Fingerprint {
        digest: sha256_hex(inputs.as_bytes()),
        inputs,
    }
}

/// Reads the kind config file and computes the fingerprint.
pub fn fingerprint_from_files(
    kind: &KindSettings,
    install: &InstallSettings,
) -> Result<Fingerprint, ProvisionError> {
    let bytes = std::fs::read(&kind.config_path).map_err(|source| ProvisionError::Config {
        path: kind.config_path.clone(),
        source,
    })?;
    Ok(fingerprint(kind, &bytes, install))
}

/// What to do with the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No cluster of that name: create it.
    Create,
    /// It exists with the same fingerprint: reuse it.
    Reuse,
    /// It exists but differs (or its fingerprint is missing/unreadable): delete and create.
    Recreate {
        /// Why, for the user.
        reason: String,
    },
}

/// Decides from whether the cluster exists and what fingerprint it carries.
pub fn decide(
    exists: bool,
    recorded: Result<Option<&Fingerprint>, &str>,
    wanted: &Fingerprint,
) -> Decision {
    if !exists {
        return Decision::Create;
    }
    match recorded {
        Ok(Some(r)) if r.digest == wanted.digest => Decision::Reuse,
        Ok(Some(r)) => Decision::Recreate {
            reason: format!(
                "its fingerprint differs ({})",
                describe_difference(&r.inputs, &wanted.inputs)
            ),
        },
        Ok(None) => Decision::Recreate {
            reason:
                "it has no harness fingerprint (created by hand, or an earlier run did not finish \
                     installing)"
                    .to_string(),
        },
        Err(e) => Decision::Recreate {
            reason: format!("its fingerprint could not be read ({e})"),
        },
    }
}

/// Names the top-level inputs that differ, e.g. `install.chartVersion: "2.9.0" → "2.9.1"`.
pub fn describe_difference(old: &str, new: &str) -> String {
    let (Ok(old), Ok(new)) = (
        serde_json::from_str::<serde_json::Value>(old),
        serde_json::from_str::<serde_json::Value>(new),
    ) else {
        return "previous inputs unreadable".to_string();
    };
    let mut diffs = Vec::new();
    diff_values("", &old, &new, &mut diffs);
    if diffs.is_empty() {
        "inputs equal but digest differs".to_string()
    } else {
        diffs.join(", ")
    }
}

fn diff_values(
    path: &str,
    old: &serde_json::Value,
    new: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if path.split('.').count() < 3 => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    &p,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.len() > 40 {
                    format!(
                        "{}…",
                        &s[..s.char_indices().nth(39).map_or(s.len(), |(i, _)| i)]
                    )
                } else {
                    s
                }
            };
            out.push(format!("{path}: {} → {}", short(a), short(b)));
        }
        _ => {}
    }
}

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

/// Reads the fingerprint ConfigMap from `kubectl get configmap … -o json --ignore-not-found`.
pub fn parse_fingerprint_configmap(stdout: &str) -> Result<Option<Fingerprint>, String> {
    if stdout.trim().is_empty() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_str(stdout).map_err(|e| e.to_string())?;
    let data = v.get("data");
    let field = |k: &str| data.and_then(|d| d.get(k)).and_then(|x| x.as_str());
    match (field("fingerprint"), field("inputs")) {
        (Some(d), Some(i)) => Ok(Some(Fingerprint {
            digest: d.to_string(),
            inputs: i.to_string(),
        })),
        _ => Ok(None),
    }
}

/// The fingerprint ConfigMap manifest (JSON, which kubectl accepts as YAML).
pub fn fingerprint_configmap(fp: &Fingerprint) -> String {
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": FINGERPRINT_CONFIGMAP,
            "namespace": FINGERPRINT_NAMESPACE,
            "labels": {crate::apply::MANAGED_BY_LABEL: crate::apply::FIELD_MANAGER},
        },
        "data": {"fingerprint": fp.digest, "inputs": fp.inputs},
    });
    serde_json::to_string_pretty(&cm).expect("JSON serialises")
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
    pub fn kube_target(&self) -> install::KubeTarget {
        install::KubeTarget {
            kubeconfig: Some(self.kubeconfig.clone()),
            context: self.context(),
        }
    }

    /// A kube-rs client for the cluster.
    pub async fn client(&self) -> Result<kube::Client, crate::existing::ExistingError> {
        crate::existing::client_for(Some(&self.kubeconfig), &self.context()).await
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
                crate::apply::FIELD_MANAGER,
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
