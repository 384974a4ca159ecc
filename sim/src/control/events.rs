//! `v1 Event` recording as client-go's `EventCorrelator` does it for the controllers
//! (`tools/record/events_cache.go`): an event identical to a recent one increments its `count` and
//! `lastTimestamp` instead of creating another; from the 10th distinct message about the same
//! object, source, type and reason within 10 minutes, one event `(combined from similar
//! events): <latest message>` takes them all; and the spam filter drops events about one object
//! from one source beyond a burst of 25 (refilled one per 5 minutes, approximated here as: at
//! most 25 recorded within the last 5 minutes). Seen on a real 1.20.2 controller-manager: a
//! Deployment under a quota gets nine `Error creating: pods "web-…" is forbidden: …` events and
//! one combined event (docs/real-apiserver-facts.md, Events).

use serde_json::{Value, json};

use super::objects::{name, namespace, now, res};
use crate::store::Store;

/// Distinct messages per object, source, type and reason before they are combined.
const MAX_SIMILAR: usize = 10;
/// How long similar events are remembered for combining (seconds).
const SIMILAR_WINDOW: i64 = 600;
/// Events per object and source the spam filter lets through in its window.
const SPAM_BURST: i64 = 25;
/// The spam filter's refill interval (seconds).
const SPAM_WINDOW: i64 = 300;
/// What client-go puts before the latest message of a combined event.
const COMBINED: &str = "(combined from similar events): ";

fn age_seconds(ts: &Value, now: jiff::Timestamp) -> i64 {
    ts.as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(i64::MAX, |t| now.as_second() - t.as_second())
}

/// Records an event about `involved` (an object, or a reference with kind/name/namespace).
pub fn record_event(
    store: &Store,
    involved: &Value,
    type_: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let ns = namespace(involved).to_string();
    let involved_ref = json!({
        "apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": name(involved),
        "namespace": ns, "uid": involved["metadata"]["uid"], "resourceVersion": involved["metadata"]["resourceVersion"],
    });
    let ts = now();
    let at = jiff::Timestamp::now();
    let (events, _) = store.list(res("Event"), Some(&ns));
    let about: Vec<Value> = events
        .into_iter()
        .filter(|e| {
            let o = &e["involvedObject"];
            o["kind"] == involved_ref["kind"]
                && o["name"] == involved_ref["name"]
                && o["uid"] == involved_ref["uid"]
                && e["source"]["component"] == component
        })
        .collect();
    let recent: i64 = about
        .iter()
        .filter(|e| age_seconds(&e["lastTimestamp"], at) < SPAM_WINDOW)
        .map(|e| e["count"].as_i64().unwrap_or(1))
        .sum();
    if recent >= SPAM_BURST {
        tracing::debug!(reason, "event dropped by the spam filter");
        return;
    }
    let similar: Vec<&Value> = about
        .iter()
        .filter(|e| {
            e["type"] == type_
                && e["reason"] == reason
                && age_seconds(&e["lastTimestamp"], at) <= SIMILAR_WINDOW
        })
        .collect();
    let combined = similar.iter().find(|e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(COMBINED))
    });
    let same = combined
        .map(|e| (e, format!("{COMBINED}{message}")))
        .or_else(|| {
            similar
                .iter()
                .find(|e| e["message"] == message)
                .map(|e| (e, message.to_string()))
        });
    let result = match same {
        Some((e, msg)) => {
            let mut e = (*e).clone();
            e["count"] = json!(e["count"].as_i64().unwrap_or(1) + 1);
            e["lastTimestamp"] = json!(ts);
            e["message"] = json!(msg);
            store.update(res("Event"), e)
        }
        None => {
            let mut distinct: Vec<&str> = similar
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect();
            distinct.push(message);
            distinct.sort_unstable();
            distinct.dedup();
            let message = if distinct.len() >= MAX_SIMILAR {
                format!("{COMBINED}{message}")
            } else {
                message.to_string()
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            store.create(
                res("Event"),
                json!({
                    "metadata": {"name": format!("{}.{:x}", name(involved), nanos), "namespace": ns},
                    "involvedObject": involved_ref, "reason": reason, "message": message, "type": type_,
                    "count": 1, "firstTimestamp": ts, "lastTimestamp": ts,
                    "source": {"component": component}, "reportingComponent": component,
                }),
            )
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "event not recorded");
    }
}
