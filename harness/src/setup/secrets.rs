//! Secret packages applied to a team: safe extraction, rendering with `kubectl kustomize`, the
//! namespace and kind checks, and apply. The file format itself is `package`.
//!
//! The seed's pattern (lessons-learned "Package-Based Secret Management"): an infrastructure team
//! delivers `<namespace>-<purpose>-secrets-YYYYMMDD.tar.gz` holding kustomize overlays
//! (`production/kustomization.yaml` and its resources, possibly a `base/`); a team extracts it into
//! the gitignored `k8s/manifests/<namespace>/` and applies one overlay. The harness extracts into a
//! private folder of the run instead ([`RunContext::packages_dir`](super::record::RunContext::packages_dir):
//! folders 0700, files 0600), removed once applied unless the run is kept.
//!
//! [`unpack`] does that safely: the archive is read and checked in memory (plain files and folders
//! only, no absolute paths or `..`, size/entry limits from headers before inflating), kustomization
//! references must stay inside the package (no remote bases), then the files are written to a
//! temporary folder next to the target, the overlay is rendered with `kubectl kustomize` there,
//! every object must be a `v1 Secret`, `v1 ConfigMap` or `bitnami.com/v1alpha1 SealedSecret` of the
//! package's namespace (a SealedSecret's template may name no other namespace or name), and only then
//! the folder is renamed into place (replacing what the previous package for that namespace left).
//! On any rejection nothing is written. ConfigMaps are allowed because kustomize overlays commonly
//! pair `secretGenerator` with `configMapGenerator` for the non-secret half (endpoints, regions);
//! SealedSecrets are the seed's way of delivering Secrets (the cluster's sealed-secrets controller
//! unseals them); anything else (RBAC, workloads) does not belong in a secret package.
//! [`seal`] turns a package's Secrets into SealedSecrets for its namespace (`seal:` in a scenario).
//!
//! Secret values never appear in logs, errors or reports: errors name the object and key only,
//! `kubectl` stderr is scrubbed of every line of the package's files, and [`redact_values`]
//! replaces values with `<redacted: N bytes>` for rendering.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::kube::{AppliedObject, Applier, ObjectRef, add_labels, decode_base64, redact};
use crate::package::archive::{self, Contents, Limits};
use crate::package::pack::{check_references, is_kustomization, rename_package};
use crate::package::seal::{Scope, SealingKey, is_sealed_secret, seal_secret};
pub use crate::package::{PackageName, SecretsError};
use crate::scenario::SecretPackageRef;

/// Label on every object applied from a package: the package file name (truncated to 63 chars).
pub const PACKAGE_LABEL: &str = "conformance.harness/secret-package";
/// Annotation with the full package file name.
pub const PACKAGE_ANNOTATION: &str = "conformance.harness/secret-package";
/// Kinds a package may contain (apiVersion, kind).
pub const ALLOWED_KINDS: &[(&str, &str)] = &[
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("bitnami.com/v1alpha1", "SealedSecret"),
];
/// How long `kubectl kustomize` may take.
pub const KUSTOMIZE_TIMEOUT: Duration = Duration::from_secs(60);

/// A package extracted and rendered: the objects to apply, already labelled.
#[derive(Debug, Clone)]
pub struct RenderedPackage {
    /// The package file name.
    pub package: String,
    /// Its namespace.
    pub namespace: String,
    /// The overlay rendered.
    pub overlay: String,
    /// Where it was extracted (`<root>/<namespace>`), if it was.
    pub dir: Option<PathBuf>,
    /// The rendered objects (namespace set, package label added). Holds secret values.
    pub objects: Vec<Value>,
}

impl RenderedPackage {
    /// The names of the Secrets in the package, including those its SealedSecrets become.
    pub fn secret_names(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|o| o["kind"] == "Secret" || is_sealed_secret(o))
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }

    /// A Secret of the package by name.
    pub fn secret(&self, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
    }
}

/// The label value for a package file name (label values are at most 63 characters).
pub fn package_label_value(file_name: &str) -> String {
    let mut v: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    while v.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        v.pop();
    }
    v
}

/// Extracts a package into `<root>/<namespace>/` (`root` is created 0700 if missing), renders
/// `overlay` and checks the objects; on any error nothing is written (see the module docs for the
/// order of checks).
pub fn unpack(
    package: &Path,
    root: &Path,
    namespace: &str,
    overlay: &str,
    limits: Limits,
) -> Result<RenderedPackage, SecretsError> {
    let file_name = package
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    PackageName::parse(&file_name, namespace)?;
    if overlay.is_empty() || overlay.contains(['/', '\\']) || overlay == "." || overlay == ".." {
        return Err(SecretsError::Invalid(format!(
            "overlay `{overlay}` must be the name of a folder at the top of the package, e.g. `production`"
        )));
    }
    let contents = archive::read(package, limits).map_err(|e| rename_package(e, &file_name))?;
    if !contents.files.keys().any(|f| {
        f.starts_with(&format!("{overlay}/")) && is_kustomization(f) && f.matches('/').count() == 1
    }) {
        let overlays: BTreeSet<&str> = contents
            .files
            .keys()
            .filter(|f| is_kustomization(f))
            .filter_map(|f| f.split_once('/').map(|(d, _)| d))
            .collect();
        return Err(SecretsError::Kustomization {
            package: file_name,
            file: format!("{overlay}/kustomization.yaml"),
            message: format!(
                "overlay `{overlay}` is not in the package (overlays: {})",
                overlays.into_iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    check_references(&contents, &file_name)?;

    // Everything that can be checked in memory passed: write next to the target, render there.
    let manifests = root.to_path_buf();
    let created_manifests = !manifests.exists();
    let io = |path: &Path, e: std::io::Error| SecretsError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    archive::create_private_dir_all(&manifests).map_err(|e| io(&manifests, e))?;
    let result = (|| {
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{namespace}.extract-"))
            .tempdir_in(&manifests)
            .map_err(|e| io(&manifests, e))?;
        let fresh = staging.path().join("package");
        archive::create_private_dir_all(&fresh).map_err(|e| io(&fresh, e))?;
        archive::write(&contents, &fresh)?;
        let objects = render_dir(&fresh, &contents, &file_name, namespace, overlay)?;
        let target = manifests.join(namespace);
        if target.exists() {
            let old = staging.path().join("previous");
            std::fs::rename(&target, &old).map_err(|e| io(&target, e))?;
        }
        std::fs::rename(&fresh, &target).map_err(|e| io(&target, e))?;
        Ok(RenderedPackage {
            package: file_name.clone(),
            namespace: namespace.into(),
            overlay: overlay.into(),
            dir: Some(target),
            objects,
        })
        // `staging` (with any previous extraction) is removed here.
    })();
    if result.is_err() && created_manifests {
        // Leave no trace of a rejected package: the folder was ours and is empty again.
        let _ = std::fs::remove_dir(&manifests);
    }
    result
}

/// Renders an extracted overlay and checks/labels its objects.
fn render_dir(
    dir: &Path,
    contents: &Contents,
    package: &str,
    namespace: &str,
    overlay: &str,
) -> Result<Vec<Value>, SecretsError> {
    let fail = |message: String| SecretsError::Kustomize {
        package: package.into(),
        overlay: overlay.into(),
        message,
    };
    let scrub: Vec<String> = contents
        .files
        .values()
        .filter_map(|d| std::str::from_utf8(d).ok())
        .flat_map(|t| {
            t.lines().flat_map(|l| {
                let mut v = vec![l.trim().to_string()];
                if let Some((_, rest)) = l.split_once([':', '=']) {
                    v.push(rest.trim().trim_matches(['"', '\'']).to_string());
                }
                v
            })
        })
        .filter(|l| l.len() >= 4)
        .collect();
    let yaml = kustomize(&dir.join(overlay)).map_err(|m| fail(redact(&m, &scrub)))?;
    let mut objects = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&yaml) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {}", l.line()))
                .unwrap_or_default();
            fail(format!("printed output that is not YAML{at}"))
        })?;
        if v.is_null() {
            continue;
        }
        objects.push(v);
    }
    let label = package_label_value(package);
    for obj in &mut objects {
        let kind = obj["kind"].as_str().unwrap_or("<no kind>").to_string();
        let api = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or("<no name>")
            .to_string();
        match obj["metadata"]["namespace"].as_str() {
            Some(ns) if ns != namespace => {
                return Err(SecretsError::ForeignNamespace {
                    package: package.into(),
                    object: format!("{kind} {ns}/{name}"),
                    namespace: ns.into(),
                    expected: namespace.into(),
                });
            }
            Some(_) => {}
            None => obj["metadata"]["namespace"] = Value::String(namespace.into()),
        }
        if !ALLOWED_KINDS.contains(&(api.as_str(), kind.as_str())) {
            let hint = match kind.as_str() {
                "SealedSecret" => ": SealedSecrets are `bitnami.com/v1alpha1`",
                _ => "",
            };
            return Err(SecretsError::KindNotAllowed {
                package: package.into(),
                object: format!("{api} {kind} {namespace}/{name}"),
                hint: hint.into(),
            });
        }
        if is_sealed_secret(obj) {
            check_sealed(obj, package, namespace, &name)?;
        }
        label_package_object(obj, package, &label);
    }
    if objects.is_empty() {
        return Err(fail("the overlay renders no objects".into()));
    }
    Ok(objects)
}

/// Labels and annotates an object (and a SealedSecret's template, so the Secret it becomes
/// carries the same marks) with the package it came from.
fn label_package_object(obj: &mut Value, package: &str, label: &str) {
    let labels = [(PACKAGE_LABEL.to_string(), label.to_string())]
        .into_iter()
        .collect();
    add_labels(obj, &labels);
    obj["metadata"]["annotations"][PACKAGE_ANNOTATION] = Value::String(package.into());
    if is_sealed_secret(obj) {
        let template = &mut obj["spec"]["template"];
        add_labels(template, &labels);
        template["metadata"]["annotations"][PACKAGE_ANNOTATION] = Value::String(package.into());
    }
}

/// The rules a SealedSecret in a package follows beyond its own namespace: its template may not
/// name another namespace or name (the controller overrides them, but a package that tries is
/// hostile), and it must carry `spec.encryptedData` (the deprecated `spec.data` is refused by
/// current controllers).
fn check_sealed(
    obj: &Value,
    package: &str,
    namespace: &str,
    name: &str,
) -> Result<(), SecretsError> {
    let err = |message: String| SecretsError::Seal {
        secret: format!("SealedSecret {namespace}/{name} in {package}"),
        key: None,
        message,
    };
    let template = &obj["spec"]["template"]["metadata"];
    if let Some(ns) = template["namespace"].as_str().filter(|ns| *ns != namespace) {
        return Err(SecretsError::ForeignNamespace {
            package: package.into(),
            object: format!("SealedSecret {namespace}/{name} (spec.template.metadata.namespace)"),
            namespace: ns.into(),
            expected: namespace.into(),
        });
    }
    if let Some(n) = template["name"].as_str().filter(|n| *n != name) {
        return Err(err(format!(
            "spec.template.metadata.name is `{n}`; a SealedSecret unseals under its own name"
        )));
    }
    if !obj["spec"]["data"].is_null() {
        return Err(err(
            "uses the deprecated `spec.data`; reseal it with a current kubeseal (spec.encryptedData)"
                .into(),
        ));
    }
    if obj["spec"]["encryptedData"]
        .as_object()
        .is_none_or(serde_json::Map::is_empty)
    {
        return Err(err("has no spec.encryptedData".into()));
    }
    Ok(())
}

/// Seals every Secret of a rendered package for its namespace with `key` (ConfigMaps stay
/// plain), keeping the package's label and annotation on each SealedSecret.
pub fn seal(
    rendered: &mut RenderedPackage,
    key: &SealingKey,
    scope: Scope,
) -> Result<(), SecretsError> {
    let label = package_label_value(&rendered.package);
    for obj in &mut rendered.objects {
        if obj["kind"] == "Secret" {
            let mut sealed = seal_secret(obj, key, scope, Some(&rendered.namespace))?;
            label_package_object(&mut sealed, &rendered.package, &label);
            *obj = sealed;
        }
    }
    Ok(())
}

/// Runs `kubectl kustomize DIR` through [`crate::tools`] and returns stdout (which holds secret
/// values: never log it). Failures carry the stderr tail, which the caller scrubs.
fn kustomize(dir: &Path) -> Result<String, String> {
    use crate::tools::{self, Runner};
    let cmd = tools::Command::new(&tools::KUBECTL)
        .arg("kustomize")
        .arg(dir.display().to_string())
        .timeout(KUSTOMIZE_TIMEOUT);
    let out = tools::DuctRunner.run(&cmd).map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!(
            "exit status {}: {}",
            out.code.map_or("signal".into(), |c| c.to_string()),
            tools::stderr_tail(&cmd, &out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Resolves a scenario's package reference to a package file: a `.tar.gz` as is, a folder packed
/// into `tmp` as `<namespace>-<purpose>-secrets-<date>.tar.gz` (purpose: the folder name without
/// a leading `<namespace>-`; date: `date`, default today).
pub fn package_file(
    pkg: &SecretPackageRef,
    scenario_dir: &Path,
    namespace: &str,
    tmp: &Path,
    date: Option<&str>,
) -> Result<PathBuf, SecretsError> {
    let path = scenario_dir.join(&pkg.path);
    if path.is_dir() {
        let folder = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let purpose = folder
            .strip_prefix(&format!("{namespace}-"))
            .filter(|p| !p.is_empty())
            .unwrap_or(folder);
        crate::package::pack(&path, namespace, purpose, date, tmp)
    } else {
        Ok(path)
    }
}

/// Prepares a scenario's package: packs a folder if needed, extracts it into `<root>/<namespace>/`
/// (a private folder: see [`unpack`]), renders the overlay, checks `provides`. `date` dates a
/// package packed from a folder (default today; a run passes its start date so a re-run on the
/// same run is a no-op even across midnight).
pub fn prepare(
    pkg: &SecretPackageRef,
    scenario_dir: &Path,
    namespace: &str,
    root: &Path,
    date: Option<&str>,
) -> Result<RenderedPackage, SecretsError> {
    let io = |path: &Path, e: std::io::Error| SecretsError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    archive::create_private_dir_all(root).map_err(|e| io(root, e))?;
    // A package packed from a folder holds the same values: pack it inside the private folder too.
    let tmp = tempfile::Builder::new()
        .prefix(".pack-")
        .tempdir_in(root)
        .map_err(|e| io(root, e))?;
    let file = package_file(pkg, scenario_dir, namespace, tmp.path(), date)?;
    let rendered = unpack(&file, root, namespace, &pkg.overlay, Limits::default())?;
    check_provides(&rendered, &pkg.provides)?;
    Ok(rendered)
}

/// Renders a scenario's package without keeping anything on disk (for `harness render`).
pub fn render(
    pkg: &SecretPackageRef,
    scenario_dir: &Path,
    namespace: &str,
) -> Result<RenderedPackage, SecretsError> {
    let work = tempfile::tempdir().map_err(|e| SecretsError::Io {
        path: std::env::temp_dir(),
        message: e.to_string(),
    })?;
    let mut r = prepare(pkg, scenario_dir, namespace, work.path(), None)?;
    r.dir = None;
    Ok(r)
}

/// Every Secret listed under `provides` must be in the package.
pub fn check_provides(r: &RenderedPackage, provides: &[String]) -> Result<(), SecretsError> {
    let have = r.secret_names();
    for p in provides {
        if !have.contains(p) {
            return Err(SecretsError::Missing {
                package: r.package.clone(),
                overlay: r.overlay.clone(),
                secret: p.clone(),
                found: if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                },
            });
        }
    }
    Ok(())
}

/// Applies a rendered package through the one apply path.
pub async fn apply(
    applier: &Applier,
    rendered: &RenderedPackage,
) -> Result<Vec<AppliedObject>, SecretsError> {
    let mut out = Vec::new();
    for obj in &rendered.objects {
        out.push(applier.apply(obj).await?);
    }
    tracing::info!(
        "applied package {} overlay {} ({} objects) in namespace {}",
        rendered.package,
        rendered.overlay,
        out.len(),
        rendered.namespace
    );
    Ok(out)
}

/// The references of a package's objects.
pub fn object_refs(rendered: &RenderedPackage) -> Vec<ObjectRef> {
    rendered
        .objects
        .iter()
        .filter_map(|o| ObjectRef::from_value(o).ok())
        .collect()
}

/// Replaces every Secret value (`data` and `stringData`) with `<redacted: N bytes>`.
pub fn redact_values(obj: &mut Value) {
    if obj["kind"] != "Secret" {
        return;
    }
    if let Some(data) = obj.get_mut("data").and_then(Value::as_object_mut) {
        for v in data.values_mut() {
            let n = v.as_str().and_then(decode_base64).map_or(0, |b| b.len());
            *v = Value::String(format!("<redacted: {n} bytes>"));
        }
    }
    if let Some(data) = obj.get_mut("stringData").and_then(Value::as_object_mut) {
        for v in data.values_mut() {
            let n = v.as_str().map_or(0, str::len);
            *v = Value::String(format!("<redacted: {n} bytes>"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_fit() {
        assert_eq!(
            package_label_value("financial-ml-models-secrets-20250704.tar.gz"),
            "financial-ml-models-secrets-20250704.tar.gz"
        );
        let long = format!("{}-models-secrets-20250704.tar.gz", "n".repeat(60));
        let v = package_label_value(&long);
        assert!(v.len() <= 63 && v.ends_with(|c: char| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn redaction_keeps_sizes_only() {
        let mut s = serde_json::json!({"kind": "Secret", "data": {"a": "bWluaW9hZG1pbg=="},
            "stringData": {"b": "hunter2"}});
        redact_values(&mut s);
        assert_eq!(s["data"]["a"], "<redacted: 10 bytes>");
        assert_eq!(s["stringData"]["b"], "<redacted: 7 bytes>");
    }
}
