//! `v1 Event` recording with the API server's aggregation (same object, reason and message → count+1).

use serde_json::{Value, json};

use super::objects::{name, namespace, now, res};
use crate::store::Store;

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
    let (events, _) = store.list(res("Event"), Some(&ns));
    let same = events.into_iter().find(|e| {
        e["involvedObject"]["kind"] == involved_ref["kind"]
            && e["involvedObject"]["name"] == involved_ref["name"]
            && e["reason"] == reason
            && e["message"] == message
            && e["source"]["component"] == component
    });
    let result = match same {
        Some(mut e) => {
            e["count"] = json!(e["count"].as_i64().unwrap_or(1) + 1);
            e["lastTimestamp"] = json!(ts);
            store.update(res("Event"), e)
        }
        None => {
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
