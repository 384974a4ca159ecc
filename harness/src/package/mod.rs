//! Secret packages as files: dated tar.gz of kustomize overlays (the seed's pattern), their
//! names, safe reading and writing of the archive, packing, Seldon's rclone Secret format, and
//! sealing Secrets into SealedSecrets (kubeseal's format).
//! Applying a package to a namespace is `setup::secrets`.

pub mod archive;
pub mod broken;
pub mod error;
pub mod name;
pub mod pack;
pub mod rclone;
pub mod seal;
pub mod seal_files;
pub mod store;

pub use archive::{Contents, Limits};
pub use error::SecretsError;
pub use name::{PackageName, today};
pub use pack::pack;
pub use rclone::{RcloneRemote, check_rclone_secret, parse_rclone_secret, rclone_config_value};
pub use seal::{Scope, SealingKey, is_sealed_secret, seal_secret};

#[cfg(test)]
mod tests {
    use super::name::PackageName;
    use super::pack::resolve;
    #[test]
    fn package_names() {
        let n = PackageName::parse(
            "financial-mlops-pytorch-ml-secrets-20250704.tar.gz",
            "financial-mlops-pytorch",
        )
        .unwrap();
        assert_eq!((n.purpose.as_str(), n.date.as_str()), ("ml", "20250704"));
        assert_eq!(
            n.file_name(),
            "financial-mlops-pytorch-ml-secrets-20250704.tar.gz"
        );
        assert_eq!(n.mtime(), 1751587200);
        for bad in [
            "financial-ml-models-secrets-20250704.tgz",
            "other-models-secrets-20250704.tar.gz",
            "financial-ml-secrets-20250704.tar.gz",
            "financial-ml-models-secrets-20251304.tar.gz",
            "financial-ml-Models-secrets-20250704.tar.gz",
        ] {
            let e = PackageName::parse(bad, "financial-ml")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("financial-ml-<purpose>-secrets-YYYYMMDD.tar.gz"),
                "{e}"
            );
        }
    }

    #[test]
    fn references_resolve_lexically() {
        assert_eq!(resolve("production", "../base").unwrap(), "base");
        assert_eq!(
            resolve("production", "secret.yaml").unwrap(),
            "production/secret.yaml"
        );
        assert!(resolve("production", "../../x").is_none());
        assert!(resolve("", "/etc").is_none());
    }
}
