//! Seldon Core v2 installation with Helm, version-pinned, controller cluster-wide; upgrades.
//!
//! Installs only the CRDs chart and the `seldon-core-v2-setup` chart (controller, SeldonConfig,
//! ServerConfigs). Team runtimes and Servers are created by the harness per team, never from the
//! runtime/servers charts. Every helm call goes through [`crate::tools`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use super::helm_output::{
    HelmFailure, ReleaseListEntry, ReleaseStatus, classify_helm_error, parse_helm_list,
    parse_helm_status,
};
pub use crate::scenario::seldon::{
    DEFAULT_REPO_URL, InstallSettings, Kafka, SetString, SettingsError, Warning, validate,
};
use crate::tools::{self, Command, HELM, KUBECTL, Output, SharedRunner, ToolError};

/// Name under which the harness adds the Seldon chart repository.
pub const REPO_NAME: &str = "seldon-charts";
/// Release (and chart) name of the CRDs chart.
pub const CRDS_RELEASE: &str = "seldon-core-v2-crds";
/// Release (and chart) name of the controller chart.
pub const SETUP_RELEASE: &str = "seldon-core-v2-setup";
/// Namespace Seldon's docs install the CRDs release into.
pub const CRDS_NAMESPACE: &str = "default";
/// The controller Deployment the setup chart creates.
pub const CONTROLLER_DEPLOYMENT: &str = "seldon-v2-controller-manager";
/// The CRDs `seldon-core-v2-crds` installs (checked against Seldon's rendered CRDs in tests).
pub const SELDON_CRDS: [&str; 7] = [
    "experiments.mlops.seldon.io",
    "models.mlops.seldon.io",
    "pipelines.mlops.seldon.io",
    "seldonconfigs.mlops.seldon.io",
    "seldonruntimes.mlops.seldon.io",
    "serverconfigs.mlops.seldon.io",
    "servers.mlops.seldon.io",
];

/// Installation failures, each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The settings are wrong.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Helm could not find the chart version.
    #[error(
        "chart {chart} version {version} was not found in {repo}. The chart version may not be published \
         (Seldon's chart repository has lagged behind its git tags). Pick a version listed by \
         `helm search repo {chart} --versions` and set it as the install's chartVersion."
    )]
    ChartVersionNotFound {
        /// Chart name.
        chart: String,
        /// Requested version.
        version: String,
        /// Repository name or URL.
        repo: String,
    },
    /// Helm failed; `advice` interprets the error text.
    #[error("{source}\n{advice}")]
    Helm {
        /// The failed command.
        source: Box<ToolError>,
        /// What the error means and what to do.
        advice: String,
    },
    /// Any other tool failure (missing, timed out, …).
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// A release is not in the expected state after helm returned.
    #[error("helm release {release} in namespace {namespace}: {message}")]
    Release {
        /// Release.
        release: String,
        /// Namespace.
        namespace: String,
        /// What is wrong.
        message: String,
    },
    /// Helm printed JSON the harness could not read.
    #[error("could not parse `{command}` output: {message}")]
    Parse {
        /// Command line.
        command: String,
        /// Parse error.
        message: String,
    },
    /// The controller or CRDs did not become ready in time.
    #[error("Seldon controller not ready after {}s: {observed}", .after.as_secs())]
    NotReady {
        /// Waited for.
        after: Duration,
        /// What was last seen.
        observed: String,
    },
    /// Writing the values file failed.
    #[error("could not write helm values file {path}: {source}")]
    ValuesFile {
        /// Path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The installed Kafka cluster did not become Ready in time.
    #[error(
        "Kafka (Strimzi) not Ready after {}s: {observed}. Look at `kubectl get kafka,pods -n <controller namespace>`: \
         the broker needs about 1 GiB of memory and pulls its image on first use",
        .after.as_secs()
    )]
    KafkaNotReady {
        /// Waited for.
        after: Duration,
        /// What was last seen.
        observed: String,
    },
    /// Talking to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(String),
}

/// Sorts object keys recursively so equal values serialise identically (values files, fingerprints).
pub fn canonical_json(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, serde_json::Value> =
                map.iter().map(|(k, v)| (k, canonical_json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical_json).collect())
        }
        other => other.clone(),
    }
}

/// The non-secret inputs of an install, for the cluster fingerprint (secret values excluded).
pub fn fingerprint_inputs(settings: &InstallSettings) -> serde_json::Value {
    let set_strings: Vec<serde_json::Value> = settings
        .set_strings
        .iter()
        .map(|s| match (&s.value, &s.from_env) {
            (Some(v), _) => serde_json::json!({"key": s.key, "value": v}),
            (None, env) => serde_json::json!({"key": s.key, "fromEnv": env}),
        })
        .collect();
    canonical_json(&serde_json::json!({
        "chartVersion": settings.chart_version,
        "clusterwide": settings.clusterwide,
        "controllerNamespace": settings.controller_namespace,
        "watchNamespaces": settings.watch_namespaces,
        "repoUrl": settings.repo_url,
        "values": settings.values,
        "setStrings": set_strings,
        // Only an external broker changes the install (the chart's `kafka.bootstrap`); `none` and
        // `installed` render the same SeldonConfig, and the installed Kafka is added when a
        // scenario asks for it: scenarios of one run sharing a cluster must not recreate it.
        "kafkaBootstrap": match &settings.kafka {
            Kafka::External { bootstrap } => Some(bootstrap.as_str()),
            Kafka::None | Kafka::Installed => None,
        },
    }))
}

/// Where helm should talk to: a kubeconfig file (or helm's default) and a context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeTarget {
    /// Kubeconfig file; `None` uses helm's default (`$KUBECONFIG` / `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// Context name.
    pub context: String,
}

impl KubeTarget {
    fn kubectl_flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if let Some(k) = &self.kubeconfig {
            f.push("--kubeconfig".to_string());
            f.push(k.display().to_string());
        }
        f.extend(["--context".to_string(), self.context.clone()]);
        f
    }

    fn helm_flags(&self) -> Vec<String> {
        let mut f = vec!["--kube-context".to_string(), self.context.clone()];
        if let Some(k) = &self.kubeconfig {
            f.push("--kubeconfig".to_string());
            f.push(k.display().to_string());
        }
        f
    }
}

/// Waits until the controller can serve: its Deployment Available and the Seldon CRDs Established.
pub trait ControllerReadiness: Sync {
    /// Waits up to `timeout`, explaining what was last seen on failure.
    fn wait_ready(
        &self,
        controller_namespace: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), InstallError>> + Send;

    /// Waits up to `timeout` for the Strimzi `Kafka` cluster `name` to report `Ready`.
    fn wait_kafka_ready(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), InstallError>> + Send;
}

/// A pinned third-party chart the harness installs next to Seldon (`target/kind/addons.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartInstall {
    /// Release name.
    pub release: String,
    /// Name under which the repository is added.
    pub repo_name: String,
    /// Repository URL.
    pub repo_url: String,
    /// Chart name in the repository.
    pub chart: String,
    /// Exact chart version.
    pub version: String,
    /// Release namespace (created if missing).
    pub namespace: String,
    /// `--set-string key=value` pairs (never secret).
    pub set_strings: Vec<(String, String)>,
    /// `helm --timeout`, in seconds.
    pub timeout_seconds: u64,
}

/// Runs helm for one cluster.
pub struct Installer {
    runner: SharedRunner,
    target: KubeTarget,
    state_dir: PathBuf,
}

/// Turns a failed helm command into an [`InstallError`] that says what to do.
fn helm_error(cmd: &Command, out: Output) -> InstallError {
    let failure = classify_helm_error(&out.stderr);
    if let HelmFailure::ChartVersionNotFound {
        chart,
        version,
        repo,
    } = failure
    {
        return InstallError::ChartVersionNotFound {
            chart,
            version,
            repo,
        };
    }
    let advice = match failure {
        HelmFailure::ClusterUnreachable => {
            "The API server did not answer: check the kubeconfig/context and that the cluster is running."
        }
        HelmFailure::WaitTimedOut => {
            "Resources did not become ready within --timeout: look at `kubectl get pods -n <namespace>` \
             and events (image pulls on a cold kind node are the usual cause), or raise timeoutSeconds."
        }
        HelmFailure::OperationInProgress => {
            "An earlier helm operation on this release was interrupted: `helm history <release> -n <ns>` \
             then `helm rollback` it, or recreate the kind cluster."
        }
        HelmFailure::ReleaseNotFound => "The release is not installed in that namespace.",
        HelmFailure::RepoUnreachable => {
            "The chart repository URL did not serve an index.yaml: check repoUrl and network access."
        }
        HelmFailure::ChartVersionNotFound { .. } | HelmFailure::Other => "",
    };
    let source = match tools::check(cmd, out) {
        Err(e) => e,
        Ok(_) => unreachable!("helm_error is only called for failed commands"),
    };
    InstallError::Helm {
        source: Box::new(source),
        advice: advice.to_string(),
    }
}

impl Installer {
    /// An installer for `target`, writing values files under `state_dir`.
    pub fn new(runner: SharedRunner, target: KubeTarget, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            runner,
            target,
            state_dir: state_dir.into(),
        }
    }

    async fn helm_ok(&self, cmd: Command) -> Result<Output, InstallError> {
        let out = tools::run(&self.runner, cmd.clone()).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(helm_error(&cmd, out))
        }
    }

    /// Adds (or re-points) the chart repository and refreshes its index.
    pub async fn add_repo(&self, settings: &InstallSettings) -> Result<(), InstallError> {
        self.helm_ok(
            Command::new(&HELM)
                .args([
                    "repo",
                    "add",
                    REPO_NAME,
                    settings.repo_url.as_str(),
                    "--force-update",
                ])
                .timeout(Duration::from_secs(120)),
        )
        .await?;
        self.helm_ok(
            Command::new(&HELM)
                .args(["repo", "update", REPO_NAME])
                .timeout(Duration::from_secs(120)),
        )
        .await?;
        Ok(())
    }

    fn values_path(&self) -> PathBuf {
        values_file(&self.state_dir)
    }

    fn write_values(&self, settings: &InstallSettings) -> Result<PathBuf, InstallError> {
        let path = self.values_path();
        let body = serde_json::to_string_pretty(&canonical_json(&settings.values))
            .expect("JSON values serialise");
        std::fs::create_dir_all(&self.state_dir)
            .and_then(|()| std::fs::write(&path, body))
            .map_err(|source| InstallError::ValuesFile {
                path: path.clone(),
                source,
            })?;
        Ok(path)
    }

    fn upgrade_install(
        &self,
        release: &str,
        namespace: &str,
        version: &str,
        timeout: u64,
    ) -> Command {
        Command::new(&HELM)
            .args(["upgrade", "--install", release])
            .arg(format!("{REPO_NAME}/{release}"))
            .args(["--version", version, "--namespace", namespace])
            .args(self.target.helm_flags())
            // helm's own --timeout bounds --wait; ours adds a margin for the chart download.
            .timeout(Duration::from_secs(timeout + 120))
    }

    /// Adds `chart`'s repository and `helm upgrade --install`s it, pinned, with `--wait`.
    pub async fn install_chart(&self, chart: &ChartInstall) -> Result<(), InstallError> {
        let repo = |args: Vec<&str>| {
            Command::new(&HELM)
                .args(args)
                .timeout(Duration::from_secs(120))
        };
        self.helm_ok(repo(vec![
            "repo",
            "add",
            &chart.repo_name,
            &chart.repo_url,
            "--force-update",
        ]))
        .await?;
        self.helm_ok(repo(vec!["repo", "update", &chart.repo_name]))
            .await?;
        let t = chart.timeout_seconds;
        let mut cmd = Command::new(&HELM)
            .args(["upgrade", "--install", &chart.release])
            .arg(format!("{}/{}", chart.repo_name, chart.chart))
            .args(["--version", &chart.version, "--namespace", &chart.namespace])
            .args(self.target.helm_flags())
            .arg("--create-namespace");
        for (k, v) in &chart.set_strings {
            cmd = cmd.arg("--set-string").arg(format!("{k}={v}"));
        }
        let cmd = cmd
            .args(["--wait", "--timeout"])
            .arg(format!("{t}s"))
            .timeout(Duration::from_secs(t + 120));
        self.helm_ok(cmd).await?;
        Ok(())
    }

    /// Server-side applies `manifests` (platform objects, not a run's) with kubectl.
    pub async fn kubectl_apply(&self, manifests: &str, what: &str) -> Result<(), InstallError> {
        let cmd = Command::new(&KUBECTL)
            .args(self.target.kubectl_flags())
            .args([
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager",
                crate::kube::FIELD_MANAGER,
                "-f",
                "-",
            ])
            .stdin(manifests.to_string(), what.to_string())
            .timeout(Duration::from_secs(120));
        tools::run_ok(&self.runner, cmd).await?;
        Ok(())
    }

    /// `helm upgrade --install` the CRDs chart then the setup chart at `settings.chart_version`.
    pub async fn install_charts(&self, settings: &InstallSettings) -> Result<(), InstallError> {
        self.install_crds_chart(settings).await?;
        self.install_setup_chart(settings).await
    }

    /// `helm upgrade --install` the CRDs chart at `settings.chart_version`: its CRDs are in
    /// `templates/`, so an upgrade replaces them (docs/seldon-behaviour.md §20).
    pub async fn install_crds_chart(&self, settings: &InstallSettings) -> Result<(), InstallError> {
        let t = settings.timeout_seconds;
        let crds = self
            .upgrade_install(CRDS_RELEASE, CRDS_NAMESPACE, &settings.chart_version, t)
            .args(["--wait", "--timeout"])
            .arg(format!("{t}s"));
        self.helm_ok(crds).await?;
        Ok(())
    }

    /// `helm upgrade --install` the setup chart (controller, SeldonConfig, ServerConfigs).
    pub async fn install_setup_chart(
        &self,
        settings: &InstallSettings,
    ) -> Result<(), InstallError> {
        let version = settings.chart_version.as_str();
        let t = settings.timeout_seconds;
        let values = self.write_values(settings)?;
        let mut setup = self
            .upgrade_install(SETUP_RELEASE, &settings.controller_namespace, version, t)
            .arg("--create-namespace")
            .arg("--values")
            .arg(values.display().to_string())
            .arg("--set")
            .arg(format!("controller.clusterwide={}", settings.clusterwide));
        if !settings.watch_namespaces.is_empty() {
            // Helm's list syntax; the template joins it into WATCH_NAMESPACES.
            setup = setup.arg("--set").arg(format!(
                "controller.watchNamespaces={{{}}}",
                settings.watch_namespaces.join(",")
            ));
        }
        // docs/seldon-behaviour.md §14: the chart's `kafka.bootstrap` becomes the SeldonConfig's
        // kafkaConfig bootstrap.servers; `installed` is the Kafka `target/kind/addons.rs` installs.
        let bootstrap = match &settings.kafka {
            crate::scenario::seldon::Kafka::External { bootstrap } => Some(bootstrap.clone()),
            crate::scenario::seldon::Kafka::Installed => Some(
                crate::scenario::seldon::installed_kafka_bootstrap(&settings.controller_namespace),
            ),
            crate::scenario::seldon::Kafka::None => None,
        };
        if let Some(bootstrap) = bootstrap {
            setup = setup
                .arg("--set-string")
                .arg(format!("kafka.bootstrap={bootstrap}"));
        }
        for s in &settings.set_strings {
            setup = match (&s.value, &s.from_env) {
                (Some(v), _) => setup.arg("--set-string").arg(format!("{}={v}", s.key)),
                (None, Some(env)) => {
                    let secret = std::env::var(env).map_err(|_| {
                        InstallError::Settings(SettingsError {
                            field: format!("setStrings[{}].fromEnv", s.key),
                            message: format!("environment variable {env} is not set"),
                        })
                    })?;
                    setup
                        .arg("--set-string")
                        .secret_arg(format!("{}=", s.key), secret)
                }
                (None, None) => setup,
            };
        }
        let setup = setup.args(["--wait", "--timeout"]).arg(format!("{t}s"));
        self.helm_ok(setup).await?;
        Ok(())
    }

    /// `helm rollback` a release to its previous revision, with `--wait`.
    pub async fn rollback(
        &self,
        release: &str,
        namespace: &str,
        timeout: u64,
    ) -> Result<(), InstallError> {
        let cmd = Command::new(&HELM)
            .args(["rollback", release, "--namespace", namespace])
            .args(self.target.helm_flags())
            .args(["--wait", "--timeout"])
            .arg(format!("{timeout}s"))
            .timeout(Duration::from_secs(timeout + 60));
        self.helm_ok(cmd).await?;
        Ok(())
    }

    /// Reads a release's status.
    pub async fn status(
        &self,
        release: &str,
        namespace: &str,
    ) -> Result<ReleaseStatus, InstallError> {
        let cmd = Command::new(&HELM)
            .args(["status", release, "--namespace", namespace, "-o", "json"])
            .args(self.target.helm_flags());
        let out = self.helm_ok(cmd.clone()).await?;
        parse_helm_status(&out.stdout).map_err(|message| InstallError::Parse {
            command: cmd.display(),
            message,
        })
    }

    /// Lists the Seldon releases in all namespaces.
    pub async fn seldon_releases(&self) -> Result<Vec<ReleaseListEntry>, InstallError> {
        let cmd = Command::new(&HELM)
            .args([
                "list",
                "--all-namespaces",
                "--filter",
                "^seldon-core-v2-",
                "-o",
                "json",
            ])
            .args(self.target.helm_flags());
        let out = self.helm_ok(cmd.clone()).await?;
        parse_helm_list(&out.stdout).map_err(|message| InstallError::Parse {
            command: cmd.display(),
            message,
        })
    }

    /// Checks a release is `deployed` at the requested chart version.
    pub async fn verify_release(
        &self,
        release: &str,
        namespace: &str,
        version: &str,
    ) -> Result<ReleaseStatus, InstallError> {
        let st = self.status(release, namespace).await?;
        let err = |message: String| InstallError::Release {
            release: release.to_string(),
            namespace: namespace.to_string(),
            message,
        };
        if st.status != "deployed" {
            return Err(err(format!(
                "status is {:?} ({}), expected \"deployed\"",
                st.status, st.description
            )));
        }
        if st.chart_version != version {
            return Err(err(format!(
                "chart version is {} but {version} was requested",
                st.chart_version
            )));
        }
        Ok(st)
    }

    /// The full install: repo, both charts, release checks, then controller readiness.
    pub async fn install<R: ControllerReadiness>(
        &self,
        settings: &InstallSettings,
        readiness: &R,
    ) -> Result<Vec<Warning>, InstallError> {
        let warnings = validate(settings)?;
        for w in &warnings {
            tracing::warn!("{}", w.0);
        }
        self.add_repo(settings).await?;
        self.install_charts(settings).await?;
        self.verify_release(CRDS_RELEASE, CRDS_NAMESPACE, &settings.chart_version)
            .await?;
        self.verify_release(
            SETUP_RELEASE,
            &settings.controller_namespace,
            &settings.chart_version,
        )
        .await?;
        readiness
            .wait_ready(
                &settings.controller_namespace,
                Duration::from_secs(settings.timeout_seconds),
            )
            .await?;
        Ok(warnings)
    }
}

/// Readiness through the Kubernetes API, with the harness's one wait primitive (`wait::wait_for`):
/// the controller Deployment Available for its current generation, then every Seldon CRD Established.
pub struct KubeReadiness {
    client: kube::Client,
}

impl KubeReadiness {
    /// Readiness checks with `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

/// Why a Deployment is not yet available, or `None` when it is (current generation observed).
pub fn deployment_problem(d: &k8s_openapi::api::apps::v1::Deployment) -> Option<String> {
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = &d.status else {
        return Some("no status yet".to_string());
    };
    if status.observed_generation.unwrap_or(0) < generation {
        return Some(format!(
            "generation {generation} not yet observed (observed {})",
            status.observed_generation.unwrap_or(0)
        ));
    }
    let available = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available"));
    match available {
        Some(c) if c.status == "True" => None,
        Some(c) => Some(format!(
            "Available={} ({}: {})",
            c.status,
            c.reason.as_deref().unwrap_or("no reason"),
            c.message.as_deref().unwrap_or("")
        )),
        None => Some("no Available condition yet".to_string()),
    }
}

impl ControllerReadiness for KubeReadiness {
    async fn wait_ready(
        &self,
        controller_namespace: &str,
        timeout: Duration,
    ) -> Result<(), InstallError> {
        use crate::kube::{Condition, WaitError, Watched, condition_true, wait_for};
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let deadline = Instant::now() + timeout;
        let not_ready = |e: WaitError| InstallError::NotReady {
            after: timeout,
            observed: e.to_string(),
        };
        let available = Condition::new("Available for its current generation", |o| {
            o.and_then(|o| serde_json::from_value::<Deployment>(serde_json::to_value(o).ok()?).ok())
                .is_some_and(|d| deployment_problem(&d).is_none())
        });
        let target = Watched::of::<Deployment>(Some(controller_namespace), CONTROLLER_DEPLOYMENT);
        wait_for(
            &self.client,
            &target,
            &available,
            deadline.saturating_duration_since(Instant::now()),
        )
        .await
        .map_err(not_ready)?;
        for name in SELDON_CRDS {
            let target = Watched::of::<CustomResourceDefinition>(None, name);
            wait_for(
                &self.client,
                &target,
                &condition_true("Established"),
                deadline.saturating_duration_since(Instant::now()),
            )
            .await
            .map_err(not_ready)?;
        }
        Ok(())
    }

    async fn wait_kafka_ready(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<(), InstallError> {
        use crate::kube::{ObjectRef, Watched, condition_true, wait_for};
        let object = ObjectRef::new("kafka.strimzi.io/v1beta2", "Kafka", Some(namespace), name);
        let resource = kube::core::ApiResource::from_gvk_with_plural(&object.gvk(), "kafkas");
        wait_for(
            &self.client,
            &Watched::new(object, resource),
            &condition_true("Ready"),
            timeout,
        )
        .await
        .map_err(|e| InstallError::KafkaNotReady {
            after: timeout,
            observed: e.to_string(),
        })?;
        Ok(())
    }
}

/// Path of the values file the installer writes for the setup chart (for diagnostics bundles).
pub fn values_file(state_dir: &Path) -> PathBuf {
    state_dir.join(format!("{SETUP_RELEASE}.values.json"))
}

#[cfg(test)]
mod tests;
