//! `harness secrets seal` and `harness secrets pack --seal` with a certificate file: the output
//! holds no plaintext and the embedded controller that owns the certificate unseals it.

use std::process::Command;
use std::time::Duration;

use harness::package::Limits;
use harness::setup::secrets;
use serde_json::{Value, json};
use sim::store::{RESOURCES, ResourceType};

const VALUE: &str = "TEST-ONLY-cli-sealed-value-77";

fn rt(kind: &str) -> &'static ResourceType {
    RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A platform with the controller's key created, and its certificate written to `dir/cert.pem`.
fn controller(dir: &std::path::Path) -> sim::Platform {
    let p = sim::Platform::start(Default::default()).unwrap();
    p.install_sealed_secrets().unwrap();
    sim::sealed::ensure_key(p.store()).unwrap();
    std::fs::write(
        dir.join("cert.pem"),
        sim::sealed::active_certificate_pem(p.store()).unwrap(),
    )
    .unwrap();
    p.store()
        .create(
            rt("Namespace"),
            json!({"metadata": {"name": "financial-ml"}}),
        )
        .unwrap();
    p
}

async fn unsealed(p: &sim::Platform, name: &str) -> Value {
    let mut rx = p.store().subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = p.store().get(rt("Secret"), Some("financial-ml"), name) {
            return s;
        }
        if tokio::time::timeout_at(deadline, rx.recv()).await.is_err() {
            panic!("Secret financial-ml/{name} never appeared");
        }
    }
}

fn secret_yaml(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: Opaque\nstringData:\n  token: {VALUE}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  region: eu\n"
    )
}

#[tokio::test]
async fn seal_prints_sealed_secrets_the_controller_opens() {
    let dir = tempfile::tempdir().unwrap();
    let p = controller(dir.path());
    std::fs::write(dir.path().join("secret.yaml"), secret_yaml("cli-token")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "secrets",
            "seal",
            "secret.yaml",
            "--namespace",
            "financial-ml",
            "--cert",
            "cert.pem",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(VALUE), "plaintext in the output");
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"], "SealedSecret");
    assert_eq!(docs[0]["metadata"]["namespace"], "financial-ml");
    assert_eq!(docs[1]["kind"], "ConfigMap", "other documents pass through");
    p.store()
        .create(rt("SealedSecret"), docs[0].clone())
        .unwrap();
    let s = unsealed(&p, "cli-token").await;
    let token = harness::kube::decode_base64(s["data"]["token"].as_str().unwrap()).unwrap();
    assert_eq!(token, VALUE.as_bytes());
    // Without a certificate the command says what to pass.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["secrets", "seal", "secret.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --cert FILE or --context NAME"));
}

#[tokio::test]
async fn pack_seal_delivers_only_ciphertext() {
    if !kubectl_available() {
        eprintln!("kubectl not found: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = controller(dir.path());
    let src = dir.path().join("src/production");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("kustomization.yaml"),
        "resources:\n  - secret.yaml\n",
    )
    .unwrap();
    std::fs::write(src.join("secret.yaml"), secret_yaml("pack-token")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args([
            "secrets",
            "pack",
            "src",
            "--namespace",
            "financial-ml",
            "--purpose",
            "models",
            "--date",
            "20250704",
            "--out",
            "out",
            "--seal",
            "strict",
            "--cert",
            "cert.pem",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pkg = dir
        .path()
        .join("out/financial-ml-models-secrets-20250704.tar.gz");
    let mut raw = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&pkg).unwrap()),
        &mut raw,
    )
    .unwrap();
    assert!(
        !String::from_utf8_lossy(&raw).contains(VALUE),
        "plaintext in the package"
    );
    let r = secrets::unpack(
        &pkg,
        &dir.path().join("work"),
        "financial-ml",
        "production",
        Limits::default(),
    )
    .unwrap();
    let sealed = r
        .objects
        .iter()
        .find(|o| o["kind"] == "SealedSecret")
        .expect("a SealedSecret");
    p.store()
        .create(rt("SealedSecret"), sealed.clone())
        .unwrap();
    let s = unsealed(&p, "pack-token").await;
    assert_eq!(
        s["metadata"]["labels"][secrets::PACKAGE_LABEL],
        "financial-ml-models-secrets-20250704.tar.gz"
    );
}
