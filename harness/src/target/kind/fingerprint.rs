//! The cluster fingerprint: what identifies a provisioned environment (kind config, node image,
//! the install), stored in a ConfigMap, compared to decide create, reuse or recreate.

use sha2::{Digest, Sha256};

use super::helm::{self, InstallSettings};
use super::settings::{KindSettings, ProvisionError};

/// Namespace of the fingerprint ConfigMap.
pub const FINGERPRINT_NAMESPACE: &str = "kube-system";
/// Name of the fingerprint ConfigMap.
pub const FINGERPRINT_CONFIGMAP: &str = "seldon-conformance-harness-fingerprint";
/// Bumped when the fingerprint inputs change meaning, so old clusters are recreated.
const FINGERPRINT_FORMAT: u32 = 2;

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
    let inputs = helm::canonical_json(&serde_json::json!({
        "format": FINGERPRINT_FORMAT,
        "kindConfigSha256": sha256_hex(kind_config),
        "nodeImage": kind.node_image,
        "install": helm::fingerprint_inputs(install),
    }));
    let inputs = serde_json::to_string(&inputs).expect("JSON serialises");
    Fingerprint {
        digest: sha256_hex(inputs.as_bytes()),
        inputs,
    }
}

/// The kind cluster for an install: `base` for the default platform shape (a cluster-wide
/// controller watching every namespace, no Kafka), else `<base>-<8 hex>` of its shape
/// (clusterwide, watchNamespaces, kafka). Scenarios needing another shape (a narrowed controller,
/// docs/seldon-behaviour.md §22; Kafka installed or external, §14) thus get a cluster of their own
/// instead of recreating the shared one under test processes that still use it, and a scenario
/// that needs Kafka absent never runs where another installed it.
pub fn cluster_for_install(base: &str, install: &InstallSettings) -> String {
    use crate::scenario::seldon::Kafka;
    if install.clusterwide && install.watch_namespaces.is_empty() && install.kafka == Kafka::None {
        return base.to_string();
    }
    let shape = serde_json::json!({
        "clusterwide": install.clusterwide,
        "watchNamespaces": install.watch_namespaces,
        "kafka": install.kafka,
    });
    let digest = sha256_hex(shape.to_string().as_bytes());
    format!("{base}-{}", &digest[..8])
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
            "labels": {crate::kube::MANAGED_BY_LABEL: crate::kube::FIELD_MANAGER},
        },
        "data": {"fingerprint": fp.digest, "inputs": fp.inputs},
    });
    serde_json::to_string_pretty(&cm).expect("JSON serialises")
}

#[cfg(test)]
mod tests {
    use super::cluster_for_install;
    use crate::target::kind::helm::InstallSettings;

    #[test]
    fn another_platform_shape_gets_a_cluster_of_its_own() {
        let all = InstallSettings::new("2.10.2");
        assert_eq!(
            cluster_for_install("seldon-harness", &all),
            "seldon-harness"
        );
        let mut narrowed = all.clone();
        narrowed.watch_namespaces = vec!["scope-watched".into()];
        let name = cluster_for_install("seldon-harness", &narrowed);
        assert!(
            name.starts_with("seldon-harness-") && name.len() == "seldon-harness".len() + 9,
            "{name}"
        );
        assert_eq!(
            name,
            cluster_for_install("seldon-harness", &narrowed),
            "stable"
        );
        let mut other = narrowed.clone();
        other.watch_namespaces = vec!["team-b".into()];
        assert_ne!(name, cluster_for_install("seldon-harness", &other));
        // Kafka installed (financial-ml) and Kafka absent (kafka-missing) never share a cluster.
        let mut kafka = all.clone();
        kafka.kafka = crate::scenario::seldon::Kafka::Installed;
        let with_kafka = cluster_for_install("seldon-harness", &kafka);
        assert!(with_kafka.starts_with("seldon-harness-"), "{with_kafka}");
        assert_ne!(with_kafka, name);
        assert_ne!(with_kafka, cluster_for_install("seldon-harness", &all));
    }
}
