//! An S3-compatible artifact store for the harness's own sample models on kind.
//!
//! MinIO runs as a testcontainers container attached to the `kind` Docker network (the network
//! kind puts its nodes on), so pods reach it at `http://<container IP on kind>:9000` without any
//! port mapping; the host reaches it through a mapped port. The artifacts under
//! `scenarios/models/` are copied into the container and uploaded into the `models` bucket with
//! the `mc` client shipped in the MinIO image. Seldon's agents read them through rclone, so the
//! credentials are delivered as an rclone Secret in Seldon's format (one key holding
//! `{name, type, parameters}`; `name` must equal the storageUri scheme, here `s3`).
//!
//! Credentials are random per store, never logged, and only leave this module inside the Secret
//! object. The container is removed when [`ModelStore`] is dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use testcontainers_modules::minio::MinIO;
use testcontainers_modules::testcontainers::core::ExecCommand;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

/// Docker network kind attaches its nodes to.
pub const KIND_NETWORK: &str = "kind";
/// Bucket holding the sample models.
pub const BUCKET: &str = "models";
/// MinIO's S3 API port inside the container.
pub const API_PORT: u16 = 9000;
/// The rclone remote name, i.e. the storageUri scheme models use (`s3://models/...`).
pub const RCLONE_REMOTE: &str = "s3";
/// Where the artifacts are copied inside the container before upload.
const SEED_DIR: &str = "/seed/models";

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
    pub fn random() -> Result<Self, ModelStoreError> {
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

fn random_hex(bytes: usize) -> Result<String, ModelStoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| ModelStoreError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Model store failures.
#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    /// No randomness for credentials.
    #[error("could not generate credentials: {0}")]
    Random(String),
    /// The artifacts directory is missing.
    #[error(
        "model artifacts directory {0} does not exist (expected scenarios/models/ in the repository)"
    )]
    NoArtifacts(String),
    /// Docker/testcontainers failed.
    #[error(
        "MinIO container: {0}. Is Docker running, and does the `kind` network exist (create the kind cluster first)?"
    )]
    Container(String),
    /// Writing the credentials package failed.
    #[error("writing the model store's secret package: {0}")]
    Package(String),
    /// Uploading failed.
    #[error("uploading model artifacts into MinIO failed (exit {code:?}): {stderr}")]
    Upload {
        /// Exit code of `mc`.
        code: Option<i64>,
        /// Its stderr (no credentials: they travel in the environment).
        stderr: String,
    },
}

/// A running MinIO holding the sample models; dropping it removes the container.
pub struct ModelStore {
    container: ContainerAsync<MinIO>,
    credentials: Credentials,
    cluster_endpoint: String,
}

impl ModelStore {
    /// Starts MinIO on the kind network and uploads every file under `models_dir` to `s3://models/`.
    pub async fn start(models_dir: &Path) -> Result<Self, ModelStoreError> {
        if !models_dir.is_dir() {
            return Err(ModelStoreError::NoArtifacts(
                models_dir.display().to_string(),
            ));
        }
        let credentials = Credentials::random()?;
        let container = MinIO::default()
            .with_env_var("MINIO_ROOT_USER", credentials.access_key.clone())
            .with_env_var("MINIO_ROOT_PASSWORD", credentials.secret_key.clone())
            .with_network(KIND_NETWORK)
            .with_copy_to(SEED_DIR, models_dir.to_path_buf())
            .with_startup_timeout(std::time::Duration::from_secs(120))
            .start()
            .await
            .map_err(|e| ModelStoreError::Container(e.to_string()))?;
        let ip: IpAddr = container
            .get_bridge_ip_address()
            .await
            .map_err(|e| ModelStoreError::Container(e.to_string()))?;
        let store = Self {
            container,
            cluster_endpoint: format!("http://{ip}:{API_PORT}"),
            credentials,
        };
        store.upload().await?;
        Ok(store)
    }

    async fn upload(&self) -> Result<(), ModelStoreError> {
        // `mc` reads the alias from MC_HOST_<alias>, so credentials never appear in a command line
        // (testcontainers logs exec commands).
        let host = format!(
            "http://{}:{}@127.0.0.1:{API_PORT}",
            self.credentials.access_key, self.credentials.secret_key
        );
        let script = format!(
            "mc mb --ignore-existing local/{BUCKET} && mc cp --recursive {SEED_DIR}/ local/{BUCKET}/"
        );
        let mut result = self
            .container
            .exec(
                ExecCommand::new(["sh", "-c", script.as_str()])
                    .with_env_vars([("MC_HOST_local", host.as_str())])
                    .with_cmd_ready_condition(
                        testcontainers_modules::testcontainers::core::CmdWaitFor::exit(),
                    ),
            )
            .await
            .map_err(|e| ModelStoreError::Container(e.to_string()))?;
        let code = result
            .exit_code()
            .await
            .map_err(|e| ModelStoreError::Container(e.to_string()))?;
        if code != Some(0) {
            let stderr = result.stderr_to_vec().await.unwrap_or_default();
            let stderr = String::from_utf8_lossy(&stderr)
                .replace(self.credentials.secret_key.as_str(), "<redacted>");
            return Err(ModelStoreError::Upload { code, stderr });
        }
        Ok(())
    }

    /// The store's address on the kind network (what pods dial, and what `ipBlock` rules see).
    pub fn cluster_address(&self) -> Option<std::net::SocketAddrV4> {
        self.cluster_endpoint
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
    }

    /// The S3 endpoint as pods on kind reach it.
    pub fn cluster_endpoint(&self) -> &str {
        &self.cluster_endpoint
    }

    /// The S3 endpoint as the host reaches it (through the mapped port).
    pub async fn host_endpoint(&self) -> Result<String, ModelStoreError> {
        let port = self
            .container
            .get_host_port_ipv4(API_PORT)
            .await
            .map_err(|e| ModelStoreError::Container(e.to_string()))?;
        Ok(format!("http://127.0.0.1:{port}"))
    }

    /// The storageUri of an artifact uploaded from `models_dir/<relative>`.
    pub fn storage_uri(relative: &str) -> String {
        format!(
            "{RCLONE_REMOTE}://{BUCKET}/{}",
            relative.trim_start_matches('/')
        )
    }

    /// The rclone Secret a team namespace needs to read the models (reference it from Model
    /// `spec.secretName`, or preload it via SeldonRuntime `config.agentConfig.rclone.config_secrets`).
    pub fn rclone_secret(&self, name: &str, namespace: &str) -> Secret {
        rclone_secret(name, namespace, &self.cluster_endpoint, &self.credentials)
    }
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
) -> Result<std::path::PathBuf, ModelStoreError> {
    let root = dir.join(format!("{namespace}-models"));
    let overlay_dir = root.join(overlay);
    let io =
        |e: std::io::Error| ModelStoreError::Package(format!("{}: {e}", overlay_dir.display()));
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
        assert_eq!(ModelStore::storage_uri("/iris/v1"), "s3://models/iris/v1");
        assert_ne!(
            creds.secret_key(),
            Credentials::random().unwrap().secret_key()
        );
    }
}
