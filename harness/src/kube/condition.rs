//! Wait conditions: predicates over a watched object that compose and describe themselves, and
//! reading `status.conditions` with `observedGeneration` respected.

use std::fmt;
use std::sync::Arc;

use kube::api::DynamicObject;
use serde_json::Value;

type Test = dyn Fn(Option<&DynamicObject>) -> bool + Send + Sync;

/// A predicate over the watched object (`None`: it does not exist), with a description.
#[derive(Clone)]
pub struct Condition {
    description: String,
    test: Arc<Test>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl Condition {
    /// A custom condition; `description` is shown in progress logs and timeout reports.
    pub fn new(
        description: impl Into<String>,
        test: impl Fn(Option<&DynamicObject>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            description: description.into(),
            test: Arc::new(test),
        }
    }

    /// What the condition waits for.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether it holds for an observed object.
    pub fn is_met(&self, obj: Option<&DynamicObject>) -> bool {
        (self.test)(obj)
    }

    /// Both hold (described as `a and b`).
    pub fn and(self, other: Condition) -> Condition {
        let description = format!("{} and {}", self.description, other.description);
        Condition::new(description, move |o| self.is_met(o) && other.is_met(o))
    }

    /// Either holds (described as `a or b`).
    pub fn or(self, other: Condition) -> Condition {
        let description = format!("{} or {}", self.description, other.description);
        Condition::new(description, move |o| self.is_met(o) || other.is_met(o))
    }
}

impl std::ops::Not for Condition {
    type Output = Condition;

    /// It does not hold (described as `not (a)`).
    fn not(self) -> Condition {
        let description = format!("not ({})", self.description);
        Condition::new(description, move |o| !self.is_met(o))
    }
}

/// The object exists.
pub fn exists() -> Condition {
    Condition::new("exists", |o| o.is_some())
}

/// The object no longer exists (deleted, finalizers done).
pub fn gone() -> Condition {
    Condition::new("is deleted", |o| o.is_none())
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCondition {
    /// `Ready`, `ModelReady`, ...
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Machine-readable reason (Seldon: the scheduler's free text).
    pub reason: String,
    /// Message (Seldon: the state name, e.g. `ScheduleFailed`).
    pub message: String,
    /// Whether it was reported for an older generation than the object's current one.
    pub stale: bool,
}

/// The conditions of an object, each marked stale if it predates `metadata.generation`.
pub fn conditions(obj: &DynamicObject) -> Vec<ObservedCondition> {
    let generation = obj.metadata.generation;
    let status_og = obj.data["status"]["observedGeneration"].as_i64();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    obj.data["status"]["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let og = c["observedGeneration"].as_i64().or(status_og);
                    ObservedCondition {
                        type_: text(&c["type"]),
                        status: text(&c["status"]),
                        reason: text(&c["reason"]),
                        message: text(&c["message"]),
                        stale: matches!((og, generation), (Some(og), Some(g)) if og < g),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A condition by type, only if it is current (not stale).
pub fn current_condition(obj: &DynamicObject, type_: &str) -> Option<ObservedCondition> {
    conditions(obj)
        .into_iter()
        .find(|c| c.type_ == type_ && !c.stale)
}

/// `status.conditions[type]` is `True` for the current generation.
pub fn condition_true(type_: &str) -> Condition {
    let t = type_.to_string();
    Condition::new(format!("condition {type_}=True"), move |o| {
        o.and_then(|o| current_condition(o, &t))
            .is_some_and(|c| c.status == "True")
    })
}

/// `status.conditions[type]` is `False` for the current generation, with `message` equal to
/// `message` (empty: any) and a reason containing `reason_contains` (empty: any).
///
/// Seldon sets message = state name (`ScheduleFailed`) and reason = the scheduler's text.
pub fn condition_false_with(type_: &str, message: &str, reason_contains: &str) -> Condition {
    let (t, m, r) = (
        type_.to_string(),
        message.to_string(),
        reason_contains.to_string(),
    );
    let mut description = format!("condition {type_}=False");
    if !message.is_empty() {
        description.push_str(&format!(" with message `{message}`"));
    }
    if !reason_contains.is_empty() {
        description.push_str(&format!(" and reason containing `{reason_contains}`"));
    }
    Condition::new(description, move |o| {
        o.and_then(|o| current_condition(o, &t)).is_some_and(|c| {
            c.status == "False"
                && (m.is_empty() || c.message == m)
                && (r.is_empty() || c.reason.contains(&r))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(ready: &str, message: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
            "metadata": {"name": "m", "namespace": "ns", "generation": 1},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "ModelReady", "status": ready, "message": message}]}
        }))
        .unwrap()
    }

    #[test]
    fn conditions_compose_and_describe_themselves() {
        let failed = condition_false_with("ModelReady", "ScheduleFailed", "");
        let decided = condition_true("ModelReady").or(failed.clone());
        assert!(decided.is_met(Some(&model("True", "ModelAvailable"))));
        assert!(decided.is_met(Some(&model("False", "ScheduleFailed"))));
        assert!(!decided.is_met(Some(&model("False", "ModelProgressing"))));
        assert!(!decided.is_met(None));
        let present_not_failed = exists().and(!failed);
        assert!(present_not_failed.is_met(Some(&model("False", "ModelProgressing"))));
        assert!(!present_not_failed.is_met(Some(&model("False", "ScheduleFailed"))));
        assert!(!present_not_failed.is_met(None));
        assert!(decided.description().contains(" or "), "{decided:?}");
        assert!(
            present_not_failed
                .description()
                .starts_with("exists and not (")
        );
    }
}
