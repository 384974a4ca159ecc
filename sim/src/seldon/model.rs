//! Model scheduling and loading, as Seldon's scheduler and agents do it (docs/seldon-behaviour.md §4, §5, §10).
//!
//! - Only the namespace's own scheduler schedules a Model (cluster-wide controller, one
//!   scheduler per SeldonRuntime). Without a reachable scheduler the operator's `LoadModel`
//!   fails and `updateStatusFromError` sets `ModelReady` False, message `ModelProgressing`
//!   (retryable gRPC Unavailable), reason = the gRPC error (model_controller.go).
//! - Server filters (requirements ⊆ capabilities, `spec.server`, connected replicas) failing
//!   for every Server → `ScheduleFailed`, "Failed to schedule model as no matching servers are
//!   available"; replica filters (memory) leaving too few replicas → "... no matching server had
//!   enough suitable replicas" (scheduler.go). Message = state name, reason = scheduler text.
//! - Loading: the agent reads `spec.secretName` from the namespace (exactly one key, rclone
//!   config whose `name` is the storageUri scheme) and downloads the artifact; failures →
//!   `ModelFailed` with the agent's error as reason, in the agent's words (`storage`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use super::agent;
use super::components::SERVER_LABEL;
use super::placement;
use super::runtime::RuntimeView;
use super::scope::Controller;
use super::server::ServerInfo;
use super::storage;
use super::traffic::{dial, endpoint_address, envoy_upstream, grpc_dial_error, ready_pods};
use crate::admission::quantity::Quantity;
use crate::artifact::ModelArtifact;
use crate::control::context::{Ctx, Served};
use crate::control::objects::{condition, deleting, name, namespace, res, set_status};
use crate::dataplane::{Predictor, Upstream};
use crate::decision::LoanDecision;
use crate::faults::Defect;
use crate::network::NetworkView;

/// Scheduler text when no Server passes the server filters.
pub const NO_MATCHING_SERVERS: &str =
    "Failed to schedule model as no matching servers are available";
/// Scheduler text when Servers match but too few replicas are suitable.
pub const NOT_ENOUGH_REPLICAS: &str =
    "Failed to schedule model as no matching server had enough suitable replicas";

enum Outcome {
    /// No scheduler to talk to: the operator's LoadModel error.
    NoScheduler(String),
    /// No scheduler, but the Model was placed before: its agents keep serving it and no status
    /// event reaches the controller (docs/seldon-behaviour.md §25).
    Kept(placement::Kept),
    /// The scheduler could not place it; replicas that still hold it keep serving.
    ScheduleFailed(&'static str, Option<placement::Kept>),
    Failed(String),
    Available {
        server: String,
        server_ns: String,
        replicas: usize,
        /// Whether every chosen replica finished loading (else `ModelProgressing`).
        complete: bool,
        /// Whether envoy routes to it (some replica loaded, routes not dropped).
        routed: bool,
        artifact: PathBuf,
        predictor: Arc<dyn Predictor>,
        upstream: Upstream,
    },
}

/// The finalizer Seldon's controller puts on every Model it reconciles (`constants.ModelFinalizerName`).
pub const MODEL_FINALIZER: &str = "seldon.model.finalizer";

/// The controller's `handleFinalizer` (docs/seldon-behaviour.md §15): it adds the finalizer to
/// every Model it watches; a deleted Model keeps it until the namespace's scheduler unloaded it
/// (the `ModelTerminated` event), so with no scheduler up, or none the controller can reach (its
/// `UnloadModel` call fails `Unavailable` and is retried), deletion hangs (upstream #5043).
pub(crate) fn finalize(
    ctx: &Ctx,
    ctl: &Controller,
    view: &NetworkView,
    runtimes: &BTreeMap<String, RuntimeView>,
) {
    let (models, _) = ctx.store.list(res("Model"), None);
    let controllers = ready_pods(
        &ctx.store,
        &ctl.namespace,
        "control-plane",
        "v2-controller-manager",
    );
    let unpoliced = ctx.faults.seldon_traffic_unpoliced();
    let unloads = |ns: &str| {
        runtimes.get(ns).is_some_and(|r| r.scheduler_up)
            && controller_unconnected(view, &controllers, ns, unpoliced).is_none()
    };
    for m in models.iter().filter(|m| ctl.watches(namespace(m))) {
        let finalizers = strings(&m["metadata"]["finalizers"]);
        let has = finalizers.iter().any(|f| f == MODEL_FINALIZER);
        let wanted: Option<Vec<String>> = if !deleting(m) && !has {
            Some(
                finalizers
                    .into_iter()
                    .chain([MODEL_FINALIZER.to_string()])
                    .collect(),
            )
        } else if deleting(m) && has && unloads(namespace(m)) {
            Some(
                finalizers
                    .into_iter()
                    .filter(|f| f != MODEL_FINALIZER)
                    .collect(),
            )
        } else {
            None
        };
        if let Some(f) = wanted {
            let mut updated = m.clone();
            updated["metadata"]["finalizers"] = json!(f);
            // A conflict means the object changed: the next pass sees the new version.
            let _ = ctx.store.update(res("Model"), updated);
        }
    }
}

/// Schedules every watched Model; returns the models each namespace's endpoint serves.
pub(crate) fn reconcile(
    ctx: &mut Ctx,
    ctl: &Controller,
    view: &NetworkView,
    runtimes: &BTreeMap<String, RuntimeView>,
    servers: &mut [ServerInfo],
) -> (HashMap<String, Vec<Served>>, Vec<PendingStatus>) {
    let (mut models, _) = ctx.store.list(res("Model"), None);
    // Status writes wait until the endpoints serve the models: a Model must never be reported
    // Ready before its endpoint answers for it (Seldon's agent loads it first).
    let mut statuses = Vec::new();
    // Earlier models keep their place, as they were scheduled first.
    models.sort_by(|a, b| {
        (
            a["metadata"]["creationTimestamp"].as_str(),
            a["metadata"]["uid"].as_str(),
        )
            .cmp(&(
                b["metadata"]["creationTimestamp"].as_str(),
                b["metadata"]["uid"].as_str(),
            ))
    });
    let cross = ctx.faults.has(Defect::CrossNamespaceScheduling);
    let memory_ignored = ctx.faults.has(Defect::MemoryNotAccounted);
    let unpoliced = ctx.faults.seldon_traffic_unpoliced();
    let controllers = ready_pods(
        &ctx.store,
        &ctl.namespace,
        "control-plane",
        "v2-controller-manager",
    );
    let mut served: HashMap<String, Vec<Served>> = HashMap::new();
    placement::prune(ctx, &models);
    placement::notice_scheduler_restarts(ctx, &models, runtimes);
    for m in models
        .iter()
        .filter(|m| ctl.watches(namespace(m)) && !deleting(m))
    {
        let ns = namespace(m).to_string();
        // Under the defect the scheduler lost it: no status event, nothing serves it.
        if placement::forgotten(ctx, m) {
            continue;
        }
        let scheduler_up = runtimes.get(&ns).is_some_and(|r| r.scheduler_up);
        let controller_cut = if scheduler_up && !cross {
            controller_unconnected(view, &controllers, &ns, unpoliced)
        } else {
            None
        };
        let outcome = if !scheduler_up && !cross {
            match placement::kept(ctx, m) {
                Some(k) => Outcome::Kept(k),
                None => Outcome::NoScheduler(scheduler_error(ctx, &ns)),
            }
        } else if let Some(e) = controller_cut {
            match placement::kept(ctx, m) {
                Some(k) => Outcome::Kept(k),
                None => Outcome::NoScheduler(e),
            }
        } else {
            match schedule(m, servers, cross, memory_ignored) {
                Err(why) => {
                    // Defect ScalingBeyondServerUnloads: the replicas it has are unloaded too.
                    let live = placement::kept(ctx, m)
                        .filter(|k| !k.pods.is_empty())
                        .filter(|_| !ctx.faults.has(Defect::ScalingBeyondServerUnloads));
                    placement::keep_live(ctx, m, live.as_ref().map_or(&[], |k| &k.pods));
                    Outcome::ScheduleFailed(why, live)
                }
                Ok((idx, placed)) => {
                    let pods = ready_pods(
                        &ctx.store,
                        &servers[idx].namespace,
                        SERVER_LABEL,
                        &servers[idx].name,
                    );
                    let agent_ns = servers[idx].namespace.clone();
                    // The defect breaks placement only: the Model's own Secret still reaches
                    // the agent that loads it (storage rules otherwise unchanged).
                    let secret_ns = if cross { ns.clone() } else { agent_ns.clone() };
                    match load(
                        ctx,
                        view,
                        m,
                        (&agent_ns, &secret_ns),
                        pods.first(),
                        unpoliced,
                    ) {
                        Err(why) => {
                            release(m, &mut servers[idx], &placed, memory_ignored);
                            Outcome::Failed(why)
                        }
                        Ok((artifact, predictor)) => {
                            let (sns, sname) = (&servers[idx].namespace, &servers[idx].name);
                            let loaded = placement::place(
                                ctx,
                                m,
                                (sns, sname),
                                placed.len(),
                                &pods,
                                (&artifact, &predictor),
                            );
                            Outcome::Available {
                                server: sname.clone(),
                                server_ns: sns.clone(),
                                replicas: placed.len(),
                                complete: loaded.complete,
                                routed: !loaded.pods.is_empty()
                                    && !placement::routes_dropped(ctx, sns, sname),
                                artifact,
                                predictor,
                                upstream: envoy_upstream(
                                    &ctx.store,
                                    view,
                                    &ns,
                                    &loaded.pods,
                                    unpoliced,
                                ),
                            }
                        }
                    }
                }
            }
        };
        let prev = &m["status"]["conditions"];
        let generation = m["metadata"]["generation"].clone();
        let never_ready = ctx.faults.has(Defect::ModelNeverReady);
        let (ready, state, reason, extra) = match &outcome {
            Outcome::NoScheduler(e) => {
                (false, "ModelProgressing", e.clone(), json!({"replicas": 0}))
            }
            // No event reaches the controller: the status stays as it was.
            Outcome::Kept(_) => (false, "", String::new(), Value::Null),
            // Defect WrongScheduleReason: the filter dump of scheduler versions before PR #5107
            // (upstream #4767) instead of the scheduler's text.
            Outcome::ScheduleFailed(..) if ctx.faults.has(Defect::WrongScheduleReason) => (
                false,
                "ScheduleFailed",
                format!(
                    "failed to schedule model {}. [failed server filter ServerRequirementFilter]",
                    name(m)
                ),
                json!({"replicas": 0}),
            ),
            Outcome::ScheduleFailed(why, live) => (
                false,
                "ScheduleFailed",
                why.to_string(),
                json!({"replicas": live.as_ref().map_or(0, |k| k.pods.len())}),
            ),
            // Defect StorageErrorsHidden: the agent's LOAD_FAILED never reaches the Model.
            Outcome::Failed(_) if ctx.faults.has(Defect::StorageErrorsHidden) => (
                false,
                "ModelProgressing",
                String::new(),
                json!({"replicas": 0}),
            ),
            Outcome::Failed(why) => (false, "ModelFailed", why.clone(), json!({"replicas": 0})),
            Outcome::Available { .. } if never_ready => (
                false,
                "ModelProgressing",
                String::new(),
                json!({"replicas": 0}),
            ),
            // Some replica still loading: Seldon reports the model progressing meanwhile.
            Outcome::Available {
                replicas,
                complete: false,
                ..
            } => (
                false,
                "ModelProgressing",
                String::new(),
                json!({"replicas": replicas}),
            ),
            Outcome::Available {
                server, replicas, ..
            } => (
                true,
                "ModelAvailable",
                String::new(),
                json!({"replicas": replicas, "availableReplicas": replicas, "selector": format!("server={server}")}),
            ),
        };
        let mut extra = extra;
        if ctx.faults.has(Defect::AvailableReplicasPruned)
            && let Some(o) = extra.as_object_mut()
        {
            // A structural schema without the field: the API server prunes it (docs §25).
            o.remove("availableReplicas");
        }
        if ctx.faults.has(Defect::UpgradeBreaksExistingModels) {
            // Seldon before 2.8.4 wrote no `status.selector` (added by PR #5932); the upgrade's
            // Model CRD then requires it (docs/seldon-behaviour.md §20).
            if let Some(o) = extra.as_object_mut() {
                o.remove("selector");
            }
        }
        let serve = match &outcome {
            Outcome::Available {
                server_ns,
                artifact,
                predictor,
                upstream,
                routed: true,
                ..
            } if !never_ready => Some((
                server_ns.clone(),
                artifact.clone(),
                predictor.clone(),
                upstream.clone(),
            )),
            Outcome::Kept(k) | Outcome::ScheduleFailed(_, Some(k)) if !k.pods.is_empty() => Some((
                k.server_ns.clone(),
                k.artifact.clone(),
                k.predictor.clone(),
                envoy_upstream(&ctx.store, view, &ns, &k.pods, unpoliced),
            )),
            _ => None,
        };
        if let Some((server_ns, artifact, predictor, upstream)) = serve {
            // The model's own endpoint serves it; cross-namespace scheduling serves it where the server is.
            let endpoint_ns = if runtimes.get(&ns).is_some_and(|r| r.mesh_up) {
                ns.clone()
            } else {
                server_ns.clone()
            };
            let own = endpoint_ns == ns;
            served.entry(endpoint_ns).or_default().push(Served {
                name: name(m).to_string(),
                version: "1".to_string(),
                artifact,
                predictor,
                // Envoy of another namespace (cross-namespace defect) is not judged.
                upstream: if own { upstream } else { Upstream::default() },
            });
        }
        if matches!(outcome, Outcome::Kept(_)) {
            continue;
        }
        // knative CreateAndSetCondition(type, status, message = state, reason = text); Ready mirrors ModelReady.
        let mut status = json!({
            "observedGeneration": generation,
            "conditions": [condition(prev, "ModelReady", ready, &reason, state), condition(prev, "Ready", ready, &reason, state)],
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            status[k] = v.clone();
        }
        statuses.push((m.clone(), status));
    }
    (served, statuses)
}

/// A Model and the status to write for it.
pub(crate) type PendingStatus = (Value, Value);

/// Writes the statuses `reconcile` computed (after the endpoints were synced).
pub(crate) fn publish(ctx: &Ctx, statuses: Vec<PendingStatus>) {
    for (m, status) in statuses {
        set_status(&ctx.store, res("Model"), &m, status);
    }
}

/// The operator's gRPC error when no controller pod connects to `seldon-scheduler.<ns>:9004`
/// (docs/seldon-behaviour.md §17); `None` when one does, or when there is no controller pod to judge.
fn controller_unconnected(
    view: &NetworkView,
    controllers: &[Value],
    ns: &str,
    unpoliced: bool,
) -> Option<String> {
    let host = format!("seldon-scheduler.{ns}");
    let mut last = None;
    for pod in controllers {
        match dial(view, pod, &format!("{host}:9004"), unpoliced) {
            Ok(()) => return None,
            Err(why) => last = Some(why),
        }
    }
    last.map(|why| grpc_dial_error(&host, 9004, &why))
}

/// The gRPC error the operator gets when it cannot reach `seldon-scheduler.<ns>:9004`.
pub(super) fn scheduler_error(ctx: &Ctx, ns: &str) -> String {
    match ctx
        .store
        .get(res("Service"), Some(ns), "seldon-scheduler")
        .and_then(|s| s["spec"]["clusterIP"].as_str().map(str::to_string))
    {
        Some(ip) => format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp {ip}:9004: connect: connection refused\""
        ),
        None => format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp: lookup seldon-scheduler.{ns} on 10.96.0.10:53: no such host\""
        ),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Memory a model needs, in bytes (0 when unset).
fn model_memory(m: &Value) -> i128 {
    m["spec"]["memory"]
        .as_str()
        .and_then(Quantity::parse)
        .map(|q| q.units_ceil())
        .unwrap_or(0)
}

/// Picks a server and reserves memory on its replicas; returns (server index, replicas placed).
///
/// As `scheduleToServer` (docs/seldon-behaviour.md §21 capacity): every candidate Server is tried
/// for the desired replicas first; only when none has enough suitable replicas, and
/// `minReplicas` > 0, every candidate again for at least `minReplicas`, taking as many suitable
/// replicas as it has (at most the desired count).
fn schedule(
    m: &Value,
    servers: &mut [ServerInfo],
    cross: bool,
    memory_ignored: bool,
) -> Result<(usize, Vec<usize>), &'static str> {
    let ns = namespace(m);
    let requirements = strings(&m["spec"]["requirements"]);
    let wanted_server = m["spec"]["server"].as_str();
    let replicas = m["spec"]["replicas"].as_i64().unwrap_or(1).max(1) as usize;
    let min_replicas = m["spec"]["minReplicas"].as_i64().unwrap_or(0).max(0) as usize;
    // Defect MemoryNotAccounted: the replica memory filter lets every replica through.
    let memory = if memory_ignored { 0 } else { model_memory(m) };
    let mut candidates: Vec<usize> = (0..servers.len())
        .filter(|&i| {
            let s = &servers[i];
            (s.namespace == ns || cross)
                && s.connected_replicas > 0
                && wanted_server.is_none_or(|w| w == s.name)
                && requirements
                    .iter()
                    .all(|r| s.capabilities.iter().any(|c| c == r))
        })
        .collect();
    if candidates.is_empty() {
        return Err(NO_MATCHING_SERVERS);
    }
    // Own namespace first, then by name, for a stable choice.
    candidates.sort_by_key(|&i| (servers[i].namespace != ns, servers[i].name.clone()));
    let passes = if min_replicas > 0 && min_replicas < replicas {
        vec![replicas, min_replicas]
    } else {
        vec![replicas]
    };
    for needed in passes {
        for &i in &candidates {
            let s = &mut servers[i];
            // The agent announces its memory plus the overcommit share (agent `state_manager.go`
            // GetAvailableMemoryBytesWithOverCommit); AvailableMemoryReplicaFilter compares with it.
            let capacity = s.memory_bytes + s.memory_bytes * s.overcommit_percent / 100;
            let suitable: Vec<usize> = (0..s.connected_replicas)
                .filter(|&r| capacity - s.used_bytes[r] >= memory)
                .collect();
            if suitable.len() < needed {
                continue;
            }
            let placed: Vec<usize> = suitable.into_iter().take(replicas).collect();
            for &r in &placed {
                s.used_bytes[r] += memory;
            }
            s.loaded_models += 1;
            return Ok((i, placed));
        }
    }
    Err(NOT_ENOUGH_REPLICAS)
}

/// Gives back what [`schedule`] reserved for a model that then failed to load.
fn release(m: &Value, s: &mut ServerInfo, placed: &[usize], memory_ignored: bool) {
    let memory = if memory_ignored { 0 } else { model_memory(m) };
    for &r in placed {
        s.used_bytes[r] -= memory;
    }
    s.loaded_models = s.loaded_models.saturating_sub(1);
}

/// What the agent of a Server in `agent_ns` does before the model is available: storage
/// secret (the Model's own from `secret_ns`, which is the agent's namespace unless the
/// cross-namespace defect placed it) or the agent's preloaded remote, rclone's connection to the
/// store (from `server_pod`) and the store's keys, then the artifact.
fn load(
    ctx: &mut Ctx,
    view: &NetworkView,
    m: &Value,
    (agent_ns, secret_ns): (&str, &str),
    server_pod: Option<&Value>,
    unpoliced: bool,
) -> Result<(PathBuf, Arc<dyn Predictor>), String> {
    let uri = m["spec"]["storageUri"].as_str().unwrap_or_default();
    let remote = match m["spec"]["secretName"].as_str().filter(|s| !s.is_empty()) {
        Some(secret_name) => check_storage_secret(ctx, secret_ns, secret_name, uri)?,
        None => {
            let scheme = uri.split_once("://").map(|(s, _)| s).unwrap_or_default();
            agent::preloaded_remote(&ctx.store, agent_ns, scheme, || {
                sync_copy_failed(name(m), uri)
            })?
        }
    };
    if let (Some(pod), Some(store)) = (server_pod, storage_address(Some(&remote), uri))
        && let Err(why) = dial(view, pod, &store, unpoliced)
    {
        // rclone's own error (its log) is dropped by the agent (docs/seldon-behaviour.md §12).
        tracing::warn!(target: "rclone", "{uri}: cannot reach {store}: {why}");
        return Err(sync_copy_failed(name(m), uri));
    }
    let keys = ctx
        .state
        .store_keys
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    agent::authorise(&remote, keys.as_ref(), || sync_copy_failed(name(m), uri))?;
    let path = ctx
        .state
        .artifacts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(uri)
        .cloned();
    match path {
        Some(p) if p.is_dir() => {
            // Loaded once per folder; a failed load is retried on the next pass.
            if let Some(a) = ctx.loaded.get(&p) {
                return Ok((p, a.clone()));
            }
            let failed =
                |e: crate::artifact::ArtifactError| format!("failed to load model {uri}: {e}");
            let a: Arc<dyn Predictor> = match LoanDecision::load_if_declared(&p) {
                Some(d) => Arc::new(d.map_err(failed)?),
                None => Arc::new(ModelArtifact::load(&p).map_err(failed)?),
            };
            ctx.loaded.insert(p.clone(), a.clone());
            Ok((p, a))
        }
        Some(p) => Err(format!(
            "failed to download model artifact {uri}: {} is not a folder",
            p.display()
        )),
        None => Err(download_failure(ctx, name(m), uri)),
    }
}

/// The agent's text for an artifact the store does not hold (docs/seldon-behaviour.md §12, as
/// recorded by harness/tests/storage_path.rs): no such bucket → rclone's `/sync/copy` fails and
/// the agent hides rclone's "directory not found"; a bucket without the path → rclone copies
/// nothing and the agent says so.
fn download_failure(ctx: &Ctx, model: &str, uri: &str) -> String {
    let bucket = uri.splitn(4, '/').take(3).collect::<Vec<_>>().join("/") + "/";
    let bucket_exists = ctx
        .state
        .artifacts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .any(|k| k.starts_with(&bucket));
    if bucket_exists {
        return storage::nothing_downloaded(uri);
    }
    tracing::warn!(target: "rclone", "{uri}: {}", storage::rclone_says::DIRECTORY_NOT_FOUND);
    sync_copy_failed(model, uri)
}

/// The agent's text for any `/sync/copy` that rclone answered with an error status.
fn sync_copy_failed(model: &str, uri: &str) -> String {
    let dst = storage::copy_destination(
        storage::RCLONE_DIR,
        &storage::versioned_model(model, 1),
        uri,
    );
    storage::sync_copy_failed(uri, &dst, storage::RCLONE_HOST, storage::RCLONE_PORT)
}

/// Where rclone connects for `uri` under an rclone config: its `endpoint` parameter, else the
/// public store of its type (Google Cloud Storage, S3). `None`: nothing to connect to is known.
fn storage_address(config: Option<&Value>, uri: &str) -> Option<String> {
    if let Some(e) = config.and_then(|c| c["parameters"]["endpoint"].as_str()) {
        return endpoint_address(e);
    }
    let kind = config
        .and_then(|c| c["type"].as_str())
        .unwrap_or_else(|| uri.split_once("://").map(|(s, _)| s).unwrap_or_default());
    match kind {
        "gs" | "gcs" | "google cloud storage" => Some("storage.googleapis.com:443".into()),
        "s3" => Some("s3.amazonaws.com:443".into()),
        _ => None,
    }
}

/// The agent's storage secret rules (docs/seldon-behaviour.md §10): the Model's Secret, whose
/// remote name must be the storageUri scheme. Messages never include secret values.
fn check_storage_secret(
    ctx: &Ctx,
    ns: &str,
    secret_name: &str,
    uri: &str,
) -> Result<Value, String> {
    let cfg = agent::secret_config(&ctx.store, ns, secret_name)?;
    let scheme = uri.split_once("://").map(|(s, _)| s).unwrap_or_default();
    let cfg_name = cfg["name"].as_str().unwrap_or_default();
    if cfg_name != scheme {
        return Err(storage::remote_name_mismatch(scheme, cfg_name));
    }
    Ok(cfg)
}
