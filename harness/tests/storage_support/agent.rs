//! The RC calls Seldon's agent (v2.10.2, `scheduler/pkg/agent/rclone/rclone.go`) makes, with
//! its payloads and its error texts, for a storage Secret's value:
//!
//! - preloaded (`config.agentConfig.rclone.config_secrets`): `config/get {name}`, then
//!   `config/create {name, type, parameters, opt}` or `config/update {name, parameters, opt}`;
//!   a Model then copies with `srcFs` = its storageUri, so the remote is picked by the scheme;
//! - per Model (`spec.secretName`): no remote is created; the agent checks `name` against the
//!   storageUri scheme and rewrites the URI into a connection string
//!   `:<type>,<k>=<v>,…://bucket/path` (values with `:` or `,` quoted);
//! - both: `sync/copy {srcFs, dstFs: <rclone dir>/<fnv32a(model_version-uri)>,
//!   createEmptySrcDirs: true}`; a non-200 answer becomes "Failed rclone request to host:…"
//!   (rclone's error body is dropped); a 200 that left no destination folder becomes
//!   "Failed to download from … any files".
//!
//! The agent's texts come from `sim::seldon::storage`, the embedded platform's source for them:
//! this driver is where they are checked against what real rclone does.

use super::{RcReply, Rclone};
use serde_json::{Value, json};
use sim::seldon::storage;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `RcloneConfigCreate`: what the agent unmarshals a Secret's value into.
#[derive(Debug, Clone)]
pub struct RcloneConfig {
    /// The remote's name.
    pub name: String,
    /// The rclone backend.
    pub type_: String,
    /// Parameters, as strings (`map[string]string`).
    pub parameters: BTreeMap<String, String>,
}

impl RcloneConfig {
    /// The credential values, for redacting rclone's answers (they echo connection strings).
    pub fn secret_values(&self) -> Vec<String> {
        self.parameters
            .iter()
            .filter(|(k, v)| {
                v.len() >= 4
                    && ["key", "secret", "token", "pass", "credential"]
                        .iter()
                        .any(|w| k.contains(w))
            })
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `parseRcloneConfig`: JSON into `map[string]string` fails on non-string values (e.g.
/// `env_auth: false`), and then YAML (yaml.v2) reads any scalar into a string as its text.
pub fn parse_config(text: &str) -> Result<RcloneConfig, String> {
    let v: Value = serde_norway::from_str(text)
        .map_err(|_| "Failed to unmarshall config as json or yaml".to_string())?;
    let field = |f: &str| {
        v[f].as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("Key: 'RcloneConfigCreate.{f}' failed on the 'required' tag"))
    };
    let name = field("name")?;
    let type_ = field("type")?;
    let parameters = v["parameters"]
        .as_object()
        .ok_or("Key: 'RcloneConfigCreate.Parameters' failed on the 'required' tag")?
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect();
    Ok(RcloneConfig {
        name,
        type_,
        parameters,
    })
}

/// `Config`: creates or updates the remote named by the config; returns the name.
pub async fn config(rc: &Rclone, cfg: &RcloneConfig) -> Result<String, String> {
    let got = rc.call("config/get", &json!({"name": cfg.name})).await?;
    if got.status != 200 {
        return Err(request_failed("/config/get"));
    }
    let exists = got.body.as_object().is_some_and(|o| !o.is_empty());
    let (path, body) = if exists {
        (
            "config/update",
            json!({"name": cfg.name, "parameters": cfg.parameters, "opt": null}),
        )
    } else {
        (
            "config/create",
            json!({"name": cfg.name, "type": cfg.type_, "parameters": cfg.parameters, "opt": null}),
        )
    };
    let reply = rc.call(path, &body).await?;
    if reply.status != 200 {
        return Err(request_failed(&format!("/{path}")));
    }
    Ok(cfg.name.clone())
}

/// The agent's text for a non-200 RC answer (`call`).
fn request_failed(path: &str) -> String {
    format!(
        "Failed rclone request to host:{} port:{} path:{path}",
        storage::RCLONE_HOST,
        storage::RCLONE_PORT
    )
}

/// `createUriWithConfig`: the storageUri with the remote replaced by a connection string.
pub fn uri_with_config(uri: &str, cfg: &RcloneConfig) -> Result<String, String> {
    let remote = match uri.find(':') {
        None => return Err(format!("Failed to find : in {uri} for rclone name match")),
        Some(0) => {
            return Err("Can't get remote from URI with configuration included inline".into());
        }
        Some(i) => &uri[..i],
    };
    if cfg.name != remote {
        return Err(storage::remote_name_mismatch(remote, &cfg.name));
    }
    let mut s = format!(":{}", cfg.type_);
    for (k, v) in &cfg.parameters {
        if v.contains([':', ',']) {
            s.push_str(&format!(",{k}=\"{}\"", v.replace('"', "\"\"")));
        } else {
            s.push_str(&format!(",{k}={v}"));
        }
    }
    Ok(uri.replacen(remote, &s, 1))
}

/// A failed `Copy`: the agent's message (what the Model's reason shows) and what rclone answered.
#[derive(Debug)]
pub struct CopyFailure {
    /// The agent's error text, with the real destination folder.
    pub agent_message: String,
    /// The same text with the destination a Server pod would use (`/mnt/agent/rclone/<hash>`).
    pub in_pod: String,
    /// rclone's answer to `sync/copy`, when it was called.
    pub rclone: Option<RcReply>,
}

/// `Copy` for model `model` (version 1) from `uri`, with a Secret's value (`Some`, per-Model
/// `secretName`) or with the preloaded remotes (`None`). Returns the folder rclone filled.
pub async fn copy(
    rc: &Rclone,
    model: &str,
    uri: &str,
    config: Option<&RcloneConfig>,
) -> Result<PathBuf, CopyFailure> {
    let src = match config {
        Some(cfg) => uri_with_config(uri, cfg).map_err(|m| CopyFailure {
            in_pod: m.clone(),
            agent_message: m,
            rclone: None,
        })?,
        None => uri.to_string(),
    };
    let versioned = storage::versioned_model(model, 1);
    let local = rc.local_path();
    let dst = storage::copy_destination(&local.to_string_lossy(), &versioned, uri);
    let in_pod_dst = storage::copy_destination(storage::RCLONE_DIR, &versioned, uri);
    let body = json!({"srcFs": src, "dstFs": dst, "createEmptySrcDirs": true});
    let fail = |m: String, pod: String, reply: Option<RcReply>| CopyFailure {
        agent_message: m,
        in_pod: pod,
        rclone: reply,
    };
    let reply = rc
        .call("sync/copy", &body)
        .await
        .map_err(|e| fail(e.clone(), e, None))?;
    if reply.status != 200 {
        // The agent reloads its config and retries once (copyWithConfigResync); the answer of a
        // deterministic failure does not change, so one call stands for both.
        return Err(fail(
            storage::sync_copy_failed(uri, &dst, storage::RCLONE_HOST, storage::RCLONE_PORT),
            storage::sync_copy_failed(uri, &in_pod_dst, storage::RCLONE_HOST, storage::RCLONE_PORT),
            Some(reply),
        ));
    }
    let dst = PathBuf::from(dst);
    if !dst.exists() {
        let m = storage::nothing_downloaded(uri);
        return Err(fail(m.clone(), m, Some(reply)));
    }
    Ok(dst)
}

/// `text` with every secret value replaced (rclone echoes connection strings in errors and logs).
pub fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), "<redacted>"))
}
