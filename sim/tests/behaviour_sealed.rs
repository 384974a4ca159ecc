//! The embedded sealed-secrets controller: its certificate through the API server's service proxy,
//! unsealing by scope, upstream's failure condition and event, and the scope defect.

use std::time::Duration;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use serde_json::{Value, json};
use sim::Platform;
use sim::faults::{Defect, Faults};
use sim::store::{RESOURCES, ResourceType};
use x509_cert::der::{DecodePem, Encode};

const DEADLINE: Duration = Duration::from_secs(10);
const CERT_PATH: &str =
    "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem";

fn rt(kind: &str) -> &'static ResourceType {
    RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}

/// Waits until `check` returns Some, re-checking on every store change.
async fn wait<T>(p: &Platform, what: &str, mut check: impl FnMut(&Platform) -> Option<T>) -> T {
    let mut rx = p.store().subscribe();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check(p) {
            return v;
        }
        if tokio::time::timeout_at(deadline, rx.recv()).await.is_err() {
            return check(p).unwrap_or_else(|| panic!("timed out waiting for {what}"));
        }
    }
}

fn get(p: &Platform, kind: &str, ns: &str, name: &str) -> Option<Value> {
    p.store().get(rt(kind), Some(ns), name)
}

/// Starts a platform with the controller and returns it with the controller's public key,
/// fetched as kubeseal fetches it.
async fn controller(faults: Faults) -> (Platform, RsaPublicKey) {
    let p = Platform::start(faults).unwrap();
    p.install_sealed_secrets().unwrap();
    for ns in ["team-a", "team-b"] {
        p.store()
            .create(rt("Namespace"), json!({"metadata": {"name": ns}}))
            .unwrap();
    }
    wait(&p, "the controller pod Ready", |p| {
        p.store()
            .list(rt("Pod"), Some("kube-system"))
            .0
            .into_iter()
            .find(|pod| {
                pod["metadata"]["labels"]["app.kubernetes.io/name"] == "sealed-secrets"
                    && pod["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
    })
    .await;
    let resp = reqwest::get(format!("{}{CERT_PATH}", p.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let pem = resp.text().await.unwrap();
    let cert = x509_cert::Certificate::from_pem(pem.trim()).unwrap();
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    (p, RsaPublicKey::from_public_key_der(&spki).unwrap())
}

/// Seals one value as kubeseal does (written here from the format's description).
fn seal(key: &RsaPublicKey, value: &[u8], label: &str) -> String {
    let session: [u8; 32] = rand::random();
    let wrapped = key
        .encrypt(
            &mut rand::rngs::OsRng,
            Oaep::new_with_label::<sha2::Sha256, _>(label),
            &session,
        )
        .unwrap();
    let body = Aes256Gcm::new_from_slice(&session)
        .unwrap()
        .encrypt(Nonce::from_slice(&[0u8; 12]), value)
        .unwrap();
    let mut out = (wrapped.len() as u16).to_be_bytes().to_vec();
    out.extend(wrapped);
    out.extend(body);
    base64::engine::general_purpose::STANDARD.encode(out)
}

fn sealed_secret(ns: &str, name: &str, scope: Option<&str>, data: Value) -> Value {
    let mut annotations = json!({});
    if let Some(s) = scope {
        annotations[format!("sealedsecrets.bitnami.com/{s}")] = json!("true");
    }
    json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"encryptedData": data,
                 "template": {"type": "Opaque", "metadata": {"labels": {"team": "a"}, "annotations": annotations}}}})
}

async fn synced(p: &Platform, ns: &str, name: &str, status: &str) -> Value {
    wait(
        p,
        &format!("SealedSecret {ns}/{name} Synced {status}"),
        |p| {
            get(p, "SealedSecret", ns, name).and_then(|s| {
                s["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Synced" && c["status"] == status)
                    .cloned()
            })
        },
    )
    .await
}

fn decoded(secret: &Value, key: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][key].as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn strict_secret_unseals_only_in_its_namespace_with_upstreams_failure() {
    let (p, key) = controller(Faults::default()).await;
    let data = json!({"password": seal(&key, b"s3cr3t", "team-a/creds")});
    let ss = p
        .store()
        .create(
            rt("SealedSecret"),
            sealed_secret("team-a", "creds", None, data.clone()),
        )
        .unwrap();
    synced(&p, "team-a", "creds", "True").await;
    let secret = get(&p, "Secret", "team-a", "creds").expect("unsealed Secret");
    assert_eq!(decoded(&secret, "password"), b"s3cr3t");
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["metadata"]["labels"]["team"], "a");
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), &owner["uid"]),
        (Some("SealedSecret"), &ss["metadata"]["uid"])
    );
    assert_eq!(owner["controller"], true);

    // The same object in another team's namespace: no Secret, upstream's condition and event.
    p.store()
        .create(
            rt("SealedSecret"),
            sealed_secret("team-b", "creds", None, data.clone()),
        )
        .unwrap();
    let cond = synced(&p, "team-b", "creds", "False").await;
    assert_eq!(cond["message"], "no key could decrypt secret (password)");
    let event = wait(&p, "ErrUnsealFailed event", |p| {
        p.store()
            .list(rt("Event"), Some("team-b"))
            .0
            .into_iter()
            .find(|e| e["reason"] == "ErrUnsealFailed")
    })
    .await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(
        event["message"],
        "Failed to unseal: no key could decrypt secret (password)"
    );
    assert_eq!(event["involvedObject"]["kind"], "SealedSecret");
    assert_eq!(event["source"]["component"], "sealed-secrets");
    assert!(get(&p, "Secret", "team-b", "creds").is_none());
    // Renamed in its own namespace: strict scope binds the name too.
    p.store()
        .create(
            rt("SealedSecret"),
            sealed_secret("team-a", "renamed", None, data),
        )
        .unwrap();
    synced(&p, "team-a", "renamed", "False").await;
    assert!(get(&p, "Secret", "team-a", "renamed").is_none());
}

#[tokio::test]
async fn wider_scopes_unseal_where_they_allow() {
    let (p, key) = controller(Faults::default()).await;
    let ns_wide = json!({"k": seal(&key, b"ns", "team-a")});
    for (ns, name, status) in [
        ("team-a", "other-name", "True"),
        ("team-b", "other-name", "False"),
    ] {
        p.store()
            .create(
                rt("SealedSecret"),
                sealed_secret(ns, name, Some("namespace-wide"), ns_wide.clone()),
            )
            .unwrap();
        synced(&p, ns, name, status).await;
        assert_eq!(
            get(&p, "Secret", ns, name).is_some(),
            status == "True",
            "{ns}"
        );
    }
    let cluster = json!({"k": seal(&key, b"cw", ""), "j": seal(&key, b"x", "team-a/x")});
    p.store()
        .create(
            rt("SealedSecret"),
            sealed_secret("team-b", "anywhere", Some("cluster-wide"), cluster),
        )
        .unwrap();
    // One key opens, one does not: the whole Secret is refused, naming the key.
    let cond = synced(&p, "team-b", "anywhere", "False").await;
    assert_eq!(cond["message"], "no key could decrypt secret (j)");
    let only_cw = json!({"k": seal(&key, b"cw", "")});
    p.store()
        .create(
            rt("SealedSecret"),
            sealed_secret("team-b", "anywhere2", Some("cluster-wide"), only_cw),
        )
        .unwrap();
    synced(&p, "team-b", "anywhere2", "True").await;
    assert_eq!(
        decoded(&get(&p, "Secret", "team-b", "anywhere2").unwrap(), "k"),
        b"cw"
    );
}

#[tokio::test]
async fn an_unmanaged_secret_is_not_overwritten() {
    let (p, key) = controller(Faults::default()).await;
    p.store()
        .create(rt("Secret"), json!({"metadata": {"name": "creds", "namespace": "team-a"}, "data": {"password": "b2xk"}}))
        .unwrap();
    let data = json!({"password": seal(&key, b"new", "team-a/creds")});
    p.store()
        .create(
            rt("SealedSecret"),
            sealed_secret("team-a", "creds", None, data),
        )
        .unwrap();
    let cond = synced(&p, "team-a", "creds", "False").await;
    assert_eq!(
        cond["message"],
        "failed update: Resource \"creds\" already exists and is not managed by SealedSecret"
    );
    assert_eq!(
        decoded(&get(&p, "Secret", "team-a", "creds").unwrap(), "password"),
        b"old"
    );
}

#[tokio::test]
async fn scope_defect_unseals_anywhere() {
    let (p, key) = controller(Faults::defect(Defect::SealedSecretsScopeIgnored)).await;
    let data = json!({"password": seal(&key, b"s3cr3t", "team-a/creds")});
    p.store()
        .create(
            rt("SealedSecret"),
            sealed_secret("team-b", "creds", None, data),
        )
        .unwrap();
    synced(&p, "team-b", "creds", "True").await;
    assert_eq!(
        decoded(&get(&p, "Secret", "team-b", "creds").unwrap(), "password"),
        b"s3cr3t"
    );
}

#[tokio::test]
async fn proxy_needs_the_service_and_a_ready_endpoint() {
    let p = Platform::start(Faults::default()).unwrap();
    // No controller installed: the Service does not exist.
    let resp = reqwest::get(format!("{}{CERT_PATH}", p.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let status: Value = resp.json().await.unwrap();
    assert_eq!(
        status["message"],
        "services \"sealed-secrets-controller\" not found"
    );
}
