//! An S3-compatible artifact store for the harness's own sample models on kind.
//!
//! MinIO runs as a testcontainers container attached to the `kind` Docker network (the network
//! kind puts its nodes on), so pods reach it at `http://<container IP on kind>:9000` without any
//! port mapping; the host reaches it through a mapped port. The artifacts under
//! `scenarios/models/` are copied into the container and uploaded into the `models` bucket with
//! the `mc` client shipped in the MinIO image. Seldon's agents read them through rclone, so the
//! credentials are delivered as an rclone Secret package (`package::store`). The container is
//! removed when [`ModelStore`] is dropped.

use std::net::IpAddr;
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;

pub use crate::package::store::{
    Credentials, RCLONE_REMOTE, StoreAccess, StoreError, package_folder, rclone_secret,
};
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
/// Where the artifacts are copied inside the container before upload.
const SEED_DIR: &str = "/seed/models";

/// Model store failures.
#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    /// Generating the credentials or their package failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
            .with_env_var("MINIO_ROOT_PASSWORD", credentials.secret_key().to_string())
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
            self.credentials.access_key,
            self.credentials.secret_key()
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
                .replace(self.credentials.secret_key(), "<redacted>");
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

    /// The store as rclone Secrets in team namespaces reach it: its endpoint on the kind network
    /// and its keys (working Secrets are generated with them, Secrets broken on purpose point at
    /// it).
    pub fn access(&self) -> StoreAccess {
        StoreAccess {
            endpoint: self.cluster_endpoint.clone(),
            credentials: self.credentials.clone(),
        }
    }

    /// The rclone Secret a team namespace needs to read the models (reference it from Model
    /// `spec.secretName`, or preload it via SeldonRuntime `config.agentConfig.rclone.config_secrets`).
    pub fn rclone_secret(&self, name: &str, namespace: &str) -> Secret {
        rclone_secret(name, namespace, &self.cluster_endpoint, &self.credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_published_under_the_s3_remote() {
        assert_eq!(ModelStore::storage_uri("/iris/v1"), "s3://models/iris/v1");
    }
}
