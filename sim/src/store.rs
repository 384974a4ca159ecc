//! In-memory object store with resource versions and change notifications.
