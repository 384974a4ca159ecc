//! Secret packages that give a team a model store's credentials: the rclone Secret in Seldon's
//! format (one key holding `{name, type, parameters}`; `name` must equal the storageUri scheme,
//! here `s3`) and the package folder delivering it, and which of a scenario's packages a target
//! with its own store replaces. Used by every target that runs a model store (kind's MinIO, the
//! embedded platform's store), so both deliver credentials the same way.
//!
//! Credentials are random per store, never logged, and only leave this module inside the Secret
//! object, written to files of mode 0600 inside the run's private state folder, or inside a
//! Secret broken on purpose that setup points at the store (`package::broken`).

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

/// A target's model store as the rclone Secrets in team namespaces reach it.
#[derive(Clone, Debug)]
pub struct StoreAccess {
    /// The S3 endpoint pods dial (kind: the MinIO container on the kind network; embedded: the
    /// platform's `minio.harness-model-store` Service).
    pub endpoint: String,
    /// The only keys the store accepts (random per store).
    pub credentials: Credentials,
}

/// What a target with its own model store supplies for a scenario's storage Secrets.
#[derive(Clone, Debug, Default)]
pub struct PackageOverrides {
    /// Generated packages applied instead of the scenario's, by (namespace, provided Secret).
    pub packages: BTreeMap<(String, String), PathBuf>,
    /// The store that Secrets broken on purpose (`brokenOnPurpose`) are pointed at; `None`: the
    /// target has no store of its own (existing clusters) and applies them as packaged.
    pub store: Option<StoreAccess>,
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

/// The value of Seldon's rclone storage Secret for an S3-compatible store (MinIO):
/// `{name, type, parameters}` with the remote `remote`, the store's endpoint and the given keys.
pub fn rclone_config(
    remote: &str,
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
) -> serde_json::Value {
    serde_json::json!({
        "name": remote,
        "type": "s3",
        "parameters": {
            "provider": "minio",
            "env_auth": false,
            "access_key_id": access_key,
            "secret_access_key": secret_key,
            "endpoint": endpoint,
        },
    })
}

/// Seldon's rclone storage Secret (docs-gb/kubernetes/storage-secrets.md): exactly one key whose
/// value is `{name, type, parameters}`; the key name is free, `name` must be the storageUri scheme.
pub fn rclone_secret(
    name: &str,
    namespace: &str,
    endpoint: &str,
    credentials: &Credentials,
) -> Secret {
    let config = rclone_config(
        RCLONE_REMOTE,
        endpoint,
        &credentials.access_key,
        &credentials.secret_key,
    );
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
/// (namespace, Secret), and the store itself: for every team whose Models read one of the
/// scenario's artifacts, each Secret its packages provide that those Models (`spec.secretName`)
/// or its runtime (`config.agentConfig.rclone.config_secrets`) name is delivered from a package
/// generated with the store's endpoint and keys, written under `dir`. Secrets a package declares
/// `brokenOnPurpose` are not generated: setup points them at `store` keeping their wrong part
/// (`package::broken`).
pub fn store_packages(
    scenario: &Scenario,
    dir: &Path,
    store: &StoreAccess,
) -> Result<PackageOverrides, StoreError> {
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
            let working = pkg
                .provides
                .iter()
                .filter(|s| names.contains(*s) && !pkg.broken_on_purpose.contains_key(*s));
            for secret in working {
                let at = dir.join("model-store").join(&team.namespace).join(secret);
                let folder = package_folder(
                    &at,
                    &team.namespace,
                    &pkg.overlay,
                    &rclone_secret(secret, &team.namespace, &store.endpoint, &store.credentials),
                )?;
                out.insert((team.namespace.clone(), secret.clone()), folder);
            }
        }
    }
    Ok(PackageOverrides {
        packages: out,
        store: Some(store.clone()),
    })
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
            broken_on_purpose: Default::default(),
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
    fn secrets_broken_on_purpose_are_not_generated() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios/storage-failures.yaml");
        let scenario = crate::scenario::Scenario::load(&file).unwrap();
        let creds = Credentials::random().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = StoreAccess {
            endpoint: "http://172.18.0.5:9000".into(),
            credentials: creds,
        };
        let out = store_packages(&scenario, dir.path(), &store).unwrap();
        // Only the working Secret is generated whole; minio-remote and wrong-keys-s3 keep their
        // package (setup points them at `out.store`, keeping their wrong part).
        assert_eq!(
            out.store.as_ref().map(|s| s.endpoint.as_str()),
            Some("http://172.18.0.5:9000")
        );
        let keys: Vec<(String, String)> = out.packages.into_keys().collect();
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
