//! The one place that runs external commands (kind, helm, kubectl kustomize, docker), built on duct.
//!
//! Every command has a timeout, captured stdout/stderr and exit status, is traced with secret
//! arguments redacted, and fails with the redacted command line, the exit code and the tail of
//! stderr. A missing tool fails with where to get it. `RecordingRunner` (feature `testing`) replaces the real
//! [`DuctRunner`] in golden tests: it records command lines and returns scripted outputs.

mod command;
mod duct;
#[cfg(any(test, feature = "testing"))]
mod recording;
mod tool;

pub use crate::names::Version;
pub use command::*;
pub use duct::DuctRunner;
#[cfg(any(test, feature = "testing"))]
pub use recording::RecordingRunner;
pub use tool::*;
