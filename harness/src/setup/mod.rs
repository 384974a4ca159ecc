//! Team setup and cleanup: the scenario's objects applied in order (namespaces … models) and
//! deleted in reverse, only the run's own; secret packages applied per namespace; rendering what
//! a run would apply.

pub mod cleanup;
pub mod plan;
pub mod record;
pub mod render;
pub mod runtime;
pub mod secrets;

pub use cleanup::*;
pub use plan::*;
pub use record::*;
pub use runtime::*;
