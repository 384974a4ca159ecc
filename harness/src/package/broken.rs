//! Storage Secrets broken on purpose (a package's `brokenOnPurpose`, scenarios/README.md "Secrets
//! broken on purpose"): the one rule by which every target delivers them.
//!
//! A target with its own model store (embedded, kind) applies, in place of the package's Secret,
//! the working rclone Secret for its store (remote `s3`, its endpoint, its keys:
//! `store::rclone_config`) with the declared part taken from the package as written: `keys` keeps
//! the package's `access_key_id` and `secret_access_key`, `remoteName` its remote `name`. The data
//! key and the object's metadata stay the package's. So the Model fails on exactly that part,
//! against a store it reaches, on every target: on kind the scenario's endpoint (the embedded
//! platform's `minio.harness-model-store`) does not resolve, and a Secret kept as written would
//! fail on the name instead of the keys. A target without a store (an existing cluster) applies
//! the Secret as packaged.
//!
//! Messages name the Secret, its key and the part, never a value.

use serde_json::{Map, Value};

use super::error::SecretsError;
use super::rclone::rclone_config_value;
use super::store::{RCLONE_REMOTE, StoreAccess, rclone_config};
use crate::scenario::BrokenPart;

/// A Secret broken on purpose as the package has it: its data key, and the wrong parts it keeps.
#[derive(Clone)]
pub struct BrokenSecret {
    /// The Secret's data key holding the rclone config.
    pub key: String,
    /// The part wrong on purpose.
    pub part: BrokenPart,
    /// The package's remote name.
    remote: String,
    /// The package's keys, when it has both.
    keys: Option<(String, String)>,
}

impl std::fmt::Debug for BrokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokenSecret")
            .field("key", &self.key)
            .field("part", &self.part)
            .field("remote", &self.remote)
            .field("keys", &self.keys.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn who(secret: &Value) -> String {
    format!(
        "Secret {}/{}",
        secret["metadata"]["namespace"].as_str().unwrap_or("-"),
        secret["metadata"]["name"].as_str().unwrap_or("<no name>")
    )
}

/// A YAML scalar as the agent reads it (YAML scalars are text to it, §12).
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads a rendered Secret declared broken on purpose and checks the declared part is there and
/// wrong: `remoteName` needs a remote `name` other than every storageUri scheme in `schemes` (the
/// schemes of the Models naming the Secret); `keys` needs both `access_key_id` and
/// `secret_access_key`.
pub fn read_broken(
    secret: &Value,
    part: BrokenPart,
    schemes: &[(&str, &str)],
) -> Result<BrokenSecret, SecretsError> {
    let (key, config) = rclone_config_value(secret)?;
    let err = |message: String| SecretsError::Rclone {
        secret: who(secret),
        key: Some(key.clone()),
        message,
    };
    // JSON is YAML; never show serde's message (it may quote the value).
    let value: Value =
        serde_norway::from_str(&config).map_err(|_| err("value is not YAML or JSON".into()))?;
    let map = value
        .as_object()
        .ok_or_else(|| err("value must be a mapping `{name, type, parameters}`".into()))?;
    let remote = text(map.get("name")).unwrap_or_default();
    let params = map.get("parameters").and_then(Value::as_object);
    let keys = params.and_then(|p| {
        Some((
            text(p.get("access_key_id"))?,
            text(p.get("secret_access_key"))?,
        ))
    });
    match part {
        BrokenPart::RemoteName => {
            if let Some((model, scheme)) = schemes.iter().find(|(_, s)| *s == remote) {
                return Err(err(format!(
                    "is declared `brokenOnPurpose: remoteName`, but its remote name `{remote}` is \
                     the storageUri scheme of Model `{model}` ({scheme}://…), so nothing is broken: \
                     give the remote another name (e.g. `minio`) or remove the entry"
                )));
            }
            if remote.is_empty() {
                return Err(err(
                    "is declared `brokenOnPurpose: remoteName` but has no remote `name`: give it \
                     the wrong name it should keep (e.g. `minio`)"
                        .into(),
                ));
            }
        }
        BrokenPart::Keys if keys.is_none() => {
            return Err(err(
                "is declared `brokenOnPurpose: keys` but its `parameters` lack `access_key_id` or \
                 `secret_access_key`: give it the wrong keys it should keep"
                    .into(),
            ));
        }
        BrokenPart::Keys => {}
    }
    Ok(BrokenSecret {
        key,
        part,
        remote,
        keys,
    })
}

/// The Secret a target with its own store applies for a Secret broken on purpose: the store's
/// working rclone config with `broken`'s declared part kept, under the package's data key, in the
/// package's object (metadata kept, `data` dropped for `stringData`). Holds secret values.
pub fn point_at_store(secret: &Value, broken: &BrokenSecret, store: &StoreAccess) -> Value {
    let (access_key, secret_key) = match (&broken.part, &broken.keys) {
        (BrokenPart::Keys, Some((a, s))) => (a.as_str(), s.as_str()),
        _ => (
            store.credentials.access_key.as_str(),
            store.credentials.secret_key(),
        ),
    };
    let remote = match broken.part {
        BrokenPart::RemoteName => broken.remote.as_str(),
        BrokenPart::Keys => RCLONE_REMOTE,
    };
    let config = rclone_config(remote, &store.endpoint, access_key, secret_key);
    let mut out = secret.clone();
    if let Some(o) = out.as_object_mut() {
        o.remove("data");
        let mut data = Map::new();
        data.insert(
            broken.key.clone(),
            Value::String(serde_json::to_string(&config).expect("JSON serialises")),
        );
        o.insert("stringData".into(), Value::Object(data));
    }
    out
}

#[cfg(test)]
mod tests;
