//! Opening sealed values: the controller's side of kubeseal's hybrid format
//! (`pkg/crypto/crypto.go` `HybridDecrypt`), written from its description with RustCrypto crates.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rsa::{Oaep, RsaPrivateKey};
use serde_json::Value;

/// The annotation that makes a SealedSecret namespace-wide.
pub const NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// The annotation that makes a SealedSecret cluster-wide.
pub const CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// The RSA-OAEP label a SealedSecret is opened with, from its own metadata (`labelFor` on the
/// object's meta): cluster-wide empty, namespace-wide `<namespace>`, else `<namespace>/<name>`.
pub fn label_for(sealed: &Value) -> String {
    let annotated = |a: &str| sealed["metadata"]["annotations"][a] == "true";
    let ns = sealed["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = sealed["metadata"]["name"].as_str().unwrap_or_default();
    if annotated(CLUSTER_WIDE) {
        String::new()
    } else if annotated(NAMESPACE_WIDE) {
        ns.to_string()
    } else {
        format!("{ns}/{name}")
    }
}

/// Upstream's error texts.
pub(crate) const TOO_SHORT: &str = "SealedSecret data is too short";
/// Returned when no key (or, here, no allowed label) opens a value.
pub(crate) const NO_KEY: &str = "no key could decrypt secret";

/// Opens `len ‖ RSA-OAEP(session key) ‖ AES-256-GCM(value)` with any of `keys` and the first of
/// `labels` that works; the error is upstream's wording.
pub fn hybrid_decrypt(
    keys: &[RsaPrivateKey],
    sealed: &[u8],
    labels: &[String],
) -> Result<Vec<u8>, &'static str> {
    if sealed.len() < 2 {
        return Err(TOO_SHORT);
    }
    let len = u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
    if sealed.len() < len + 2 {
        return Err(TOO_SHORT);
    }
    let (wrapped, body) = (&sealed[2..2 + len], &sealed[2 + len..]);
    for key in keys {
        for label in labels {
            let Ok(session) = key.decrypt(
                Oaep::new_with_label::<sha2::Sha256, _>(label.as_str()),
                wrapped,
            ) else {
                continue;
            };
            let Ok(cipher) = Aes256Gcm::new_from_slice(&session) else {
                continue;
            };
            if let Ok(plain) = cipher.decrypt(Nonce::from_slice(&[0u8; 12]), body) {
                return Ok(plain);
            }
        }
    }
    Err(NO_KEY)
}
