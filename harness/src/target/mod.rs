//! Targets: the embedded platform, a kind cluster, or an existing cluster, each a [`Provider`];
//! [`Target`] is the started one. `embedded` is the only module of the harness naming `sim`.

pub mod embedded;
pub mod existing;
pub mod keep;
pub mod kind;
pub mod lock;
pub mod mesh;
pub mod options;
pub mod portforward;
pub mod provider;
pub mod started;
pub mod upgrade;

pub use embedded::{Defect, EmbeddedOptions, Faults, TransportFaults, platform_up};
pub use mesh::{BoxFuture, MeshAccess, MeshEndpoint, v2_client};
pub use options::{Keep, TARGET_ENV, TargetOptions, fresh_per_scenario, kind_from_env, parse_kind};
pub use provider::{PackageOverrides, Provider};
pub use started::Target;
