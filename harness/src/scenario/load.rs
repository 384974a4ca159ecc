//! A loaded scenario: reading, parsing and validating files, and finding them in folders.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, ScenarioErrors, Severity};
use super::format::{Check, Scenario, TargetKind, Team};
use super::validate;
use super::yaml::Position;

impl Scenario {
    /// Reads, parses and validates one scenario file.
    pub fn load(file: &Path) -> Result<Scenario, ScenarioErrors> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ScenarioErrors(vec![Diagnostic {
                severity: Severity::Error,
                file: file.to_path_buf(),
                position: Position { line: 1, column: 1 },
                path: String::new(),
                message: format!("cannot read the scenario file: {e}"),
                hint: None,
            }])
        })?;
        Scenario::parse(file, &text)
    }

    /// Parses and validates scenario text; `file` names it in messages and anchors relative paths.
    /// Only the format is checked here: the flow analysis (`flows::analyse`) runs after loading.
    pub fn parse(file: &Path, text: &str) -> Result<Scenario, ScenarioErrors> {
        validate::parse_and_validate(file, text)
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.doc.metadata.name
    }

    /// The folder relative paths in the file are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    /// Resolves a path written in the file.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.base_dir().join(p)
    }

    /// Whether the scenario can run on a target.
    pub fn runs_on(&self, t: TargetKind) -> bool {
        self.doc.spec.targets.is_empty() || self.doc.spec.targets.contains(&t)
    }

    /// The team owning a namespace.
    pub fn team(&self, namespace: &str) -> Option<&Team> {
        self.doc
            .spec
            .teams
            .iter()
            .find(|t| t.namespace == namespace)
    }

    /// Whether a `modelLoadFails` check names this Model (its Secret may be missing on purpose; a
    /// Secret wrong on purpose is declared with its package's `brokenOnPurpose`).
    pub fn expects_load_failure(&self, namespace: &str, model: &str) -> bool {
        self.doc.spec.checks.iter().any(|c| {
            matches!(&c.expect, super::format::Expectation::ModelLoadFails(f) if f.namespace == namespace && f.model == model)
        })
    }

    /// A check by name.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.doc.spec.checks.iter().find(|c| c.name == name)
    }
}

/// Every `*.yaml`/`*.yml` scenario file under the given paths (files are taken as given), sorted.
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            for entry in std::fs::read_dir(p)? {
                let path = entry?.path();
                let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
                if path.is_file() && is_yaml {
                    out.push(path);
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
