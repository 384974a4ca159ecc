//! The platform's model store as pods reach it: an S3 API (MinIO) pod and Service
//! `minio.harness-model-store:9000`, which rclone in Server pods connects to through the same
//! connection model as the probes (DNS, endpoints, NetworkPolicy). The artifacts it holds are
//! `PlatformState::artifacts`; it is created when the first one is published.

use serde_json::json;

use crate::store::{ApiError, RESOURCES, ResourceType, Store};

/// The store's namespace.
pub const NAMESPACE: &str = "harness-model-store";
/// Its Service (and the host rclone configs name: `minio.harness-model-store`).
pub const SERVICE: &str = "minio";
/// Its S3 API port (Service and pod).
pub const PORT: u16 = 9000;
/// The label its pod carries (`app.kubernetes.io/name: minio`).
pub const LABEL: (&str, &str) = ("app.kubernetes.io/name", "minio");
/// The store pod's address (10.244.0.x is left to cluster add-ons).
const POD_IP: &str = "10.244.0.3";

fn rt(kind: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .expect("model store kinds are in the catalogue")
}

/// Creates the store's namespace, Running pod and Service unless they exist.
pub fn ensure(store: &Store) -> Result<(), ApiError> {
    if store.get(rt("Service"), Some(NAMESPACE), SERVICE).is_some() {
        return Ok(());
    }
    let labels = json!({LABEL.0: LABEL.1});
    if store.get(rt("Namespace"), None, NAMESPACE).is_none() {
        store.create(
            rt("Namespace"),
            json!({"metadata": {"name": NAMESPACE, "labels": {"kubernetes.io/metadata.name": NAMESPACE}}}),
        )?;
    }
    let image = "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z";
    let pod = match store.get(rt("Pod"), Some(NAMESPACE), "minio-0") {
        Some(p) => p,
        None => store.create(
            rt("Pod"),
            json!({
                "metadata": {"name": "minio-0", "namespace": NAMESPACE, "labels": labels},
                "spec": {"nodeName": "embedded-node", "containers": [{"name": "minio", "image": image,
                    "args": ["server", "/data"],
                    "ports": [{"name": "s3", "containerPort": PORT, "protocol": "TCP"}]}]},
            }),
        )?,
    };
    let status = json!({
        "phase": "Running", "podIP": POD_IP, "podIPs": [{"ip": POD_IP}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "minio", "ready": true, "restartCount": 0, "started": true,
                               "image": image, "state": {"running": {}}}],
    });
    // The "kubelet" may start the new pod concurrently (a 409 on our write): this pod's address
    // is fixed, so write the status again over the latest version (bounded).
    let mut current = pod;
    for attempt in 0.. {
        let mut running = current.clone();
        running["status"] = status.clone();
        match store.update_status(rt("Pod"), running) {
            Ok(_) => break,
            Err(e) if attempt < 10 && e.code == 409 => {
                current = store.get(rt("Pod"), Some(NAMESPACE), "minio-0").ok_or(e)?;
            }
            Err(e) => return Err(e),
        }
    }
    store.create(
        rt("Service"),
        json!({
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": labels},
            "spec": {"selector": labels, "clusterIP": "10.96.0.20", "type": "ClusterIP",
                     "ports": [{"name": "s3", "port": PORT, "protocol": "TCP", "targetPort": "s3"}]},
        }),
    )?;
    Ok(())
}
