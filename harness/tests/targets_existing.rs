//! The existing-cluster target's start-up checks (issue 13): the server version is read and
//! stated, and a cluster without Seldon fails at once with the cause instead of waiting for a
//! controller that cannot appear. Runs against the embedded platform before and after it
//! installs Seldon.

use std::time::{Duration, Instant};

use harness::kube::ServerVersion;
use harness::scenario::seldon::{InstallSettings, Kafka};
use harness::target::existing::{ExistingSettings, preflight, preflight_kafka};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

async fn client(p: &sim::Platform) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&p.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn a_cluster_without_seldon_fails_at_once_naming_what_is_missing() {
    let p = sim::Platform::start(sim::faults::Faults::default()).unwrap();
    let client = client(&p).await;
    let settings = ExistingSettings {
        kubeconfig: None,
        context: "embedded-platform".into(),
        allowed_contexts: vec!["embedded-platform".into()],
        manage_controller: false,
        controller_namespace: "seldon-mesh".into(),
    };

    let version = ServerVersion::read(&client).await.unwrap();
    let stated = version.check().unwrap();
    assert!(
        stated.contains("supports Kubernetes 1.20 to 1.33"),
        "{stated}"
    );

    let started = Instant::now();
    let e = preflight(&client, &settings).await.unwrap_err().to_string();
    assert!(
        e.contains("controller namespace `seldon-mesh` does not exist"),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    let ns_rt = sim::store::ResourceType::by_plural("", "namespaces").unwrap();
    p.store()
        .create(ns_rt, json!({"metadata": {"name": "seldon-mesh"}}))
        .unwrap();
    let e = preflight(&client, &settings).await.unwrap_err().to_string();
    assert!(
        e.contains("Seldon's CRDs are missing") && e.contains("servers.mlops.seldon.io"),
        "{e}"
    );

    p.install_seldon(&sim::seldon::InstallOptions::default())
        .unwrap();
    preflight(&client, &settings).await.unwrap();
}

/// A scenario declaring `kafka: installed` on a cluster without that Kafka fails at once, naming
/// the missing bootstrap Service and the ways out; with the Service there (or without the
/// declaration) it goes on.
#[tokio::test]
async fn a_declared_kafka_that_is_not_there_fails_at_once() {
    let p = sim::Platform::start(sim::faults::Faults::default()).unwrap();
    p.install_seldon(&sim::seldon::InstallOptions::default())
        .unwrap();
    let client = client(&p).await;
    let mut install = InstallSettings::new("2.10.2");
    preflight_kafka(&client, &install).await.unwrap();
    install.kafka = Kafka::Installed;
    let e = preflight_kafka(&client, &install)
        .await
        .unwrap_err()
        .to_string();
    for want in [
        "no Service seldon-mesh/seldon-kafka-bootstrap",
        "seldon-kafka-bootstrap.seldon-mesh:9092",
        "--manage-install",
        "external",
    ] {
        assert!(e.contains(want), "no `{want}` in: {e}");
    }
    let svc = sim::store::ResourceType::by_plural("", "services").unwrap();
    p.store()
        .create(
            svc,
            json!({"metadata": {"name": "seldon-kafka-bootstrap", "namespace": "seldon-mesh"},
                   "spec": {"ports": [{"port": 9092}]}}),
        )
        .unwrap();
    preflight_kafka(&client, &install).await.unwrap();
}
