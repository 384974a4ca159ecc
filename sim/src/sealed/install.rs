//! Installing the controller as `helm install sealed-secrets -n kube-system --set-string
//! fullnameOverride=sealed-secrets-controller sealed-secrets/sealed-secrets` does (the install
//! kubeseal's defaults expect): the SealedSecret CRD, a ServiceAccount, Deployment and Service
//! `sealed-secrets-controller` in `kube-system` (port `http` 8080, `helm/sealed-secrets/templates/`).

use serde_json::{Value, json};

use crate::control::objects::{ensure, now, res};
use crate::store::{ApiError, Store};

/// kubeseal's `--controller-namespace` default.
pub const CONTROLLER_NAMESPACE: &str = "kube-system";
/// kubeseal's `--controller-name` default (the Service name).
pub const CONTROLLER_NAME: &str = "sealed-secrets-controller";
/// The chart's image at chart version 2.18.5.
const IMAGE: &str = "docker.io/bitnami/sealed-secrets-controller:0.36.6";

/// The chart's selector labels (`sealed-secrets.matchLabels`).
fn match_labels() -> Value {
    json!({"app.kubernetes.io/name": "sealed-secrets", "app.kubernetes.io/instance": "sealed-secrets"})
}

/// The SealedSecret CRD as the chart installs it (open schema; served `bitnami.com/v1alpha1`).
pub fn crd() -> Value {
    let names = json!({"kind": "SealedSecret", "listKind": "SealedSecretList",
        "plural": "sealedsecrets", "singular": "sealedsecret"});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "sealedsecrets.bitnami.com"},
        "spec": {"group": "bitnami.com", "names": names, "scope": "Namespaced", "versions": [{
            "name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"jsonPath": ".status.conditions[0].message", "name": "Status", "type": "string"},
                {"jsonPath": ".status.conditions[0].status", "name": "Synced", "type": "string"},
                {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
            ],
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        }]},
    })
}

/// Installs the CRD and the controller's objects (idempotent).
pub fn install(store: &Store) -> Result<(), ApiError> {
    let crd_rt = res("CustomResourceDefinition");
    let stored = match store.get(crd_rt, None, "sealedsecrets.bitnami.com") {
        Some(c) => c,
        None => store.create(crd_rt, crd())?,
    };
    if stored["status"]["conditions"].is_null() {
        let mut s = stored.clone();
        s["status"] = json!({
            "acceptedNames": stored["spec"]["names"], "storedVersions": ["v1alpha1"],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now()},
            ],
        });
        store.update_status(crd_rt, s)?;
    }
    let ns = CONTROLLER_NAMESPACE;
    let labels = match_labels();
    let failed = || ApiError::internal("installing the sealed-secrets controller failed");
    ensure(
        store,
        res("ServiceAccount"),
        json!({"metadata": {"name": CONTROLLER_NAME, "namespace": ns, "labels": labels}}),
    )
    .ok_or_else(failed)?;
    ensure(store, res("Deployment"), json!({
        "metadata": {"name": CONTROLLER_NAME, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "serviceAccountName": CONTROLLER_NAME,
                "containers": [{
                    "name": "controller", "image": IMAGE, "command": ["controller"],
                    "args": ["--update-status", "--key-prefix", "sealed-secrets-key", "--listen-addr", ":8080", "--listen-metrics-addr", ":8081"],
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "metrics", "containerPort": 8081, "protocol": "TCP"}],
                }],
            }},
        },
    })).ok_or_else(failed)?;
    ensure(store, res("Service"), json!({
        "metadata": {"name": CONTROLLER_NAME, "namespace": ns, "labels": labels},
        "spec": {"type": "ClusterIP", "selector": labels,
                 "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]},
    })).ok_or_else(failed)?;
    Ok(())
}
