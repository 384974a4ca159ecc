//! The setup half of every scenario against a real kube-apiserver 1.20.2 (issue 13), through the
//! command line: `harness run --target existing --setup-only` sets up every scenario in
//! `scenarios/` (server-side apply, secret packages via `kubectl kustomize`, sealed packages
//! sealed with a certificate file) and cleans it up; the run fails if a sweep of its label finds
//! anything left, and this test then lists every kind setup applies, across all namespaces, for
//! the harness's label and requires none.
//!
//! The server is the one `ci/kube-apiserver.sh` starts (`.ci/run` exports
//! `HARNESS_REAL_APISERVER_KUBECONFIG` and `HARNESS_REQUIRE_REAL_APISERVER=1`). It has no kubelet,
//! scheduler, Seldon controller or sealed-secrets controller, so only setup and cleanup are
//! exercised (docs/real-apiserver-facts.md). Before the run this test installs what a Seldon
//! install leaves on a cluster and setup needs: Seldon's CRDs adapted for 1.20 from `SELDON_CRDS`
//! (as `sim/tests/real_apiserver/crds.rs` does it), the controller namespace `seldon-mesh`, and
//! the SealedSecret CRD as the embedded platform installs it (`sim::sealed::crd`); the sealing
//! certificate is a fresh self-signed one (`openssl`), passed with `--sealing-cert`, since no
//! controller serves one. Without the kubeconfig the test says why it is skipped and passes,
//! unless the real server is required.

#[path = "../../sim/tests/real_apiserver/crds.rs"]
mod crds;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::kube::{Applier, FIELD_MANAGER, MANAGED_BY_LABEL, ObjectRef, RunLabels};
use harness::kube::{Watched, condition_true, wait_for};
use harness::setup::Phase;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

const KUBECONFIG_ENV: &str = "HARNESS_REAL_APISERVER_KUBECONFIG";
const REQUIRE_ENV: &str = "HARNESS_REQUIRE_REAL_APISERVER";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn real_client() -> Option<Client> {
    let Some(path) = std::env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) else {
        assert!(
            std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
            "{REQUIRE_ENV}=1 but {KUBECONFIG_ENV} is not set"
        );
        eprintln!(
            "skipped: {KUBECONFIG_ENV} is not set (start a real apiserver with `bash ci/kube-apiserver.sh start DIR`)"
        );
        return None;
    };
    let kc = Kubeconfig::read_from(&path).expect("reading the real apiserver's kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Some(Client::try_from(config).expect("client"))
}

/// Creates Seldon's CRDs adapted for 1.20 (already there is fine) and waits until established.
async fn install_crds(client: &Client, file: &Path) {
    let yaml = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let (docs, _) = crds::crds_for_1_20(&yaml);
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for d in docs {
        let crd: CustomResourceDefinition = serde_json::from_value(d).expect("a CRD");
        let name = crd.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("creating CRD {name}: {e}"),
        }
        wait_for(
            client,
            &Watched::of::<CustomResourceDefinition>(None, &name),
            &condition_true("Established"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Creates the SealedSecret CRD as the embedded platform installs it (the chart's CRD).
async fn install_sealed_secret_crd(client: &Client) {
    let crd: CustomResourceDefinition =
        serde_json::from_value(sim::sealed::crd()).expect("a valid CRD");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    match api.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating the SealedSecret CRD: {e}"),
    }
    wait_for(
        client,
        &Watched::of::<CustomResourceDefinition>(None, "sealedsecrets.bitnami.com"),
        &condition_true("Established"),
        Duration::from_secs(60),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// What the scenarios' Seldon installs leave that `harness run --target existing` checks: the
/// controller namespaces (`seldon-mesh`, and `seldon-system` for seed-network-policy) and, for
/// `kafka: installed`, Strimzi's bootstrap Service in `seldon-mesh`.
async fn controller_namespace(client: &Client) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in ["seldon-mesh", "seldon-system"] {
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("creating namespace {name}: {e}"),
        }
    }
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(client.clone(), "seldon-mesh");
    let bootstrap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "seldon-kafka-bootstrap"},
        "spec": {"ports": [{"name": "tcp-clients", "port": 9092}]}
    }))
    .unwrap();
    match services.create(&PostParams::default(), &bootstrap).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating Service seldon-mesh/seldon-kafka-bootstrap: {e}"),
    }
}

/// A self-signed certificate like the sealed-secrets controller's (RSA 2048), PEM, in `dir`.
fn sealing_certificate(dir: &Path) -> PathBuf {
    let (key, cert) = (dir.join("sealing.key"), dir.join("sealing.crt"));
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/O=sealed-secret/CN=sealed-secret"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (ci/kube-apiserver.sh needs it too)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cert
}

/// Every object carrying the harness label, over every kind setup applies.
async fn harness_objects(client: &Client) -> Vec<String> {
    let applier = Applier::new(client.clone(), RunLabels::new("probe", "probe"));
    let lp = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={FIELD_MANAGER}"));
    let mut found = Vec::new();
    for phase in Phase::ALL {
        for (api_version, kind) in phase.kinds() {
            let r = applier
                .resolve(&ObjectRef::new(api_version, kind, None, "-"))
                .await
                .unwrap_or_else(|e| panic!("resolving {api_version} {kind}: {e}"));
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &r.resource);
            for o in api.list(&lp).await.unwrap().items {
                found.push(format!(
                    "{kind} {}/{}",
                    o.metadata.namespace.unwrap_or_default(),
                    o.metadata.name.unwrap_or_default()
                ));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_only_sets_up_and_cleans_up_every_scenario_on_a_real_apiserver() {
    let Some(client) = real_client().await else {
        return;
    };
    let Some(crd_file) = std::env::var_os("SELDON_CRDS").map(PathBuf::from) else {
        assert!(
            std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
            "{REQUIRE_ENV}=1 but SELDON_CRDS (Seldon's published CRD file) is not set"
        );
        eprintln!("skipped: SELDON_CRDS (Seldon's published CRD file) is not set");
        return;
    };
    install_crds(&client, &crd_file).await;
    install_sealed_secret_crd(&client).await;
    controller_namespace(&client).await;
    let work = tempfile::tempdir().unwrap();
    let cert = sealing_certificate(work.path());
    let kubeconfig = std::env::var_os(KUBECONFIG_ENV).unwrap();
    let context = Kubeconfig::read_from(&kubeconfig)
        .unwrap()
        .current_context
        .expect("the kubeconfig names its context");
    let scenarios = harness::scenario::discover(&[workspace().join("scenarios")]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(workspace())
        .env("KUBECONFIG", &kubeconfig)
        .env("HARNESS_WORK_DIR", work.path())
        .env("HARNESS_STATE_DIR", work.path())
        .env_remove("HARNESS_RUN_ID")
        .args([
            "run",
            "--target",
            "existing",
            "--setup-only",
            "--keep",
            "never",
        ])
        .args(["--context", &context, "--allow-context", &context])
        .arg("--sealing-cert")
        .arg(&cert)
        .output()
        .expect("the harness binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "harness run --setup-only failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let done: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("setup only: ") && l.contains("no object labelled"))
        .collect();
    assert_eq!(
        done.len(),
        scenarios.len(),
        "every scenario in scenarios/ is set up and cleaned up:\n{stdout}"
    );
    eprintln!("{stdout}");
    let left = harness_objects(&client).await;
    assert!(
        left.is_empty(),
        "harness-labelled objects left after the run: {left:?}"
    );
}
