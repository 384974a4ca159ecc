//! Shared helpers for the platform's integration tests.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::time::{Duration, Instant};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;
use sim::Platform;
use sim::faults::Faults;
use sim::store::{RESOURCES, ResourceType};

/// An API-only platform (no controllers) with the CRDs of every custom type in the catalogue.
pub fn platform() -> Platform {
    platform_with(Faults::default())
}

/// Like [`platform`], with faults.
pub fn platform_with(faults: Faults) -> Platform {
    let p = Platform::start_api_only(faults).expect("platform starts");
    install_crds(&p);
    p
}

/// Minimal CRDs (names, scope, status subresource) for the catalogue's custom types, written here
/// from the catalogue rather than copied from any project. Models get a `Ready` printer column.
pub fn install_crds(p: &Platform) {
    let crd_rt =
        ResourceType::by_plural("apiextensions.k8s.io", "customresourcedefinitions").unwrap();
    for rt in RESOURCES.iter().filter(|r| r.is_custom()) {
        if p.store().get(crd_rt, None, &rt.crd_name()).is_some() {
            continue;
        }
        let mut version = json!({
            "name": rt.version, "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        });
        if rt.has_status {
            version["subresources"] = json!({"status": {}});
        }
        if rt.kind == "Model" {
            version["additionalPrinterColumns"] = json!([
                {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ]);
        }
        let crd = json!({
            "metadata": {"name": rt.crd_name()},
            "spec": {
                "group": rt.group,
                "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
                "names": {"kind": rt.kind, "plural": rt.plural, "singular": rt.singular,
                          "shortNames": rt.short_names, "listKind": format!("{}List", rt.kind)},
                "versions": [version],
            },
        });
        p.store().create(crd_rt, crd).expect("CRD is created");
    }
}

/// A kube-rs client configured from the platform's kubeconfig, as the harness would build it.
pub async fn client(p: &Platform) -> Client {
    let kc = Kubeconfig::from_yaml(&p.kubeconfig_yaml()).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// Polls `cond` until it holds; panics naming `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The type with this kind in the catalogue.
pub fn rt(kind: &str) -> &'static ResourceType {
    RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}
