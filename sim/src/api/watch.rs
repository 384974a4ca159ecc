//! Watch streams: newline-delimited JSON events, resumable from a resource version.
//!
//! Semantics follow the API server: no resource version (or `0`) starts with synthetic ADDED
//! events for what exists; a version resumes after it, or fails with a 410 ERROR event when it is
//! older than the kept history. An object that stops matching the selectors is sent as DELETED,
//! one that starts matching as ADDED. Bookmarks carry the last version the stream has seen.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep_until};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::output::{self, Shape};
use super::select::Selectors;
use crate::store::{ApiError, Change, ChangeType, ResourceType, Store};

/// The server's default watch duration when the client gives no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often a stream that asked for bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

/// One watch request.
pub struct WatchRequest {
    /// The watched type.
    pub rt: &'static ResourceType,
    /// One namespace, or all.
    pub namespace: Option<String>,
    /// Label and field selectors.
    pub selectors: Selectors,
    /// How event objects are shaped.
    pub shape: Shape,
    /// `resourceVersion`; `None` for unset or `0`.
    pub resource_version: Option<u64>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds`, capped by the platform's watch-dropping fault.
    pub timeout: Option<Duration>,
    /// The type's CRD, for table columns.
    pub crd: Option<Value>,
}

struct Stream {
    w: WatchRequest,
    out: mpsc::Sender<Bytes>,
    last_rv: u64,
}

impl Stream {
    fn object(&self, obj: &Value) -> Value {
        output::render_one(self.w.shape, self.w.rt, obj, self.w.crd.as_ref())
    }

    async fn send(&self, event: Value) -> bool {
        let mut line = serde_json::to_vec(&event).expect("JSON values serialize");
        line.push(b'\n');
        self.out.send(Bytes::from(line)).await.is_ok()
    }

    async fn event(&self, kind: &str, obj: &Value) -> bool {
        self.send(json!({"type": kind, "object": self.object(obj)}))
            .await
    }

    async fn bookmark(&self, initial_events_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.send(json!({"type": "BOOKMARK", "object": {"kind": self.w.rt.kind, "apiVersion": self.w.rt.api_version(), "metadata": meta}}))
            .await
    }

    fn selected(&self, obj: &Value) -> bool {
        let ns_ok = self
            .w
            .namespace
            .as_deref()
            .is_none_or(|ns| obj["metadata"]["namespace"].as_str() == Some(ns));
        ns_ok && self.w.selectors.matches(obj)
    }

    /// Sends what one change means to this watch; false when the client is gone.
    async fn change(&mut self, c: &Change) -> bool {
        self.last_rv = self.last_rv.max(c.resource_version);
        if c.resource.group != self.w.rt.group || c.resource.plural != self.w.rt.plural {
            return true;
        }
        let now = self.selected(&c.object);
        match c.kind {
            ChangeType::Added if now => self.event("ADDED", &c.object).await,
            ChangeType::Deleted if now => self.event("DELETED", &c.object).await,
            ChangeType::Modified => {
                let before = c.previous.as_ref().is_some_and(|p| self.selected(p));
                match (before, now) {
                    (true, true) => self.event("MODIFIED", &c.object).await,
                    (true, false) => self.event("DELETED", &c.object).await,
                    (false, true) => self.event("ADDED", &c.object).await,
                    (false, false) => true,
                }
            }
            _ => true,
        }
    }

    async fn run(
        mut self,
        initial: Vec<Value>,
        backlog: Vec<Change>,
        mut rx: broadcast::Receiver<Change>,
    ) {
        for obj in initial.iter().filter(|o| self.selected(o)) {
            if !self.event("ADDED", obj).await {
                return;
            }
        }
        if self.w.send_initial_events == Some(true) && !self.bookmark(true).await {
            return;
        }
        for c in &backlog {
            if !self.change(c).await {
                return;
            }
        }
        let deadline = Instant::now() + self.w.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut next_bookmark = Instant::now() + BOOKMARK_EVERY;
        loop {
            let ok = tokio::select! {
                _ = self.out.closed() => return,
                _ = sleep_until(deadline) => return,
                _ = sleep_until(next_bookmark), if self.w.bookmarks => {
                    next_bookmark = Instant::now() + BOOKMARK_EVERY;
                    self.bookmark(false).await
                }
                r = rx.recv() => match r {
                    Ok(c) => self.change(&c).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let gone = ApiError::gone("the watch fell behind the event stream; list again and watch from the new resource version");
                        self.send(json!({"type": "ERROR", "object": gone.to_status()})).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if !ok {
                return;
            }
        }
    }
}

/// Starts a watch: the response body streams events until the timeout, the client leaving, or
/// the platform shutting down (the task runs on the platform's runtime).
pub fn start(store: &Store, w: WatchRequest) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let ns = w.namespace.clone();
    let initial_wanted = match (w.resource_version, w.send_initial_events) {
        (_, Some(send)) => send,
        (None, None) => true,
        (Some(_), None) => false,
    };
    let start = match w.resource_version {
        Some(rv) if !initial_wanted => store
            .watch_from(rv)
            .map(|(backlog, live)| (vec![], backlog, live, rv)),
        _ => {
            let (items, rv, live) = store.list_and_subscribe(w.rt, ns.as_deref());
            Ok((
                if initial_wanted { items } else { vec![] },
                vec![],
                live,
                rv,
            ))
        }
    };
    match start {
        Ok((initial, backlog, live, rv)) => {
            let stream = Stream {
                w,
                out: tx,
                last_rv: rv,
            };
            tokio::spawn(stream.run(initial, backlog, live));
        }
        Err(gone) => {
            // The API server answers 200 and reports the expiry as the stream's only event.
            let mut line =
                serde_json::to_vec(&json!({"type": "ERROR", "object": gone.to_status()}))
                    .expect("JSON");
            line.push(b'\n');
            let _ = tx.try_send(Bytes::from(line));
        }
    }
    Body::from_stream(ReceiverStream::new(rx).map(Ok::<_, Infallible>))
}
