//! SealedSecrets as kubeseal writes them (bitnami-labs/sealed-secrets, `pkg/crypto/crypto.go` and
//! `pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go`; docs/seldon-behaviour.md §13).
//!
//! Each value is sealed on its own: a random 32-byte AES-256-GCM session key is encrypted with
//! RSA-OAEP (SHA-256) under the controller's public key, with a label that binds the value to its
//! scope (strict `<namespace>/<name>`, namespace-wide `<namespace>`, cluster-wide empty); the value
//! is encrypted with that session key and a zero nonce (the key is used once). The sealed value
//! is `u16 big-endian RSA ciphertext length ‖ RSA ciphertext ‖ AES-GCM ciphertext+tag`, base64.
//!
//! The cryptography is RustCrypto's (`rsa`, `aes-gcm`, `sha2`, `x509-cert`); nothing here is
//! hand-written beyond the framing. Errors name the Secret and key, never a value.

use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use serde_json::{Map, Value, json};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

use super::error::SecretsError;
use crate::kube::redact::{decode_base64, encode_base64};

/// The SealedSecret `apiVersion`.
pub const SEALED_API_VERSION: &str = "bitnami.com/v1alpha1";
/// The SealedSecret `kind`.
pub const SEALED_KIND: &str = "SealedSecret";
/// Annotation kubeseal sets for the namespace-wide scope (value `"true"`).
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// Annotation kubeseal sets for the cluster-wide scope (value `"true"`).
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// Where kubeseal looks for the controller by default (`--controller-namespace`).
pub const CONTROLLER_NAMESPACE: &str = "kube-system";
/// The controller's Service name kubeseal expects by default (`--controller-name`).
pub const CONTROLLER_NAME: &str = "sealed-secrets-controller";

/// Session key size: AES-256.
const SESSION_KEY_BYTES: usize = 32;
/// GCM's standard nonce size; the nonce is all zeros because each session key seals one value.
const NONCE_BYTES: usize = 12;
/// Annotations that would carry the plain Secret into the SealedSecret (kubeseal strips them).
const LAST_APPLIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// Where a sealed value may be unsealed (defined with the scenario format, which names it).
pub use crate::scenario::SealScope as Scope;

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

    /// kubeseal's `--scope` value.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }

    /// Parses kubeseal's `--scope` value.
    pub fn from_name(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The RSA-OAEP label that binds a value to this scope.
    pub fn label(self, namespace: &str, name: &str) -> String {
        match self {
            Scope::Strict => format!("{namespace}/{name}"),
            Scope::NamespaceWide => namespace.to_string(),
            Scope::ClusterWide => String::new(),
        }
    }

    /// The scope an object's annotations declare (cluster-wide wins, then namespace-wide).
    pub fn of(object: &Value) -> Scope {
        let annotated = |a: &str| object["metadata"]["annotations"][a] == "true";
        if annotated(CLUSTER_WIDE_ANNOTATION) {
            Scope::ClusterWide
        } else if annotated(NAMESPACE_WIDE_ANNOTATION) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// Sets this scope's annotation and removes the other (kubeseal's `UpdateScopeAnnotations`).
    fn annotate(self, annotations: &mut Map<String, Value>) {
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                annotations.insert(NAMESPACE_WIDE_ANNOTATION.into(), json!("true"));
            }
            Scope::ClusterWide => {
                annotations.insert(CLUSTER_WIDE_ANNOTATION.into(), json!("true"));
            }
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A sealed-secrets controller's public key, from its certificate.
#[derive(Debug, Clone)]
pub struct SealingKey {
    key: RsaPublicKey,
    /// Where the certificate came from, for messages.
    pub source: String,
}

impl SealingKey {
    /// Reads the first certificate of a PEM bundle (as kubeseal does): it must hold an RSA key
    /// and must not have expired.
    pub fn from_pem(pem: &[u8], source: &str) -> Result<SealingKey, SecretsError> {
        let err = |m: String| SecretsError::Certificate {
            origin: source.into(),
            message: m,
        };
        let text = std::str::from_utf8(pem).map_err(|_| err("is not PEM text".into()))?;
        let start = text.find("-----BEGIN CERTIFICATE-----").ok_or_else(|| {
            err(
                "holds no `-----BEGIN CERTIFICATE-----` block; expected the controller's cert.pem"
                    .into(),
            )
        })?;
        let end_marker = "-----END CERTIFICATE-----";
        let end = text[start..]
            .find(end_marker)
            .map(|i| start + i + end_marker.len())
            .ok_or_else(|| err("has an unterminated CERTIFICATE block".into()))?;
        let cert = Certificate::from_pem(&text[start..end])
            .map_err(|e| err(format!("is not an X.509 certificate: {e}")))?;
        let not_after = cert.tbs_certificate.validity.not_after.to_unix_duration();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if now > not_after {
            return Err(err(format!(
                "expired {} seconds ago; fetch the controller's current certificate",
                (now - not_after).as_secs()
            )));
        }
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| err(format!("has an unreadable public key: {e}")))?;
        let key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| {
            err("does not hold an RSA public key (sealed-secrets controllers use RSA)".into())
        })?;
        Ok(SealingKey {
            key,
            source: source.into(),
        })
    }

    /// Wraps a public key directly (tests, other tools' keys).
    pub fn from_public_key(key: RsaPublicKey, source: &str) -> SealingKey {
        SealingKey {
            key,
            source: source.into(),
        }
    }

    /// Seals one value for `label`: `len ‖ RSA-OAEP(session key) ‖ AES-256-GCM(value)`.
    pub fn encrypt(&self, plaintext: &[u8], label: &str) -> Result<Vec<u8>, String> {
        let mut rng = rand::rngs::OsRng;
        let mut session = [0u8; SESSION_KEY_BYTES];
        rng.fill_bytes(&mut session);
        let wrapped = self
            .key
            .encrypt(
                &mut rng,
                Oaep::new_with_label::<sha2::Sha256, _>(label),
                &session,
            )
            .map_err(|e| format!("RSA-OAEP encryption failed: {e}"))?;
        let len = u16::try_from(wrapped.len())
            .map_err(|_| "the RSA key is too large for the format's 2-byte length".to_string())?;
        let cipher = Aes256Gcm::new_from_slice(&session).map_err(|e| e.to_string())?;
        let sealed = cipher
            .encrypt(Nonce::from_slice(&[0u8; NONCE_BYTES]), plaintext)
            .map_err(|_| "AES-GCM encryption failed".to_string())?;
        let mut out = Vec::with_capacity(2 + wrapped.len() + sealed.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&sealed);
        Ok(out)
    }
}

/// Whether an object is a SealedSecret.
pub fn is_sealed_secret(object: &Value) -> bool {
    object["apiVersion"] == SEALED_API_VERSION && object["kind"] == SEALED_KIND
}

/// Seals a `v1 Secret` into a `SealedSecret` as kubeseal does (`NewSealedSecret`): every `data`
/// and `stringData` value sealed on its own, the Secret's metadata (without last-applied
/// annotations and owner references), type and immutability kept as the template, and the scope
/// annotation on both. `namespace` is used when the Secret names none.
pub fn seal_secret(
    secret: &Value,
    key: &SealingKey,
    scope: Scope,
    namespace: Option<&str>,
) -> Result<Value, SecretsError> {
    let ns = secret["metadata"]["namespace"]
        .as_str()
        .or(namespace)
        .unwrap_or_default()
        .to_string();
    let name = secret["metadata"]["name"].as_str().unwrap_or_default();
    let who = format!("Secret {}/{}", if ns.is_empty() { "-" } else { &ns }, name);
    let err = |key: Option<&str>, message: String| SecretsError::Seal {
        secret: who.clone(),
        key: key.map(str::to_string),
        message,
    };
    if secret["apiVersion"] != "v1" || secret["kind"] != "Secret" {
        return Err(err(
            None,
            "is not a v1 Secret; only Secrets can be sealed".into(),
        ));
    }
    if name.is_empty() {
        return Err(err(None, "has no metadata.name".into()));
    }
    if ns.is_empty() && scope != Scope::ClusterWide {
        return Err(err(
            None,
            format!("has no namespace; a {scope} SealedSecret is bound to one (pass --namespace)"),
        ));
    }
    let mut values: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(data) = secret["data"].as_object() {
        for (k, v) in data {
            let bytes = v
                .as_str()
                .and_then(decode_base64)
                .ok_or_else(|| err(Some(k), "data value is not base64".into()))?;
            values.push((k.clone(), bytes));
        }
    }
    if let Some(data) = secret["stringData"].as_object() {
        for (k, v) in data {
            let text = v
                .as_str()
                .ok_or_else(|| err(Some(k), "stringData value is not a string".into()))?;
            values.retain(|(e, _)| e != k);
            values.push((k.clone(), text.as_bytes().to_vec()));
        }
    }
    if values.is_empty() {
        return Err(err(
            None,
            "has no data; kubeseal refuses to seal an empty Secret".into(),
        ));
    }
    let label = scope.label(&ns, name);
    let mut encrypted = Map::new();
    for (k, v) in &values {
        let sealed = key.encrypt(v, &label).map_err(|m| err(Some(k), m))?;
        encrypted.insert(k.clone(), Value::String(encode_base64(&sealed)));
    }
    let mut template_meta = secret["metadata"].as_object().cloned().unwrap_or_default();
    for server_set in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "ownerReferences",
    ] {
        template_meta.remove(server_set);
    }
    if !ns.is_empty() {
        template_meta.insert("namespace".into(), json!(ns));
    }
    let mut template_annotations = template_meta
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for a in LAST_APPLIED {
        template_annotations.remove(*a);
    }
    scope.annotate(&mut template_annotations);
    if template_annotations.is_empty() {
        template_meta.remove("annotations");
    } else {
        template_meta.insert("annotations".into(), Value::Object(template_annotations));
    }
    let mut template = json!({"metadata": template_meta});
    if let Some(t) = secret.get("type") {
        template["type"] = t.clone();
    }
    if let Some(i) = secret.get("immutable") {
        template["immutable"] = i.clone();
    }
    let mut annotations = Map::new();
    scope.annotate(&mut annotations);
    let mut metadata = json!({"name": name});
    if !ns.is_empty() {
        metadata["namespace"] = json!(ns);
    }
    if !annotations.is_empty() {
        metadata["annotations"] = Value::Object(annotations);
    }
    Ok(json!({
        "apiVersion": SEALED_API_VERSION,
        "kind": SEALED_KIND,
        "metadata": metadata,
        "spec": {"template": template, "encryptedData": encrypted},
    }))
}

#[cfg(test)]
mod tests;
