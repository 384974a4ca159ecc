//! Conformance harness for Seldon Core v2 multi-team platforms.
//!
//! The folders are the architecture: each layer uses only the layers listed before it
//! (`suites/tests/layout.rs` enforces this). See `ARCHITECTURE.md`.

// Layer 0: the scenario file format and Kubernetes name rules; they depend on nothing.
pub mod names;
pub mod scenario;

// Layer 1: clients and formats: the API server (kube), external tools, the V2 data plane,
// secret packages, and the static flow analysis.
pub mod flows;
pub mod kube;
pub mod package;
pub mod tools;
pub mod v2;

// Layer 2: targets (embedded platform, kind, existing clusters) behind one provider trait.
pub mod target;

// Layer 3: team setup and cleanup, secret packages applied, rendering.
pub mod setup;

// Layer 4: the checks, one file per kind.
pub mod checks;

// Layer 5: running scenarios, the proof table, reports and the command line.
pub mod cli;
pub mod jobs;
pub mod proof;
pub mod report;
pub mod run;
