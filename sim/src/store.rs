//! In-memory object store with resource versions and change notifications.
//!
//! Objects are kept as JSON exactly as clients sent them (plus server-set metadata), because the
//! platform must round-trip fields it does not model. One global resource version counter orders
//! every change, as etcd's revision does, so watches can resume from any recent version.

mod admit;
pub mod bootstrap;
mod catalog;
mod change;
mod error;
mod namespaces;
mod objects;

pub use admit::{Admission, Operation, Reader};
pub use catalog::{RESOURCES, ResourceType};
pub use change::{Change, ChangeType};
pub use error::ApiError;
pub use objects::{Store, creation_order};

#[cfg(test)]
mod tests;
