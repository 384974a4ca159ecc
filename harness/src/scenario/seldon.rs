//! The `seldon:` section of a scenario: how Seldon Core v2 is installed (chart version, controller
//! scope, values), and the checks on it that need no cluster.

use serde::{Deserialize, Serialize};

use crate::names::{Version, is_dns_label};

/// Seldon's published chart repository (docs/seldon-behaviour.md §1).
pub const DEFAULT_REPO_URL: &str = "https://seldonio.github.io/helm-charts/";

fn default_true() -> bool {
    true
}
fn default_controller_namespace() -> String {
    "seldon-mesh".to_string()
}
fn default_repo_url() -> String {
    DEFAULT_REPO_URL.to_string()
}
fn default_timeout_seconds() -> u64 {
    600
}
fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// How to install Seldon Core v2 (embeddable in a scenario file; camelCase keys).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallSettings {
    /// Chart version of both charts, e.g. `2.9.1` (must be published in the repository).
    pub chart_version: String,
    /// Run the controller cluster-wide (`controller.clusterwide=true`); default true.
    #[serde(default = "default_true")]
    pub clusterwide: bool,
    /// Namespace of the controller release (default `seldon-mesh`, as in Seldon's docs).
    #[serde(default = "default_controller_namespace")]
    pub controller_namespace: String,
    /// `controller.watchNamespaces`: with `clusterwide`, only these namespaces (empty: all).
    #[serde(default)]
    pub watch_namespaces: Vec<String>,
    /// Extra values for the setup chart (written to a values file).
    #[serde(default = "empty_object")]
    pub values: serde_json::Value,
    /// Chart repository URL.
    #[serde(default = "default_repo_url")]
    pub repo_url: String,
    /// `--set-string` values; those read from the environment are secret and always redacted.
    #[serde(default)]
    pub set_strings: Vec<SetString>,
    /// `helm --timeout` for each release, in seconds (default 600).
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// The Kafka the runtimes' Kafka components use (docs/seldon-behaviour.md §14); default `none`.
    #[serde(default)]
    pub kafka: Kafka,
}

/// Whether the platform has Kafka: Seldon's setup chart installs none, and without it the model
/// gateway, pipeline gateway and dataflow engine crash-loop (docs/seldon-behaviour.md §14).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Kafka {
    /// No Kafka: runtimes should disable the three Kafka components.
    #[default]
    None,
    /// A broker that already exists; becomes the setup chart's `kafka.bootstrap`.
    External {
        /// `host:port` of the bootstrap server.
        bootstrap: String,
    },
    /// Kafka installed with the platform: a one-broker Kafka behind
    /// `seldon-kafka-bootstrap.<controllerNamespace>:9092` (kind: Strimzi, `target/kind/addons.rs`).
    Installed,
}

/// The Kafka cluster name Seldon's default `kafka.bootstrap` expects: Strimzi names the bootstrap
/// Service `<cluster>-kafka-bootstrap` (docs/seldon-behaviour.md §14).
pub const KAFKA_CLUSTER: &str = "seldon";
/// The plain listener port of that cluster.
pub const KAFKA_PORT: u16 = 9092;

/// The bootstrap address of the Kafka `installed` puts in the controller namespace.
pub fn installed_kafka_bootstrap(controller_namespace: &str) -> String {
    format!("{KAFKA_CLUSTER}-kafka-bootstrap.{controller_namespace}:{KAFKA_PORT}")
}

/// The six components a SeldonRuntime runs (SeldonConfig component names).
pub const RUNTIME_COMPONENTS: [&str; 6] = [
    "seldon-scheduler",
    "seldon-envoy",
    "seldon-modelgateway",
    "seldon-pipelinegateway",
    "hodometer",
    "seldon-dataflow-engine",
];

/// The runtime components that need Kafka (Seldon's install docs).
pub const KAFKA_COMPONENTS: [&str; 3] = [
    "seldon-modelgateway",
    "seldon-pipelinegateway",
    "seldon-dataflow-engine",
];

impl InstallSettings {
    /// Settings for `chart_version` with every default.
    pub fn new(chart_version: impl Into<String>) -> Self {
        Self {
            chart_version: chart_version.into(),
            clusterwide: true,
            controller_namespace: default_controller_namespace(),
            watch_namespaces: Vec::new(),
            values: empty_object(),
            repo_url: default_repo_url(),
            set_strings: Vec::new(),
            timeout_seconds: default_timeout_seconds(),
            kafka: Kafka::None,
        }
    }
}

/// One `--set-string key=value`; exactly one of `value` / `fromEnv`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetString {
    /// Helm value path, e.g. `security.kafka.sasl.client.username`.
    pub key: String,
    /// A literal, non-secret value.
    #[serde(default)]
    pub value: Option<String>,
    /// Name of an environment variable holding a secret value (redacted everywhere).
    #[serde(default)]
    pub from_env: Option<String>,
}

/// A non-fatal observation about the settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning(pub String);

/// Install settings that cannot work, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("install settings: {field}: {message}")]
pub struct SettingsError {
    /// Which field.
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Checks settings before anything runs; returns warnings for legal-but-surprising choices.
pub fn validate(settings: &InstallSettings) -> Result<Vec<Warning>, SettingsError> {
    let bad = |field: &str, message: String| SettingsError {
        field: field.to_string(),
        message,
    };
    let v = settings.chart_version.trim();
    if v.is_empty() || v == "latest" || Version::parse(v).is_none() {
        return Err(bad(
            "chartVersion",
            format!(
                "{:?} is not a chart version; pin an exact published version such as \"2.9.1\"",
                settings.chart_version
            ),
        ));
    }
    if !is_dns_label(&settings.controller_namespace) {
        return Err(bad(
            "controllerNamespace",
            format!(
                "{:?} is not a valid namespace name (lowercase letters, digits, '-', at most 63)",
                settings.controller_namespace
            ),
        ));
    }
    if !settings.values.is_object() {
        return Err(bad(
            "values",
            "must be a mapping of chart values".to_string(),
        ));
    }
    let controller = settings.values.get("controller");
    if controller
        .and_then(|c| c.get("skipOperatorClusterRoleCreation"))
        .is_some()
    {
        return Err(bad(
            "values.controller.skipOperatorClusterRoleCreation",
            "has no effect: the seldon-core-v2-setup templates read controller.skipClusterRoleCreation \
             (values.yaml documents the wrong key). Use controller.skipClusterRoleCreation instead."
                .to_string(),
        ));
    }
    if let Some(cw) = controller.and_then(|c| c.get("clusterwide"))
        && cw.as_bool() != Some(settings.clusterwide)
    {
        return Err(bad(
            "values.controller.clusterwide",
            format!(
                "is {cw} but clusterwide is {}; set only `clusterwide`",
                settings.clusterwide
            ),
        ));
    }
    if let Kafka::External { bootstrap } = &settings.kafka {
        let port_ok = bootstrap
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(bad(
                "kafka.external.bootstrap",
                format!(
                    "{bootstrap:?} is not host:port; give the Kafka bootstrap server, e.g. \"kafka.example:9092\""
                ),
            ));
        }
    }
    let mut warnings = Vec::new();
    if !settings.clusterwide {
        warnings.push(Warning(
            "clusterwide is false: the controller only reconciles its own namespace, so team \
             runtimes in other namespaces will never become ready"
                .to_string(),
        ));
    }
    if settings.clusterwide
        && controller
            .and_then(|c| c.get("skipClusterRoleCreation"))
            .and_then(|v| v.as_bool())
            == Some(true)
    {
        warnings.push(Warning(
            "controller.skipClusterRoleCreation is true: ClusterRole seldon-v2-manager-role will not be \
             created by this release and must already exist (e.g. from another controller release)"
                .to_string(),
        ));
    }
    for (i, s) in settings.set_strings.iter().enumerate() {
        let field = format!("setStrings[{i}]");
        if s.key.is_empty() || s.key.contains('=') || s.key.contains(',') {
            return Err(bad(
                &field,
                format!(
                    "key {:?} must be a non-empty helm value path without '=' or ','",
                    s.key
                ),
            ));
        }
        match (&s.value, &s.from_env) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(bad(
                    &field,
                    format!("set exactly one of `value` or `fromEnv` for key {}", s.key),
                ));
            }
        }
    }
    Ok(warnings)
}
