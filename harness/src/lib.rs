//! Conformance harness for Seldon Core v2 multi-team platforms.
//!
//! See `ARCHITECTURE.md` for how the modules fit together.

pub mod apply;
pub mod checks;
pub mod existing;
pub mod flows;
pub mod inference;
pub mod install;
pub mod isolation;
pub mod portforward;
pub mod provision;
pub mod quota;
pub mod render;
pub mod report;
pub mod run;
pub mod runtime;
pub mod scenario;
pub mod scheduling;
pub mod secrets;
pub mod target;
pub mod tools;
pub mod wait;
