//! Round trips through an unsealer written here from the format's description, scope labels,
//! kubeseal's object shape, and certificate errors.

use super::*;
use rsa::RsaPrivateKey;

const VALUE: &str = "TEST-ONLY-sealed-value-42";

fn key_pair() -> (RsaPrivateKey, SealingKey) {
    let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let public = SealingKey::from_public_key(private.to_public_key(), "test");
    (private, public)
}

/// Opens `len ‖ RSA-OAEP ‖ AES-GCM` with `label`; `None` when the label or key is wrong.
fn open(private: &RsaPrivateKey, sealed: &[u8], label: &str) -> Option<Vec<u8>> {
    let len = u16::from_be_bytes([sealed[0], sealed[1]]) as usize;
    let session = private
        .decrypt(
            Oaep::new_with_label::<sha2::Sha256, _>(label),
            &sealed[2..2 + len],
        )
        .ok()?;
    Aes256Gcm::new_from_slice(&session)
        .ok()?
        .decrypt(Nonce::from_slice(&[0u8; 12]), &sealed[2 + len..])
        .ok()
}

fn secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "harness-models-s3", "namespace": "financial-ml",
            "labels": {"team": "serving"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": VALUE}},
        "stringData": {"s3": VALUE}, "data": {"other": encode_base64(b"bytes")}})
}

#[test]
fn values_open_only_with_their_scope_label() {
    let (private, key) = key_pair();
    for scope in Scope::ALL {
        let sealed = seal_secret(&secret(), &key, scope, None).unwrap();
        let bytes = decode_base64(sealed["spec"]["encryptedData"]["s3"].as_str().unwrap()).unwrap();
        let own = scope.label("financial-ml", "harness-models-s3");
        assert_eq!(
            open(&private, &bytes, &own).unwrap(),
            VALUE.as_bytes(),
            "{scope}"
        );
        // Every other scope's label, and the same scope elsewhere, must fail.
        for other in [
            "financial-mlops-pytorch/harness-models-s3",
            "financial-ml/renamed",
            "financial-mlops-pytorch",
            "",
            "financial-ml",
            "financial-ml/harness-models-s3",
        ]
        .into_iter()
        .filter(|l| *l != own)
        {
            assert!(
                open(&private, &bytes, other).is_none(),
                "{scope} opened with `{other}`"
            );
        }
        let (other_private, _) = key_pair();
        assert!(
            open(&other_private, &bytes, &own).is_none(),
            "another key opened it"
        );
    }
}

#[test]
fn sealed_object_has_kubeseal_shape() {
    let (_, key) = key_pair();
    let s = seal_secret(&secret(), &key, Scope::NamespaceWide, None).unwrap();
    assert!(is_sealed_secret(&s));
    assert_eq!(s["metadata"]["name"], "harness-models-s3");
    assert_eq!(s["metadata"]["namespace"], "financial-ml");
    assert_eq!(
        s["metadata"]["annotations"][NAMESPACE_WIDE_ANNOTATION],
        "true"
    );
    let t = &s["spec"]["template"];
    assert_eq!(t["type"], "Opaque");
    assert_eq!(t["metadata"]["labels"]["team"], "serving");
    assert_eq!(
        t["metadata"]["annotations"][NAMESPACE_WIDE_ANNOTATION],
        "true"
    );
    assert!(
        t["metadata"]["annotations"]
            .get("kubectl.kubernetes.io/last-applied-configuration")
            .is_none()
    );
    let keys: Vec<&String> = s["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(keys, ["other", "s3"]);
    assert!(
        !s.to_string().contains(VALUE),
        "plaintext leaked into the SealedSecret"
    );
    // Strict carries no annotation; cluster-wide needs no namespace.
    let strict = seal_secret(&secret(), &key, Scope::Strict, None).unwrap();
    assert!(strict["metadata"].get("annotations").is_none());
    assert_eq!(Scope::of(&strict), Scope::Strict);
    let mut anywhere = secret();
    anywhere["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let cw = seal_secret(&anywhere, &key, Scope::ClusterWide, None).unwrap();
    assert_eq!(Scope::of(&cw), Scope::ClusterWide);
    assert!(cw["metadata"].get("namespace").is_none());
}

#[test]
fn refusals_name_the_secret_never_the_value() {
    let (_, key) = key_pair();
    let mut no_ns = secret();
    no_ns["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let e = seal_secret(&no_ns, &key, Scope::Strict, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has no namespace"), "{e}");
    let empty =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "n"}});
    let e = seal_secret(&empty, &key, Scope::Strict, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Secret n/x") && e.contains("no data"), "{e}");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "n"}});
    assert!(
        seal_secret(&cm, &key, Scope::Strict, None)
            .unwrap_err()
            .to_string()
            .contains("only Secrets")
    );
    let mut bad = secret();
    bad["data"]["other"] = json!(format!("{VALUE}!!"));
    let e = seal_secret(&bad, &key, Scope::Strict, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("key `other`") && !e.contains(VALUE), "{e}");
}

#[test]
fn certificates_must_be_pem_rsa() {
    for (pem, want) in [
        (&b"not a cert"[..], "no `-----BEGIN CERTIFICATE-----`"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "unterminated"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "not an X.509",
        ),
    ] {
        let e = SealingKey::from_pem(pem, "cert.pem")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("certificate cert.pem") && e.contains(want),
            "{e}"
        );
    }
}
