//! The one wait primitive: a watch-based condition with a deadline that explains itself on timeout.
//!
//! [`wait_for`] watches one object by name (`metadata.name` field selector) until a [`Condition`]
//! holds or the deadline passes. A timeout is never a bare "timed out": [`TimeoutReport`] holds the
//! last observed object (summarised; Secret data never), the condition history with the times it
//! was observed during the wait, and the object's recent Events. [`wait_for_event`] waits for an
//! Event about an object whose message contains a text (quota rejections), on the same loop.
//!
//! Conditions respect `observedGeneration`: a condition reported for an older generation than
//! `metadata.generation` is stale and never satisfies a wait.
//!
//! Long waits log progress (`tracing::info!`) every [`PROGRESS_EVERY`] naming what is awaited and
//! the current state.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::time::Instant;

use crate::apply::ObjectRef;

/// How often a long wait logs what it is waiting for.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How many recent Events a timeout report keeps.
pub const MAX_EVENTS: usize = 10;

/// An object to watch: its reference and its resolved API resource.
#[derive(Debug, Clone)]
pub struct Target {
    /// The object.
    pub object: ObjectRef,
    /// Its API resource (plural, group, version).
    pub resource: ApiResource,
}

/// The plural of a Seldon Core v2 kind (`mlops.seldon.io/v1alpha1`).
fn seldon_plural(kind: &str) -> String {
    format!("{}s", kind.to_ascii_lowercase())
}

impl Target {
    /// A target from a reference and its API resource.
    pub fn new(object: ObjectRef, resource: ApiResource) -> Self {
        Self { object, resource }
    }

    /// A Seldon Core v2 object (`Model`, `Server`, `SeldonRuntime`, `Pipeline`, `Experiment`).
    pub fn seldon(kind: &str, namespace: &str, name: &str) -> Self {
        let object = ObjectRef::new("mlops.seldon.io/v1alpha1", kind, Some(namespace), name);
        let resource = ApiResource::from_gvk_with_plural(&object.gvk(), &seldon_plural(kind));
        Self { object, resource }
    }

    /// A typed Kubernetes object (`Target::of::<StatefulSet>(Some("ns"), "name")`).
    pub fn of<K>(namespace: Option<&str>, name: &str) -> Self
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let resource = ApiResource::erase::<K>(&());
        let object = ObjectRef::new(&resource.api_version, &resource.kind, namespace, name);
        Self { object, resource }
    }

    /// A target resolved through the applier's discovery cache.
    pub async fn resolve(
        applier: &crate::apply::Applier,
        object: &ObjectRef,
    ) -> Result<Self, crate::apply::ApplyError> {
        let r = applier.resolve(object).await?;
        Ok(Self::new(object.clone(), r.resource))
    }

    fn api(&self, client: &Client) -> Api<DynamicObject> {
        match &self.object.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }
}

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
    fn of(e: &DynamicObject) -> Self {
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

/// The result of the shared watch loop: either the evaluator's answer or what was seen.
enum LoopEnd<T> {
    Done(T),
    TimedOut {
        objects: BTreeMap<String, DynamicObject>,
        last_error: Option<String>,
    },
    Ended(String),
}

/// The watch loop every wait uses: keeps the current set of watched objects, evaluates `eval`
/// after every change (once the initial list is complete), logs progress, stops at the deadline.
async fn watch_loop<T>(
    api: Api<DynamicObject>,
    config: watcher::Config,
    timeout: Duration,
    what: &str,
    mut eval: impl FnMut(&BTreeMap<String, DynamicObject>, Duration) -> Option<T>,
    progress: impl Fn(&BTreeMap<String, DynamicObject>) -> String,
) -> LoopEnd<T> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut objects: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut listing: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut listed = false;
    let mut last_error: Option<String> = None;
    let mut ticker = tokio::time::interval_at(start + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        let changed = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return LoopEnd::TimedOut { objects, last_error };
            }
            _ = ticker.tick() => {
                let state = if listed { progress(&objects) } else { "not listed yet".to_string() };
                tracing::info!(
                    "waiting for {what}: {state} ({}s of {}s)",
                    start.elapsed().as_secs(),
                    timeout.as_secs()
                );
                false
            }
            ev = stream.next() => match ev {
                None => return LoopEnd::Ended(last_error.unwrap_or_else(|| "none".into())),
                Some(Err(e)) => {
                    tracing::debug!("watch for {what}: {e}");
                    last_error = Some(e.to_string());
                    false
                }
                Some(Ok(Event::Init)) => {
                    listing.clear();
                    false
                }
                Some(Ok(Event::InitApply(o))) => {
                    listing.insert(key(&o), o);
                    false
                }
                Some(Ok(Event::InitDone)) => {
                    objects = std::mem::take(&mut listing);
                    listed = true;
                    true
                }
                Some(Ok(Event::Apply(o))) => {
                    objects.insert(key(&o), o);
                    true
                }
                Some(Ok(Event::Delete(o))) => {
                    objects.remove(&key(&o));
                    true
                }
            }
        };
        if changed
            && listed
            && let Some(t) = eval(&objects, start.elapsed())
        {
            return LoopEnd::Done(t);
        }
    }
}

fn key(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        o.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Waits until `cond` holds for the target object, or `timeout` passes.
///
/// Returns the object as last observed (`None` when the condition is met by absence, e.g.
/// [`gone`]). On timeout the error carries a [`TimeoutReport`].
pub async fn wait_for(
    client: &Client,
    target: &Target,
    cond: &Condition,
    timeout: Duration,
) -> Result<Option<DynamicObject>, WaitError> {
    let what = format!("{}: {}", target.object, cond.description());
    let config =
        watcher::Config::default().fields(&format!("metadata.name={}", target.object.name));
    let mut history: Vec<Observation> = Vec::new();
    let mut last_seen: Option<DynamicObject> = None;
    let name = target.object.name.clone();
    let end = watch_loop(
        target.api(client),
        config,
        timeout,
        &what,
        |objects, after| {
            let obj = objects
                .values()
                .find(|o| o.metadata.name.as_deref() == Some(name.as_str()));
            record(&mut history, obj, after);
            if obj.is_some() {
                last_seen = obj.cloned();
            }
            cond.is_met(obj).then(|| obj.cloned())
        },
        |objects| match objects.values().next() {
            Some(o) => ObjectSummary::of(&target.object, o).state(),
            None => "does not exist".into(),
        },
    )
    .await;
    match end {
        LoopEnd::Done(obj) => Ok(obj),
        LoopEnd::Ended(e) => Err(WaitError::WatchEnded {
            what,
            last_error: e,
        }),
        LoopEnd::TimedOut { last_error, .. } => {
            let (events, events_error) = match recent_events(client, &target.object).await {
                Ok(e) => (e, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            Err(WaitError::Timeout(Box::new(TimeoutReport {
                what,
                waited: timeout,
                last: last_seen.map(|o| ObjectSummary::of(&target.object, &o)),
                history,
                events,
                events_error,
                watch_error: last_error,
            })))
        }
    }
}

/// Appends the object's condition changes (or its disappearance) to the history.
fn record(history: &mut Vec<Observation>, obj: Option<&DynamicObject>, after: Duration) {
    let at = jiff::Timestamp::now();
    let Some(obj) = obj else {
        if history.last().is_none_or(|h| h.condition.is_some()) {
            history.push(Observation {
                after,
                at,
                condition: None,
                generation: None,
            });
        }
        return;
    };
    for c in conditions(obj) {
        let last_of_type = history
            .iter()
            .rev()
            .find_map(|h| h.condition.as_ref().filter(|hc| hc.type_ == c.type_));
        if last_of_type != Some(&c) {
            history.push(Observation {
                after,
                at,
                condition: Some(c),
                generation: obj.metadata.generation,
            });
        }
    }
}

fn event_resource() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&())
}

/// The field selector for Events about an object.
fn event_selector(object: &ObjectRef) -> String {
    let mut s = format!(
        "involvedObject.name={},involvedObject.kind={}",
        object.name, object.kind
    );
    if let Some(ns) = &object.namespace {
        s.push_str(&format!(",involvedObject.namespace={ns}"));
    }
    s
}

fn events_api(client: &Client, object: &ObjectRef) -> Api<DynamicObject> {
    // Events about cluster-scoped objects live in `default`; list across namespaces for those.
    match &object.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &event_resource()),
        None => Api::all_with(client.clone(), &event_resource()),
    }
}

fn sort_events(mut events: Vec<EventSummary>) -> Vec<EventSummary> {
    events.sort_by(|a, b| a.last_seen.cmp(&b.last_seen));
    let skip = events.len().saturating_sub(MAX_EVENTS);
    events.split_off(skip)
}

/// The most recent Events about an object (at most [`MAX_EVENTS`], oldest first).
pub async fn recent_events(
    client: &Client,
    object: &ObjectRef,
) -> Result<Vec<EventSummary>, String> {
    let lp = ListParams::default().fields(&event_selector(object));
    let list = events_api(client, object)
        .list(&lp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(sort_events(
        list.items.iter().map(EventSummary::of).collect(),
    ))
}

/// Waits until an Event about `object` has a message containing `message_contains`.
///
/// Returns that Event. On timeout the report lists the Events that were seen, and the object.
pub async fn wait_for_event(
    client: &Client,
    object: &ObjectRef,
    message_contains: &str,
    timeout: Duration,
) -> Result<EventSummary, WaitError> {
    let what = format!("an Event about {object} containing `{message_contains}`");
    let config = watcher::Config::default().fields(&event_selector(object));
    let end = watch_loop(
        events_api(client, object),
        config,
        timeout,
        &what,
        |events, _| {
            events
                .values()
                .map(EventSummary::of)
                .find(|e| e.message.contains(message_contains))
        },
        |events| format!("{} events so far", events.len()),
    )
    .await;
    match end {
        LoopEnd::Done(e) => Ok(e),
        LoopEnd::Ended(e) => Err(WaitError::WatchEnded {
            what,
            last_error: e,
        }),
        LoopEnd::TimedOut {
            objects,
            last_error,
        } => Err(WaitError::Timeout(Box::new(TimeoutReport {
            what,
            waited: timeout,
            last: None,
            history: Vec::new(),
            events: sort_events(objects.values().map(EventSummary::of).collect()),
            events_error: None,
            watch_error: last_error,
        }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(generation: i64, observed: i64, conds: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
            "metadata": {"name": "m", "namespace": "ns", "generation": generation},
            "status": {"observedGeneration": observed, "conditions": conds}
        }))
        .unwrap()
    }

    #[test]
    fn ready_predating_the_generation_is_stale() {
        let ready = json!([{"type": "Ready", "status": "True"}]);
        assert!(condition_true("Ready").is_met(Some(&obj(2, 2, ready.clone()))));
        assert!(!condition_true("Ready").is_met(Some(&obj(3, 2, ready.clone()))));
        assert!(!condition_true("Ready").is_met(None));
        // A per-condition observedGeneration wins over the status-level one.
        let per = json!([{"type": "Ready", "status": "True", "observedGeneration": 1}]);
        assert!(!condition_true("Ready").is_met(Some(&obj(2, 2, per))));
    }

    #[test]
    fn schedule_failed_matches_message_and_reason() {
        let failed = json!([{"type": "ModelReady", "status": "False", "message": "ScheduleFailed",
            "reason": "Failed to schedule model as no matching servers are available"}]);
        let o = obj(1, 1, failed);
        assert!(
            condition_false_with("ModelReady", "ScheduleFailed", "no matching servers")
                .is_met(Some(&o))
        );
        assert!(condition_false_with("ModelReady", "", "").is_met(Some(&o)));
        assert!(!condition_false_with("ModelReady", "ModelFailed", "").is_met(Some(&o)));
        assert!(
            !condition_false_with("ModelReady", "", "enough suitable replicas").is_met(Some(&o))
        );
        assert!(!condition_true("ModelReady").is_met(Some(&o)));
    }

    #[test]
    fn history_records_changes_only() {
        let mut h = Vec::new();
        let p = obj(
            1,
            1,
            json!([{"type": "Ready", "status": "False", "message": "ModelProgressing"}]),
        );
        record(&mut h, Some(&p), Duration::from_secs(1));
        record(&mut h, Some(&p), Duration::from_secs(2));
        let r = obj(
            1,
            1,
            json!([{"type": "Ready", "status": "True", "message": "ModelAvailable"}]),
        );
        record(&mut h, Some(&r), Duration::from_secs(3));
        record(&mut h, None, Duration::from_secs(4));
        record(&mut h, None, Duration::from_secs(5));
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].condition.as_ref().unwrap().status, "True");
        assert!(h[2].condition.is_none());
    }

    #[test]
    fn secret_summaries_show_keys_not_values() {
        let s: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns"},
            "data": {"s3": "c2VjcmV0LXZhbHVl"}, "stringData": {"x": "plain-secret"}
        }))
        .unwrap();
        let r = ObjectRef::new("v1", "Secret", Some("ns"), "s");
        let text = ObjectSummary::of(&r, &s).to_string();
        assert!(text.contains("keys: [s3, x]"), "{text}");
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("plain-secret"),
            "{text}"
        );
    }

    #[test]
    fn timeout_report_explains_itself() {
        let o = obj(
            2,
            1,
            json!([{"type": "Ready", "status": "False", "message": "ScheduleFailed", "reason": "no matching servers"}]),
        );
        let r = ObjectRef::new("mlops.seldon.io/v1alpha1", "Model", Some("ns"), "m");
        let mut history = Vec::new();
        record(&mut history, Some(&o), Duration::from_millis(1500));
        let report = TimeoutReport {
            what: format!("{r}: condition Ready=True"),
            waited: Duration::from_secs(30),
            last: Some(ObjectSummary::of(&r, &o)),
            history,
            events: vec![EventSummary {
                type_: "Warning".into(),
                reason: "FailedCreate".into(),
                message: "forbidden: failed quota".into(),
                count: 3,
                last_seen: "2025-07-04T10:00:00Z".into(),
            }],
            events_error: None,
            watch_error: None,
        };
        let text = report.to_string();
        for want in [
            "gave up after 30s waiting for Model ns/m: condition Ready=True",
            "generation 2 observedGeneration 1",
            "Ready=False message `ScheduleFailed` reason `no matching servers` (stale",
            "+  1.5s",
            "Warning FailedCreate: forbidden: failed quota (x3)",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
    }

    #[test]
    fn event_selectors_name_the_object() {
        let r = ObjectRef::new(
            "apps/v1",
            "StatefulSet",
            Some("financial-ml"),
            "seldon-scheduler",
        );
        assert_eq!(
            event_selector(&r),
            "involvedObject.name=seldon-scheduler,involvedObject.kind=StatefulSet,involvedObject.namespace=financial-ml"
        );
        assert_eq!(
            Target::seldon("SeldonRuntime", "ns", "rt").resource.plural,
            "seldonruntimes"
        );
    }
}
