//! An in-place upgrade of the Seldon install, as `helm upgrade` of the CRDs chart and then the
//! setup chart does it (docs/seldon-behaviour.md §20): first the new CRDs (a newer schema for
//! every Seldon kind; objects already stored are not re-validated until their next write), then
//! the components on the new version, their pods deleted and recreated by their controllers.

use serde_json::{Value, json};

use super::components::{COMPONENT_NAMES, CONTROLLER_DEPLOYMENT, NAME_LABEL, SERVER_LABEL};
use crate::control::objects::res;
use crate::faults::{Defect, Faults};
use crate::store::{ApiError, RESOURCES, Store};

/// The `required` lists of Seldon 2.10.2's CRDs (`k8s/yaml/crds.yaml`), by kind: (spec, status).
fn required(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "Experiment" => (&["candidates"], &[]),
        "Model" => (&["storageUri"], &[]),
        "Pipeline" => (&["steps"], &[]),
        "SeldonRuntime" => (&["seldonConfig"], &[]),
        "ServerConfig" => (&["podSpec"], &[]),
        "Server" => (&["serverConfig"], &["loadedModels", "replicas", "selector"]),
        _ => (&[], &[]),
    }
}

/// The new version's schema for a Seldon kind: the upstream `required` lists, and under defect
/// `upgrade-breaks-existing-models` the 2.8.4 Model schema (`status.selector` required).
fn schema(kind: &str, faults: &Faults) -> Value {
    let (spec, status) = required(kind);
    let mut status: Vec<&str> = status.to_vec();
    if kind == "Model" && faults.has(Defect::UpgradeBreaksExistingModels) {
        status.push("selector");
    }
    let part = |req: &[&str]| {
        let mut p = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        if !req.is_empty() {
            p["required"] = json!(req);
        }
        p
    };
    json!({
        "type": "object", "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"spec": part(spec), "status": part(&status)},
    })
}

/// Applies the new version's CRDs (the CRDs chart's upgrade): every Seldon CRD's schema is
/// replaced; stored objects stay as they are. Returns the CRDs whose spec changed.
pub fn upgrade_crds(store: &Store, faults: &Faults) -> Result<Vec<String>, ApiError> {
    set_schemas(store, |kind| schema(kind, faults))
}

/// Puts back the installed version's CRDs (`install`'s schema, which requires nothing).
pub fn restore_crds(store: &Store) -> Result<(), ApiError> {
    set_schemas(
        store,
        |_| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    )
    .map(|_| ())
}

/// Sets every Seldon CRD's schema to `schema(kind)`; returns the CRDs that changed.
fn set_schemas(store: &Store, schema: impl Fn(&str) -> Value) -> Result<Vec<String>, ApiError> {
    let crd_rt = res("CustomResourceDefinition");
    let mut changed = Vec::new();
    for rt in RESOURCES.iter().filter(|r| r.group == "mlops.seldon.io") {
        let Some(mut crd) = store.get(crd_rt, None, &rt.crd_name()) else {
            continue;
        };
        let before = crd["spec"].clone();
        for v in crd["spec"]["versions"].as_array_mut().into_iter().flatten() {
            v["schema"]["openAPIV3Schema"] = schema(rt.kind);
        }
        if crd["spec"] != before {
            crd["metadata"]
                .as_object_mut()
                .map(|m| m.remove("resourceVersion"));
            store.update(crd_rt, crd)?;
            changed.push(rt.crd_name());
        }
    }
    Ok(changed)
}

/// The setup chart's upgrade: the controller on `version`, and every runtime component and Server
/// pod deleted so its StatefulSet or Deployment recreates it on the new images. Returns how many
/// pods were deleted.
pub fn roll_components(
    store: &Store,
    controller_ns: &str,
    version: &str,
) -> Result<usize, ApiError> {
    let deployments = res("Deployment");
    if let Some(mut d) = store.get(deployments, Some(controller_ns), CONTROLLER_DEPLOYMENT) {
        for c in d["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            c["image"] = json!(format!("docker.io/seldonio/seldonv2-controller:{version}"));
        }
        d["spec"]["template"]["metadata"]["annotations"]["conformance.harness/upgraded-to"] =
            json!(version);
        d["metadata"]
            .as_object_mut()
            .map(|m| m.remove("resourceVersion"));
        store.update(deployments, d)?;
    }
    let pods = res("Pod");
    let (list, _) = store.list(pods, None);
    let mut deleted = 0;
    for p in list {
        let labels = &p["metadata"]["labels"];
        let component = labels[NAME_LABEL]
            .as_str()
            .is_some_and(|n| COMPONENT_NAMES.contains(&n));
        let controller = labels["control-plane"] == "v2-controller-manager";
        if component || controller || labels[SERVER_LABEL].is_string() {
            let ns = p["metadata"]["namespace"].as_str();
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            match store.delete(pods, ns, name) {
                Ok(_) => deleted += 1,
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}
