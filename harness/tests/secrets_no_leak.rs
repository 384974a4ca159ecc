//! Planted secret values never appear in any log line (every target at TRACE, captured by a test
//! subscriber), error, or rendered output: through pack, unpack, render, setup and cleanup on the
//! embedded platform, and through the failure paths (bad rclone config, kustomize failure).

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use harness::kube::RunLabels;
use harness::package::Limits;
use harness::scenario::Scenario;
use harness::setup::render;
use harness::setup::secrets;
use harness::setup::{self, RunContext};

const PLANTED: &[&str] = &[
    "PLANTED-access-7f3a9",
    "PLANTED-secret-b81c2",
    "PLANTED-token-55e0d",
];

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, from every thread.
fn logs() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("one subscriber per test binary");
        capture
    })
}

fn assert_clean(what: &str, text: &str) {
    for p in PLANTED {
        assert!(
            !text.contains(p),
            "{what} contains the planted value `{p}`:\n{text}"
        );
    }
}

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A package folder whose Secrets hold the planted values (an rclone remote and a token), one
/// of them in `data` (base64), one in `stringData`.
fn planted_package(dir: &Path, rclone_body: &str) {
    write(
        &dir.join("production/kustomization.yaml"),
        "resources:\n  - ../base\n",
    );
    write(
        &dir.join("base/kustomization.yaml"),
        "resources:\n  - secrets.yaml\n",
    );
    let token_b64 = harness::kube::encode_base64(PLANTED[2].as_bytes());
    write(
        &dir.join("base/secrets.yaml"),
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak-store\nstringData:\n  s3: |\n{}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: leak-token\ndata:\n  token: {token_b64}\n",
            rclone_body
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
}

fn good_rclone() -> String {
    format!(
        "type: s3\nname: s3\nparameters:\n  provider: Minio\n  access_key_id: {}\n  secret_access_key: {}\n",
        PLANTED[0], PLANTED[1]
    )
}

/// A scenario with one team whose Model uses the planted rclone Secret.
fn planted_scenario(dir: &Path) -> Scenario {
    let text = r#"apiVersion: conformance.harness/v1alpha1
kind: Scenario
metadata:
  name: leak
spec:
  seldon:
    chartVersion: "2.10.2"
  teams:
    - namespace: leak-test
      secretPackages:
        - path: leak-test-store
          provides: [leak-store, leak-token]
      servers:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Server
          metadata:
            name: mlserver
          spec:
            serverConfig: mlserver
      models:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Model
          metadata:
            name: leaky
          spec:
            storageUri: s3://bucket/leaky
            secretName: leak-store
            requirements: [sklearn]
  checks:
    - name: delivered
      expect:
        secretsApplied: {namespace: leak-test, secrets: [leak-store, leak-token]}
"#;
    let file = dir.join("leak.yaml");
    write(&file, text);
    Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

/// A scenario whose package holds one rclone Secret declared broken on purpose (`part`), used by a
/// Model a `modelLoadFails` check names.
fn planted_broken_scenario(dir: &Path, part: &str) -> Scenario {
    write(
        &dir.join("leak-broken-store/production/kustomization.yaml"),
        "resources:\n  - secret.yaml\n",
    );
    write(
        &dir.join("leak-broken-store/production/secret.yaml"),
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak-broken\nstringData:\n  s3: |\n{}\n",
            good_rclone()
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    );
    let text = format!(
        r#"apiVersion: conformance.harness/v1alpha1
kind: Scenario
metadata:
  name: leak-broken
spec:
  seldon:
    chartVersion: "2.10.2"
  teams:
    - namespace: leak-broken
      secretPackages:
        - path: leak-broken-store
          provides: [leak-broken]
          brokenOnPurpose: {{leak-broken: {part}}}
      servers:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Server
          metadata:
            name: mlserver
          spec:
            serverConfig: mlserver
      models:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Model
          metadata:
            name: leaky
          spec:
            storageUri: s3://bucket/leaky
            secretName: leak-broken
            requirements: [sklearn]
  checks:
    - name: fails
      expect:
        modelLoadFails: {{namespace: leak-broken, model: leaky, reason: failed to sync/copy}}
"#
    );
    let file = dir.join("leak-broken.yaml");
    write(&file, &text);
    Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_values_never_reach_logs_errors_or_rendered_output() {
    let logs = logs();
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed (needed for `kubectl kustomize`)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    planted_package(&dir.path().join("leak-test-store"), &good_rclone());
    let s = planted_scenario(dir.path());

    // Render.
    let objects = render::render(&s, &RunLabels::new("leak", "r-leak")).unwrap();
    let yaml = render::to_yaml(&objects);
    assert_clean("rendered YAML", &yaml);
    assert!(
        yaml.contains("<redacted: 9 bytes>") || yaml.contains("<redacted: "),
        "{yaml}"
    );

    // Pack + unpack by hand.
    let out = tempfile::tempdir().unwrap();
    let pkg = harness::package::pack(
        &dir.path().join("leak-test-store"),
        "leak-test",
        "store",
        Some("20250704"),
        out.path(),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let r = secrets::unpack(
        &pkg,
        work.path(),
        "leak-test",
        "production",
        Limits::default(),
    )
    .unwrap();
    assert_clean(
        "RenderedPackage debug of names",
        &format!("{:?}", r.secret_names()),
    );

    // Setup and cleanup on the embedded platform, with every log target at TRACE.
    let platform = sim::Platform::start(Default::default()).unwrap();
    platform.install_seldon(&Default::default()).unwrap();
    platform.install_kind_storage().unwrap();
    let kc = kube::config::Kubeconfig::from_yaml(&platform.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    let applied = setup::setup(&client, &s, &ctx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The values did reach the cluster (the test would be vacuous otherwise).
    let secrets_api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), "leak-test");
    let token = secrets_api.get("leak-token").await.unwrap();
    assert_eq!(token.data.unwrap()["token"].0, PLANTED[2].as_bytes());
    // A wait timeout report about a Secret shows keys only.
    let target = harness::kube::Watched::of::<k8s_openapi::api::core::v1::Secret>(
        Some("leak-test"),
        "leak-token",
    );
    let never = harness::kube::Condition::new("never", |_| false);
    let err = harness::kube::wait_for(
        &client,
        &target,
        &never,
        std::time::Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("keys: [token]"), "{err}");
    assert_clean("wait timeout report", &err.to_string());
    setup::cleanup(&client, &applied)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // A Secret broken on purpose pointed at a target's store (`package::broken`): its kept keys
    // (planted) and the store's own keys reach the cluster, never a log line or an error.
    let store = harness::package::store::StoreAccess {
        endpoint: "http://172.18.0.7:9000".into(),
        credentials: harness::package::store::Credentials::random().unwrap(),
    };
    let kept = tempfile::tempdir().unwrap();
    let s_kept = planted_broken_scenario(kept.path(), "keys");
    let mut ctx = RunContext::for_scenario(&s_kept).with_work_dir(kept.path());
    ctx.package_overrides.store = Some(store.clone());
    let applied = setup::setup(&client, &s_kept, &ctx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let broken_api: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), "leak-broken");
    let got = broken_api.get("leak-broken").await.unwrap().data.unwrap();
    let config = String::from_utf8(got["s3"].0.clone()).unwrap();
    assert!(
        config.contains(PLANTED[1]) && config.contains("http://172.18.0.7:9000"),
        "the kept keys and the store's endpoint reached the cluster (values not shown)"
    );
    // No runtime loads the Model: cleanup need not wait long for an unload that never comes.
    setup::cleanup_with_timeouts(
        &client,
        &applied,
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // Its failure path: `remoteName` declared on a remote that is the scheme.
    let wrong = tempfile::tempdir().unwrap();
    let s_wrong = planted_broken_scenario(wrong.path(), "remoteName");
    let mut ctx = RunContext::for_scenario(&s_wrong).with_work_dir(wrong.path());
    ctx.package_overrides.store = Some(store.clone());
    let e = setup::setup(&client, &s_wrong, &ctx).await.unwrap_err();
    assert!(e.to_string().contains("brokenOnPurpose: remoteName"), "{e}");
    assert_clean("setup error (brokenOnPurpose)", &format!("{e} {e:?}"));
    assert!(
        !format!("{e} {e:?}").contains(store.credentials.secret_key()),
        "the store's secret key is in a setup error"
    );

    // Failure paths: a bad rclone remote name, a kustomize error.
    let bad = tempfile::tempdir().unwrap();
    planted_package(
        &bad.path().join("leak-test-store"),
        &good_rclone().replace("name: s3", "name: minio"),
    );
    let s_bad = planted_scenario(bad.path());
    let e = setup::setup(
        &client,
        &s_bad,
        &RunContext::for_scenario(&s_bad).with_work_dir(bad.path()),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("Secret leak-test/leak-store key `s3`"),
        "{e}"
    );
    assert!(
        e.applied.records.is_empty(),
        "nothing applied before local checks pass"
    );
    assert_clean("setup error (rclone)", &format!("{e} {e:?}"));

    let broken = tempfile::tempdir().unwrap();
    planted_package(&broken.path().join("leak-test-store"), &good_rclone());
    write(
        &broken.path().join("leak-test-store/base/secrets.yaml"),
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: x}}\nstringData: {{k: {}\n",
            PLANTED[1]
        ),
    );
    let s_broken = planted_scenario(broken.path());
    let e = render::render(&s_broken, &RunLabels::new("leak", "r")).unwrap_err();
    assert!(e.to_string().contains("kubectl kustomize"), "{e}");
    assert_clean("render error (kustomize)", &format!("{e} {e:?}"));

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("applying package leak-test-store-secrets-"),
        "the capture works: {}",
        &text[..text.len().min(2000)]
    );
    assert_clean("logs", &text);
    assert!(
        text.contains("leak-broken: Secret leak-broken is broken on purpose (keys)"),
        "the rewrite was logged (without values)"
    );
    assert!(
        !text.contains(store.credentials.secret_key()),
        "the logs hold the store's secret key"
    );
}
