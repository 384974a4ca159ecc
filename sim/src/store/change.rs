//! Changes as watches deliver them.

use serde_json::Value;

use super::catalog::ResourceType;

/// What a change did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was removed.
    Deleted,
}

/// One change, as watches deliver it.
#[derive(Debug, Clone)]
pub struct Change {
    /// What happened.
    pub kind: ChangeType,
    /// The object's resource type.
    pub resource: &'static ResourceType,
    /// The object after the change (before it, for deletions, with the deletion's resource version).
    pub object: Value,
    /// The object before a modification, so watches can tell when it left or entered a selector.
    pub previous: Option<Value>,
    /// The global resource version of this change.
    pub resource_version: u64,
}

impl Change {
    /// The object's namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }
}
