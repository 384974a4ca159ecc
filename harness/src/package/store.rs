//! Secret packages that give a team a model store's credentials: the rclone Secret in Seldon's
//! format (one key holding `{name, type, parameters}`; `name` must equal the storageUri scheme,
//! here `s3`) and the package folder delivering it, and which of a scenario's packages a target
//! with its own store replaces. Used by every target that runs a model store (kind's MinIO, the
//! embedded platform's store), so both deliver credentials the same way.
//!
//! Credentials are random per store, never logged, and only leave this module inside the Secret
//! object, written to files of mode 0600 inside the run's private state folder.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::scenario::Scenario;

/// The rclone remote name, i.e. the storageUri scheme models use (`s3://models/...`).
pub const RCLONE_REMOTE: &str = "s3";

/// Failures writing a store's credentials package.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No randomness for credentials.
    #[error("could not generate credentials: {0}")]
    Random(String),
    /// Writing the credentials package failed.
    #[error("writing the model store's secret package: {0}")]
    Package(String),
}

/// Access key and secret of the store; `Debug` never shows the secret.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key: String,
    secret_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Fresh random credentials.
    pub fn random() -> Result<Self, StoreError> {
        Ok(Self {
            access_key: format!("harness-{}", random_hex(6)?),
            secret_key: random_hex(24)?,
        })
    }

    /// The secret key (for the rclone Secret only).
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a secret-package folder (`<dir>/<namespace>-models/<overlay>/{kustomization,secret}.yaml`)
/// delivering the store's rclone Secret `name` to a team namespace, so the credentials reach the
/// cluster the way the seed's teams receive theirs: as a package, applied by the harness's one
/// package path. Returns the folder (pack it, or give it to the run as a package override).
pub fn package_folder(
    dir: &Path,
    namespace: &str,
    overlay: &str,
    secret: &Secret,
) -> Result<std::path::PathBuf, StoreError> {
    let root = dir.join(format!("{namespace}-models"));
    let overlay_dir = root.join(overlay);
    let io = |e: std::io::Error| StoreError::Package(format!("{}: {e}", overlay_dir.display()));
    std::fs::create_dir_all(&overlay_dir).map_err(io)?;
    let mut secret = secret.clone();
    // The package applies to its namespace; kustomize sets it, the object need not.
    secret.metadata.namespace = None;
    let yaml = serde_norway::to_string(&serde_json::to_value(&secret).expect("Secret serialises"))
        .expect("YAML serialises");
    let kustomization = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - secret.yaml\n"
    );
    std::fs::write(overlay_dir.join("kustomization.yaml"), kustomization).map_err(io)?;
    let path = overlay_dir.join("secret.yaml");
    std::fs::write(&path, yaml).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(root)
}

/// Seldon's rclone storage Secret (docs-gb/kubernetes/storage-secrets.md): exactly one key whose
/// value is `{name, type, parameters}`; the key name is free, `name` must be the storageUri scheme.
pub fn rclone_secret(
    name: &str,
    namespace: &str,
    endpoint: &str,
    credentials: &Credentials,
) -> Secret {
    let config = serde_json::json!({
        "name": RCLONE_REMOTE,
        "type": "s3",
        "parameters": {
            "provider": "minio",
            "env_auth": false,
            "access_key_id": credentials.access_key,
            "secret_access_key": credentials.secret_key,
            "endpoint": endpoint,
        },
    });
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                crate::kube::MANAGED_BY_LABEL.to_string(),
                crate::kube::FIELD_MANAGER.to_string(),
            )])),
            ..Default::default()
        },
        type_: Some("Opaque".to_string()),
        string_data: Some(BTreeMap::from([(
            RCLONE_REMOTE.to_string(),
            serde_json::to_string(&config).expect("JSON serialises"),
        )])),
        ..Default::default()
    }
}

/// The packages a target with its own model store supplies instead of the scenario's, by
/// (namespace, Secret): for every team whose Models read one of the scenario's artifacts (except
/// Models a `modelLoadFails` check expects to fail: their Secrets stay as packaged), each
/// Secret its packages provide that those Models (`spec.secretName`) or its runtime
/// (`config.agentConfig.rclone.config_secrets`) name is delivered from a package generated with
/// `secret_for(name, namespace)`, written under `dir`.
pub fn store_packages(
    scenario: &Scenario,
    dir: &Path,
    secret_for: impl Fn(&str, &str) -> Secret,
) -> Result<BTreeMap<(String, String), PathBuf>, StoreError> {
    let mut out = BTreeMap::new();
    let uris: std::collections::BTreeSet<&str> = scenario
        .doc
        .spec
        .artifacts
        .iter()
        .map(|a| a.storage_uri.as_str())
        .collect();
    for team in &scenario.doc.spec.teams {
        let models: Vec<&serde_json::Value> = team
            .models
            .iter()
            .filter(|m| {
                m["spec"]["storageUri"]
                    .as_str()
                    .is_some_and(|u| uris.contains(u))
                    // Broken on purpose: delivered as the package has it.
                    && !scenario.expects_load_failure(
                        &team.namespace,
                        m["metadata"]["name"].as_str().unwrap_or_default(),
                    )
            })
            .collect();
        if models.is_empty() {
            continue;
        }
        let mut names: std::collections::BTreeSet<String> = models
            .iter()
            .filter_map(|m| m["spec"]["secretName"].as_str().map(str::to_string))
            .collect();
        if let Some(rt) = &team.runtime {
            for s in rt["spec"]["config"]["agentConfig"]["rclone"]["config_secrets"]
                .as_array()
                .into_iter()
                .flatten()
            {
                names.extend(s.as_str().map(str::to_string));
            }
        }
        for pkg in &team.secret_packages {
            for secret in pkg.provides.iter().filter(|s| names.contains(*s)) {
                let at = dir.join("model-store").join(&team.namespace).join(secret);
                let folder = package_folder(
                    &at,
                    &team.namespace,
                    &pkg.overlay,
                    &secret_for(secret, &team.namespace),
                )?;
                out.insert((team.namespace.clone(), secret.clone()), folder);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_folder_renders_and_passes_the_package_checks() {
        let creds = Credentials::random().unwrap();
        let secret = rclone_secret(
            "harness-models-s3",
            "team-a",
            "http://172.18.0.5:9000",
            &creds,
        );
        let dir = tempfile::tempdir().unwrap();
        let folder = package_folder(dir.path(), "team-a", "production", &secret).unwrap();
        // The same path a scenario's package takes: pack, extract with the hostile-input checks,
        // render with kubectl kustomize, check namespace, kind and the promised Secret.
        let pkg = crate::scenario::SecretPackageRef {
            path: folder,
            overlay: "production".into(),
            provides: vec!["harness-models-s3".into()],
            seal: None,
        };
        let work = tempfile::tempdir().unwrap();
        let rendered = crate::setup::secrets::prepare(
            &pkg,
            dir.path(),
            "team-a",
            work.path(),
            Some("20250704"),
        )
        .unwrap();
        let refs = crate::setup::secrets::object_refs(&rendered);
        assert_eq!(refs.len(), 1, "{refs:?}");
        assert_eq!(refs[0].to_string(), "Secret team-a/harness-models-s3");
    }

    #[test]
    fn secrets_broken_on_purpose_are_delivered_as_packaged() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios/storage-failures.yaml");
        let scenario = crate::scenario::Scenario::load(&file).unwrap();
        let creds = Credentials::random().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = store_packages(&scenario, dir.path(), |name, ns| {
            rclone_secret(name, ns, "http://172.18.0.5:9000", &creds)
        })
        .unwrap();
        // Only the working Secret gets the target's store; minio-remote and wrong-keys-s3 stay
        // as the scenario wrote them, or their failures would not show.
        let keys: Vec<(String, String)> = out.into_keys().collect();
        assert_eq!(
            keys,
            vec![(
                "storage-failures".to_string(),
                "harness-models-s3".to_string()
            )]
        );
    }

    #[test]
    fn rclone_secret_has_exactly_one_key_in_seldons_shape() {
        let creds = Credentials::random().unwrap();
        let s = rclone_secret("models-s3", "team-a", "http://172.18.0.5:9000", &creds);
        let data = s.string_data.as_ref().unwrap();
        assert_eq!(
            data.len(),
            1,
            "Seldon requires exactly one rclone config per Secret"
        );
        let v: serde_json::Value = serde_json::from_str(&data["s3"]).unwrap();
        assert_eq!(v["name"], "s3");
        assert_eq!(v["type"], "s3");
        assert_eq!(v["parameters"]["endpoint"], "http://172.18.0.5:9000");
        assert_eq!(v["parameters"]["secret_access_key"], creds.secret_key());
        assert!(!format!("{creds:?}").contains(creds.secret_key()));
        assert_ne!(
            creds.secret_key(),
            Credentials::random().unwrap().secret_key()
        );
    }
}
