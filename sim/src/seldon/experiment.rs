//! Model Experiments as Seldon's scheduler, envoy processor and operator run them
//! (docs/seldon-behaviour.md §19).
//!
//! - The operator sends each generation to the namespace's scheduler (`StartExperiment`); the
//!   scheduler refuses an invalid one with `FailedPrecondition` (default not a candidate, no
//!   candidate nor mirror, a name twice, a default already another Experiment's baseline), and
//!   the operator writes the error as condition `ModelReady` False (`updateStatusFromError`).
//! - The envoy processor builds the route `<name>.experiment` (and, with a `default`, the
//!   default model's own route) from the candidates' weights and the mirror, and fails with
//!   `no live replica for model <m> for model route <route>` while a candidate or the mirror is
//!   not `ModelAvailable`; every model event retries, so an Experiment created before its
//!   models becomes active once they are. Until then the default model keeps its own route.
//! - Status: `ExperimentReady` (active; reason = the processor's text), `CandidatesReady`,
//!   `MirrorReady` and the knative aggregate `Ready`.
//! - Defect `ExperimentWeightsIgnored` (upstream #5181): each edited generation's weights are
//!   appended to the route's earlier ones instead of replacing them.
//!
//! Only `resourceType: model` is modelled; a pipeline Experiment gets no route and stays not
//! Ready (harsher). Experiments' finalizer is not modelled.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::model::scheduler_error;
use super::runtime::RuntimeView;
use super::scope::Controller;
use crate::control::context::{Ctx, Served};
use crate::control::objects::{condition, deleting, name, namespace, res, set_status};
use crate::dataplane::ExperimentRoute;
use crate::faults::Defect;

/// Experiment routes per namespace, by route name.
pub(crate) type Routes = HashMap<String, BTreeMap<String, ExperimentRoute>>;

/// An Experiment and the status to write once the endpoints route it.
pub(crate) type PendingStatus = (Value, Value);

/// Builds every watched Experiment's routes from the models served; returns them with the
/// statuses to publish after the endpoints got them.
pub(crate) fn reconcile(
    ctx: &mut Ctx,
    ctl: &Controller,
    runtimes: &BTreeMap<String, RuntimeView>,
    served: &HashMap<String, Vec<Served>>,
) -> (Routes, Vec<PendingStatus>) {
    let (mut list, _) = ctx.store.list(res("Experiment"), None);
    // The scheduler keeps the baseline with the Experiment it accepted first: those it already
    // accepted (they carry `ExperimentReady`), then by creation.
    list.sort_by(|a, b| {
        let key = |o: &Value| {
            let accepted = o["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "ExperimentReady"));
            (
                !accepted,
                o["metadata"]["creationTimestamp"]
                    .as_str()
                    .map(str::to_string),
                o["metadata"]["uid"].as_str().map(str::to_string),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut routes: Routes = HashMap::new();
    let mut statuses = Vec::new();
    let mut baselines: HashMap<(String, String), String> = HashMap::new();
    for e in list
        .iter()
        .filter(|e| ctl.watches(namespace(e)) && !deleting(e))
    {
        let ns = namespace(e).to_string();
        let prev = &e["status"]["conditions"];
        if !runtimes.get(&ns).is_some_and(|r| r.scheduler_up) {
            let why = scheduler_error(ctx, &ns);
            statuses.push((e.clone(), failed_start(prev, &why)));
            continue;
        }
        let spec = Spec::of(e);
        if let Err(why) = spec.validate(name(e), &ns, &baselines) {
            let why = format!("rpc error: code = FailedPrecondition desc = {why}");
            statuses.push((e.clone(), failed_start(prev, &why)));
            continue;
        }
        if let Some(d) = &spec.default {
            baselines.insert((ns.clone(), d.clone()), name(e).to_string());
        }
        let live = |m: &str| {
            served
                .get(&ns)
                .is_some_and(|s| s.iter().any(|s| s.name == m))
        };
        let route_name = format!("{}.experiment", name(e));
        let candidates_ready = spec.candidates.iter().all(|(m, _)| live(m));
        let mirror_ready = spec.mirror.as_ref().is_none_or(|(m, _)| live(m));
        let missing = spec
            .candidates
            .iter()
            .map(|(m, _)| m)
            .chain(spec.mirror.iter().map(|(m, _)| m))
            .find(|m| !live(m));
        let clusters = history(ctx, e, &spec.candidates);
        let active = match missing {
            Some(m) => Err(format!(
                "no live replica for model {m} for model route {route_name}"
            )),
            None => {
                let route = ExperimentRoute {
                    clusters,
                    mirror: spec.mirror.clone(),
                };
                let table = routes.entry(ns.clone()).or_default();
                if let Some(d) = &spec.default {
                    table.insert(d.clone(), route.clone());
                }
                table.insert(route_name, route);
                Ok(())
            }
        };
        statuses.push((
            e.clone(),
            status(prev, &active, candidates_ready, mirror_ready),
        ));
    }
    (routes, statuses)
}

/// Writes the statuses `reconcile` computed (after the endpoints were synced).
pub(crate) fn publish(ctx: &Ctx, statuses: Vec<PendingStatus>) {
    for (e, status) in statuses {
        set_status(&ctx.store, res("Experiment"), &e, status);
    }
}

/// What the scheduler reads of an Experiment's spec (`AsSchedulerExperimentRequest`).
struct Spec {
    default: Option<String>,
    candidates: Vec<(String, u32)>,
    mirror: Option<(String, u32)>,
    pipeline: bool,
}

impl Spec {
    fn of(e: &Value) -> Spec {
        let s = &e["spec"];
        let weight = |v: &Value| v.as_u64().unwrap_or(0).min(u64::from(u32::MAX)) as u32;
        Spec {
            default: s["default"].as_str().map(str::to_string),
            candidates: s["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        weight(&c["weight"]),
                    )
                })
                .collect(),
            mirror: s["mirror"]["name"]
                .as_str()
                .map(|m| (m.to_string(), weight(&s["mirror"]["percent"]))),
            pipeline: s["resourceType"] == "pipeline",
        }
    }

    /// The scheduler's `validate` (`scheduler/pkg/store/experiment/validate.go`, `errors.go`).
    fn validate(
        &self,
        exp: &str,
        ns: &str,
        baselines: &HashMap<(String, String), String>,
    ) -> Result<(), String> {
        if let Some(d) = &self.default
            && let Some(other) = baselines.get(&(ns.to_string(), d.clone()))
            && other != exp
        {
            return Err(format!(
                "Resource {d} already in experiment {exp} as a baseline. A model or pipeline can only appear in one experiment as a baseline"
            ));
        }
        if let Some(d) = &self.default
            && !self.candidates.iter().any(|(c, _)| c == d)
        {
            return Err(format!(
                "default model/pipeline {d} not found in experiment {exp} candidates"
            ));
        }
        if self.candidates.is_empty() && self.mirror.is_none() {
            return Err(format!("experiment {exp} has no candidates or mirror"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in self
            .candidates
            .iter()
            .map(|(c, _)| c)
            .chain(self.mirror.iter().map(|(m, _)| m))
        {
            if !seen.insert(n) {
                return Err(format!(
                    "each candidate and mirror must be unique but found resource {n} duplicated in experiment {exp}"
                ));
            }
        }
        if self.pipeline {
            // Pipelines are not modelled: never routed (harsher than a cluster).
            return Err(format!(
                "experiment {exp}: pipeline experiments are not modelled by the embedded platform"
            ));
        }
        Ok(())
    }
}

/// The clusters envoy routes by: this generation's candidates, or under the #5181 defect every
/// generation's seen so far, appended.
fn history(ctx: &mut Ctx, e: &Value, candidates: &[(String, u32)]) -> Vec<(String, u32)> {
    if !ctx.faults.has(Defect::ExperimentWeightsIgnored) {
        return candidates.to_vec();
    }
    let uid = e["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let generation = e["metadata"]["generation"].as_i64().unwrap_or(0);
    let seen = ctx.experiment_routes.entry(uid).or_default();
    if seen.last().is_none_or(|(g, _)| *g != generation) {
        seen.push((generation, candidates.to_vec()));
    }
    seen.iter().flat_map(|(_, c)| c.clone()).collect()
}

/// The operator's `updateStatusFromError`: the error as condition `ModelReady` False.
/// knative's `MarkFalse` sets the aggregate `Ready` False with it.
fn failed_start(prev: &Value, why: &str) -> Value {
    let mut conditions: Vec<Value> = prev
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] != "ModelReady" && c["type"] != "Ready")
        .cloned()
        .collect();
    conditions.push(condition(prev, "ModelReady", false, why, ""));
    conditions.push(condition(prev, "Ready", false, why, ""));
    json!({"conditions": conditions})
}

/// The operator's status from the scheduler's event (`SubscribeExperimentEvents`): the three
/// conditions in that order, and knative's aggregate `Ready` (True when all are; else False
/// with the reason of the last one marked False).
fn status(prev: &Value, active: &Result<(), String>, candidates: bool, mirror: bool) -> Value {
    let three = [
        (
            "ExperimentReady",
            active.is_ok(),
            active
                .as_ref()
                .err()
                .cloned()
                .unwrap_or_else(|| "experiment active".to_string()),
        ),
        (
            "CandidatesReady",
            candidates,
            if candidates {
                "Candidates ready"
            } else {
                "Candidates not ready"
            }
            .to_string(),
        ),
        (
            "MirrorReady",
            mirror,
            if mirror {
                "Mirror ready"
            } else {
                "Mirror not ready"
            }
            .to_string(),
        ),
    ];
    let ready = three.iter().all(|(_, ok, _)| *ok);
    let ready_reason = if ready {
        three[2].2.clone()
    } else {
        three
            .iter()
            .rev()
            .find(|(_, ok, _)| !*ok)
            .map(|(_, _, r)| r.clone())
            .unwrap_or_default()
    };
    let mut conditions: Vec<Value> = three
        .iter()
        .map(|(t, ok, r)| condition(prev, t, *ok, r, ""))
        .collect();
    conditions.push(condition(prev, "Ready", ready, &ready_reason, ""));
    json!({"conditions": conditions})
}
