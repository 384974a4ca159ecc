//! SealedSecret compatibility with an independent implementation: kubesealpy (PyPI, on
//! `cryptography`) and a decryptor in `ci/sealed_compat.py` open what the harness sealed, and the
//! embedded controller opens what kubesealpy sealed, for every scope.
//!
//! Needs `HARNESS_KUBESEALPY` (a Python with kubesealpy: `bash ci/kubesealpy-venv.sh`); without it
//! the tests say so and pass, unless `HARNESS_REQUIRE_KUBESEALPY=1` (CI) makes that a failure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use harness::package::seal::{Scope, SealingKey, seal_secret};
use serde_json::{Value, json};
use sim::store::{RESOURCES, ResourceType};

const VALUES: &[(&str, &[u8])] = &[
    (
        "s3",
        b"type: s3\nname: s3\nparameters: {secret_access_key: TEST-ONLY}\n",
    ),
    ("binary", &[0, 159, 146, 150, 255]),
];

fn python() -> Option<PathBuf> {
    match std::env::var_os("HARNESS_KUBESEALPY") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("HARNESS_REQUIRE_KUBESEALPY").is_ok_and(|v| v == "1") => {
            panic!(
                "HARNESS_REQUIRE_KUBESEALPY=1 but HARNESS_KUBESEALPY is not set (bash ci/kubesealpy-venv.sh)"
            )
        }
        None => {
            eprintln!(
                "skipped: HARNESS_KUBESEALPY is not set (export HARNESS_KUBESEALPY=\"$(bash ci/kubesealpy-venv.sh)\")"
            );
            None
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/sealed_compat.py")
}

/// Runs the independent side; returns stdout, panics with stderr on failure.
fn independent(python: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(python)
        .arg(script())
        .args(args)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "ci/sealed_compat.py {} failed: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn values_json() -> Value {
    VALUES
        .iter()
        .map(|(k, v)| (k.to_string(), json!(b64(v))))
        .collect()
}

fn secret(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": name, "namespace": ns}, "data": values_json()})
}

#[test]
fn kubesealpy_unseals_what_the_harness_sealed_for_every_scope() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // A 4096-bit key and certificate made by `cryptography`, as upstream's controller sizes them.
    independent(&py, &["keygen", d]);
    let key = SealingKey::from_pem(
        &std::fs::read(dir.path().join("cert.pem")).unwrap(),
        "cert.pem",
    )
    .unwrap();
    std::fs::write(dir.path().join("expected.json"), values_json().to_string()).unwrap();
    for scope in Scope::ALL {
        let sealed = seal_secret(&secret("financial-ml", "creds"), &key, scope, None).unwrap();
        let file = dir.path().join(format!("sealed-{scope}.json"));
        std::fs::write(&file, sealed.to_string()).unwrap();
        let out = independent(
            &py,
            &[
                "unseal",
                &format!("{d}/key.pem"),
                file.to_str().unwrap(),
                &format!("{d}/expected.json"),
            ],
        );
        assert_eq!(out.trim(), "ok 2 values", "{scope}");
        // Moved to another namespace, a strict or namespace-wide value must not open.
        if scope != Scope::ClusterWide {
            let mut moved = sealed.clone();
            moved["metadata"]["namespace"] = json!("financial-mlops-pytorch");
            std::fs::write(&file, moved.to_string()).unwrap();
            let out = std::process::Command::new(&py)
                .arg(script())
                .args([
                    "unseal",
                    &format!("{d}/key.pem"),
                    file.to_str().unwrap(),
                    &format!("{d}/expected.json"),
                ])
                .output()
                .unwrap();
            assert!(
                !out.status.success(),
                "{scope} value opened in another namespace"
            );
        }
    }
}

fn rt(kind: &str) -> &'static ResourceType {
    RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}

async fn wait<T>(
    p: &sim::Platform,
    what: &str,
    mut check: impl FnMut(&sim::Platform) -> Option<T>,
) -> T {
    let mut rx = p.store().subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check(p) {
            return v;
        }
        if tokio::time::timeout_at(deadline, rx.recv()).await.is_err() {
            return check(p).unwrap_or_else(|| panic!("timed out waiting for {what}"));
        }
    }
}

#[tokio::test]
async fn embedded_controller_and_kubesealpy_open_each_others_values() {
    let Some(py) = python() else { return };
    let p = sim::Platform::start(Default::default()).unwrap();
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
    // The certificate as kubeseal (and the harness) fetch it: through the service proxy.
    let config = kube::Config::new(p.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let pem = harness::kube::sealed::fetch_certificate(
        &client,
        "kube-system",
        "sealed-secrets-controller",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, &pem).unwrap();
    std::fs::write(dir.path().join("values.json"), values_json().to_string()).unwrap();

    // kubesealpy seals, the embedded controller unseals (and refuses the moved strict one).
    for scope in Scope::ALL {
        let name = format!("from-python-{scope}");
        let out = independent(
            &py,
            &[
                "seal",
                cert.to_str().unwrap(),
                scope.name(),
                "team-a",
                &name,
                dir.path().join("values.json").to_str().unwrap(),
            ],
        );
        let sealed: Value = serde_json::from_str(&out).unwrap();
        p.store()
            .create(rt("SealedSecret"), sealed.clone())
            .unwrap();
        let s = wait(&p, &format!("Secret team-a/{name}"), |p| {
            p.store().get(rt("Secret"), Some("team-a"), &name)
        })
        .await;
        for (k, v) in VALUES {
            assert_eq!(s["data"][k], json!(b64(v)), "{scope} key {k}");
        }
        if scope != Scope::ClusterWide {
            let mut moved = sealed;
            moved["metadata"]["namespace"] = json!("team-b");
            p.store().create(rt("SealedSecret"), moved).unwrap();
            let cond = wait(&p, "Synced False in team-b", |p| {
                p.store()
                    .get(rt("SealedSecret"), Some("team-b"), &name)
                    .and_then(|o| {
                        o["status"]["conditions"]
                            .as_array()?
                            .iter()
                            .find(|c| c["status"] == "False")
                            .cloned()
                    })
            })
            .await;
            assert!(
                cond["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("no key could decrypt secret"),
                "{cond}"
            );
        }
    }

    // The harness seals with the controller's certificate; kubesealpy opens with the controller's key.
    let key_secret = p
        .store()
        .list(rt("Secret"), Some("kube-system"))
        .0
        .into_iter()
        .find(|s| {
            s["metadata"]["labels"]["sealedsecrets.bitnami.com/sealed-secrets-key"] == "active"
        })
        .expect("the controller's key Secret");
    let key_pem = base64::engine::general_purpose::STANDARD
        .decode(key_secret["data"]["tls.key"].as_str().unwrap())
        .unwrap();
    std::fs::write(dir.path().join("key.pem"), key_pem).unwrap();
    let key = SealingKey::from_pem(&pem, "proxy").unwrap();
    for scope in Scope::ALL {
        let sealed = seal_secret(&secret("team-a", "from-harness"), &key, scope, None).unwrap();
        let file = dir.path().join("sealed.json");
        std::fs::write(&file, sealed.to_string()).unwrap();
        let out = independent(
            &py,
            &[
                "unseal",
                dir.path().join("key.pem").to_str().unwrap(),
                file.to_str().unwrap(),
                dir.path().join("values.json").to_str().unwrap(),
            ],
        );
        assert_eq!(out.trim(), "ok 2 values", "{scope}");
    }
}
