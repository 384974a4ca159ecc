//! An in-place upgrade of the Seldon install, as `helm upgrade` of the CRDs chart and then the
//! setup chart does it (docs/seldon-behaviour.md §20): first the new CRDs (a newer schema for
//! every Seldon kind; objects already stored are not re-validated until their next write), then
//! the components on the new version: their templates change and their controllers roll them.

use serde_json::{Value, json};

use super::components::CONTROLLER_DEPLOYMENT;
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

/// An image of Seldon's own (`docker.io/seldonio/seldon…`) retagged to `version`; others as they are.
fn retag(image: &str, version: &str) -> Option<String> {
    let (repo, tag) = image.rsplit_once(':')?;
    (repo.starts_with("docker.io/seldonio/seldon") && tag != version)
        .then(|| format!("{repo}:{version}"))
}

/// Retags every Seldon image of the containers under `containers`; whether one changed.
fn retag_containers(containers: &mut Value, version: &str) -> bool {
    let mut changed = false;
    for c in containers.as_array_mut().into_iter().flatten() {
        if let Some(image) = c["image"].as_str().and_then(|i| retag(i, version)) {
            c["image"] = json!(image);
            changed = true;
        }
    }
    changed
}

/// The setup chart's upgrade, as `helm upgrade` applies it: the controller Deployment's image,
/// and the images of SeldonConfig `default` and ServerConfigs `mlserver` and `triton` (the
/// chart's templates, `values.yaml` `*.image.tag`), all on `version`. Nothing is deleted: the
/// controller's Deployment rolls its pod, and the operator, which watches SeldonConfigs and
/// ServerConfigs (`SetupWithManager` of the SeldonRuntime and Server reconcilers), renders every
/// runtime's workloads and Server StatefulSet with the new images, which their controllers roll
/// (docs/seldon-behaviour.md §20, §26). Returns the objects that changed (`SeldonConfig
/// seldon-mesh/default`).
pub fn roll_components(
    store: &Store,
    controller_ns: &str,
    version: &str,
) -> Result<Vec<String>, ApiError> {
    let mut changed = Vec::new();
    let mut update = |kind: &str, name: &str, path: &[&str]| -> Result<(), ApiError> {
        let rt = res(kind);
        let Some(mut obj) = store.get(rt, Some(controller_ns), name) else {
            return Ok(());
        };
        let mut containers = &mut obj;
        for p in path {
            containers = &mut containers[*p];
        }
        let mut touched = false;
        if kind == "SeldonConfig" {
            for comp in containers.as_array_mut().into_iter().flatten() {
                touched |= retag_containers(&mut comp["podSpec"]["containers"], version);
            }
        } else {
            touched = retag_containers(containers, version);
        }
        if touched {
            obj["metadata"]
                .as_object_mut()
                .map(|m| m.remove("resourceVersion"));
            store.update(rt, obj)?;
            changed.push(format!("{kind} {controller_ns}/{name}"));
        }
        Ok(())
    };
    update(
        "Deployment",
        CONTROLLER_DEPLOYMENT,
        &["spec", "template", "spec", "containers"],
    )?;
    update("SeldonConfig", "default", &["spec", "components"])?;
    for server_config in ["mlserver", "triton"] {
        update(
            "ServerConfig",
            server_config,
            &["spec", "podSpec", "containers"],
        )?;
    }
    Ok(changed)
}
