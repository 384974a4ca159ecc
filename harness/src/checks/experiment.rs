//! `experiment`: an Experiment splits traffic by its candidates' weights, each answer numerically
//! right for the model that served it, and an edit of the weights takes effect — after it a 0 %
//! candidate serves nothing (upstream #5181). docs/seldon-behaviour.md §19.
//!
//! Requests go through the namespace's `seldon-mesh` as Seldon documents them: the path names the
//! Experiment (or its default model) and `seldon-model` the route, `<name>.experiment` or the
//! default model's name. Who served comes from two independent places that must agree: envoy's
//! `x-seldon-route` header (the weighted cluster it picked) and the server's answer
//! (`model_name`, `<model>_<version>`); the answer must then carry that model's numbers.
//!
//! Shares are judged with a binomial tolerance: over N requests a candidate of share p must serve
//! a fraction within `5.5·sqrt(p(1−p)/N) + 1/N` of p (`scenario::experiment::share_tolerance`; a
//! healthy platform fails it with probability below 4e-8 per candidate and phase), and a candidate
//! of weight 0 (or the only one with weight) exactly none (all).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::{Applier, Deadline, ObjectRef, RunLabels, condition_true, wait_for};
use crate::scenario::experiment::{ExperimentShape, share_tolerance, shares};
use crate::scenario::{ExperimentCheck, ExperimentVia, Protocol};
use crate::v2::routed::{RoutedClient, routed_model};
use crate::v2::{self, SampleSet};

/// How long the second phase waits after the edit on a target that states no settle window:
/// envoy's routes follow the scheduler asynchronously and Seldon reports no generation for them.
const EDIT_PROPAGATION: Duration = Duration::from_secs(10);

/// Requests in flight at once.
const IN_FLIGHT: usize = 8;

/// `experiment`: two phases of requests, before and after the weights are edited.
pub async fn experiment(
    ctx: &CheckContext<'_>,
    x: &ExperimentCheck,
    deadline: Deadline,
) -> Verdict {
    let what = format!("Experiment {}/{}", x.namespace, x.experiment);
    let Some(declared) = ctx
        .scenario
        .team(&x.namespace)
        .and_then(|t| {
            t.experiments
                .iter()
                .find(|e| e["metadata"]["name"] == x.experiment.as_str())
        })
        .cloned()
    else {
        return Verdict::fail(format!("{what} is not declared by the scenario"));
    };
    let mut sets = BTreeMap::new();
    for s in &x.samples {
        match SampleSet::load(&ctx.scenario.resolve(&s.file)) {
            Ok(set) => {
                sets.insert(s.model.clone(), set);
            }
            Err(e) => return Verdict::fail(format!("{what}: samples of {}: {e}", s.model)),
        }
    }
    let applier = Applier::new(
        ctx.client.clone(),
        RunLabels::new(ctx.scenario.name(), ctx.run_id),
    );
    let object = ObjectRef::new(
        "mlops.seldon.io/v1alpha1",
        "Experiment",
        Some(&x.namespace),
        &x.experiment,
    );
    let live = match ready(&applier, &object, deadline).await {
        Ok(v) => ExperimentShape::of(&v),
        Err(why) => return Verdict::fail(format!("{what}: {why}")),
    };
    let (path, route) = match (x.via, &live.default) {
        (ExperimentVia::Default, Some(d)) => (d.clone(), d.clone()),
        (ExperimentVia::Default, None) => {
            return Verdict::fail(format!("{what} has no `default` model to address it by"));
        }
        (ExperimentVia::Experiment, _) => {
            (x.experiment.clone(), format!("{}.experiment", x.experiment))
        }
    };
    let endpoint = match ctx.mesh.endpoint(&x.namespace).await {
        Ok(e) => e,
        Err(e) => {
            return Verdict::fail(format!(
                "{what}: cannot reach seldon-mesh of {}: {e:#}",
                x.namespace
            ));
        }
    };
    let per_call = deadline
        .remaining()
        .min(v2::DEFAULT_TIMEOUT)
        .max(Duration::from_secs(1));
    let client = match x.protocol {
        Protocol::Rest => RoutedClient::rest(&endpoint.rest_base, per_call),
        Protocol::Grpc => RoutedClient::grpc(&endpoint.grpc_addr, per_call),
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => return Verdict::fail(format!("{what}: {e}")),
    };
    let how = format!(
        "{what} over {} (seldon-model: {route}, {})",
        protocol_name(x.protocol),
        client.endpoint()
    );
    let traffic = Traffic {
        client: &client,
        path: &path,
        route: &route,
        n: x.requests,
        sets: &sets,
        mirror: live.mirror.as_deref(),
    };
    let before = match traffic.phase(&live.candidates).await {
        Ok(s) => s,
        Err(why) => return Verdict::fail(format!("{how}, before the edit: {why}")),
    };
    // The edit, through the one apply path, as a team would `kubectl apply` it.
    let reweight: Vec<(String, u32)> = x
        .reweight
        .iter()
        .map(|c| (c.name.clone(), c.weight))
        .collect();
    let mut edited = declared;
    edited["metadata"]["namespace"] = Value::String(x.namespace.clone());
    edited["spec"]["candidates"] = reweight
        .iter()
        .map(|(n, w)| serde_json::json!({"name": n, "weight": w}))
        .collect();
    if let Err(e) = applier.apply(&edited).await {
        return Verdict::fail(format!("{what}: editing the weights failed: {e}"));
    }
    if let Err(why) = ready(&applier, &object, deadline).await {
        return Verdict::fail(format!("{what}, after the edit: {why}"));
    }
    tokio::time::sleep(
        ctx.settle
            .unwrap_or(EDIT_PROPAGATION)
            .min(deadline.remaining()),
    )
    .await;
    match traffic.phase(&reweight).await {
        Ok(after) => Verdict::pass(format!(
            "{how}: {} requests per phase; before the edit {before}; after the edit to {} {after} (each answer matched its model's samples; shares within 5.5σ)",
            x.requests,
            weights_text(&reweight),
        )),
        Err(why) => Verdict::fail(format!(
            "{how}, after the edit to {} (before it: {before}): {why}",
            weights_text(&reweight)
        )),
    }
}

/// Waits for the Experiment's `Ready` condition; returns the object.
async fn ready(applier: &Applier, object: &ObjectRef, deadline: Deadline) -> Result<Value, String> {
    let target = applier.watched(object).await.map_err(|e| e.to_string())?;
    match wait_for(
        applier.client(),
        &target,
        &condition_true("Ready"),
        deadline.remaining(),
    )
    .await
    {
        Ok(Some(obj)) => serde_json::to_value(&obj).map_err(|e| e.to_string()),
        Ok(None) => Err("it does not exist".into()),
        Err(e) => Err(format!("not Ready\n{e}")),
    }
}

/// One phase's requests and how to judge them.
struct Traffic<'a> {
    client: &'a RoutedClient,
    path: &'a str,
    route: &'a str,
    n: u32,
    sets: &'a BTreeMap<String, SampleSet>,
    mirror: Option<&'a str>,
}

impl Traffic<'_> {
    /// Sends `n` requests (the first samples file's inputs in turn) and judges who served them
    /// against `weights`; returns the counts as text.
    async fn phase(&self, weights: &[(String, u32)]) -> Result<String, String> {
        let Some(inputs) = self.sets.values().next() else {
            return Err("no samples".into());
        };
        let results: Vec<Result<String, String>> = futures::stream::iter(0..self.n as usize)
            .map(|j| self.one(&inputs.samples[j % inputs.samples.len()]))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        let mut problems: Vec<String> = Vec::new();
        for r in results {
            match r {
                Ok(m) => *counts.entry(m).or_default() += 1,
                Err(p) => problems.push(p),
            }
        }
        if !problems.is_empty() {
            let shown: Vec<String> = problems.iter().take(5).map(|p| format!("  {p}")).collect();
            return Err(format!(
                "{} of {} requests failed or were wrong ({})\n{}",
                problems.len(),
                self.n,
                counts_text(&counts, self.n),
                shown.join("\n")
            ));
        }
        let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut off = Vec::new();
        for ((model, p), (_, w)) in shares(weights).iter().zip(weights) {
            let k = counts.get(model).copied().unwrap_or(0);
            let observed = f64::from(k) / f64::from(self.n);
            let tol = share_tolerance(*p, self.n);
            if (observed - p).abs() > tol + 1e-12 {
                let rule = if *p == 0.0 {
                    " — a candidate of weight 0 must serve nothing (upstream #5181: edited weights not applied)".to_string()
                } else if *p == 1.0 {
                    " — the only candidate with weight must serve every request".to_string()
                } else {
                    format!(", allowed ± {:.1} %", tol * 100.0)
                };
                off.push(format!(
                    "`{model}` served {k} of {} ({:.1} %), expected {:.1} % (weight {w} of {total}){rule}",
                    self.n,
                    observed * 100.0,
                    p * 100.0
                ));
            }
        }
        if off.is_empty() {
            Ok(counts_text(&counts, self.n))
        } else {
            Err(format!(
                "traffic is not split by the weights: {}",
                off.join("; ")
            ))
        }
    }

    /// One request: who served it (route header and answer agree), and its numbers right for it.
    async fn one(&self, sample: &v2::Sample) -> Result<String, String> {
        let answer = self
            .client
            .infer(self.path, self.route, &sample.inputs)
            .await
            .map_err(|e| format!("sample {}: {e}", sample.name))?;
        let named = answer.response.model_name.as_str();
        let header = answer.route.as_deref().ok_or_else(|| {
            format!("sample {}: the answer (model_name {named}) has no x-seldon-route header: envoy names the model that served on every routed answer", sample.name)
        })?;
        let routed = routed_model(header).unwrap_or_default();
        if routed != named {
            return Err(format!(
                "sample {}: x-seldon-route says `{routed}` but the answer names `{named}`",
                sample.name
            ));
        }
        let model = named.rsplit_once('_').map_or(named, |(m, _)| m);
        let Some(set) = self.sets.get(model) else {
            let mirror = if self.mirror == Some(model) {
                " (the mirror: its answers must never be returned)"
            } else {
                ""
            };
            return Err(format!(
                "sample {}: served by `{model}`, not a candidate{mirror}",
                sample.name
            ));
        };
        let Some(expected) = set.samples.iter().find(|s| s.name == sample.name) else {
            return Err(format!(
                "samples of `{model}` have no sample named {}",
                sample.name
            ));
        };
        expected
            .check(&answer.response.outputs, set.tolerance)
            .map_err(|m| {
                format!(
                    "sample {} served by `{model}`: wrong answer: {m}",
                    sample.name
                )
            })?;
        Ok(model.to_string())
    }
}

fn counts_text(counts: &BTreeMap<String, u32>, n: u32) -> String {
    let parts: Vec<String> = counts.iter().map(|(m, k)| format!("{m} {k}/{n}")).collect();
    if parts.is_empty() {
        "none served".into()
    } else {
        parts.join(", ")
    }
}

fn weights_text(weights: &[(String, u32)]) -> String {
    let parts: Vec<String> = weights.iter().map(|(m, w)| format!("{m}={w}")).collect();
    parts.join(", ")
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Rest => "REST",
        Protocol::Grpc => "gRPC",
    }
}
