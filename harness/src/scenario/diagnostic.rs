//! Findings about a scenario file: errors and warnings pointing at `file:line:column` and a field
//! path, and the validation context that collects them.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::{Position, Positions};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The scenario cannot run.
    Error,
    /// The scenario runs, but probably not as meant.
    Warning,
}

/// A problem in a scenario file, pointing at the node it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The scenario file.
    pub file: PathBuf,
    /// Where the node starts.
    pub position: Position,
    /// The field path, e.g. `spec.teams[0].models[1].spec.memory`.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: ",
            self.file.display(),
            self.position.line,
            self.position.column
        )?;
        if !self.path.is_empty() {
            write!(f, "`{}`: ", self.path)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// Every error found in one file (a file is reported whole, not one error at a time).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ScenarioErrors(pub Vec<Diagnostic>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Collects the findings of one file's validation, placing each at its node.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a Path,
    pub(crate) positions: &'a Positions,
    pub(crate) found: Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub(crate) fn push(
        &mut self,
        severity: Severity,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let message = message.into();
        // An unknown field is a mistake in the key; anything else is about the value.
        let position = if message.contains("unknown field") {
            self.positions.find_key(path)
        } else {
            self.positions.find(path)
        };
        self.found.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            position,
            path: path.to_string(),
            message,
            hint,
        });
    }
    pub(crate) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, path, message, None);
    }
    pub(crate) fn error_hint(
        &mut self,
        path: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, path, message, Some(hint.into()));
    }
    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message, Some(hint.into()));
    }
}
