//! The interface admission plugins run against: the operation, read access, the hook.

use serde_json::Value;

use super::catalog::ResourceType;
use super::error::ApiError;

/// The operation admission is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to an existing object (spec/metadata, not status).
    Update,
}

/// Read access to stored objects, given to admission while the store is locked.
pub trait Reader {
    /// One object.
    fn get(&self, rt: &ResourceType, namespace: Option<&str>, name: &str) -> Option<&Value>;
    /// All objects of a type, in one namespace or all.
    fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<&Value>;
}

/// Admission control: may change the object or reject it, as admission plugins do.
pub trait Admission: Send + Sync {
    /// Called before an object is stored; `old` is the stored object on update.
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError>;
}
