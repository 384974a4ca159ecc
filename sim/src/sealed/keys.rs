//! The controller's key pair, stored as upstream stores it: a `kubernetes.io/tls` Secret
//! `sealed-secrets-key<random>` in the controller's namespace, labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key: active`, holding `tls.crt` (PEM certificate) and
//! `tls.key` (PEM PKCS#1 private key) (`pkg/controller/keys.go` `writeKey`).

use std::time::Duration;

use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::EncodePublicKey;
use serde_json::{Value, json};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::EncodePem;
use x509_cert::der::pem::LineEnding;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use super::install::CONTROLLER_NAMESPACE;
use crate::control::objects::res;
use crate::store::Store;

/// The label that marks the controller's key Secrets.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// Upstream uses 4096-bit keys; 2048 keeps start-up fast here and changes no behaviour the
/// harness relies on (the format carries the RSA ciphertext length).
const KEY_BITS: usize = 2048;
/// `--key-ttl` default: ten years.
const VALID_FOR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn active_keys(store: &Store) -> Vec<Value> {
    let (secrets, _) = store.list(res("Secret"), Some(CONTROLLER_NAMESPACE));
    secrets
        .into_iter()
        .filter(|s| s["metadata"]["labels"][KEY_LABEL] == "active")
        .collect()
}

fn field(secret: &Value, key: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = secret["data"][key].as_str()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The private keys of every active key Secret (what the controller decrypts with).
pub fn private_keys(store: &Store) -> Vec<RsaPrivateKey> {
    active_keys(store)
        .iter()
        .filter_map(|s| field(s, "tls.key"))
        .filter_map(|pem| String::from_utf8(pem).ok())
        .filter_map(|pem| RsaPrivateKey::from_pkcs1_pem(&pem).ok())
        .collect()
}

/// The newest active certificate, PEM (what `/v1/cert.pem` serves).
pub fn active_certificate_pem(store: &Store) -> Option<Vec<u8>> {
    let mut keys = active_keys(store);
    keys.sort_by(|a, b| {
        a["metadata"]["creationTimestamp"]
            .as_str()
            .cmp(&b["metadata"]["creationTimestamp"].as_str())
    });
    keys.last().and_then(|s| field(s, "tls.crt"))
}

/// Creates the key Secret unless one exists (the controller does this at start).
pub fn ensure_key(store: &Store) -> anyhow::Result<()> {
    use base64::Engine;
    if !active_keys(store).is_empty() {
        return Ok(());
    }
    let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)?;
    let cert_pem = self_signed(&private)?;
    let key_pem = private.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"generateName": "sealed-secrets-key", "namespace": CONTROLLER_NAMESPACE,
                     "labels": {KEY_LABEL: "active"}},
        "data": {"tls.crt": b64(cert_pem.as_bytes()), "tls.key": b64(key_pem.as_bytes())},
    });
    // Another pass may have won the race; one active key is enough.
    if active_keys(store).is_empty() {
        store
            .create(res("Secret"), secret)
            .map_err(|e| anyhow::anyhow!("storing the sealing key failed: {e}"))?;
    }
    Ok(())
}

/// A self-signed certificate for the key (upstream: empty CN unless `--my-cn`, ten years).
fn self_signed(private: &RsaPrivateKey) -> anyhow::Result<String> {
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private.clone());
    let spki_der = private.to_public_key().to_public_key_der()?;
    let spki = SubjectPublicKeyInfoOwned::try_from(spki_der.as_bytes())?;
    let serial = SerialNumber::new(&rand::random::<[u8; 8]>().map(|b| b & 0x7f))?;
    let builder = CertificateBuilder::new(
        Profile::Root,
        serial,
        Validity::from_now(VALID_FOR)?,
        Name::default(),
        spki,
        &signer,
    )?;
    let cert = builder.build::<rsa::pkcs1v15::Signature>()?;
    Ok(cert.to_pem(LineEnding::LF)?)
}
