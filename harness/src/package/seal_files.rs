//! Sealing files as an infrastructure team does before delivering a package
//! (`harness secrets seal`, `harness secrets pack --seal`): every `v1 Secret` document of a YAML
//! file becomes a SealedSecret for the package's namespace; other documents stay as they are.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::SecretsError;
use super::seal::{Scope, SealingKey, seal_secret};

/// Seals every Secret of a YAML stream (`---`-separated) and returns the stream with
/// SealedSecrets in their place; `source` names the input in errors.
pub fn seal_yaml(
    text: &str,
    source: &str,
    key: &SealingKey,
    scope: Scope,
    namespace: Option<&str>,
) -> Result<(String, usize), SecretsError> {
    let mut out = Vec::new();
    let mut sealed = 0;
    for doc in serde_norway::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| SecretsError::Io {
            path: PathBuf::from(source),
            message: format!(
                "is not YAML{}",
                e.location()
                    .map(|l| format!(" at line {}", l.line()))
                    .unwrap_or_default()
            ),
        })?;
        if v.is_null() {
            continue;
        }
        if v["apiVersion"] == "v1" && v["kind"] == "Secret" {
            out.push(seal_secret(&v, key, scope, namespace)?);
            sealed += 1;
        } else {
            out.push(v);
        }
    }
    let docs: Result<Vec<String>, _> = out.iter().map(serde_norway::to_string).collect();
    let docs = docs.map_err(|e| SecretsError::Invalid(format!("writing YAML failed: {e}")))?;
    Ok((docs.join("---\n"), sealed))
}

/// Copies a folder of overlays into `to`, sealing the Secrets of every `.yaml`/`.yml` file for
/// `namespace`. Refuses `secretGenerator` (its Secrets exist only after `kustomize build`:
/// write them as files to seal them) and a folder without any Secret.
pub fn seal_dir(
    from: &Path,
    to: &Path,
    key: &SealingKey,
    scope: Scope,
    namespace: &str,
) -> Result<usize, SecretsError> {
    fn walk(
        from: &Path,
        to: &Path,
        seal: &mut dyn FnMut(&Path, &str) -> Result<String, SecretsError>,
    ) -> Result<(), SecretsError> {
        let io = |p: &Path, e: std::io::Error| SecretsError::Io {
            path: p.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
        for entry in std::fs::read_dir(from).map_err(|e| io(from, e))? {
            let entry = entry.map_err(|e| io(from, e))?;
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            let ty = entry.file_type().map_err(|e| io(&src, e))?;
            if ty.is_dir() {
                walk(&src, &dst, seal)?;
            } else if ty.is_file() {
                let name = src.to_string_lossy().to_string();
                let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
                let data = std::fs::read(&src).map_err(|e| io(&src, e))?;
                let data = match std::str::from_utf8(&data) {
                    Ok(text) if yaml => seal(&src, text)?.into_bytes(),
                    _ => data,
                };
                std::fs::write(&dst, data).map_err(|e| io(&dst, e))?;
            } else {
                return Err(SecretsError::Io {
                    path: src,
                    message: "is not a plain file or folder; packages hold plain files only".into(),
                });
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(from, to, &mut |path, text| {
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if super::pack::is_kustomization(file) && text.contains("secretGenerator") {
            return Err(SecretsError::Io {
                path: path.to_path_buf(),
                message:
                    "uses secretGenerator; its Secrets exist only after `kustomize build`, so they \
                          cannot be sealed in place: write each Secret as a YAML file instead"
                        .into(),
            });
        }
        if !text.contains("Secret") {
            return Ok(text.to_string());
        }
        let (sealed, n) = seal_yaml(
            text,
            &path.display().to_string(),
            key,
            scope,
            Some(namespace),
        )?;
        total += n;
        Ok(if n == 0 { text.to_string() } else { sealed })
    })?;
    if total == 0 {
        return Err(SecretsError::Io {
            path: from.to_path_buf(),
            message: "holds no v1 Secret to seal".into(),
        });
    }
    Ok(total)
}
