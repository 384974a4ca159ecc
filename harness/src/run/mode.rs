//! `--mode`: whether checks that disrupt serving run.

use crate::scenario::TargetKind;

/// Whether checks that disrupt serving ([`crate::scenario::Expectation::disruptive`]) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Skip disruptive checks, saying so (the default on `existing`: a shared cluster).
    NonDisruptive,
    /// Run every check (the default on the embedded platform and kind).
    Disruptive,
}

impl Mode {
    /// Parses `non-disruptive` or `disruptive`.
    pub fn parse(name: &str) -> Result<Mode, String> {
        match name {
            "non-disruptive" => Ok(Mode::NonDisruptive),
            "disruptive" => Ok(Mode::Disruptive),
            other => Err(format!(
                "unknown mode `{other}`: use `non-disruptive` (skip checks that disrupt serving) or `disruptive`"
            )),
        }
    }

    /// The mode a target runs in unless told: non-disruptive on an existing cluster, else disruptive.
    pub fn default_for(kind: TargetKind) -> Mode {
        match kind {
            TargetKind::Existing => Mode::NonDisruptive,
            TargetKind::Sim | TargetKind::Kind => Mode::Disruptive,
        }
    }
}
