//! Transitions a continuity check (or an upgrade) puts the platform through, on the one wait
//! primitive: a workload's pods deleted and replaced by their controller, a rollout finished pod
//! by pod, a workload's rollout done.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};

use super::condition::Condition;
use super::object::Watched;
use super::wait::{Deadline, wait_for};
use super::workload::{Workload, all_pods_ready, describe};

/// A pod as it was before a transition (a replacement keeps the name of a StatefulSet pod, never
/// its UID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodId {
    /// The pod's name.
    pub name: String,
    /// The pod's UID.
    pub uid: String,
}

/// The label selector of a workload's pods (`spec.selector.matchLabels`).
pub async fn selector(client: &Client, w: &Workload) -> Result<String, String> {
    let obj = w
        .target()
        .api(client)
        .get_opt(&w.name)
        .await
        .map_err(|e| format!("reading {w}: {e}"))?
        .ok_or_else(|| format!("{w} does not exist"))?;
    let labels = obj.data["spec"]["selector"]["matchLabels"]
        .as_object()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| format!("{w} has no spec.selector.matchLabels"))?;
    Ok(labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(","))
}

/// The pods of a workload, not being deleted.
pub async fn pods_of(client: &Client, w: &Workload) -> Result<Vec<PodId>, String> {
    Ok(live_pods(client, w).await?.iter().map(PodId::of).collect())
}

/// The workload's pods that are not being deleted, as the API has them.
async fn live_pods(client: &Client, w: &Workload) -> Result<Vec<Pod>, String> {
    let selector = selector(client, w).await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), &w.namespace);
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| format!("listing the pods of {w}: {e}"))?;
    Ok(pods
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

impl PodId {
    fn of(p: &Pod) -> PodId {
        PodId {
            name: p.metadata.name.clone().unwrap_or_default(),
            uid: p.metadata.uid.clone().unwrap_or_default(),
        }
    }
}

/// Deletes pods at once (as a node failure or `kubectl delete pod` does).
pub async fn delete_pods(client: &Client, namespace: &str, pods: &[PodId]) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let deletes = pods.iter().map(|p| {
        let api = api.clone();
        async move {
            match api.delete(&p.name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(e) => Err(format!("deleting pod {namespace}/{}: {e}", p.name)),
            }
        }
    });
    futures::future::join_all(deletes)
        .await
        .into_iter()
        .collect()
}

/// The pod is gone or was replaced (another UID), and a replacement is Ready where the name is
/// reused (StatefulSet pods).
fn replaced(old: &PodId) -> Condition {
    let uid = old.uid.clone();
    Condition::new(
        format!("pod {} replaced (not UID {})", old.name, old.uid),
        move |o| match o {
            None => true,
            Some(p) => {
                p.metadata.uid.as_deref() != Some(uid.as_str())
                    && p.metadata.deletion_timestamp.is_none()
                    && p.data["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
            }
        },
    )
}

/// Waits until every pod in `old` was replaced and the workload has every desired pod Ready.
pub async fn wait_replaced(
    client: &Client,
    w: &Workload,
    old: &[PodId],
    deadline: Deadline,
) -> Result<(), String> {
    for p in old {
        let target = Watched::of::<Pod>(Some(&w.namespace), &p.name);
        wait_for(client, &target, &replaced(p), deadline.remaining())
            .await
            .map_err(|e| {
                format!(
                    "pod {}/{} of {w} was not replaced: {e}",
                    w.namespace, p.name
                )
            })?;
    }
    // The workload's status may still count the deleted pods (its controller has not caught up):
    // done only when as many pods as desired are Ready and none of them is an old one.
    loop {
        wait_ready(client, w, deadline).await?;
        let seen = wait_for(client, &w.target(), &all_pods_ready(), deadline.remaining())
            .await
            .ok()
            .flatten();
        let desired = seen
            .as_ref()
            .map_or(1, |o| o.data["spec"]["replicas"].as_i64().unwrap_or(1));
        let fresh = ready_pods_of(client, w)
            .await?
            .into_iter()
            .filter(|p| old.iter().all(|o| o.uid != p.uid))
            .count() as i64;
        if fresh >= desired {
            return Ok(());
        }
        // Wait for the workload's status to move on, then look again.
        let version = seen.and_then(|o| o.metadata.resource_version);
        let moved = Condition::new("its status updated", move |o| {
            o.is_some_and(|o| o.metadata.resource_version != version)
        });
        if let Err(e) = wait_for(client, &w.target(), &moved, deadline.remaining()).await {
            return Err(format!(
                "{w} has {fresh} of {desired} replacement pods Ready: {}\n{e}",
                describe(client, w).await
            ));
        }
    }
}

/// The workload's pods that are Ready and not being deleted.
async fn ready_pods_of(client: &Client, w: &Workload) -> Result<Vec<PodId>, String> {
    Ok(live_pods(client, w)
        .await?
        .iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .map(PodId::of)
        .collect())
}

/// Waits until the workload has every desired pod Ready (for its current generation).
pub async fn wait_ready(client: &Client, w: &Workload, deadline: Deadline) -> Result<(), String> {
    match wait_for(client, &w.target(), &all_pods_ready(), deadline.remaining()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{w} did not become Ready again: {}\n{e}",
            describe(client, w).await
        )),
    }
}

/// A StatefulSet's `status.updateRevision` (empty when it has none yet).
pub async fn update_revision(client: &Client, w: &Workload) -> Result<String, String> {
    let obj = w
        .target()
        .api(client)
        .get_opt(&w.name)
        .await
        .map_err(|e| format!("reading {w}: {e}"))?
        .ok_or_else(|| format!("{w} does not exist"))?;
    Ok(obj.data["status"]["updateRevision"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Waits until a StatefulSet's rollout away from revision `before` is done: its controller took
/// the new template (another update revision), and every ordinal's pod runs it and is Ready.
pub async fn wait_rolled_out(
    client: &Client,
    w: &Workload,
    before: &str,
    deadline: Deadline,
) -> Result<(), String> {
    let old = before.to_string();
    let new_template = Condition::new(
        format!("status.updateRevision other than {before}"),
        move |o| {
            o.is_some_and(|o| {
                o.data["status"]["updateRevision"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty() && r != old)
            })
        },
    );
    let sts = wait_for(client, &w.target(), &new_template, deadline.remaining())
        .await
        .map_err(|e| format!("{w} did not take the new template: {e}"))?
        .ok_or_else(|| format!("{w} is gone"))?;
    let revision = sts.data["status"]["updateRevision"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let replicas = sts.data["spec"]["replicas"].as_i64().unwrap_or(1);
    for i in 0..replicas {
        let name = format!("{}-{i}", w.name);
        let want = revision.clone();
        let cond = Condition::new(
            format!("pod {name} Ready at revision {revision}"),
            move |o| {
                o.is_some_and(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && p.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("controller-revision-hash"))
                            == Some(&want)
                        && p.data["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            },
        );
        let target = Watched::of::<Pod>(Some(&w.namespace), &name);
        wait_for(client, &target, &cond, deadline.remaining())
            .await
            .map_err(|e| format!("the rollout of {w} did not finish: {e}"))?;
    }
    Ok(())
}

/// The wait condition "the workload's rollout is done", as `kubectl rollout status` judges it: the
/// controller observed the current generation, every desired pod runs the current template and
/// is Ready (available), and no pod of an older template is left (a Deployment's `replicas` equal
/// to its `updatedReplicas`; a StatefulSet's `currentRevision` equal to its `updateRevision`).
pub fn rollout_done() -> Condition {
    Condition::new(
        "rollout done (every desired pod on the current template and Ready, none older left)",
        |o| {
            o.is_some_and(|o| {
                let s = &o.data["status"];
                let n = |k: &str| s[k].as_i64().unwrap_or(0);
                let desired = o.data["spec"]["replicas"].as_i64().unwrap_or(1);
                let observed = match (o.metadata.generation, s["observedGeneration"].as_i64()) {
                    (Some(g), Some(seen)) => seen >= g,
                    (None, _) => true,
                    (Some(_), None) => false,
                };
                let rest = if s["updateRevision"].is_string() {
                    n("readyReplicas") >= desired && s["currentRevision"] == s["updateRevision"]
                } else {
                    n("availableReplicas") >= desired && n("replicas") == n("updatedReplicas")
                };
                observed && n("updatedReplicas") >= desired && rest
            })
        },
    )
}

/// Waits until the workload's rollout is done ([`rollout_done`]).
pub async fn wait_rollout_done(
    client: &Client,
    w: &Workload,
    deadline: Deadline,
) -> Result<(), String> {
    match wait_for(client, &w.target(), &rollout_done(), deadline.remaining()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "the rollout of {w} did not finish: {}\n{e}",
            describe(client, w).await
        )),
    }
}

/// The StatefulSets and Deployments in `namespace` controlled by the object with `owner_uid`.
pub async fn owned_workloads(
    client: &Client,
    namespace: &str,
    owner_uid: &str,
) -> Result<Vec<Workload>, String> {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    let owned = |refs: &Option<
        Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    >| { refs.iter().flatten().any(|r| r.uid == owner_uid) };
    let mut out = Vec::new();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    for s in sets
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing StatefulSets in {namespace}: {e}"))?
    {
        if owned(&s.metadata.owner_references) {
            out.push(Workload::stateful_set(
                namespace,
                &s.metadata.name.unwrap_or_default(),
            ));
        }
    }
    let deps: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    for d in deps
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing Deployments in {namespace}: {e}"))?
    {
        if owned(&d.metadata.owner_references) {
            out.push(Workload::deployment(
                namespace,
                &d.metadata.name.unwrap_or_default(),
            ));
        }
    }
    Ok(out)
}
