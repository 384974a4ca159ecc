//! The setup half of every scenario against a real kube-apiserver 1.20.2 (issue 13): every object
//! a scenario renders is applied by the harness's own setup (`setup::setup_recorded`, the apply
//! path `harness run` uses), and cleanup then leaves no harness-labelled object, verified by
//! listing every kind setup applies.
//!
//! The server is the one `ci/kube-apiserver.sh` starts (`.ci/run` exports
//! `HARNESS_REAL_APISERVER_KUBECONFIG` and `HARNESS_REQUIRE_REAL_APISERVER=1`). It has no kubelet,
//! scheduler or Seldon controller, so only setup and cleanup are exercised: checks cannot run
//! there (docs/real-apiserver-facts.md). Seldon's CRDs are installed first, adapted for 1.20 from
//! `SELDON_CRDS` (the published file) as `sim/tests/real_apiserver/crds.rs` does it. Without the
//! kubeconfig the test says why it is skipped and passes, unless the real server is required.

#[path = "../../sim/tests/real_apiserver/crds.rs"]
mod crds;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::kube::{Applier, FIELD_MANAGER, MANAGED_BY_LABEL, ObjectRef, RunLabels};
use harness::kube::{Watched, condition_true, wait_for};
use harness::scenario::Scenario;
use harness::setup::{self, CleanupGuard, Phase, RunContext};
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

/// The SealedSecret kind, served the way the sealed-secrets chart's CRD serves it (group
/// `bitnami.com`, version `v1alpha1`, namespaced, status subresource; docs/seldon-behaviour.md
/// §13), with an open schema: this test only needs the kind to exist so cleanup can list it.
async fn install_sealed_secret_crd(client: &Client) {
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "sealedsecrets.bitnami.com"},
        "spec": {
            "group": "bitnami.com",
            "scope": "Namespaced",
            "names": {"kind": "SealedSecret", "listKind": "SealedSecretList",
                      "plural": "sealedsecrets", "singular": "sealedsecret"},
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    }))
    .expect("a valid CRD");
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
async fn every_scenario_sets_up_and_cleans_up_on_a_real_apiserver() {
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
    let files = harness::scenario::discover(&[workspace().join("scenarios")]).unwrap();
    let mut set_up = 0;
    for file in files {
        let s = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        // Sealing at setup fetches the sealed-secrets controller's certificate through the service
        // proxy; a bare control plane runs no pods, so there is no controller to ask.
        let seals = s
            .doc
            .spec
            .teams
            .iter()
            .any(|t| t.secret_packages.iter().any(|p| p.seal.is_some()));
        if seals {
            eprintln!(
                "{}: skipped here (its packages are sealed at setup with a sealed-secrets controller's certificate; this control plane runs no controller)",
                s.name()
            );
            continue;
        }
        set_up += 1;
        let work = tempfile::tempdir().unwrap();
        let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
        let guard = CleanupGuard::new(client.clone(), &ctx);
        let setup = setup::setup_recorded(&client, &s, &ctx, &guard.recorder()).await;
        let applied = guard.applied();
        let report = guard.finish().await;
        setup.unwrap_or_else(|e| panic!("setting up {} on the real apiserver: {e}", s.name()));
        report.unwrap_or_else(|e| panic!("cleaning up {}: {e}", s.name()));
        assert!(
            applied.outcomes().count() >= 3 && applied.outcomes().all(|o| o.created),
            "{}: every object is created by the run",
            s.name()
        );
        let left = harness_objects(&client).await;
        assert!(
            left.is_empty(),
            "{}: cleanup left harness-labelled objects: {left:?}",
            s.name()
        );
        eprintln!(
            "{}: {} objects applied and cleaned up",
            s.name(),
            applied.outcomes().count()
        );
    }
    assert!(set_up >= 6, "only {set_up} scenarios were set up");
}
