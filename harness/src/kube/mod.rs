//! The Kubernetes API as the checks and setup use it: the one apply path, the one wait primitive
//! with its composable conditions, workload and pod helpers, Seldon objects' readiness, probe
//! pods, secret redaction, and the sealed-secrets controller (certificate, verdicts).
//!
//! Files inside this folder use each other by their own paths (`super::wait::…`); the re-exports
//! below are for the layers above.

pub mod apply;
pub mod clock;
pub mod condition;
pub mod controller_scope;
pub mod diagnose;
pub mod incident;
pub mod lease;
pub mod object;
pub mod observe;
pub mod probe;
pub mod redact;
pub mod retry;
pub mod run_lease;
pub mod sealed;
pub mod seldon;
pub mod settle;
pub mod transition;
pub mod version;
pub mod wait;
pub mod workload;

pub use apply::{AppliedObject, Applier, ApplyError, BeforeApply, Resolved};
pub use condition::{
    Condition, ObservedCondition, condition_false_with, condition_true, conditions,
    current_condition, exists, gone,
};
pub use object::{
    FIELD_MANAGER, MANAGED_BY_LABEL, ObjectRef, RUN_LABEL, RunLabels, SCENARIO_LABEL, Watched,
    add_labels, is_managed,
};
pub use observe::{EventSummary, ObjectSummary, Observation, TimeoutReport, WaitError};
pub use redact::{decode_base64, encode_base64, redact, secret_values};
pub use version::ServerVersion;
pub use wait::{Deadline, recent_events, wait_for, wait_for_event};
