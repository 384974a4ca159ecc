//! What the harness installs on kind next to Seldon, chart and images pinned: the sealed-secrets
//! controller (always, under the name kubeseal expects; docs/seldon-behaviour.md §13) and, for
//! `kafka: installed`, the Strimzi operator with a one-broker KRaft Kafka named `seldon`, as
//! Seldon's own kind setup does (docs/seldon-behaviour.md §14). Helm and kubectl run through
//! [`crate::tools`] via [`Installer`].

use std::time::Duration;

use super::helm::{ChartInstall, ControllerReadiness, InstallError, Installer, Warning};
use crate::scenario::seldon::{InstallSettings, Kafka};

/// sealed-secrets' chart repository (its README, "Helm Chart").
pub const SEALED_SECRETS_REPO_URL: &str = "https://bitnami-labs.github.io/sealed-secrets";
/// Name under which the harness adds that repository.
pub const SEALED_SECRETS_REPO_NAME: &str = "sealed-secrets";
/// Chart (and release) name.
pub const SEALED_SECRETS_CHART: &str = "sealed-secrets";
/// Pinned chart version (ships controller 0.36.6).
pub const SEALED_SECRETS_CHART_VERSION: &str = "2.18.5";
/// Pinned controller image tag (`docker.io/bitnami/sealed-secrets-controller`).
pub const SEALED_SECRETS_IMAGE_TAG: &str = "0.36.6";
/// Namespace and name kubeseal looks for by default (`--controller-namespace`, `--controller-name`).
pub const SEALED_SECRETS_NAMESPACE: &str = "kube-system";
/// The controller's Deployment and Service name (`fullnameOverride`).
pub const SEALED_SECRETS_CONTROLLER: &str = "sealed-secrets-controller";

/// Strimzi's chart repository (Seldon's `ansible/roles/strimzi/tasks/main.yaml`).
pub const STRIMZI_REPO_URL: &str = "https://strimzi.io/charts/";
/// Name under which the harness adds that repository.
pub const STRIMZI_REPO_NAME: &str = "strimzi";
/// Chart (and release) name of the Strimzi operator.
pub const STRIMZI_CHART: &str = "strimzi-kafka-operator";
/// Pinned operator chart version (Seldon v2.10.2's `strimzi_kafka_operator_version`).
pub const STRIMZI_VERSION: &str = "0.44.0";
/// Kafka version of the cluster (Seldon's `kafka/strimzi/values.yaml`; supported by Strimzi 0.44.0).
pub const KAFKA_VERSION: &str = "3.8.0";
/// The broker image, pinned (Strimzi's image for that operator and Kafka version).
pub const KAFKA_IMAGE: &str = "quay.io/strimzi/kafka:0.44.0-kafka-3.8.0";
pub use crate::scenario::seldon::{KAFKA_CLUSTER, KAFKA_PORT, installed_kafka_bootstrap};

/// The Kafka cluster: one node in both KRaft roles (Strimzi's `kraft/kafka-single-node.yaml`
/// shape), a plain listener on 9092, replication factors 1 as in Seldon's chart, ephemeral storage
/// (a disposable cluster needs no volume), broker memory 1 GiB (Seldon's chart asks 2 GiB for a
/// three-broker production-like setup).
pub fn kafka_manifests(namespace: &str) -> String {
    format!(
        r#"apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaNodePool
metadata:
  name: kafka
  namespace: {namespace}
  labels:
    strimzi.io/cluster: {KAFKA_CLUSTER}
spec:
  replicas: 1
  roles:
    - controller
    - broker
  resources:
    requests:
      cpu: 200m
      memory: 1Gi
    limits:
      memory: 1Gi
  storage:
    type: jbod
    volumes:
      - id: 0
        type: ephemeral
        sizeLimit: 2Gi
        kraftMetadata: shared
---
apiVersion: kafka.strimzi.io/v1beta2
kind: Kafka
metadata:
  name: {KAFKA_CLUSTER}
  namespace: {namespace}
  annotations:
    strimzi.io/node-pools: enabled
    strimzi.io/kraft: enabled
spec:
  kafka:
    version: {KAFKA_VERSION}
    metadataVersion: 3.8-IV0
    image: {KAFKA_IMAGE}
    listeners:
      - name: plain
        port: {KAFKA_PORT}
        type: internal
        tls: false
    config:
      auto.create.topics.enable: true
      offsets.topic.replication.factor: 1
      transaction.state.log.replication.factor: 1
      transaction.state.log.min.isr: 1
      default.replication.factor: 1
      min.insync.replicas: 1
"#
    )
}

/// The sealed-secrets chart, pinned, under kubeseal's default controller name.
pub fn sealed_secrets_chart(timeout_seconds: u64) -> ChartInstall {
    ChartInstall {
        release: SEALED_SECRETS_CHART.into(),
        repo_name: SEALED_SECRETS_REPO_NAME.into(),
        repo_url: SEALED_SECRETS_REPO_URL.into(),
        chart: SEALED_SECRETS_CHART.into(),
        version: SEALED_SECRETS_CHART_VERSION.into(),
        namespace: SEALED_SECRETS_NAMESPACE.into(),
        set_strings: vec![
            ("fullnameOverride".into(), SEALED_SECRETS_CONTROLLER.into()),
            ("image.tag".into(), SEALED_SECRETS_IMAGE_TAG.into()),
        ],
        timeout_seconds,
    }
}

/// The Strimzi operator chart, pinned, in `namespace` (it watches its own namespace, where the
/// Kafka cluster goes, as in Seldon's kind setup).
pub fn strimzi_chart(namespace: &str, timeout_seconds: u64) -> ChartInstall {
    ChartInstall {
        release: STRIMZI_CHART.into(),
        repo_name: STRIMZI_REPO_NAME.into(),
        repo_url: STRIMZI_REPO_URL.into(),
        chart: STRIMZI_CHART.into(),
        version: STRIMZI_VERSION.into(),
        namespace: namespace.into(),
        set_strings: vec![("defaultImageTag".into(), STRIMZI_VERSION.into())],
        timeout_seconds,
    }
}

/// The kind install sequence: Seldon (CRDs, setup chart, controller readiness), then the
/// sealed-secrets controller, then for `kafka: installed` Strimzi and the Kafka cluster in the
/// controller namespace, waiting until the Kafka cluster is Ready. Returns Seldon's warnings.
pub async fn install_platform<R: ControllerReadiness>(
    installer: &Installer,
    settings: &InstallSettings,
    readiness: &R,
) -> Result<Vec<Warning>, InstallError> {
    let warnings = installer.install(settings, readiness).await?;
    install_addons(installer, settings, readiness).await?;
    Ok(warnings)
}

/// Installs the sealed-secrets controller and, for `kafka: installed`, Strimzi and the Kafka
/// cluster in the controller namespace, then waits for the Kafka cluster to be Ready.
pub async fn install_addons<R: ControllerReadiness>(
    installer: &Installer,
    settings: &InstallSettings,
    readiness: &R,
) -> Result<(), InstallError> {
    installer
        .install_chart(&sealed_secrets_chart(settings.timeout_seconds))
        .await?;
    install_kafka(installer, settings, readiness).await
}

/// For `kafka: installed`: Strimzi and the Kafka cluster in the controller namespace, waiting
/// until the Kafka cluster is Ready (nothing otherwise).
pub async fn install_kafka<R: ControllerReadiness>(
    installer: &Installer,
    settings: &InstallSettings,
    readiness: &R,
) -> Result<(), InstallError> {
    if settings.kafka != Kafka::Installed {
        return Ok(());
    }
    let ns = &settings.controller_namespace;
    installer
        .install_chart(&strimzi_chart(ns, settings.timeout_seconds))
        .await?;
    installer
        .kubectl_apply(
            &kafka_manifests(ns),
            &format!("KafkaNodePool kafka, Kafka {KAFKA_CLUSTER}"),
        )
        .await?;
    readiness
        .wait_kafka_ready(
            ns,
            KAFKA_CLUSTER,
            Duration::from_secs(settings.timeout_seconds),
        )
        .await
}
