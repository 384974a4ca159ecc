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
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::time::Instant;

use super::condition::{Condition, conditions};
use super::object::{ObjectRef, Watched};
use super::observe::{EventSummary, ObjectSummary, Observation, TimeoutReport, WaitError};

/// How often a long wait logs what it is waiting for.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How many recent Events a timeout report keeps.
pub const MAX_EVENTS: usize = 10;

/// One deadline shared by every wait of a check, so a check never takes longer than its timeout
/// of platform time: time the check could not run or slept backing off from a transient API
/// error (`kube::clock`) is credited back, up to a few times the timeout.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    total: Duration,
    credit_at_start: Duration,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
            total: timeout,
            credit_at_start: super::clock::credit(),
        }
    }

    /// Time left (zero once passed), credit included.
    pub fn remaining(&self) -> Duration {
        let credit = super::clock::credit()
            .saturating_sub(self.credit_at_start)
            .min(self.total * super::clock::MAX_CREDIT_FACTOR);
        (self.at + credit).saturating_duration_since(Instant::now())
    }

    /// The whole timeout, for messages.
    pub fn total(&self) -> Duration {
        self.total
    }
}

/// How long past its timeout a wait may take to finish its first listing: a wait judges the
/// object as it is, rather than giving up without having looked (a wait started with no time
/// left still looks once).
pub const FIRST_LOOK: Duration = Duration::from_secs(2);
/// Whether finished waits record how long they took (see [`record_wait_durations`]).
static RECORDING: AtomicBool = AtomicBool::new(false);
/// How long each wait took, while recording.
static DURATIONS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// Turns recording of wait durations on or off for the whole process (off by default). The
/// benchmark uses it to work out what a polling client would have asked for the same waits.
pub fn record_wait_durations(on: bool) {
    RECORDING.store(on, Ordering::SeqCst);
}

/// The durations recorded since the last call, oldest first.
pub fn take_wait_durations() -> Vec<Duration> {
    std::mem::take(&mut *DURATIONS.lock().unwrap_or_else(|e| e.into_inner()))
}

fn recorded<T>(start: Instant, end: LoopEnd<T>) -> LoopEnd<T> {
    if RECORDING.load(Ordering::Relaxed) {
        DURATIONS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(start.elapsed());
    }
    end
}

/// The result of the shared watch loop: either the evaluator's answer or what was seen.
enum LoopEnd<T> {
    Done(T),
    TimedOut {
        objects: BTreeMap<String, DynamicObject>,
        last_error: Option<String>,
        waited: Duration,
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
    let credit0 = super::clock::credit();
    let mut deadline = start + timeout;
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut objects: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut listing: BTreeMap<String, DynamicObject> = BTreeMap::new();
    let mut listed = false;
    let mut last_error: Option<String> = None;
    let mut ticker = tokio::time::interval_at(start + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        let changed = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                // Stalls and retry backoff are not the platform's time (`kube::clock`).
                let credit = super::clock::credit()
                    .saturating_sub(credit0)
                    .min(timeout * super::clock::MAX_CREDIT_FACTOR);
                let now = Instant::now();
                if start + timeout + credit > now {
                    deadline = start + timeout + credit;
                } else if !listed && now < start + timeout + FIRST_LOOK {
                    deadline = start + timeout + FIRST_LOOK;
                } else {
                    return recorded(start, LoopEnd::TimedOut { objects, last_error, waited: start.elapsed() });
                }
                false
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
                None => return recorded(start, LoopEnd::Ended(last_error.unwrap_or_else(|| "none".into()))),
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
            return recorded(start, LoopEnd::Done(t));
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
    target: &Watched,
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
        LoopEnd::TimedOut {
            last_error, waited, ..
        } => {
            if let Some(pull) = last_seen
                .as_ref()
                .and_then(super::incident::image_pull_backoff)
            {
                super::incident::record(pull);
            }
            let (events, events_error) = match recent_events(client, &target.object).await {
                Ok(e) => (e, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            Err(WaitError::Timeout(Box::new(TimeoutReport {
                what,
                waited,
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
            waited,
        } => Err(WaitError::Timeout(Box::new(TimeoutReport {
            what,
            waited,
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
    use crate::kube::condition::{condition_false_with, condition_true};
    use serde_json::Value;
    use serde_json::json;

    fn obj(generation: i64, observed: i64, conds: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
            "metadata": {"name": "m", "namespace": "ns", "generation": generation},
            "status": {"observedGeneration": observed, "conditions": conds}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn retry_backoff_is_credited_to_the_deadline_up_to_its_length() {
        crate::kube::clock::metering(async {
            let d = Deadline::after(Duration::from_millis(100));
            crate::kube::clock::add_backoff(Duration::from_millis(60));
            let r = d.remaining();
            assert!(r > Duration::from_millis(100), "{r:?}");
            crate::kube::clock::add_backoff(Duration::from_secs(10));
            let r = d.remaining();
            assert!(r <= Duration::from_millis(500), "credit is capped: {r:?}");
            assert!(r > Duration::from_millis(450), "{r:?}");
        })
        .await;
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
            Watched::seldon("SeldonRuntime", "ns", "rt").resource.plural,
            "seldonruntimes"
        );
    }
}
