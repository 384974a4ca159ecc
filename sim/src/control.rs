//! What every reconciler of the embedded platform shares: its context and platform state,
//! object helpers, and events. Below Kubernetes' controllers, Seldon's and SealedSecrets'.

pub(crate) mod context;
pub(crate) mod events;
pub(crate) mod memory;
pub(crate) mod netview;
pub(crate) mod objects;

pub use context::PlatformState;
pub use events::record_event;
