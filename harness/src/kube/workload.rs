//! Workloads (StatefulSets and Deployments) and their pods: readiness as their controllers report
//! it, the objects pod-creation events are recorded on, and one-line descriptions for failures.
//!
//! Admission rejections never appear on the workload's status: the StatefulSet or ReplicaSet
//! controller records them as `FailedCreate` Warning events. For a Deployment the events are on
//! its ReplicaSets, so event lookups go there.

use std::fmt;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};

use super::condition::Condition;
use super::object::{ObjectRef, Watched};
use super::observe::EventSummary;
use super::wait::recent_events;

/// The two workload kinds Seldon creates for runtime components and Servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// `apps/v1 StatefulSet` (scheduler, Servers).
    StatefulSet,
    /// `apps/v1 Deployment` (envoy, gateways, dataflow engine, hodometer).
    Deployment,
}

/// A workload by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// StatefulSet or Deployment.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::Deployment => "Deployment",
        };
        write!(f, "{kind} {}/{}", self.namespace, self.name)
    }
}

impl Workload {
    /// Parses `<Kind>/<name>` as written in a `quotaRejects` check.
    pub fn parse(namespace: &str, text: &str) -> Result<Workload, String> {
        let (kind, name) = text.split_once('/').ok_or_else(|| {
            format!("workload `{text}` is not `<Kind>/<name>`, e.g. `StatefulSet/seldon-scheduler`")
        })?;
        let kind = match kind {
            "StatefulSet" => WorkloadKind::StatefulSet,
            "Deployment" => WorkloadKind::Deployment,
            other => {
                return Err(format!(
                    "workload kind `{other}` in `{text}`: use StatefulSet or Deployment"
                ));
            }
        };
        if name.is_empty() {
            return Err(format!("workload `{text}` has no name after the `/`"));
        }
        Ok(Workload {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        })
    }

    /// A StatefulSet.
    pub fn stateful_set(namespace: &str, name: &str) -> Workload {
        Workload {
            kind: WorkloadKind::StatefulSet,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A Deployment.
    pub fn deployment(namespace: &str, name: &str) -> Workload {
        Workload {
            kind: WorkloadKind::Deployment,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The object reference.
    pub fn object(&self) -> ObjectRef {
        self.target().object
    }

    /// The wait target.
    pub fn target(&self) -> Watched {
        match self.kind {
            WorkloadKind::StatefulSet => {
                Watched::of::<StatefulSet>(Some(&self.namespace), &self.name)
            }
            WorkloadKind::Deployment => {
                Watched::of::<Deployment>(Some(&self.namespace), &self.name)
            }
        }
    }
}

/// Replica counts of a workload as its controller reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// `spec.replicas` (default 1).
    pub desired: i64,
    /// `status.replicas`: pods that exist.
    pub created: i64,
    /// `status.readyReplicas`.
    pub ready: i64,
    /// Whether the status is for the current generation.
    pub current: bool,
}

impl Readiness {
    /// Reads the counts from a workload object.
    pub fn of(obj: &DynamicObject) -> Readiness {
        let status = &obj.data["status"];
        let generation = obj.metadata.generation;
        let observed = status["observedGeneration"].as_i64();
        Readiness {
            desired: obj.data["spec"]["replicas"].as_i64().unwrap_or(1),
            created: status["replicas"].as_i64().unwrap_or(0),
            ready: status["readyReplicas"].as_i64().unwrap_or(0),
            current: match (generation, observed) {
                (Some(g), Some(o)) => o >= g,
                (None, _) => true,
                (Some(_), None) => false,
            },
        }
    }

    /// Every desired pod is Ready, for the current generation. Stricter than Seldon's own
    /// component conditions (`readyReplicas >= status.replicas`), which call a workload whose
    /// pods were all rejected (0 >= 0) Ready.
    pub fn complete(&self) -> bool {
        self.current && self.ready >= self.desired
    }
}

impl fmt::Display for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} pods Ready, {} created",
            self.ready, self.desired, self.created
        )?;
        if !self.current {
            write!(f, " (status not yet for the current generation)")?;
        }
        Ok(())
    }
}

/// The wait condition "every desired pod of the workload is Ready".
pub fn all_pods_ready() -> Condition {
    Condition::new(
        "every desired pod Ready (readyReplicas >= spec.replicas)",
        |o| o.is_some_and(|o| Readiness::of(o).complete()),
    )
}

/// The ReplicaSets of a Deployment: those it owns, and the one its `Progressing` condition
/// names (`ReplicaSet "<name>" is progressing.`), which also covers platforms that record
/// ReplicaSet events without serving ReplicaSet objects.
pub async fn replica_sets(client: &Client, w: &Workload) -> Result<Vec<String>, kube::Error> {
    let deps: Api<Deployment> = Api::namespaced(client.clone(), &w.namespace);
    let Some(dep) = deps.get_opt(&w.name).await? else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = dep
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .filter_map(|c| c.message.as_deref().and_then(named_replica_set))
        .collect();
    let uid = dep.metadata.uid.unwrap_or_default();
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), &w.namespace);
    // Listing ReplicaSets is best effort: the condition already names the current one.
    if let Ok(list) = rss.list(&ListParams::default()).await {
        names.extend(
            list.items
                .into_iter()
                .filter(|rs| {
                    rs.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.uid == uid)
                })
                .filter_map(|rs| rs.metadata.name),
        );
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The ReplicaSet a Deployment condition message names (`ReplicaSet "x" is progressing.`,
/// `Created new replica set "x"`).
pub fn named_replica_set(message: &str) -> Option<String> {
    let at = ["ReplicaSet \"", "replica set \""]
        .iter()
        .find_map(|p| message.find(p).map(|i| i + p.len()))?;
    let (name, _) = message[at..].split_once('"')?;
    (!name.is_empty()).then(|| name.to_string())
}

/// The objects Kubernetes records pod-creation events on: the StatefulSet itself, or the
/// ReplicaSets of a Deployment.
pub async fn event_sources(client: &Client, w: &Workload) -> Result<Vec<ObjectRef>, kube::Error> {
    match w.kind {
        WorkloadKind::StatefulSet => Ok(vec![w.object()]),
        WorkloadKind::Deployment => Ok(replica_sets(client, w)
            .await?
            .into_iter()
            .map(|n| ObjectRef::new("apps/v1", "ReplicaSet", Some(&w.namespace), &n))
            .collect()),
    }
}

/// Pods of the workload (by its selector's `matchLabels`).
pub async fn pods(client: &Client, w: &Workload) -> Result<Vec<Pod>, kube::Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &w.namespace, &w.target().resource);
    let Some(obj) = api.get_opt(&w.name).await? else {
        return Ok(Vec::new());
    };
    let selector = match obj.data["spec"]["selector"]["matchLabels"].as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        _ => return Ok(Vec::new()),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &w.namespace);
    Ok(pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

/// The most recent Warning event about the workload, its ReplicaSets or its pods.
pub async fn latest_warning(client: &Client, w: &Workload) -> Option<EventSummary> {
    let mut sources = event_sources(client, w).await.unwrap_or_default();
    if w.kind == WorkloadKind::Deployment {
        sources.push(w.object());
    }
    for p in pods(client, w).await.unwrap_or_default() {
        if let Some(n) = p.metadata.name {
            sources.push(ObjectRef::new("v1", "Pod", Some(&w.namespace), &n));
        }
    }
    let mut warnings = Vec::new();
    for s in &sources {
        if let Ok(events) = recent_events(client, s).await {
            warnings.extend(events.into_iter().filter(|e| e.type_ == "Warning"));
        }
    }
    warnings.sort_by(|a, b| a.last_seen.cmp(&b.last_seen));
    warnings.pop()
}

/// A workload's readiness and latest warning in one line, for failure messages.
pub async fn describe(client: &Client, w: &Workload) -> String {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &w.namespace, &w.target().resource);
    let state = match api.get_opt(&w.name).await {
        Ok(Some(o)) => Readiness::of(&o).to_string(),
        Ok(None) => "does not exist".to_string(),
        Err(e) => format!("could not be read: {e}"),
    };
    let unready: Vec<String> = pods(client, w)
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(pod_not_ready)
        .collect();
    let unready = if unready.is_empty() {
        String::new()
    } else {
        format!("; not Ready: {}", unready.join(", "))
    };
    match latest_warning(client, w).await {
        Some(e) => format!(
            "{w}: {state}{unready}; latest Warning event: {} {}",
            e.reason, e.message
        ),
        None => format!("{w}: {state}{unready}; no Warning events"),
    }
}

/// `name (phase, container states)` of a pod that is not Ready; `None` when it is.
fn pod_not_ready(p: &Pod) -> Option<String> {
    let status = p.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if ready {
        return None;
    }
    let mut why: Vec<String> = vec![format!(
        "phase {}",
        status.phase.as_deref().unwrap_or("unknown")
    )];
    for c in status.container_statuses.iter().flatten() {
        if c.ready {
            continue;
        }
        let waiting = c
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone());
        let mut line = match waiting {
            Some(r) => format!("container {} waiting: {r}", c.name),
            None => format!("container {} not ready", c.name),
        };
        if c.restart_count > 0 {
            line.push_str(&format!(", {} restarts", c.restart_count));
        }
        // A crash-looping container's last exit says why it failed.
        if let Some(t) = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
            line.push_str(&format!(
                ", last exit {} {}",
                t.exit_code,
                t.reason.as_deref().unwrap_or_default()
            ));
            if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
                line.push_str(&format!(": {m}"));
            }
        }
        why.push(line);
    }
    Some(format!(
        "pod {} ({})",
        p.metadata.name.as_deref().unwrap_or_default(),
        why.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_replica_set_in_deployment_conditions() {
        assert_eq!(
            named_replica_set("ReplicaSet \"seldon-envoy-5d7f8\" is progressing.").as_deref(),
            Some("seldon-envoy-5d7f8")
        );
        assert_eq!(
            named_replica_set("Created new replica set \"seldon-envoy-5d7f8\"").as_deref(),
            Some("seldon-envoy-5d7f8")
        );
        assert_eq!(
            named_replica_set("Deployment has minimum availability."),
            None
        );
    }

    #[test]
    fn parses_workloads_and_names_bad_ones() {
        let w = Workload::parse("ns", "StatefulSet/seldon-scheduler").unwrap();
        assert_eq!(w.to_string(), "StatefulSet ns/seldon-scheduler");
        assert!(
            Workload::parse("ns", "seldon-scheduler")
                .unwrap_err()
                .contains("<Kind>/<name>")
        );
        assert!(
            Workload::parse("ns", "Pod/x")
                .unwrap_err()
                .contains("StatefulSet or Deployment")
        );
        assert!(
            Workload::parse("ns", "Deployment/")
                .unwrap_err()
                .contains("no name")
        );
    }
}
