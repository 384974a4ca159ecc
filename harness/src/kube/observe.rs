//! What a wait saw: secret-free object summaries, condition history, Events, and the report a
//! timeout carries.

use std::fmt;
use std::time::Duration;

use kube::api::DynamicObject;
use serde_json::Value;

use super::condition::{ObservedCondition, conditions};
use super::object::ObjectRef;

/// A condition change observed during a wait.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Time since the wait started.
    pub after: Duration,
    /// Wall-clock time it was observed.
    pub at: jiff::Timestamp,
    /// The condition (`None`: the object did not exist at that point).
    pub condition: Option<ObservedCondition>,
    /// `metadata.generation` at that point.
    pub generation: Option<i64>,
}

/// A secret-free summary of an object for reports.
#[derive(Debug, Clone)]
pub struct ObjectSummary {
    /// The object.
    pub object: ObjectRef,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `metadata.deletionTimestamp`, if deletion is pending.
    pub deleting_since: Option<String>,
    /// `metadata.finalizers`.
    pub finalizers: Vec<String>,
    /// `status.conditions`.
    pub conditions: Vec<ObservedCondition>,
    /// The rest of `status`, compact JSON, truncated; for Secrets only the data keys.
    pub status: String,
}

const STATUS_CHARS: usize = 600;

impl ObjectSummary {
    /// Summarises an observed object; Secret values are never included.
    pub fn of(object: &ObjectRef, obj: &DynamicObject) -> Self {
        let status = if object.kind == "Secret" {
            let keys = |f: &str| -> Vec<String> {
                obj.data[f]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let mut k = keys("data");
            k.extend(keys("stringData"));
            format!("keys: [{}]", k.join(", "))
        } else {
            let mut s = obj.data["status"].clone();
            if let Some(m) = s.as_object_mut() {
                m.remove("conditions");
            }
            let mut text = if s.is_null() {
                String::new()
            } else {
                s.to_string()
            };
            if text.len() > STATUS_CHARS {
                let mut cut = STATUS_CHARS;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            text
        };
        Self {
            object: object.clone(),
            generation: obj.metadata.generation,
            observed_generation: obj.data["status"]["observedGeneration"].as_i64(),
            resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
            deleting_since: obj
                .metadata
                .deletion_timestamp
                .as_ref()
                .map(|t| t.0.to_string()),
            finalizers: obj.metadata.finalizers.clone().unwrap_or_default(),
            conditions: conditions(obj),
            status,
        }
    }

    /// One line: generation, conditions.
    pub fn state(&self) -> String {
        let mut parts = Vec::new();
        if self.conditions.is_empty() {
            parts.push("no conditions yet".to_string());
        }
        for c in &self.conditions {
            parts.push(describe_condition(c));
        }
        if let Some(d) = &self.deleting_since {
            parts.push(format!(
                "deleting since {d} (finalizers: {:?})",
                self.finalizers
            ));
        }
        parts.join("; ")
    }
}

fn describe_condition(c: &ObservedCondition) -> String {
    let mut s = format!("{}={}", c.type_, c.status);
    if !c.message.is_empty() {
        s.push_str(&format!(" message `{}`", c.message));
    }
    if !c.reason.is_empty() {
        s.push_str(&format!(" reason `{}`", c.reason));
    }
    if c.stale {
        s.push_str(" (stale: older generation)");
    }
    s
}

impl fmt::Display for ObjectSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} generation {} observedGeneration {} resourceVersion {}",
            self.object,
            opt(self.generation),
            opt(self.observed_generation),
            self.resource_version
        )?;
        write!(f, "\n    state: {}", self.state())?;
        if !self.status.is_empty() {
            write!(f, "\n    status: {}", self.status)?;
        }
        Ok(())
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// A Kubernetes Event about an object, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// `Normal` or `Warning`.
    pub type_: String,
    /// E.g. `FailedCreate`.
    pub reason: String,
    /// The message.
    pub message: String,
    /// How many times it happened.
    pub count: i64,
    /// When it last happened (RFC 3339), if known.
    pub last_seen: String,
}

impl EventSummary {
    /// The summary of an Event object.
    pub fn of(e: &DynamicObject) -> Self {
        let d = &e.data;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let last_seen = [&d["lastTimestamp"], &d["eventTime"], &d["firstTimestamp"]]
            .into_iter()
            .find_map(|v| v.as_str())
            .map(str::to_string)
            .or_else(|| {
                e.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string())
            })
            .unwrap_or_default();
        Self {
            type_: text(&d["type"]),
            reason: text(&d["reason"]),
            message: text(&d["message"]),
            count: d["count"].as_i64().unwrap_or(1),
            last_seen,
        }
    }
}

impl fmt::Display for EventSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.last_seen, self.type_, self.reason, self.message
        )?;
        if self.count > 1 {
            write!(f, " (x{})", self.count)?;
        }
        Ok(())
    }
}

/// Everything known when a wait ran out of time.
#[derive(Debug, Clone)]
pub struct TimeoutReport {
    /// What was awaited, e.g. `Model financial-ml/credit-risk: condition Ready=True`.
    pub what: String,
    /// How long it waited.
    pub waited: Duration,
    /// The last observed object (`None`: never seen).
    pub last: Option<ObjectSummary>,
    /// Condition changes observed during the wait, in order.
    pub history: Vec<Observation>,
    /// The object's most recent Events (oldest first).
    pub events: Vec<EventSummary>,
    /// Why Events could not be listed, if they could not.
    pub events_error: Option<String>,
    /// The last error of the watch itself (it retries with backoff), if any.
    pub watch_error: Option<String>,
}

impl fmt::Display for TimeoutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gave up after {} waiting for {}",
            humantime::format_duration(Duration::from_secs(self.waited.as_secs())),
            self.what
        )?;
        match &self.last {
            Some(s) => write!(f, "\n  last observed: {s}")?,
            None => write!(f, "\n  last observed: the object was never seen")?,
        }
        if !self.history.is_empty() {
            write!(f, "\n  observed during the wait:")?;
            for o in &self.history {
                let what = match &o.condition {
                    Some(c) => describe_condition(c),
                    None => "object absent".into(),
                };
                write!(
                    f,
                    "\n    +{:>5.1}s ({}) generation {}: {what}",
                    o.after.as_secs_f64(),
                    o.at,
                    opt(o.generation)
                )?;
            }
        }
        if let Some(e) = &self.events_error {
            write!(f, "\n  events: could not list them: {e}")?;
        } else if self.events.is_empty() {
            write!(f, "\n  events: none recorded for this object")?;
        } else {
            write!(f, "\n  recent events:")?;
            for e in &self.events {
                write!(f, "\n    {e}")?;
            }
        }
        if let Some(e) = &self.watch_error {
            write!(f, "\n  last watch error: {e}")?;
        }
        Ok(())
    }
}

/// Why a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed; the report says what was seen.
    #[error("{0}")]
    Timeout(Box<TimeoutReport>),
    /// The watch stream ended on its own (should not happen: the watcher reconnects).
    #[error("the watch for {what} ended unexpectedly; last error: {last_error}")]
    WatchEnded {
        /// What was awaited.
        what: String,
        /// The last watch error.
        last_error: String,
    },
}

impl WaitError {
    /// The timeout report, if this is a timeout.
    pub fn report(&self) -> Option<&TimeoutReport> {
        match self {
            WaitError::Timeout(r) => Some(r),
            _ => None,
        }
    }
}
