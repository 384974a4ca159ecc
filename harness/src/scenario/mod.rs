//! Scenario files: the YAML format, parsing with locations, and validation.
//!
//! A scenario is data a platform engineer can read: the Seldon install, the teams with their
//! Kubernetes objects embedded as the objects themselves, and the checks with their timeouts.
//! `scenarios/README.md` documents the format; `format` is its single definition. This layer
//! depends on no other harness module but `names`.

mod builtin;
pub mod continuity;
mod copies;
pub mod diagnostic;
pub mod experiment;
pub mod format;
mod load;
mod objects;
mod pipelines;
pub mod protocol;
pub mod seldon;
mod validate;
mod validate_continuity;
mod validate_install;
pub mod yaml;

pub use diagnostic::{Diagnostic, ScenarioErrors, Severity};
pub use format::*;
pub use load::discover;
pub use objects::{known_capabilities, parse_quantity};
pub use yaml::{Position, Positions};
