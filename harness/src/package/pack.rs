//! Building a package from a folder of overlays (`harness secrets pack`), and the reference rules
//! every package must follow (kustomizations point only at files inside the package).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::archive::{self, Contents, Limits};
use super::error::SecretsError;
use super::name::{PackageName, today};

/// Builds `<out>/<namespace>-<purpose>-secrets-<date>.tar.gz` from a folder of overlays
/// (`harness secrets pack`). The same folder and date give the same bytes. The package is read
/// back through the same checks extraction uses, so a package that packs also extracts.
pub fn pack(
    dir: &Path,
    namespace: &str,
    purpose: &str,
    date: Option<&str>,
    out_dir: &Path,
) -> Result<PathBuf, SecretsError> {
    let name = PackageName::new(namespace, purpose, date.unwrap_or(&today()))?;
    if !dir.is_dir() {
        return Err(SecretsError::Io {
            path: dir.to_path_buf(),
            message: "is not a folder of kustomize overlays".into(),
        });
    }
    let bytes = archive::pack_dir(dir, name.mtime())?;
    let io = |path: &Path, e: std::io::Error| SecretsError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    let tmp = tempfile::NamedTempFile::new_in(out_dir).map_err(|e| io(out_dir, e))?;
    std::fs::write(tmp.path(), &bytes).map_err(|e| io(tmp.path(), e))?;
    let file_name = name.file_name();
    let contents =
        archive::read(tmp.path(), Limits::default()).map_err(|e| rename_package(e, &file_name))?;
    if !contents
        .files
        .keys()
        .any(|f| is_kustomization(f) && f.contains('/'))
    {
        return Err(SecretsError::Io {
            path: dir.to_path_buf(),
            message: "has no overlay: expected e.g. `production/kustomization.yaml`".into(),
        });
    }
    check_references(&contents, &file_name)?;
    let dest = out_dir.join(&file_name);
    tmp.persist(&dest).map_err(|e| io(&dest, e.error))?;
    tracing::info!("packed {} ({} bytes)", dest.display(), bytes.len());
    Ok(dest)
}

/// Names the package in an archive error raised before its file name was known.
pub fn rename_package(e: SecretsError, name: &str) -> SecretsError {
    match e {
        SecretsError::UnsafeEntry { entry, why, .. } => SecretsError::UnsafeEntry {
            package: name.into(),
            entry,
            why,
        },
        SecretsError::TooLarge { limit, .. } => SecretsError::TooLarge {
            package: name.into(),
            limit,
        },
        SecretsError::TooManyEntries { limit, .. } => SecretsError::TooManyEntries {
            package: name.into(),
            limit,
        },
        other => other,
    }
}

/// Whether a package path is a kustomization file.
pub fn is_kustomization(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    matches!(
        file,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// Every `resources`/`bases`/`components` entry of every kustomization must be a local path
/// that exists inside the package: no remote bases (kustomize would fetch them), nothing outside.
pub fn check_references(contents: &Contents, package: &str) -> Result<(), SecretsError> {
    for (file, data) in contents.files.iter().filter(|(f, _)| is_kustomization(f)) {
        let err = |message: String| SecretsError::Kustomization {
            package: package.into(),
            file: file.clone(),
            message,
        };
        let text = std::str::from_utf8(data).map_err(|_| err("is not UTF-8 text".into()))?;
        let doc: Value = serde_norway::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            err(format!("is not valid YAML{at}"))
        })?;
        for forbidden in ["helmCharts", "helmChartInflationGenerator", "helmGlobals"] {
            if doc.get(forbidden).is_some() {
                return Err(err(format!(
                    "uses `{forbidden}`; packages hold plain manifests"
                )));
            }
        }
        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
        for field in ["resources", "bases", "components"] {
            let Some(list) = doc.get(field).and_then(Value::as_array) else {
                continue;
            };
            for r in list {
                let Some(r) = r.as_str() else {
                    return Err(err(format!("`{field}` entries must be strings")));
                };
                if r.contains("://") || r.starts_with("git@") || r.starts_with("github.com") {
                    return Err(err(format!(
                        "`{field}` entry `{r}` is remote; a package must be self-contained"
                    )));
                }
                let resolved = resolve(dir, r).ok_or_else(|| {
                    err(format!(
                        "`{field}` entry `{r}` points outside the package; a package must be self-contained"
                    ))
                })?;
                if !contents.files.contains_key(&resolved) && !contents.dirs.contains(&resolved) {
                    return Err(err(format!(
                        "`{field}` entry `{r}` does not exist in the package"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Resolves `rel` against folder `dir` lexically (sound: packages contain no links).
pub fn resolve(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}
