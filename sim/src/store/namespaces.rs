//! The namespace controller: empties terminating namespaces, then lets them go.

use std::collections::BTreeMap;

use serde_json::json;
use tokio::sync::broadcast;

use super::catalog::RESOURCES;
use super::change::ChangeType;
use super::objects::{Store, Write};

impl Store {
    /// The namespace controller's work for one terminating namespace: deletes what it contains and,
    /// once nothing is left (finalizers may hold objects), removes the `kubernetes` finalizer so the
    /// namespace goes away. Returns whether the namespace is gone.
    pub fn finalize_namespace(&self, name: &str) -> bool {
        let ns_rt = RESOURCES
            .iter()
            .find(|r| r.kind == "Namespace")
            .expect("Namespace is in the catalogue");
        let Some(ns) = self.get(ns_rt, None, name) else {
            return true;
        };
        if ns["metadata"]["deletionTimestamp"].is_null() {
            return false;
        }
        let mut remaining = 0;
        for rt in RESOURCES.iter().filter(|r| r.namespaced) {
            for obj in self.list(rt, Some(name)).0 {
                let obj_name = obj["metadata"]["name"].as_str().unwrap_or_default();
                match self.delete(rt, Some(name), obj_name) {
                    Ok(_) if self.get(rt, Some(name), obj_name).is_some() => remaining += 1,
                    _ => {}
                }
            }
        }
        if remaining > 0 {
            return false;
        }
        let mut done = ns;
        done["spec"]["finalizers"] = json!([]);
        let _ = self.write(ns_rt, done, Write::Finalize, false);
        self.get(ns_rt, None, name).is_none()
    }

    /// The namespace controller: empties terminating namespaces after `grace`, then lets them go.
    /// The grace period matters: clients such as `kubectl delete -f` delete a namespace and then
    /// its contents one by one, which on a real cluster still exist for a while.
    pub async fn run_namespace_controller(self, grace: std::time::Duration) {
        use tokio::time::{Duration, Instant, sleep_until};
        let mut rx = self.subscribe();
        let mut due: BTreeMap<String, Instant> = BTreeMap::new();
        loop {
            let next = due
                .values()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                change = rx.recv() => match change {
                    Ok(c) if c.resource.kind == "Namespace" && c.kind == ChangeType::Modified
                        && c.object["metadata"]["deletionTimestamp"].is_string() => {
                        let name = c.object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                        due.entry(name).or_insert_with(|| Instant::now() + grace);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let ns_rt = RESOURCES.iter().find(|r| r.kind == "Namespace").expect("catalogue");
                        for ns in self.list(ns_rt, None).0 {
                            if ns["metadata"]["deletionTimestamp"].is_string() {
                                let name = ns["metadata"]["name"].as_str().unwrap_or_default().to_string();
                                due.entry(name).or_insert_with(|| Instant::now() + grace);
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = sleep_until(next) => {
                    let now = Instant::now();
                    let ready: Vec<String> = due.iter().filter(|(_, t)| **t <= now).map(|(n, _)| n.clone()).collect();
                    for name in ready {
                        if self.finalize_namespace(&name) {
                            due.remove(&name);
                        } else {
                            // Objects held by finalizers: look again shortly, as the controller requeues.
                            due.insert(name, now + Duration::from_millis(100));
                        }
                    }
                }
            }
        }
    }
}
