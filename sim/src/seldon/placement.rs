//! Which server pods a Model is loaded on, across passes (docs/seldon-behaviour.md §25): loads
//! take `MODEL_LOAD` and stick to the pods that hold them; agents keep serving what they loaded
//! while the scheduler is away; a restarted scheduler learns Models again from agents that still
//! hold them and from the controller re-sending every Model on reconnect (unless the defect
//! SchedulerForgetsModelsOnRestart drops that second path); envoy keeps a model's routes to
//! replicas that still hold it during a Server rollout (unless EnvoyDropsDuringRollout).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::components::{NAME_LABEL, SERVER_LABEL};
use super::runtime::RuntimeView;
use super::traffic::ready_pods;
use crate::control::context::Ctx;
use crate::control::memory::{LATE, MODEL_LOAD, Placement};
use crate::control::objects::{name, namespace, res};
use crate::dataplane::Predictor;
use crate::faults::Defect;

fn uid(o: &Value) -> String {
    o["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn generation(m: &Value) -> i64 {
    m["metadata"]["generation"].as_i64().unwrap_or(1)
}

/// The pods a placement's agents hold the model on: still Ready, same pod, load completed.
fn holding(ctx: &Ctx, ns: &str, server: &str, p: &Placement) -> Vec<Value> {
    ready_pods(&ctx.store, ns, SERVER_LABEL, server)
        .into_iter()
        .filter(|pod| {
            p.pods
                .get(name(pod))
                .is_some_and(|(u, at)| *u == uid(pod) && *at <= ctx.pass_started)
        })
        .collect()
}

/// Notices each namespace's scheduler restart (a new Ready scheduler pod). Under the defect,
/// Models no agent still holds are forgotten: the controller does not re-send them.
pub(super) fn notice_scheduler_restarts(
    ctx: &mut Ctx,
    models: &[Value],
    runtimes: &BTreeMap<String, RuntimeView>,
) {
    for (ns, _) in runtimes.iter().filter(|(_, r)| r.scheduler_up) {
        let Some(now) = ready_pods(&ctx.store, ns, NAME_LABEL, "seldon-scheduler")
            .first()
            .map(uid)
        else {
            continue;
        };
        let restarted = ctx
            .memory
            .schedulers
            .insert(ns.clone(), now.clone())
            .is_some_and(|before| before != now);
        if !restarted || !ctx.faults.has(Defect::SchedulerForgetsModelsOnRestart) {
            continue;
        }
        for m in models.iter().filter(|m| namespace(m) == ns) {
            let Some(p) = ctx.memory.models.get(&uid(m)) else {
                continue;
            };
            if holding(ctx, &p.server_ns, &p.server, p).is_empty() {
                tracing::debug!(model = name(m), "scheduler restarted: model forgotten");
                if let Some(p) = ctx.memory.models.get_mut(&uid(m)) {
                    p.forgotten = true;
                }
            }
        }
    }
}

/// Whether the scheduler forgot this Model (defect), until its spec changes.
pub(super) fn forgotten(ctx: &mut Ctx, m: &Value) -> bool {
    let g = generation(m);
    match ctx.memory.models.get_mut(&uid(m)) {
        Some(p) if p.forgotten && p.generation == g => true,
        Some(p) if p.forgotten => {
            // A spec change makes the controller send LoadModel: the scheduler learns it again.
            ctx.memory.models.remove(&uid(m));
            false
        }
        _ => false,
    }
}

/// What the agents still serve of a Model's placement for its current generation.
pub(super) struct Kept {
    /// Pods holding it, Ready.
    pub pods: Vec<Value>,
    /// The Server's namespace.
    pub server_ns: String,
    /// The loaded artifact.
    pub artifact: PathBuf,
    /// The loaded predictor.
    pub predictor: Arc<dyn Predictor>,
}

/// The pods still holding the Model, if it was placed before (agents keep serving what they
/// loaded whatever the scheduler does meanwhile).
pub(super) fn kept(ctx: &Ctx, m: &Value) -> Option<Kept> {
    let p = ctx.memory.models.get(&uid(m))?;
    Some(Kept {
        pods: holding(ctx, &p.server_ns, &p.server, p),
        server_ns: p.server_ns.clone(),
        artifact: p.artifact.clone(),
        predictor: p.predictor.clone(),
    })
}

/// Where a placed Model is loaded now.
pub(super) struct Loaded {
    /// Pods that finished loading it (envoy routes to these).
    pub pods: Vec<Value>,
    /// Whether every chosen pod finished loading.
    pub complete: bool,
}

/// Chooses `replicas` of the Server's Ready pods for the Model, the pods that hold it first; a
/// newly chosen pod loads it for `MODEL_LOAD`.
pub(super) fn place(
    ctx: &mut Ctx,
    m: &Value,
    (server_ns, server): (&str, &str),
    replicas: usize,
    ready: &[Value],
    (artifact, predictor): (&PathBuf, &Arc<dyn Predictor>),
) -> Loaded {
    let now = ctx.pass_started;
    let key = uid(m);
    let before = ctx
        .memory
        .models
        .get(&key)
        .filter(|p| p.server == server && p.server_ns == server_ns)
        .map(|p| p.pods.clone())
        .unwrap_or_default();
    // Placed before and held nowhere now: every replica went (a Server restart). The scheduler
    // retries it when a replica registers (`ScheduleFailedModels`), unless ServerReloadDelayed.
    let lost = before.is_empty() && ctx.memory.models.contains_key(&key);
    let mut chosen: Vec<&Value> = ready.iter().collect();
    chosen.sort_by_key(|pod| {
        let holds = before.get(name(pod)).is_some_and(|(u, _)| *u == uid(pod));
        (!holds, name(pod).to_string())
    });
    chosen.truncate(replicas);
    let pods: BTreeMap<String, (String, std::time::Instant)> = chosen
        .iter()
        .map(|pod| {
            let at = match before.get(name(pod)) {
                Some((u, at)) if *u == uid(pod) => *at,
                // Defect ServerReloadDelayed: a pod that replaced another waits for the
                // scheduler's next retry instead of getting its models when it registers.
                _ if lost
                    && ctx.faults.has(Defect::ServerReloadDelayed)
                    && ctx.memory.replacements.contains(&uid(pod)) =>
                {
                    now + LATE
                }
                _ => now + MODEL_LOAD,
            };
            (name(pod).to_string(), (uid(pod), at))
        })
        .collect();
    if let Some(next) = pods
        .values()
        .map(|(_, at)| *at)
        .filter(|at| *at > now)
        .min()
    {
        ctx.memory.wake_at(next);
    }
    let loaded: Vec<Value> = chosen
        .iter()
        .filter(|pod| pods[name(pod)].1 <= now)
        .map(|pod| (*pod).clone())
        .collect();
    let complete = loaded.len() == chosen.len();
    ctx.memory.models.insert(
        key,
        Placement {
            pods,
            generation: generation(m),
            server: server.to_string(),
            server_ns: server_ns.to_string(),
            artifact: artifact.clone(),
            predictor: predictor.clone(),
            forgotten: false,
        },
    );
    Loaded {
        pods: loaded,
        complete,
    }
}

/// Keeps only the pods still holding a Model whose placement failed (the scheduler keeps live
/// replicas of a Model it cannot reschedule: `FailedScheduling(..., !HasLiveReplicas())`).
pub(super) fn keep_live(ctx: &mut Ctx, m: &Value, live: &[Value]) {
    if let Some(p) = ctx.memory.models.get_mut(&uid(m)) {
        p.pods.retain(|n, _| live.iter().any(|pod| name(pod) == n));
    }
}

/// Forgets placements of Models that no longer exist.
pub(super) fn prune(ctx: &mut Ctx, models: &[Value]) {
    let live: std::collections::HashSet<String> = models.iter().map(uid).collect();
    ctx.memory.models.retain(|k, _| live.contains(k));
}

/// Defect EnvoyDropsDuringRollout: whether envoy dropped the routes of models on this Server
/// because one of its pods is being replaced by a rollout (a pod of another revision, or fewer
/// pods than replicas while some are of the update revision).
pub(super) fn routes_dropped(ctx: &Ctx, server_ns: &str, server: &str) -> bool {
    if !ctx.faults.has(Defect::EnvoyDropsDuringRollout) {
        return false;
    }
    let Some(sts) = ctx.store.get(res("StatefulSet"), Some(server_ns), server) else {
        return false;
    };
    let revision = sts["status"]["updateRevision"].as_str().unwrap_or_default();
    let (pods, _) = ctx.store.list(res("Pod"), Some(server_ns));
    pods.iter()
        .filter(|p| p["metadata"]["labels"][SERVER_LABEL] == server)
        .any(|p| p["metadata"]["labels"]["controller-revision-hash"] != revision)
}
