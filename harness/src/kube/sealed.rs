//! The sealed-secrets controller as the harness meets it: its certificate fetched as kubeseal
//! fetches it (the Service's first port, then `GET` through the API server's service proxy to
//! `/v1/cert.pem`), SealedSecrets as watch targets, and the controller's verdict on one
//! (`Synced` condition, `ErrUnsealFailed`/`ErrUpdateFailed` events) in words.

use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};

use super::condition::current_condition;
use super::object::{ObjectRef, Watched};
use super::wait::recent_events;

/// Where the sealed-secrets controller serves its certificate (kubeseal's `--fetch-cert`).
pub const CERT_PATH: &str = "/v1/cert.pem";

/// `apiVersion` of SealedSecret.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// The condition the controller sets (`Synced`).
pub const SYNCED: &str = "Synced";
/// The controller's error when no key opens a value for the object's namespace/name.
pub const NO_KEY: &str = "no key could decrypt secret";

/// The SealedSecret API resource.
pub fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    )
}

/// A SealedSecret to watch.
pub fn watched(namespace: &str, name: &str) -> Watched {
    Watched::new(
        ObjectRef::new(API_VERSION, "SealedSecret", Some(namespace), name),
        resource(),
    )
}

/// SealedSecrets of a namespace.
pub fn api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &resource())
}

/// Fetches the controller's certificate (PEM) as kubeseal does: the Service's first port name,
/// then the service proxy path `http:<name>:<port>/proxy/v1/cert.pem`. Errors say what to do.
pub async fn fetch_certificate(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<u8>, String> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let service = services.get_opt(name).await.map_err(|e| {
        format!("cannot read Service {namespace}/{name} of the sealed-secrets controller: {e}")
    })?;
    let Some(service) = service else {
        return Err(format!(
            "the sealed-secrets controller is not installed: Service {namespace}/{name} does not exist \
             (install it with Helm: `helm install sealed-secrets -n {namespace} --set-string \
             fullnameOverride={name} sealed-secrets/sealed-secrets`, or give a certificate file)"
        ));
    };
    let port = service
        .spec
        .and_then(|s| s.ports)
        .and_then(|p| p.into_iter().next())
        .and_then(|p| p.name)
        .unwrap_or_default();
    let path = format!(
        "/api/v1/namespaces/{namespace}/services/http:{name}:{port}/proxy{}",
        CERT_PATH
    );
    let request = http::Request::get(&path)
        .header("Accept", "application/x-pem-file, */*")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = client.request_text(request).await.map_err(|e| {
        format!("cannot fetch the sealed-secrets controller's certificate through the API server ({path}): {e}")
    })?;
    Ok(text.into_bytes())
}

/// What the controller says about a SealedSecret: its `Synced` condition and its recent
/// Warning events, e.g. `Synced False: no key could decrypt secret (s3); event ErrUnsealFailed: …`.
pub async fn controller_verdict(client: &Client, namespace: &str, name: &str) -> String {
    let object = ObjectRef::new(API_VERSION, "SealedSecret", Some(namespace), name);
    let current = api(client, namespace).get_opt(name).await;
    let mut parts = Vec::new();
    match current {
        Ok(Some(o)) => match current_condition(&o, SYNCED) {
            Some(c) => parts.push(format!(
                "condition Synced {}{}",
                c.status,
                if c.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.message)
                }
            )),
            None => parts.push(
                "no Synced condition: the sealed-secrets controller has not processed it (is it running?)"
                    .into(),
            ),
        },
        Ok(None) => parts.push(format!("{object} does not exist")),
        Err(e) => parts.push(format!("cannot read {object}: {e}")),
    }
    if let Ok(events) = recent_events(client, &object).await {
        for e in events.iter().filter(|e| e.type_ == "Warning") {
            parts.push(format!("event {}: {}", e.reason, e.message));
        }
    }
    parts.join("; ")
}
