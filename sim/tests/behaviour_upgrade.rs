//! An in-place upgrade's CRD half (docs/seldon-behaviour.md §20): the new schema applies to
//! writes only, a dry-run update of a stored object validates it against the new schema, and
//! defect `upgrade-breaks-existing-models` makes Models written before the upgrade invalid.

use serde_json::{Value, json};
use sim::Platform;
use sim::faults::{Defect, Faults};
use sim::seldon::InstallOptions;
use sim::store::{RESOURCES, ResourceType};

fn res(kind: &str) -> &'static ResourceType {
    RESOURCES.iter().find(|r| r.kind == kind).unwrap()
}

/// A platform (no controllers) with Seldon's CRDs and one Model whose status has no selector.
fn platform(faults: Faults) -> Platform {
    let p = Platform::start_api_only(faults).unwrap();
    p.install_seldon(&InstallOptions::default()).unwrap();
    let store = p.store();
    store
        .create(res("Namespace"), json!({"metadata": {"name": "team"}}))
        .unwrap();
    let m = store
        .create(
            res("Model"),
            json!({"metadata": {"name": "iris", "namespace": "team"}, "spec": {"storageUri": "gs://b/iris"}}),
        )
        .unwrap();
    let mut m = m;
    m["status"] = json!({"replicas": 0, "conditions": []});
    store.update_status(res("Model"), m).unwrap();
    p
}

fn model(p: &Platform) -> Value {
    p.store().get(res("Model"), Some("team"), "iris").unwrap()
}

#[test]
fn the_new_schema_rejects_a_stored_model_only_when_it_is_written() {
    let p = platform(Faults::defect(Defect::UpgradeBreaksExistingModels));
    let before = model(&p);
    let changed = p.upgrade_seldon_crds().unwrap();
    assert!(
        changed.contains(&"models.mlops.seldon.io".to_string()),
        "{changed:?}"
    );
    // Stored objects are not re-validated: the Model is still there, unchanged.
    assert_eq!(model(&p), before);
    // A dry-run update (status kept from the stored object) validates it against the new schema.
    let err = p
        .store()
        .update_with(res("Model"), model(&p), false, true)
        .unwrap_err();
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "Model.mlops.seldon.io \"iris\" is invalid: status.selector: Required value"
    );
    // Nothing was written by the dry-run.
    assert_eq!(model(&p), before);
}

#[test]
fn without_the_defect_existing_objects_stay_valid_and_new_required_fields_apply_to_new_objects() {
    let p = platform(Faults::default());
    // Before the upgrade the schema requires nothing.
    p.store()
        .create(
            res("Model"),
            json!({"metadata": {"name": "bare", "namespace": "team"}, "spec": {}}),
        )
        .unwrap();
    let changed = p.upgrade_seldon_crds().unwrap();
    assert_eq!(changed.len(), 7, "{changed:?}");
    p.store()
        .update_with(res("Model"), model(&p), false, true)
        .unwrap();
    let err = p
        .store()
        .create(
            res("Model"),
            json!({"metadata": {"name": "bare2", "namespace": "team"}, "spec": {"replicas": "two"}}),
        )
        .unwrap_err();
    assert_eq!(
        err.message,
        "Model.mlops.seldon.io \"bare2\" is invalid: spec.storageUri: Required value"
    );
    // A second upgrade to the same CRDs changes nothing.
    assert!(p.upgrade_seldon_crds().unwrap().is_empty());
}
