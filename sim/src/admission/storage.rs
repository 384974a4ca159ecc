//! PersistentVolumeClaims on create: the API server's defaults (`volumeMode: Filesystem`,
//! `status.phase: Pending`) and the `DefaultStorageClass` admission plugin, which gives a claim
//! without `storageClassName` the class annotated `storageclass.kubernetes.io/is-default-class:
//! "true"` (the newest one if several, as since kubernetes 1.26), and leaves it unset when there
//! is none (kubernetes `plugin/pkg/admission/storage/storageclass/setdefault`).

use serde_json::{Value, json};

use crate::store::{Admission, ApiError, Operation, Reader, ResourceType};

/// The annotation that marks the default StorageClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

/// Claim defaults and the default StorageClass.
pub(super) struct DefaultStorageClass;

impl Admission for DefaultStorageClass {
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        _old: Option<&Value>,
    ) -> Result<(), ApiError> {
        if op != Operation::Create || rt.kind != "PersistentVolumeClaim" {
            return Ok(());
        }
        if obj["spec"]["volumeMode"].is_null() {
            obj["spec"]["volumeMode"] = json!("Filesystem");
        }
        obj["status"] = json!({"phase": "Pending"});
        if obj["spec"].get("storageClassName").is_some() {
            return Ok(());
        }
        let default = store
            .list(
                ResourceType::by_kind("storage.k8s.io/v1", "StorageClass")
                    .expect("StorageClass is in the catalogue"),
                None,
            )
            .into_iter()
            .filter(|c| c["metadata"]["annotations"][DEFAULT_CLASS_ANNOTATION] == "true")
            .max_by_key(|c| {
                (
                    c["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    c["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            });
        if let Some(c) = default {
            obj["spec"]["storageClassName"] = c["metadata"]["name"].clone();
        }
        Ok(())
    }
}
