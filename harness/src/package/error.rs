//! Why a secret package could not be packed, extracted, rendered or checked. Never holds secret
//! values.

use std::path::PathBuf;

use crate::kube::ApplyError;

/// Why a package could not be packed, extracted, rendered or checked. Never holds secret values.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Reading or writing a file failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Bad arguments (names, dates).
    #[error("{0}")]
    Invalid(String),
    /// The file name is not `<namespace>-<purpose>-secrets-YYYYMMDD.tar.gz`.
    #[error(
        "`{name}` is not a secret package name for namespace `{namespace}`: expected \
         `{namespace}-<purpose>-secrets-YYYYMMDD.tar.gz`, e.g. `{namespace}-models-secrets-20250704.tar.gz`"
    )]
    NotAPackageName {
        /// The file name.
        name: String,
        /// The namespace it should be for.
        namespace: String,
    },
    /// The archive is not a readable tar.gz.
    #[error("{package}: not a readable .tar.gz package: {message}")]
    Corrupt {
        /// The package.
        package: String,
        /// The decoder's error.
        message: String,
    },
    /// An entry that could write outside the target or is not a plain file/folder.
    #[error("{package}: entry `{entry}` {why}; nothing was extracted")]
    UnsafeEntry {
        /// The package.
        package: String,
        /// The entry's name as stored.
        entry: String,
        /// Why it is rejected.
        why: String,
    },
    /// The uncompressed contents exceed the limit.
    #[error(
        "{package}: uncompressed contents exceed {limit} bytes (checked from the tar headers before \
         inflating); a secret package holds a few small YAML files; nothing was extracted"
    )]
    TooLarge {
        /// The package.
        package: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// Too many entries.
    #[error(
        "{package}: more than {limit} entries; a secret package holds a few small YAML files; nothing was extracted"
    )]
    TooManyEntries {
        /// The package.
        package: String,
        /// The limit.
        limit: usize,
    },
    /// A kustomization is unusable: missing overlay, remote or escaping references.
    #[error("{package}: {file}: {message}; nothing was extracted")]
    Kustomization {
        /// The package.
        package: String,
        /// The kustomization file (relative to the package root).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// `kubectl kustomize` failed.
    #[error("{package}: `kubectl kustomize {overlay}` failed: {message}; nothing was extracted")]
    Kustomize {
        /// The package.
        package: String,
        /// The overlay.
        overlay: String,
        /// The failure (stderr scrubbed of package contents).
        message: String,
    },
    /// A rendered object is for another namespace.
    #[error(
        "{package}: {object} targets namespace `{namespace}`, but this package is for `{expected}`; \
         a package may only hold objects of its own namespace; nothing was extracted"
    )]
    ForeignNamespace {
        /// The package.
        package: String,
        /// The object.
        object: String,
        /// Its namespace.
        namespace: String,
        /// The package's namespace.
        expected: String,
    },
    /// A rendered object is of a kind a package may not hold.
    #[error(
        "{package}: {object} is not allowed in a secret package (allowed: v1 Secret, v1 ConfigMap, bitnami.com/v1alpha1 SealedSecret){hint}; nothing was extracted"
    )]
    KindNotAllowed {
        /// The package.
        package: String,
        /// The object.
        object: String,
        /// Extra advice for known kinds.
        hint: String,
    },
    /// A Secret the scenario says the package provides is not in it.
    #[error(
        "{package}: overlay `{overlay}` does not contain Secret `{secret}` listed under `provides` (it has: {found})"
    )]
    Missing {
        /// The package.
        package: String,
        /// The overlay.
        overlay: String,
        /// The missing Secret.
        secret: String,
        /// The Secrets it has.
        found: String,
    },
    /// An rclone storage Secret is malformed.
    #[error("{secret}{}: {message}", key.as_ref().map(|k| format!(" key `{k}`")).unwrap_or_default())]
    Rclone {
        /// `Secret <ns>/<name>`.
        secret: String,
        /// The data key, if the problem is in one.
        key: Option<String>,
        /// What is wrong (never the value).
        message: String,
    },
    /// A controller certificate is unusable for sealing.
    #[error("certificate {origin}: {message}")]
    Certificate {
        /// Where it came from (file, or the controller's service proxy path).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A Secret could not be sealed, or a SealedSecret is malformed.
    #[error("{secret}{}: {message}", key.as_ref().map(|k| format!(" key `{k}`")).unwrap_or_default())]
    Seal {
        /// `Secret <ns>/<name>` or `SealedSecret <ns>/<name>`.
        secret: String,
        /// The data key, if the problem is in one.
        key: Option<String>,
        /// What is wrong (never the value).
        message: String,
    },
    /// Applying a package object failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}
