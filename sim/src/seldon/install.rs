//! Installing the controller as the setup chart does: CRDs, Deployment, SeldonConfig, ServerConfigs.

use serde_json::{Value, json};

use super::components::CONTROLLER_DEPLOYMENT;
use super::defaults;
use super::kafka::{KAFKA_BOOTSTRAP_SERVICE, KAFKA_PORT};
use crate::control::objects::{name, now, res};
use crate::store::{ApiError, RESOURCES, Store};

/// How the controller is installed (the Helm setup chart's settings that matter).
#[derive(Debug, Clone, PartialEq)]
pub struct InstallOptions {
    /// `controller.clusterwide`.
    pub clusterwide: bool,
    /// The namespace of the controller, its SeldonConfig and ServerConfigs.
    pub controller_namespace: String,
    /// `controller.watchNamespaces` (only with clusterwide; empty means all).
    pub watch_namespaces: Vec<String>,
    /// Whether a Kafka cluster exists for the runtimes' Kafka components (docs/seldon-behaviour.md §14).
    pub kafka: Kafka,
}

/// The Kafka a platform has: Seldon's setup chart installs none (docs/seldon-behaviour.md §14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Kafka {
    /// No Kafka: the Kafka components of a runtime crash-loop.
    #[default]
    None,
    /// A broker outside the cluster at this `host:port`, set as the SeldonConfig's bootstrap.
    External(String),
    /// A one-broker Kafka in the controller's namespace behind `seldon-kafka-bootstrap:9092`, as
    /// Seldon's own kind setup installs with Strimzi.
    Installed,
}

impl Default for InstallOptions {
    /// The documented install: cluster-wide, in `seldon-mesh`, all namespaces.
    fn default() -> Self {
        InstallOptions {
            clusterwide: true,
            controller_namespace: "seldon-mesh".into(),
            watch_namespaces: Vec::new(),
            kafka: Kafka::None,
        }
    }
}

fn create_or_update(store: &Store, kind: &str, obj: Value) -> Result<Value, ApiError> {
    let rt = res(kind);
    let ns = obj["metadata"]["namespace"].as_str();
    match store.get(rt, ns, name(&obj)) {
        None => store.create(rt, obj),
        Some(existing) => {
            let mut merged = obj.clone();
            merged["metadata"] = existing["metadata"].clone();
            for f in ["labels", "annotations"] {
                if let Some(v) = obj["metadata"].get(f) {
                    merged["metadata"][f] = v.clone();
                }
            }
            store.update(rt, merged)
        }
    }
}

/// Installs the controller: CRDs, controller namespace and Deployment, SeldonConfig `default`, ServerConfigs.
pub fn install(store: &Store, opts: &InstallOptions) -> Result<(), ApiError> {
    let crd_rt = res("CustomResourceDefinition");
    for rt in RESOURCES.iter().filter(|r| r.group == "mlops.seldon.io") {
        let crd_name = format!("{}.{}", rt.plural, rt.group);
        let names = json!({
            "kind": rt.kind, "listKind": format!("{}List", rt.kind), "plural": rt.plural,
            "singular": rt.singular, "shortNames": rt.short_names,
        });
        let mut version = json!({"name": rt.version, "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        if rt.has_status {
            version["subresources"] = json!({"status": {}});
        }
        let crd = json!({
            "metadata": {"name": crd_name},
            "spec": {"group": rt.group, "names": names, "scope": if rt.namespaced { "Namespaced" } else { "Cluster" }, "versions": [version]},
        });
        let stored = create_or_update(store, "CustomResourceDefinition", crd)?;
        let status = json!({
            "acceptedNames": names, "storedVersions": [rt.version],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now()},
            ],
        });
        if stored["status"]["conditions"].is_null() {
            let mut s = stored.clone();
            s["status"] = status;
            store.update_status(crd_rt, s)?;
        }
    }
    let ns = opts.controller_namespace.as_str();
    if store.get(res("Namespace"), None, ns).is_none() {
        store.create(res("Namespace"), json!({"metadata": {"name": ns}}))?;
    }
    create_or_update(
        store,
        "ServiceAccount",
        json!({"metadata": {"name": CONTROLLER_DEPLOYMENT, "namespace": ns}}),
    )?;
    let labels = json!({"control-plane": "v2-controller-manager"});
    let env = json!([
        {"name": "CLUSTERWIDE", "value": opts.clusterwide.to_string()},
        {"name": "WATCH_NAMESPACES", "value": opts.watch_namespaces.join(",")},
        {"name": "USE_DEPLOYMENTS_FOR_SERVERS", "value": "false"},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]);
    create_or_update(
        store,
        "Deployment",
        json!({
            "metadata": {"name": CONTROLLER_DEPLOYMENT, "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1, "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": {"kubectl.kubernetes.io/default-container": "manager"}},
                    "spec": {
                        "serviceAccountName": CONTROLLER_DEPLOYMENT,
                        "containers": [{
                            "name": "manager", "image": format!("docker.io/seldonio/seldonv2-controller:{}", defaults::SELDON_VERSION),
                            "command": ["/manager"],
                            "args": ["--health-probe-bind-address=:8081", "--leader-elect", "--watch-namespaces=$(WATCH_NAMESPACES)",
                                     "--namespace=$(POD_NAMESPACE)", "--clusterwide=$(CLUSTERWIDE)", "--use-deployments-for-servers=$(USE_DEPLOYMENTS_FOR_SERVERS)"],
                            "env": env,
                            "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "64Mi"}},
                        }],
                    },
                },
            },
        }),
    )?;
    let mut config = defaults::seldon_config_spec();
    match &opts.kafka {
        Kafka::None => {}
        Kafka::External(addr) => {
            config["config"]["kafkaConfig"]["bootstrap.servers"] = json!(addr);
        }
        Kafka::Installed => {
            install_kafka(store, ns)?;
            config["config"]["kafkaConfig"]["bootstrap.servers"] =
                json!(format!("{KAFKA_BOOTSTRAP_SERVICE}.{ns}:{KAFKA_PORT}"));
        }
    }
    create_or_update(
        store,
        "SeldonConfig",
        json!({"metadata": {"name": "default", "namespace": ns}, "spec": config}),
    )?;
    for server_type in ["mlserver", "triton"] {
        create_or_update(
            store,
            "ServerConfig",
            json!({"metadata": {"name": server_type, "namespace": ns}, "spec": defaults::server_config_spec(server_type)}),
        )?;
    }
    Ok(())
}

/// A one-broker KRaft Kafka as Strimzi runs it for Seldon's kind setup (cluster `seldon`): a
/// StatefulSet and the `seldon-kafka-bootstrap` Service the default SeldonConfig points at.
fn install_kafka(store: &Store, ns: &str) -> Result<(), ApiError> {
    let labels = json!({"strimzi.io/cluster": "seldon", "strimzi.io/kind": "Kafka", "strimzi.io/name": "seldon-kafka"});
    create_or_update(
        store,
        "StatefulSet",
        json!({
            "metadata": {"name": "seldon-kafka", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1, "serviceName": "seldon-kafka-brokers", "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                    "name": "kafka", "image": "quay.io/strimzi/kafka:0.45.0-kafka-3.9.0",
                    "ports": [{"name": "tcp-clients", "containerPort": KAFKA_PORT}],
                    "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
                }]}},
            },
        }),
    )?;
    create_or_update(
        store,
        "Service",
        json!({
            "metadata": {"name": KAFKA_BOOTSTRAP_SERVICE, "namespace": ns, "labels": labels},
            "spec": {"type": "ClusterIP", "selector": labels,
                     "ports": [{"name": "tcp-clients", "port": KAFKA_PORT, "protocol": "TCP", "targetPort": KAFKA_PORT}]},
        }),
    )?;
    Ok(())
}
