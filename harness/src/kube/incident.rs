//! Infrastructure incidents seen while a check ran: an API request that still failed with a
//! transient error (429, 5xx, no answer) after its retries, or a pod the check waited for stuck
//! pulling its image (`ImagePullBackOff`, `ErrImagePull`). They are what the run layer may retry
//! a failed check for; any other failure is a verdict and is never retried into a pass.
//!
//! Incidents are collected per check ([`collecting`]) in a task-local list; outside one,
//! [`record`] does nothing.

use std::sync::{Arc, Mutex};

use kube::api::DynamicObject;

tokio::task_local! {
    static INCIDENTS: Arc<Mutex<Vec<String>>>;
}

/// Notes an incident of the running check.
pub fn record(reason: impl Into<String>) {
    let reason = reason.into();
    let _ = INCIDENTS.try_with(|list| {
        let mut l = list.lock().unwrap_or_else(|e| e.into_inner());
        if !l.contains(&reason) {
            l.push(reason);
        }
    });
}

/// Runs `fut`, returning its output and the incidents recorded meanwhile.
pub async fn collecting<F: std::future::Future>(fut: F) -> (F::Output, Vec<String>) {
    let list = Arc::new(Mutex::new(Vec::new()));
    let out = INCIDENTS.scope(list.clone(), fut).await;
    let incidents = list.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (out, incidents)
}

/// The image-pull incident a Pod shows, if any: a container waiting in `ImagePullBackOff` or
/// `ErrImagePull`.
pub fn image_pull_backoff(obj: &DynamicObject) -> Option<String> {
    if obj.types.as_ref().is_some_and(|t| t.kind != "Pod") {
        return None;
    }
    let status = &obj.data["status"];
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|f| status[f].as_array().cloned().unwrap_or_default())
        .find_map(|c| {
            let reason = c["state"]["waiting"]["reason"].as_str()?;
            matches!(reason, "ImagePullBackOff" | "ErrImagePull").then(|| {
                format!(
                    "image pull back-off: pod {}/{} container {} ({reason}: {})",
                    obj.metadata.namespace.as_deref().unwrap_or_default(),
                    obj.metadata.name.as_deref().unwrap_or_default(),
                    c["name"].as_str().unwrap_or_default(),
                    c["state"]["waiting"]["message"]
                        .as_str()
                        .unwrap_or_default()
                )
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn incidents_are_collected_per_scope_only() {
        record("outside: dropped");
        let ((), got) = collecting(async {
            record("API server: 503 Service Unavailable");
            record("API server: 503 Service Unavailable");
        })
        .await;
        assert_eq!(got, ["API server: 503 Service Unavailable"]);
    }

    #[test]
    fn recognises_image_pull_back_off_only() {
        let pod = |reason: &str| -> DynamicObject {
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "namespace": "ns"},
                "status": {"containerStatuses": [{"name": "c",
                    "state": {"waiting": {"reason": reason, "message": "429 from registry"}}}]}}))
            .unwrap()
        };
        let got = image_pull_backoff(&pod("ImagePullBackOff")).unwrap();
        assert!(
            got.contains("pod ns/p container c (ImagePullBackOff"),
            "{got}"
        );
        assert!(image_pull_backoff(&pod("ErrImagePull")).is_some());
        assert!(image_pull_backoff(&pod("CrashLoopBackOff")).is_none());
        assert!(image_pull_backoff(&pod("ContainerCreating")).is_none());
    }
}
