//! Kafka and the runtime components that need it (docs/seldon-behaviour.md §14).
//!
//! The model gateway, the pipeline gateway and the dataflow engine connect to the bootstrap
//! servers of the runtime's `seldon-kafka` ConfigMap (`kafka.json`, from the SeldonConfig's
//! `config.kafkaConfig`). Seldon's setup chart installs no Kafka: without a reachable broker their
//! liveness fails and the kubelet restarts them (`CrashLoopBackOff`). Reachability is decided by
//! the same connection model as the connectivity probes, from the component pod itself, so
//! NetworkPolicy and DNS apply to it too.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::control::objects::res;
use crate::network::{NetworkView, PROBE_TARGET_ANNOTATION, probe_outcome};
use crate::store::Store;

/// The runtime components that need Kafka (Seldon's install docs: "should not install" them without it).
pub const KAFKA_COMPONENTS: [&str; 3] = [
    "seldon-modelgateway",
    "seldon-pipelinegateway",
    "seldon-dataflow-engine",
];
/// The Service Strimzi creates for a Kafka cluster named `seldon`, which the default SeldonConfig names.
pub const KAFKA_BOOTSTRAP_SERVICE: &str = "seldon-kafka-bootstrap";
/// Kafka's plain listener port.
pub const KAFKA_PORT: i32 = 9092;

/// The bootstrap servers the runtime in `ns` gives its Kafka components (ConfigMap `seldon-kafka`).
pub(crate) fn bootstrap_servers(store: &Store, ns: &str) -> Vec<String> {
    let Some(cm) = store.get(res("ConfigMap"), Some(ns), "seldon-kafka") else {
        return Vec::new();
    };
    let cfg: Value = cm["data"]["kafka.json"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    cfg["bootstrap.servers"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Why the Kafka component `pod` cannot reach any of `servers`, or `None` when one answers.
/// `external` lists `host:port` brokers outside the cluster the platform declares reachable.
pub(crate) fn unreachable(
    view: &NetworkView,
    external: &BTreeSet<String>,
    pod: &Value,
    servers: &[String],
    policies_ignored: bool,
) -> Option<String> {
    if servers.is_empty() {
        return Some(
            "no Kafka bootstrap servers configured (kafkaConfig bootstrap.servers is empty)".into(),
        );
    }
    let mut why = Vec::new();
    for server in servers {
        if external.contains(server) {
            return None;
        }
        let mut probe = pod.clone();
        probe["metadata"]["annotations"][PROBE_TARGET_ANNOTATION] = json!(server);
        let Ok(typed) = serde_json::from_value::<Pod>(probe) else {
            why.push(format!("{server}: pod not readable"));
            continue;
        };
        let outcome = probe_outcome(view, &typed, policies_ignored);
        if outcome.succeeded {
            return None;
        }
        why.push(format!(
            "{server}: {} ({})",
            outcome.log.trim_start_matches("nc: "),
            outcome.explanation
        ));
    }
    Some(format!(
        "Failed to connect to Kafka bootstrap servers: {}",
        why.join("; ")
    ))
}
