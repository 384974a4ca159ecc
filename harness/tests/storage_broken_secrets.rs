//! Secrets broken on purpose (`brokenOnPurpose`, scenarios/README.md) at each target's seam: what
//! setup applies for scenario `storage-failures` when the target has a model store of its own
//! (kind: the MinIO container's endpoint on the kind network; embedded: the platform's store
//! Service) and when it has none (an existing cluster). The Secrets are read back from the API
//! server setup applied them to (the embedded platform's), so the test sees what the agent reads.
//!
//! The kind seam: `Kind::overrides` starts MinIO and hands `store_packages(scenario, dir,
//! &store.access())` to setup; without Docker the test builds the same `StoreAccess` (an endpoint
//! of the form `ModelStore` gives, `http://<container IP on kind>:9000`, and random keys) and
//! goes through the same two calls. The Secrets setup applies are golden-tested
//! (`harness/tests/golden/kind-storage-failures-secrets.txt`; `UPDATE_GOLDEN=1` regenerates), with
//! the store's random keys shown as placeholders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::package::store::{Credentials, PackageOverrides, StoreAccess, store_packages};
use harness::scenario::Scenario;
use harness::setup::{self, RunContext};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;

const TEAM: &str = "storage-failures";
/// An endpoint of the form kind's `ModelStore::cluster_endpoint` gives.
const KIND_ENDPOINT: &str = "http://172.18.0.7:9000";
/// The endpoint the scenario's packages name: the embedded platform's store Service.
const PACKAGED_ENDPOINT: &str = "http://minio.harness-model-store:9000";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario() -> Scenario {
    Scenario::load(&workspace().join("scenarios/storage-failures.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The embedded platform as an API server with Seldon's CRDs, and a client for it.
async fn api_server(s: &Scenario) -> (sim::Platform, kube::Client) {
    let p = sim::Platform::start(Default::default()).expect("platform starts");
    let install = &s.doc.spec.seldon;
    p.install_seldon(&sim::seldon::InstallOptions {
        clusterwide: install.clusterwide,
        controller_namespace: install.controller_namespace.clone(),
        watch_namespaces: install.watch_namespaces.clone(),
        kafka: sim::seldon::Kafka::None,
    })
    .expect("seldon installs");
    p.install_kind_storage().expect("the default StorageClass");
    let kc = kube::config::Kubeconfig::from_yaml(&p.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    (p, kube::Client::try_from(config).unwrap())
}

/// Each Secret's one key and its rclone config as the agent parses it (JSON or YAML).
async fn delivered(client: &kube::Client) -> BTreeMap<String, (String, Value)> {
    let api: Api<Secret> = Api::namespaced(client.clone(), TEAM);
    let mut out = BTreeMap::new();
    for name in ["harness-models-s3", "minio-remote", "wrong-keys-s3"] {
        let s = api
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let data = s.data.unwrap_or_default();
        assert_eq!(data.len(), 1, "{name}: Seldon needs exactly one key");
        let (key, bytes) = data.into_iter().next().unwrap();
        let config: Value = serde_norway::from_str(std::str::from_utf8(&bytes.0).unwrap()).unwrap();
        out.insert(name.to_string(), (key, config));
    }
    out
}

/// Runs setup for `s` with `overrides` (what a target supplies), reads what `read` wants from the
/// API server setup applied to, and cleans up.
async fn set_up_and_read<T>(
    s: &Scenario,
    overrides: PackageOverrides,
    read: impl AsyncFnOnce(&kube::Client) -> T,
) -> T {
    let (platform, client) = api_server(s).await;
    let work = tempfile::tempdir().unwrap();
    let mut ctx = RunContext::for_scenario(s).with_work_dir(work.path());
    ctx.package_overrides = overrides;
    let applied = setup::setup(&client, s, &ctx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = read(&client).await;
    setup::cleanup(&client, &applied)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(platform);
    out
}

/// The scenario's delivered Secrets with `overrides`.
async fn setup_with(overrides: PackageOverrides) -> BTreeMap<String, (String, Value)> {
    set_up_and_read(&scenario(), overrides, async |c| delivered(c).await).await
}

fn param<'a>(d: &'a BTreeMap<String, (String, Value)>, secret: &str, p: &str) -> &'a str {
    d[secret].1["parameters"][p].as_str().unwrap_or_default()
}

/// The package's values for a Secret of the storage-failures package (test values in the repo).
const WRONG_ACCESS_KEY: &str = "harness-wrong-access-key";
const PLACEHOLDER_ACCESS_KEY: &str = "harness-test-access-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_kind_broken_secrets_reach_the_minio_endpoint_keeping_their_wrong_part() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed (needed for `kubectl kustomize`)");
        return;
    }
    let s = scenario();
    let state = tempfile::tempdir().unwrap();
    let store = StoreAccess {
        endpoint: KIND_ENDPOINT.into(),
        credentials: Credentials::random().unwrap(),
    };
    let d = setup_with(store_packages(&s, state.path(), &store).unwrap()).await;

    // wrong-keys-s3: the store's endpoint, the package's wrong keys, the right remote name.
    assert_eq!(param(&d, "wrong-keys-s3", "endpoint"), KIND_ENDPOINT);
    assert_eq!(
        param(&d, "wrong-keys-s3", "access_key_id"),
        WRONG_ACCESS_KEY
    );
    assert_eq!(d["wrong-keys-s3"].1["name"], "s3");
    // minio-remote: the wrong remote name kept; endpoint and keys are the store's.
    assert_eq!(d["minio-remote"].1["name"], "minio");
    assert_eq!(d["minio-remote"].0, "minio", "the package's data key stays");
    assert_eq!(param(&d, "minio-remote", "endpoint"), KIND_ENDPOINT);
    assert_eq!(
        param(&d, "minio-remote", "access_key_id"),
        store.credentials.access_key
    );
    assert!(param(&d, "minio-remote", "secret_access_key") == store.credentials.secret_key());
    // The working Secret: generated whole for the store.
    assert_eq!(param(&d, "harness-models-s3", "endpoint"), KIND_ENDPOINT);
    assert!(param(&d, "harness-models-s3", "secret_access_key") == store.credentials.secret_key());
    // No Secret keeps the embedded store's name, which does not resolve on kind.
    for (name, (_, c)) in &d {
        assert_ne!(c["parameters"]["endpoint"], PACKAGED_ENDPOINT, "{name}");
    }

    let mut text = String::from(
        "# What setup applies on kind for scenario storage-failures (namespace storage-failures):\n\
         # each Secret's data key and rclone config. <kind store …> = the MinIO container's random\n\
         # keys; other values are the package's test values.\n",
    );
    for (name, (key, config)) in &d {
        text.push_str(&format!(
            "Secret {TEAM}/{name} key `{key}`:\n{}\n",
            serde_json::to_string_pretty(config).unwrap()
        ));
    }
    let text = text
        .replace(store.credentials.secret_key(), "<kind store secret key>")
        .replace(&store.credentials.access_key, "<kind store access key>");
    let golden = workspace().join("harness/tests/golden/kind-storage-failures-secrets.txt");
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", golden.display()));
    assert!(
        want == text,
        "the Secrets kind gets changed; review and regenerate with UPDATE_GOLDEN=1:\n--- golden\n{want}\n--- now\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_platform_broken_secrets_reach_its_secured_store() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed (needed for `kubectl kustomize`)");
        return;
    }
    let s = scenario();
    // The embedded target's own overrides: its store Service and the run's random keys.
    let provider = harness::target::embedded::start(&Default::default(), &s.doc.spec.seldon, &s)
        .await
        .unwrap();
    let overrides = provider.package_overrides(&s).await.unwrap();
    let store = overrides
        .store
        .clone()
        .expect("the embedded target has a store");
    assert_eq!(store.endpoint, PACKAGED_ENDPOINT);
    assert_ne!(store.credentials.access_key, PLACEHOLDER_ACCESS_KEY);
    // The generated packages live in the provider's private folder until it finishes.
    let d = setup_with(overrides).await;
    provider.finish(false).await;
    assert_eq!(
        param(&d, "wrong-keys-s3", "access_key_id"),
        WRONG_ACCESS_KEY
    );
    assert_eq!(param(&d, "wrong-keys-s3", "endpoint"), PACKAGED_ENDPOINT);
    assert_eq!(d["minio-remote"].1["name"], "minio");
    assert_eq!(
        param(&d, "minio-remote", "access_key_id"),
        store.credentials.access_key,
        "only the remote name is wrong: the keys are the store's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_store_of_the_target_broken_secrets_are_applied_as_packaged() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed (needed for `kubectl kustomize`)");
        return;
    }
    // An existing cluster supplies nothing: every Secret is the package's.
    let d = setup_with(PackageOverrides::default()).await;
    for name in ["harness-models-s3", "minio-remote", "wrong-keys-s3"] {
        assert_eq!(param(&d, name, "endpoint"), PACKAGED_ENDPOINT, "{name}");
    }
    assert_eq!(
        param(&d, "wrong-keys-s3", "access_key_id"),
        WRONG_ACCESS_KEY
    );
    assert_eq!(
        param(&d, "minio-remote", "access_key_id"),
        PLACEHOLDER_ACCESS_KEY
    );
    assert_eq!(d["minio-remote"].1["name"], "minio");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_wrong_secret_of_a_failing_model_is_refused_with_the_fix() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed (needed for `kubectl kustomize`)");
        return;
    }
    // storage-failures without its `brokenOnPurpose` declaration: the wrong remote name is
    // caught before anything is applied, and the error says how to declare it.
    let file = workspace().join("scenarios/storage-failures.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let start = text
        .find("          brokenOnPurpose:\n")
        .expect("the declaration");
    let end = text[start..].find("      runtime:").unwrap() + start;
    let undeclared = format!("{}{}", &text[..start], &text[end..]);
    let s = Scenario::parse(&file, &undeclared).unwrap_or_else(|e| panic!("{e}"));
    let (_platform, client) = api_server(&s).await;
    let work = tempfile::tempdir().unwrap();
    let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    let e = setup::setup(&client, &s, &ctx).await.unwrap_err();
    let e = e.to_string();
    assert!(e.contains("Secret storage-failures/minio-remote"), "{e}");
    assert!(
        e.contains("Model `wrong-remote-name` is expected to fail")
            && e.contains("`brokenOnPurpose`"),
        "{e}"
    );
    assert!(!e.contains("harness-test-secret-key-not-real"), "{e}");
}

/// Copies a folder tree (the scenarios, into a scratch folder the test may change).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_swaps_only_the_secrets_it_supplies_and_keeps_the_rest_of_the_package() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed (needed for `kubectl kustomize`)");
        return;
    }
    // storage-failures, its broken package holding a ConfigMap too and declaring only
    // `minio-remote` broken: `wrong-keys-s3` is then a working Secret the target supplies.
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&workspace().join("scenarios"), copy.path());
    let overlay = copy
        .path()
        .join("secrets/storage-failures-broken/production");
    std::fs::write(
        overlay.join("settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: team-settings\ndata:\n  region: eu-west-1\n",
    )
    .unwrap();
    let kustomization = overlay.join("kustomization.yaml");
    let k = std::fs::read_to_string(&kustomization).unwrap();
    assert!(k.contains("  - secret.yaml\n"), "test bug: {k}");
    std::fs::write(
        &kustomization,
        k.replace("  - secret.yaml\n", "  - secret.yaml\n  - settings.yaml\n"),
    )
    .unwrap();
    let file = copy.path().join("storage-failures.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let declared =
        "            wrong-keys-s3: keys        # keeps keys the store does not know (#5139)\n";
    assert!(text.contains(declared), "test bug: the declaration moved");
    std::fs::write(&file, text.replacen(declared, "", 1)).unwrap();
    let s = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));

    let state = tempfile::tempdir().unwrap();
    let store = StoreAccess {
        endpoint: KIND_ENDPOINT.into(),
        credentials: Credentials::random().unwrap(),
    };
    let overrides = store_packages(&s, state.path(), &store).unwrap();
    assert!(
        overrides
            .packages
            .contains_key(&(TEAM.to_string(), "wrong-keys-s3".to_string())),
        "the target supplies the working Secret"
    );
    let (d, settings, swapped) = set_up_and_read(&s, overrides, async |client| {
        let configs: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(client.clone(), TEAM);
        let settings = configs
            .get("team-settings")
            .await
            .expect("the package's ConfigMap is applied beside the supplied Secret");
        let secrets: Api<Secret> = Api::namespaced(client.clone(), TEAM);
        let swapped = secrets.get("wrong-keys-s3").await.unwrap();
        (delivered(client).await, settings, swapped)
    })
    .await;

    assert_eq!(
        settings
            .data
            .unwrap_or_default()
            .get("region")
            .map(String::as_str),
        Some("eu-west-1")
    );
    // The supplied Secret: the store's endpoint and keys, applied as part of the team's package.
    assert_eq!(param(&d, "wrong-keys-s3", "endpoint"), KIND_ENDPOINT);
    assert_eq!(
        param(&d, "wrong-keys-s3", "access_key_id"),
        store.credentials.access_key
    );
    let label = swapped
        .metadata
        .labels
        .unwrap_or_default()
        .get(harness::setup::secrets::PACKAGE_LABEL)
        .cloned()
        .unwrap_or_default();
    assert!(
        label.starts_with("storage-failures-broken-secrets-"),
        "labelled with the scenario's package: {label}"
    );
    // The Secret still declared broken keeps its wrong part, in the same package.
    assert_eq!(d["minio-remote"].1["name"], "minio");
    assert_eq!(param(&d, "minio-remote", "endpoint"), KIND_ENDPOINT);
}
