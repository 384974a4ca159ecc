//! Seldon's rclone storage secret format (docs/seldon-behaviour.md §10): exactly one key whose value, YAML or JSON,
//! is `{name, type, parameters}`, with `name` equal to the storage URI scheme.
//!
//! Messages name the Secret and key, never the value (parse errors give a line and column only).

use serde_json::Value;

use super::error::SecretsError;
use crate::kube::redact::decode_base64;

/// The non-secret parts of an rclone remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcloneRemote {
    /// The Secret's data key holding the config.
    pub key: String,
    /// The remote's name (must equal the storageUri scheme, e.g. `s3`).
    pub name: String,
    /// The rclone backend, e.g. `s3`, `google cloud storage`.
    pub type_: String,
    /// Parameter names (values are secret).
    pub parameters: Vec<String>,
}

fn secret_name(secret: &Value) -> String {
    format!(
        "Secret {}/{}",
        secret["metadata"]["namespace"].as_str().unwrap_or("-"),
        secret["metadata"]["name"].as_str().unwrap_or("<no name>")
    )
}

/// The Secret's one key and its value, as Seldon's agent reads it (`GetSecretConfig` in
/// `scheduler/pkg/agent/k8s/secrets.go`: exactly one key). The value holds secrets: never log it.
pub fn rclone_config_value(secret: &Value) -> Result<(String, String), SecretsError> {
    let who = secret_name(secret);
    let err = |key: Option<&str>, message: String| SecretsError::Rclone {
        secret: who.clone(),
        key: key.map(str::to_string),
        message,
    };
    if secret["kind"] != "Secret" {
        return Err(err(None, "is not a Secret".into()));
    }
    // data (base64) and stringData merge on the server; count keys across both.
    let mut entries: Vec<(String, String)> = Vec::new();
    if let Some(data) = secret["data"].as_object() {
        for (k, v) in data {
            let bytes = v
                .as_str()
                .and_then(decode_base64)
                .ok_or_else(|| err(Some(k), "data value is not base64".into()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| err(Some(k), "value is not UTF-8 text".into()))?;
            entries.push((k.clone(), text));
        }
    }
    if let Some(data) = secret["stringData"].as_object() {
        for (k, v) in data {
            let text = v
                .as_str()
                .ok_or_else(|| err(Some(k), "stringData value is not a string".into()))?;
            entries.retain(|(ek, _)| ek != k);
            entries.push((k.clone(), text.to_string()));
        }
    }
    if entries.len() != 1 {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        return Err(err(
            None,
            format!(
                "has {} keys ({}); Seldon's agent needs exactly one key holding one rclone config \
                 (it fails with \"Secret does not have 1 key\"): split it into one Secret per remote",
                entries.len(),
                keys.join(", ")
            ),
        ));
    }
    Ok(entries.remove(0))
}

/// Checks the rclone format and returns the remote (without parameter values).
pub fn parse_rclone_secret(secret: &Value) -> Result<RcloneRemote, SecretsError> {
    let who = secret_name(secret);
    let err = |key: Option<&str>, message: String| SecretsError::Rclone {
        secret: who.clone(),
        key: key.map(str::to_string),
        message,
    };
    let (key, text) = rclone_config_value(secret)?;
    // JSON is YAML, so one parser reads both. Never show serde's message: it may quote the value.
    let value: Value = serde_norway::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        err(Some(&key), format!("value is not YAML or JSON{at}"))
    })?;
    let Some(map) = value.as_object() else {
        return Err(err(
            Some(&key),
            "value must be a mapping `{name, type, parameters}`".into(),
        ));
    };
    let field = |f: &str| -> Result<String, SecretsError> {
        match map.get(f) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(err(Some(&key), format!("`{f}` must be a non-empty string"))),
            None => Err(err(
                Some(&key),
                format!("`{f}` is missing; the value must have `name`, `type` and `parameters`"),
            )),
        }
    };
    let name = field("name")?;
    let type_ = field("type")?;
    let parameters = match map.get("parameters") {
        Some(Value::Object(p)) => p.keys().cloned().collect(),
        Some(_) => return Err(err(Some(&key), "`parameters` must be a mapping".into())),
        None => {
            return Err(err(
                Some(&key),
                "`parameters` is missing; the value must have `name`, `type` and `parameters`"
                    .into(),
            ));
        }
    };
    if let Some(extra) = map
        .keys()
        .find(|k| !["name", "type", "parameters"].contains(&k.as_str()))
    {
        return Err(err(
            Some(&key),
            format!("unknown field `{extra}`; the value has only `name`, `type` and `parameters`"),
        ));
    }
    Ok(RcloneRemote {
        key,
        name,
        type_,
        parameters,
    })
}

/// Checks an rclone storage Secret for a model whose `storageUri` has the scheme `storage_scheme`.
pub fn check_rclone_secret(
    secret: &Value,
    storage_scheme: &str,
) -> Result<RcloneRemote, SecretsError> {
    let remote = parse_rclone_secret(secret)?;
    if remote.name != storage_scheme {
        return Err(SecretsError::Rclone {
            secret: secret_name(secret),
            key: Some(remote.key.clone()),
            message: format!(
                "remote `name` is `{}` but the storageUri scheme is `{storage_scheme}`; Seldon picks the \
                 remote by scheme, so set `name: {storage_scheme}`",
                remote.name
            ),
        });
    }
    Ok(remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::redact::encode_base64;
    use serde_json::json;

    const SECRET_VALUE: &str = "TEST-ONLY-not-a-real-key-42";

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "harness-models-s3", "namespace": "financial-ml"}, "stringData": data})
    }

    #[test]
    fn accepts_yaml_and_json_forms() {
        let yaml = format!(
            "type: s3\nname: s3\nparameters:\n  provider: minio\n  secret_access_key: {SECRET_VALUE}\n"
        );
        let r = check_rclone_secret(&secret(json!({"s3": yaml})), "s3").unwrap();
        assert_eq!(
            (r.key.as_str(), r.name.as_str(), r.type_.as_str()),
            ("s3", "s3", "s3")
        );
        assert_eq!(r.parameters, vec!["provider", "secret_access_key"]);
        let j = json!({"name": "gs", "type": "google cloud storage", "parameters": {"anonymous": true}});
        let b64 = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"},
            "data": {"gs": encode_base64(j.to_string().as_bytes())}});
        assert_eq!(
            check_rclone_secret(&b64, "gs").unwrap().type_,
            "google cloud storage"
        );
    }

    #[test]
    fn rejects_with_messages_naming_secret_and_key_but_never_the_value() {
        let good =
            format!("type: s3\nname: s3\nparameters:\n  secret_access_key: {SECRET_VALUE}\n");
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"a": good.clone(), "b": good.clone()}),
                "s3",
                "has 2 keys (a, b)",
            ),
            (json!({}), "s3", "has 0 keys"),
            (
                json!({"s3": good.clone()}),
                "minio",
                "storageUri scheme is `minio`",
            ),
            (
                json!({"s3": format!("name: s3\nparameters: {{k: {SECRET_VALUE}}}\n")}),
                "s3",
                "`type` is missing",
            ),
            (
                json!({"s3": format!("name: s3\ntype: s3\nparameters: {SECRET_VALUE}\n")}),
                "s3",
                "`parameters` must be a mapping",
            ),
            (
                json!({"s3": format!("{SECRET_VALUE}: [unclosed\n")}),
                "s3",
                "not YAML or JSON",
            ),
            (
                json!({"s3": format!("[{SECRET_VALUE}]")}),
                "s3",
                "must be a mapping",
            ),
            (
                json!({"s3": format!("{good}extra: {SECRET_VALUE}\n")}),
                "s3",
                "unknown field `extra`",
            ),
        ];
        for (data, scheme, want) in cases {
            let e = check_rclone_secret(&secret(data), scheme)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "`{e}` lacks `{want}`");
            assert!(e.contains("Secret financial-ml/harness-models-s3"), "{e}");
            assert!(!e.contains(SECRET_VALUE), "secret value leaked: {e}");
        }
    }
}
