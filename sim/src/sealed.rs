//! A sealed-secrets controller (bitnami-labs/sealed-secrets v0.36, docs/seldon-behaviour.md §13):
//! its own RSA key pair kept as a `kubernetes.io/tls` Secret in `kube-system` (created on first
//! use, as the controller does at start), its certificate served at `/v1/cert.pem` through the API
//! server's service proxy to Service `kube-system/sealed-secrets-controller`, and SealedSecrets
//! unsealed by scope into Secrets they own. A wrong namespace or name leaves no Secret and
//! records the controller's failure: condition `Synced` False with the error, and a Warning event
//! `ErrUnsealFailed` `Failed to unseal: no key could decrypt secret (<keys>)`.

mod controller;
mod crypto;
mod install;
mod keys;
mod proxy;

pub(crate) use controller::reconcile;
pub use crypto::{hybrid_decrypt, label_for};
pub use install::{CONTROLLER_NAME, CONTROLLER_NAMESPACE, crd, install};
pub use keys::{active_certificate_pem, ensure_key};
pub use proxy::{proxy_target, service_proxy};
