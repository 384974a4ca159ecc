//! Every object `harness render` produces for every scenario under `scenarios/` passes the
//! published schemas: Seldon objects against the v2.10.2 CRDs' `openAPIV3Schema` (from
//! `$SELDON_CRDS`, else `<workspace>/../shared/reference/seldon-v2.10.2-crds.yaml`; skipped with a
//! message when neither exists), Kubernetes objects by a round trip through k8s-openapi types in
//! which a field the type does not know is an error. Also: order, labels, redaction, files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::kube::RunLabels;
use harness::scenario::{self, Scenario};
use harness::setup::Phase;
use harness::setup::render;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn scenarios() -> Vec<Scenario> {
    let files = scenario::discover(&[workspace().join("scenarios")]).unwrap();
    assert!(!files.is_empty(), "no scenarios under scenarios/");
    files
        .iter()
        .map(|f| Scenario::load(f).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The CRD schemas by kind, if the reference file is available.
fn crd_schemas() -> Option<(PathBuf, BTreeMap<String, Value>)> {
    let path = std::env::var_os("SELDON_CRDS")
        .map(PathBuf::from)
        .into_iter()
        .chain([workspace().join("../shared/reference/seldon-v2.10.2-crds.yaml")])
        .find(|p| p.is_file())?;
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = BTreeMap::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).unwrap();
        if v["kind"] != "CustomResourceDefinition" || v["spec"]["group"] != "mlops.seldon.io" {
            continue;
        }
        let kind = v["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let version = v["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ver| ver["name"] == "v1alpha1")
            .unwrap_or_else(|| panic!("{kind}: no v1alpha1 in the CRD"));
        out.insert(kind, version["schema"]["openAPIV3Schema"].clone());
    }
    Some((path, out))
}

/// Paths present in `original` but missing from `round_tripped` (unknown fields), or changed.
fn differences(original: &Value, round_tripped: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_tripped) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => differences(v, w, &p, out),
                    None if v.is_null() => {}
                    None => out.push(format!("{p}: unknown field")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                differences(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        // Quantities and int-or-strings may change representation, not meaning.
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a))
            if a.to_string() == *b => {}
        (a, b) => out.push(format!("{path}: `{a}` became `{b}`")),
    }
}

fn round_trip<T: DeserializeOwned + serde::Serialize>(obj: &Value) -> Result<(), String> {
    let typed: T = serde_path_to_error::deserialize(obj).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).unwrap();
    let mut diffs = Vec::new();
    differences(obj, &back, "", &mut diffs);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

fn check_kubernetes(obj: &Value) -> Result<(), String> {
    use k8s_openapi::api::{core::v1 as core, networking::v1 as net, rbac::v1 as rbac};
    match (
        obj["apiVersion"].as_str().unwrap_or_default(),
        obj["kind"].as_str().unwrap_or_default(),
    ) {
        ("v1", "Namespace") => round_trip::<core::Namespace>(obj),
        ("v1", "ResourceQuota") => round_trip::<core::ResourceQuota>(obj),
        ("v1", "LimitRange") => round_trip::<core::LimitRange>(obj),
        ("v1", "ServiceAccount") => round_trip::<core::ServiceAccount>(obj),
        ("v1", "Secret") => round_trip::<core::Secret>(obj),
        ("v1", "ConfigMap") => round_trip::<core::ConfigMap>(obj),
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<rbac::Role>(obj),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<rbac::RoleBinding>(obj),
        ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<net::NetworkPolicy>(obj),
        (a, k) => Err(format!("{a} {k} is not a kind setup applies")),
    }
}

fn name(obj: &Value) -> String {
    format!(
        "{} {}/{}",
        obj["kind"].as_str().unwrap_or_default(),
        obj["metadata"]["namespace"].as_str().unwrap_or("-"),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

#[test]
fn every_rendered_object_passes_the_published_schemas() {
    if !kubectl_available() {
        eprintln!(
            "SKIPPED: kubectl is not installed; secret packages are rendered with `kubectl kustomize`"
        );
        return;
    }
    let crds = crd_schemas();
    match &crds {
        Some((p, s)) => eprintln!(
            "validating Seldon objects against {} ({} CRDs)",
            p.display(),
            s.len()
        ),
        None => eprintln!(
            "SKIPPED (Seldon part): set SELDON_CRDS or provide <workspace>/../shared/reference/seldon-v2.10.2-crds.yaml \
             to validate Seldon objects against the published CRDs; Kubernetes objects are still checked"
        ),
    }
    let validators: BTreeMap<String, jsonschema::Validator> = crds
        .iter()
        .flat_map(|(_, s)| s.iter())
        .map(|(k, schema)| {
            (
                k.clone(),
                jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("{k} schema: {e}")),
            )
        })
        .collect();
    let mut problems = Vec::new();
    let mut seldon_checked = 0;
    let mut kinds_checked = std::collections::BTreeSet::new();
    for s in scenarios() {
        let objects = render::render(&s, &RunLabels::new(s.name(), "render"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!objects.is_empty());
        for o in &objects {
            let obj = &o.object;
            let who = format!("{}: {}", s.name(), name(obj));
            if obj["apiVersion"] == "mlops.seldon.io/v1alpha1" {
                let Some(v) = validators.get(obj["kind"].as_str().unwrap_or_default()) else {
                    if crds.is_some() {
                        problems.push(format!("{who}: no CRD for this kind"));
                    }
                    continue;
                };
                seldon_checked += 1;
                kinds_checked.insert(obj["kind"].as_str().unwrap_or_default().to_string());
                for e in v.iter_errors(obj) {
                    problems.push(format!("{who}: {} at {}", e, e.instance_path()));
                }
            } else if let Err(e) = check_kubernetes(obj) {
                problems.push(format!("{who}: {e}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "schema problems:\n{}",
        problems.join("\n")
    );
    if crds.is_some() {
        assert!(seldon_checked > 0, "no Seldon object was validated");
        // Every kind the scenarios apply, Pipelines included (scenarios/pipelines.yaml).
        for kind in ["SeldonRuntime", "Server", "Model", "Pipeline"] {
            assert!(kinds_checked.contains(kind), "no {kind} was validated");
        }
    }
}

/// The checks above must be able to fail: a typo and a wrong type are caught.
#[test]
fn the_schema_checks_catch_mistakes() {
    let bad_quota = serde_json::json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "q"}, "spec": {"hrad": {"pods": "1"}}});
    assert!(
        check_kubernetes(&bad_quota)
            .unwrap_err()
            .contains(".spec.hrad: unknown field")
    );
    if let Some((_, schemas)) = crd_schemas() {
        let v = jsonschema::validator_for(&schemas["Model"]).unwrap();
        let bad_model = serde_json::json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
            "metadata": {"name": "m"}, "spec": {"storageUri": "s3://x", "replicas": "two"}});
        assert!(v.iter_errors(&bad_model).count() > 0);
    }
}

/// Experiments are applied after the Models they split (and so deleted before them), and
/// validate against the published Experiment CRD, which refuses a malformed one.
#[test]
fn experiments_follow_their_models_and_pass_the_experiment_crd() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed");
        return;
    }
    let s = Scenario::load(&workspace().join("scenarios/experiments.yaml")).unwrap();
    let objects = render::render(&s, &RunLabels::new("experiments", "r-render")).unwrap();
    let names: Vec<String> = objects.iter().map(|o| name(&o.object)).collect();
    let last_model = names.iter().rposition(|n| n.starts_with("Model ")).unwrap();
    let first_experiment = names
        .iter()
        .position(|n| n.starts_with("Experiment "))
        .expect("the scenario's Experiments are rendered");
    assert!(last_model < first_experiment, "{names:?}");
    assert_eq!(
        names[first_experiment..],
        [
            "Experiment financial-ml/credit-risk-ab",
            "Experiment financial-ml/challenger-rollout"
        ]
    );
    let Some((_, schemas)) = crd_schemas() else {
        eprintln!("SKIPPED (CRD part): no Seldon CRDs to validate against");
        return;
    };
    let v = jsonschema::validator_for(&schemas["Experiment"]).unwrap();
    for o in objects.iter().filter(|o| o.object["kind"] == "Experiment") {
        let errors: Vec<String> = v.iter_errors(&o.object).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", name(&o.object));
    }
    let bad = serde_json::json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Experiment",
        "metadata": {"name": "x"}, "spec": {"candidates": [{"name": "a", "weight": "fifty"}]}});
    assert!(v.iter_errors(&bad).count() > 0);
}

#[test]
fn render_follows_the_apply_order_labels_objects_and_redacts_secrets() {
    if !kubectl_available() {
        eprintln!("SKIPPED: kubectl is not installed");
        return;
    }
    let s = Scenario::load(&workspace().join("scenarios/financial-ml.yaml")).unwrap();
    let labels = RunLabels::new("financial-ml", "r-render");
    let objects = render::render(&s, &labels).unwrap();
    let phases: Vec<Phase> = objects.iter().map(|o| o.phase).collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{phases:?}");
    let names: Vec<String> = objects.iter().map(|o| name(&o.object)).collect();
    assert_eq!(
        names[..3],
        [
            "Namespace -/seldon-system",
            "Namespace -/financial-ml",
            "Namespace -/financial-mlops-pytorch"
        ]
    );
    assert_eq!(
        names.last().unwrap(),
        "Model financial-mlops-pytorch/credit-risk-candidate"
    );
    let runtime = names
        .iter()
        .position(|n| n == "SeldonRuntime financial-ml/financial-ml-runtime")
        .unwrap();
    let server = names
        .iter()
        .position(|n| n == "Server financial-ml/mlserver")
        .unwrap();
    let secret = names
        .iter()
        .position(|n| n == "Secret financial-ml/harness-models-s3")
        .unwrap();
    assert!(secret < runtime && runtime < server, "{names:?}");
    for o in &objects {
        assert_eq!(
            o.object["metadata"]["labels"]["conformance.harness/run"],
            "r-render",
            "{}",
            name(&o.object)
        );
    }
    let yaml = render::to_yaml(&objects);
    assert!(yaml.contains("<redacted: "), "secret values are replaced");
    for planted in [
        "harness-test-secret-key-not-real",
        "harness-test-access-key",
    ] {
        assert!(!yaml.contains(planted), "secret value `{planted}` rendered");
    }
    let out = tempfile::tempdir().unwrap();
    let files = render::write_files(&objects, out.path()).unwrap();
    assert_eq!(files.len(), objects.len());
    let first = files[0].file_name().unwrap().to_str().unwrap();
    assert_eq!(first, "00-namespace-seldon-system.yaml");
    assert!(files.iter().any(|f| {
        f.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-secret-financial-ml-harness-models-s3.yaml")
    }));
    // Each file is one object that parses back to what was rendered.
    let back: Value =
        serde_norway::from_str(&std::fs::read_to_string(&files[secret]).unwrap()).unwrap();
    assert_eq!(back, objects[secret].object);
}
