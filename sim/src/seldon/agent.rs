//! The Server pod's agent and its rclone remotes (docs/seldon-behaviour.md §10, §12).
//!
//! At startup the agent loads every preloaded rclone Secret its runtime names
//! (`config.agentConfig.rclone.config_secrets`, which SeldonConfig's defaults extend with
//! `seldon-rclone-gs-public`): one missing or malformed Secret and it exits
//! (`StartConfigListener` → `Fatal("Failed to initialise rclone config listener")`), so the pod
//! crash-loops until the Secret exists. A Model without `spec.secretName` is copied through the
//! preloaded remote named by its storageUri scheme; an S3 remote must carry the store's keys.

use serde_json::Value;

use super::components::SERVER_LABEL;
use super::storage;
use crate::control::context::StoreKeys;
use crate::control::objects::{namespace, res};
use crate::store::Store;

/// The preloaded Secrets the agent of namespace `ns` loads (its `seldon-agent` ConfigMap).
fn preloaded_secrets(store: &Store, ns: &str) -> Vec<String> {
    let Some(cm) = store.get(res("ConfigMap"), Some(ns), "seldon-agent") else {
        return Vec::new();
    };
    let cfg: Value = cm["data"]["agent.json"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    cfg["rclone"]["config_secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The rclone config `{name, type, parameters}` of Secret `name` in `ns`, read as the agent's
/// `GetSecretConfig` does (exactly one key), or the agent's error.
pub(crate) fn secret_config(store: &Store, ns: &str, name: &str) -> Result<Value, String> {
    let secret = store
        .get(res("Secret"), Some(ns), name)
        .ok_or_else(|| format!("secrets \"{name}\" not found"))?;
    let data = secret["data"]
        .as_object()
        .filter(|d| d.len() == 1)
        .ok_or_else(|| format!("Secret does not have 1 key {name}"))?;
    let (key, encoded) = data.iter().next().expect("one key");
    let raw = crate::admission::base64_decode(encoded.as_str().unwrap_or_default())
        .and_then(|b| String::from_utf8(b).ok());
    raw.and_then(|s| serde_norway::from_str::<Value>(&s).ok())
        .filter(|v| v["name"].is_string() && v["type"].is_string() && v["parameters"].is_object())
        .ok_or_else(|| {
            format!(
                "secret {name} key {key} is not an rclone config with name, type and parameters"
            )
        })
}

/// Why the agent in server `pod` exits at startup, or `None` when it runs.
pub(crate) fn agent_crash(store: &Store, pod: &Value) -> Option<String> {
    pod["metadata"]["labels"][SERVER_LABEL].as_str()?;
    preloaded_secrets(store, namespace(pod))
        .iter()
        .find_map(|s| secret_config(store, namespace(pod), s).err())
        .map(|e| format!("Failed to initialise rclone config listener: {e}"))
}

/// The remote a Model without `spec.secretName` is copied through: the preloaded one named by
/// the storageUri scheme. Without it rclone answers "didn't find section in config file" and the
/// agent reports only that `/sync/copy` failed (`fail` builds that text).
pub(crate) fn preloaded_remote(
    store: &Store,
    ns: &str,
    scheme: &str,
    fail: impl Fn() -> String,
) -> Result<Value, String> {
    preloaded_secrets(store, ns)
        .iter()
        .filter_map(|s| secret_config(store, ns, s).ok())
        .find(|cfg| cfg["name"] == scheme)
        .ok_or_else(|| {
            tracing::warn!(target: "rclone", "{scheme}: {}", storage::rclone_says::NOT_IN_CONFIG);
            fail()
        })
}

/// Whether `remote` may read the store: an S3 remote must carry the store's keys (S3 answers
/// 403 otherwise and the agent reports only that `/sync/copy` failed: `fail`). Other remotes
/// (anonymous public buckets) and an unsecured store need none.
pub(crate) fn authorise(
    remote: &Value,
    keys: Option<&StoreKeys>,
    fail: impl Fn() -> String,
) -> Result<(), String> {
    let Some(keys) = keys else { return Ok(()) };
    if remote["type"] != "s3" {
        return Ok(());
    }
    let p = &remote["parameters"];
    let said = if p["access_key_id"].as_str() != Some(keys.access_key.as_str()) {
        storage::rclone_says::INVALID_ACCESS_KEY_ID
    } else if p["secret_access_key"].as_str() != Some(keys.secret_key.as_str()) {
        storage::rclone_says::SIGNATURE_DOES_NOT_MATCH
    } else {
        return Ok(());
    };
    tracing::warn!(target: "rclone", "{said}");
    Err(fail())
}
