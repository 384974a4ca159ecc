//! Rendering every object a run would apply, without contacting a cluster.
//!
//! `harness render SCENARIO [--out DIR]`: the objects of [`crate::setup::plan`] in apply order,
//! with the ownership labels the run would add, secret packages rendered with `kubectl kustomize`
//! (extracted into a temporary folder) and every Secret value replaced by `<redacted: N bytes>`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::plan::{Phase, Step, plan};
use crate::kube::{RunLabels, add_labels};
use crate::scenario::Scenario;
use crate::setup::secrets::{self, SecretsError};

/// One object as the run would apply it (Secret values redacted).
#[derive(Debug, Clone)]
pub struct RenderedObject {
    /// Its phase.
    pub phase: Phase,
    /// The object.
    pub object: Value,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A secret package could not be rendered.
    #[error("scenario `{scenario}`: {cause}")]
    Secrets {
        /// The scenario.
        scenario: String,
        /// The package problem.
        cause: Box<SecretsError>,
    },
    /// Writing the output failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Every object the run would apply, in apply order, labelled with `labels`, Secrets redacted.
pub fn render(scenario: &Scenario, labels: &RunLabels) -> Result<Vec<RenderedObject>, RenderError> {
    let mut out = Vec::new();
    let own = labels.labels();
    for step in plan(scenario) {
        let phase = step.phase();
        let objects = match step {
            Step::Object { object, .. } => vec![object],
            Step::Package { namespace, package } => {
                secrets::render(&package, scenario.base_dir(), &namespace)
                    .map_err(|cause| RenderError::Secrets {
                        scenario: scenario.name().to_string(),
                        cause: Box::new(cause),
                    })?
                    .objects
            }
        };
        for mut object in objects {
            secrets::redact_values(&mut object);
            add_labels(&mut object, &own);
            out.push(RenderedObject { phase, object });
        }
    }
    Ok(out)
}

/// The objects as one multi-document YAML stream.
pub fn to_yaml(objects: &[RenderedObject]) -> String {
    let mut s = String::new();
    for o in objects {
        s.push_str("---\n");
        s.push_str(&serde_norway::to_string(&o.object).expect("JSON values serialise to YAML"));
    }
    s
}

/// `NN-<kind>-<namespace>-<name>.yaml` (no namespace part for cluster-scoped objects), lowercase.
pub fn file_name(index: usize, width: usize, object: &Value) -> String {
    let part = |v: &Value| v.as_str().unwrap_or("unnamed").to_ascii_lowercase();
    let mut name = format!("{index:0width$}-{}", part(&object["kind"]));
    if let Some(ns) = object["metadata"]["namespace"].as_str() {
        name.push('-');
        name.push_str(&ns.to_ascii_lowercase());
    }
    name.push('-');
    name.push_str(&part(&object["metadata"]["name"]));
    name.push_str(".yaml");
    name
}

/// Writes one file per object into `dir` (created if missing); returns the paths in order.
pub fn write_files(objects: &[RenderedObject], dir: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let io = |path: &Path, e: std::io::Error| RenderError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let width = objects.len().to_string().len().max(2);
    let mut out = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let path = dir.join(file_name(i, width, &o.object));
        let yaml = serde_norway::to_string(&o.object).expect("JSON values serialise to YAML");
        std::fs::write(&path, yaml).map_err(|e| io(&path, e))?;
        out.push(path);
    }
    Ok(out)
}

/// `harness render`: renders and writes to `out` (one file per object) or returns the YAML stream.
pub fn render_to(
    scenario: &Scenario,
    labels: &RunLabels,
    out: Option<&Path>,
) -> Result<Option<String>, RenderError> {
    let objects = render(scenario, labels)?;
    match out {
        Some(dir) => {
            write_files(&objects, dir)?;
            Ok(None)
        }
        None => Ok(Some(to_yaml(&objects))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn file_names() {
        let m = json!({"kind": "Model", "metadata": {"name": "credit-risk", "namespace": "financial-ml"}});
        assert_eq!(
            file_name(7, 2, &m),
            "07-model-financial-ml-credit-risk.yaml"
        );
        let ns = json!({"kind": "Namespace", "metadata": {"name": "financial-ml"}});
        assert_eq!(file_name(0, 3, &ns), "000-namespace-financial-ml.yaml");
    }
}
