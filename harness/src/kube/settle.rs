//! When an outcome can no longer change: waits that end at a terminal state, with the proof,
//! instead of waiting out their deadline.
//!
//! - **Refused pods.** A pod template without CPU limits in a namespace whose ResourceQuota
//!   requires them is refused on every retry (`failed quota: …: must specify limits.cpu`): the
//!   verdict depends only on the template and the namespace's quotas and LimitRanges, which setup
//!   has applied before any check runs. [`pods_ready_or_refused`] ends at that event.
//! - **Failed Models.** Seldon's scheduler retries a Model in `ScheduleFailed` or `ModelFailed`
//!   only when a Server replica's agent subscribes (`scheduler.go` `ScheduleFailedModels`,
//!   `getFailedModels`; docs/seldon-behaviour.md §5). Once every Server that could take the Model
//!   is Ready with all its replicas up and reported, no retry is left to come: [`model_decision`]
//!   then watches for a late placement only for the target's settle window and returns.
//!
//! The settle window covers a decision already in flight when the Servers were seen settled (the
//! scheduler → controller → API server round trip). The embedded platform states its own (its
//! reconcile pass writes the Server's status and then the Models'); on clusters it is read from
//! the platform: the agent's readiness probe period in the ServerConfigs the Servers use (an agent
//! announces itself to the scheduler before its pod can turn Ready), twice, so a pod reported
//! Ready up to one period late and the status round trip both fit.

use std::time::Duration;

use futures::future::select_ok;
use kube::Client;
use kube::api::{Api, DynamicObject};

use super::condition::{Condition, ObservedCondition, condition_true, current_condition};
use super::object::Watched;
use super::observe::{EventSummary, WaitError};
use super::wait::{Deadline, wait_for, wait_for_event};
use super::workload::{Readiness, Workload, WorkloadKind, all_pods_ready, event_sources};

/// The refusal that repeats on every retry: quota admission requiring a limit the pod lacks.
pub const REFUSED_FOR_GOOD: &str = "must specify";

/// Model states the scheduler retries only when a Server replica connects.
pub const RETRIED_ON_CONNECT: [&str; 2] = ["ScheduleFailed", "ModelFailed"];

/// The settle window on clusters when no ServerConfig says how often agents are probed.
pub const CLUSTER_SETTLE_FALLBACK: Duration = Duration::from_secs(20);

/// Why a workload's pods are not all Ready.
#[derive(Debug)]
pub enum PodsNotReady {
    /// Pod creation is refused for good: the event proves it.
    Refused(EventSummary),
    /// The wait ended without a verdict (timeout, watch error).
    Wait(WaitError),
}

/// Waits until every desired pod of `w` is Ready, or ends at once when its pods are refused for
/// good ([`REFUSED_FOR_GOOD`]); otherwise until the deadline.
pub async fn pods_ready_or_refused(
    client: &Client,
    w: &Workload,
    deadline: Deadline,
) -> Result<Option<DynamicObject>, PodsNotReady> {
    let (target, cond) = (w.target(), all_pods_ready());
    let ready = wait_for(client, &target, &cond, deadline.remaining());
    let refused = async {
        match refusal(client, w, deadline).await {
            Some(e) => e,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = ready => r.map_err(PodsNotReady::Wait),
        e = refused => Err(PodsNotReady::Refused(e)),
    }
}

/// The refusal event about the objects pod creations of `w` are recorded on, when one comes.
async fn refusal(client: &Client, w: &Workload, deadline: Deadline) -> Option<EventSummary> {
    let sources = match w.kind {
        WorkloadKind::StatefulSet => vec![w.object()],
        WorkloadKind::Deployment => {
            // A Deployment's pods are created by its ReplicaSet: wait until it names one.
            let names_rs = Condition::new("names its ReplicaSet", |o| {
                o.is_some_and(|o| {
                    o.data["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| {
                            c["message"]
                                .as_str()
                                .and_then(super::workload::named_replica_set)
                                .is_some()
                        })
                })
            });
            wait_for(client, &w.target(), &names_rs, deadline.remaining())
                .await
                .ok()?;
            event_sources(client, w).await.ok()?
        }
    };
    if sources.is_empty() {
        return None;
    }
    let waits = sources.iter().map(|s| {
        Box::pin(wait_for_event(
            client,
            s,
            REFUSED_FOR_GOOD,
            deadline.remaining(),
        ))
    });
    select_ok(waits).await.ok().map(|(e, _)| e)
}

/// What decides whether a failed Model is final, besides the Model's own namespace.
#[derive(Debug, Clone, Default)]
pub struct Settling {
    /// Servers elsewhere that could take the Model on a broken platform, as (namespace, name).
    pub also: Vec<(String, String)>,
    /// The target's own settle window (`None`: read it from the platform, see the module docs).
    pub window: Option<Duration>,
    /// The Seldon controller's namespace (where the ServerConfigs are).
    pub controller_ns: String,
}

/// How a Model's scheduling and loading ended.
#[derive(Debug)]
pub enum ModelDecision {
    /// `ModelReady` True for the current generation (the Model as observed).
    Ready(Option<Box<DynamicObject>>),
    /// Failed, and no retry is left to come: the state and the proof.
    Final {
        /// The Model's current `ModelReady` condition.
        condition: ObservedCondition,
        /// Why it cannot change any more (the Servers seen settled, the window watched).
        proof: String,
    },
}

/// `ModelReady` True, or False in a state retried only when a Server connects.
fn decided() -> Condition {
    Condition::new(
        "condition ModelReady=True, or ModelReady=False `ScheduleFailed`/`ModelFailed`",
        |o| {
            o.and_then(|o| current_condition(o, "ModelReady"))
                .is_some_and(|c| {
                    c.status == "True"
                        || (c.status == "False" && RETRIED_ON_CONNECT.contains(&c.message.as_str()))
                })
        },
    )
}

/// Waits until Model `ns/name` is Ready (→ [`ModelDecision::Ready`]) or has failed for good
/// (→ [`ModelDecision::Final`]): failed while every Server of its namespace and of
/// `settling.also` is settled, and not placed within the settle window after that. A Model that
/// is failed but whose Servers never settle is watched until the deadline, and the timeout is
/// returned.
pub async fn model_decision(
    client: &Client,
    ns: &str,
    name: &str,
    settling: &Settling,
    deadline: Deadline,
) -> Result<ModelDecision, WaitError> {
    let also = settling.also.as_slice();
    let target = Watched::seldon("Model", ns, name);
    let ready = condition_true("ModelReady");
    let failed = failed_now();
    loop {
        let first = wait_for(client, &target, &decided(), deadline.remaining()).await?;
        if ready.is_met(first.as_ref()) {
            return Ok(ModelDecision::Ready(first.map(Box::new)));
        }
        // Watch for Ready while the Servers settle, so a Model placed meanwhile, or the deadline,
        // ends the wait with what was observed.
        let until_ready = wait_for(client, &target, &ready, deadline.remaining());
        let settled = servers_settled(client, ns, also, deadline);
        tokio::pin!(until_ready, settled);
        let servers = tokio::select! {
            r = &mut until_ready => {
                return r.map(|o| ModelDecision::Ready(o.map(Box::new)));
            }
            s = &mut settled => s,
        };
        let servers = match servers {
            Ok(s) => s,
            // Not settled: a Server may still connect and the scheduler retry. Watch to the end.
            Err(_) => {
                return until_ready
                    .await
                    .map(|o| ModelDecision::Ready(o.map(Box::new)));
            }
        };
        let (window, why) = match settling.window {
            Some(w) => (w, "the target's settle window".to_string()),
            None => cluster_window(client, ns, also, &settling.controller_ns).await,
        };
        let window = window.min(deadline.remaining());
        // The window ends early when the Model leaves its failed state (placed, or retried).
        match wait_for(client, &target, &!failed.clone(), window).await {
            Ok(_) => {
                if deadline.remaining().is_zero() {
                    return wait_for(client, &target, &ready, Duration::ZERO)
                        .await
                        .map(|o| ModelDecision::Ready(o.map(Box::new)));
                }
                // Changed within the window: judge it again.
                continue;
            }
            Err(e) => {
                let cond = e
                    .report()
                    .and_then(|r| r.last.as_ref())
                    .and_then(|l| {
                        l.conditions
                            .iter()
                            .find(|c| c.type_ == "ModelReady" && !c.stale)
                    })
                    .cloned();
                return match cond {
                    Some(condition)
                        if condition.status == "False"
                            && RETRIED_ON_CONNECT.contains(&condition.message.as_str()) =>
                    {
                        Ok(ModelDecision::Final {
                            condition,
                            proof: format!(
                                "final: {servers}, so the scheduler has no retry left (it retries failed Models only when a Server replica connects), and it stayed so for {} after that ({why})",
                                humantime::format_duration(Duration::from_millis(
                                    window.as_millis() as u64
                                ))
                            ),
                        })
                    }
                    _ => Err(e),
                };
            }
        }
    }
}

/// `ModelReady` False in a state retried only when a Server connects, for the current generation.
fn failed_now() -> Condition {
    Condition::new(
        "condition ModelReady=False `ScheduleFailed`/`ModelFailed`",
        |o| {
            o.and_then(|o| current_condition(o, "ModelReady"))
                .is_some_and(|c| {
                    c.status == "False" && RETRIED_ON_CONNECT.contains(&c.message.as_str())
                })
        },
    )
}

/// A Server is settled: `Ready` for its current generation, `status.replicas` reports every
/// desired replica, and its StatefulSet has every desired pod Ready.
fn server_settled() -> Condition {
    Condition::new(
        "Ready with every desired replica reported (status.replicas >= spec.replicas)",
        |o| {
            condition_true("Ready").is_met(o)
                && o.is_some_and(|o| {
                    let desired = o.data["spec"]["replicas"].as_i64().unwrap_or(1);
                    o.data["status"]["replicas"].as_i64().unwrap_or(0) >= desired
                })
        },
    )
}

/// Waits until every Server of `ns` and of `also` is settled; `Ok` says which, `Err` which not.
pub async fn servers_settled(
    client: &Client,
    ns: &str,
    also: &[(String, String)],
    deadline: Deadline,
) -> Result<String, String> {
    let mut servers = namespace_servers(client, ns).await?;
    for s in also {
        if !servers.contains(s) {
            servers.push(s.clone());
        }
    }
    if servers.is_empty() {
        return Ok(format!("namespace {ns} has no Server at all"));
    }
    let waits = servers.iter().map(|(sns, sname)| async move {
        let target = Watched::seldon("Server", sns, sname);
        let sts = Workload::stateful_set(sns, sname);
        let server = wait_for(client, &target, &server_settled(), deadline.remaining()).await;
        let pods = wait_for(
            client,
            &sts.target(),
            &all_pods_ready(),
            deadline.remaining(),
        )
        .await;
        match (server, pods) {
            (Ok(_), Ok(p)) => Ok(format!(
                "Server {sns}/{sname} Ready, {}",
                p.map(|p| Readiness::of(&p).to_string()).unwrap_or_default()
            )),
            _ => Err(format!("Server {sns}/{sname} is not settled")),
        }
    });
    let results = futures::future::join_all(waits).await;
    let (ok, bad): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    if bad.is_empty() {
        Ok(format!(
            "every Server that could take it is settled ({})",
            ok.into_iter().flatten().collect::<Vec<_>>().join("; ")
        ))
    } else {
        Err(bad
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// The Servers of a namespace, as (namespace, name).
async fn namespace_servers(client: &Client, ns: &str) -> Result<Vec<(String, String)>, String> {
    let r = Watched::seldon("Server", ns, "-").resource;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &r);
    let list = api
        .list(&Default::default())
        .await
        .map_err(|e| format!("cannot list the Servers of {ns}: {e}"))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .map(|n| (ns.to_string(), n))
        .collect())
}

/// The settle window on a cluster: twice the longest agent readiness-probe period of the
/// ServerConfigs the Servers use (every ServerConfig when there is no Server).
async fn cluster_window(
    client: &Client,
    ns: &str,
    also: &[(String, String)],
    controller_ns: &str,
) -> (Duration, String) {
    let config_res = Watched::seldon("ServerConfig", controller_ns, "-").resource;
    let configs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), controller_ns, &config_res);
    let Ok(all) = configs.list(&Default::default()).await else {
        return (
            CLUSTER_SETTLE_FALLBACK,
            format!("the ServerConfigs in {controller_ns} could not be read: fixed window"),
        );
    };
    let mut used: Vec<String> = Vec::new();
    let server_res = Watched::seldon("Server", ns, "-").resource;
    let mut namespaces: Vec<&str> = vec![ns];
    namespaces.extend(also.iter().map(|(n, _)| n.as_str()));
    for n in namespaces {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), n, &server_res);
        if let Ok(list) = api.list(&Default::default()).await {
            used.extend(
                list.items
                    .iter()
                    .filter_map(|s| s.data["spec"]["serverConfig"].as_str().map(str::to_string)),
            );
        }
    }
    let periods: Vec<(String, i64)> = all
        .items
        .iter()
        .filter(|c| {
            used.is_empty()
                || used
                    .iter()
                    .any(|u| Some(u.as_str()) == c.metadata.name.as_deref())
        })
        .filter_map(|c| {
            let name = c.metadata.name.clone()?;
            agent_probe_period(&c.data).map(|p| (name, p))
        })
        .collect();
    match periods.iter().max_by_key(|(_, p)| *p) {
        Some((name, p)) => (
            Duration::from_secs(2 * (*p).max(1) as u64),
            format!(
                "twice the agent's readiness-probe period {p}s of ServerConfig {controller_ns}/{name}"
            ),
        ),
        None => (
            CLUSTER_SETTLE_FALLBACK,
            "no ServerConfig states the agent's readiness-probe period: fixed window".to_string(),
        ),
    }
}

/// The agent container's readiness-probe period (Kubernetes' default 10 s when the probe has none).
fn agent_probe_period(server_config: &serde_json::Value) -> Option<i64> {
    let agent = server_config["spec"]["podSpec"]["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "agent")?;
    let probe = agent["readinessProbe"].as_object()?;
    Some(
        probe
            .get("periodSeconds")
            .and_then(|p| p.as_i64())
            .unwrap_or(10),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_failed_state_retried_on_connect_is_decided() {
        let m = |status: &str, message: &str| {
            obj(
                json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
                "metadata": {"name": "m", "namespace": "ns", "generation": 1},
                "status": {"observedGeneration": 1, "conditions": [
                    {"type": "ModelReady", "status": status, "message": message}]}}),
            )
        };
        assert!(decided().is_met(Some(&m("True", "ModelAvailable"))));
        assert!(decided().is_met(Some(&m("False", "ScheduleFailed"))));
        assert!(decided().is_met(Some(&m("False", "ModelFailed"))));
        assert!(!decided().is_met(Some(&m("False", "ModelProgressing"))));
        assert!(!decided().is_met(None));
    }

    #[test]
    fn a_server_is_settled_only_with_every_replica_reported() {
        let s = |replicas: Option<i64>, desired: i64| {
            let mut v = json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Server",
                "metadata": {"name": "s", "namespace": "ns", "generation": 1},
                "spec": {"replicas": desired},
                "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}});
            if let Some(r) = replicas {
                v["status"]["replicas"] = json!(r);
            }
            obj(v)
        };
        assert!(server_settled().is_met(Some(&s(Some(2), 2))));
        assert!(!server_settled().is_met(Some(&s(Some(1), 2))));
        assert!(!server_settled().is_met(Some(&s(None, 1))));
    }

    #[test]
    fn the_agent_probe_period_comes_from_the_server_config() {
        let sc = json!({"spec": {"podSpec": {"containers": [
            {"name": "rclone", "readinessProbe": {"periodSeconds": 30}},
            {"name": "agent", "readinessProbe": {"periodSeconds": 5, "httpGet": {"path": "/ready"}}}]}}});
        assert_eq!(agent_probe_period(&sc), Some(5));
        let default = json!({"spec": {"podSpec": {"containers": [
            {"name": "agent", "readinessProbe": {"httpGet": {"path": "/ready"}}}]}}});
        assert_eq!(agent_probe_period(&default), Some(10));
        let none = json!({"spec": {"podSpec": {"containers": [{"name": "agent"}]}}});
        assert_eq!(agent_probe_period(&none), None);
    }
}
