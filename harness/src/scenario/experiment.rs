//! Experiments in a scenario: the teams' Experiment objects (a typed mirror of Seldon's v2.10.2
//! CRD, with the scheduler's own validation rules) and the `experiment` check's fields; and the
//! binomial tolerance the check judges traffic shares by (docs/seldon-behaviour.md §19).

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diagnostic::Ctx;
use super::format::{ExperimentCheck, ExperimentVia, Team};
use super::objects::{check_seldon_header, typed};

/// Standard deviations a share may be off: a healthy platform fails one candidate's share with
/// probability below 4e-8 (two-sided normal tail at 5.5σ), so a check of up to ten candidates
/// over its two phases fails falsely less than once in a million runs.
pub const SHARE_Z: f64 = 5.5;

/// Smallest `N·p·(1−p)` for which the normal approximation of the binomial count is trusted.
pub const MIN_SHARE_VARIANCE: f64 = 9.0;

/// The largest `|observed share − p|` a healthy platform shows over `n` requests:
/// `z·sqrt(p(1−p)/n) + 1/n` (the `1/n` for the count being whole); 0 when `p` is 0 or 1, where a
/// weighted route sends exactly none or all.
pub fn share_tolerance(p: f64, n: u32) -> f64 {
    if p <= 0.0 || p >= 1.0 {
        return 0.0;
    }
    let n = f64::from(n.max(1));
    SHARE_Z * (p * (1.0 - p) / n).sqrt() + 1.0 / n
}

/// Each candidate's expected share: its weight over the sum (envoy's weighted clusters).
pub fn shares(weights: &[(String, u32)]) -> Vec<(String, f64)> {
    let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
    weights
        .iter()
        .map(|(m, w)| {
            let p = if total == 0 {
                0.0
            } else {
                f64::from(*w) / total as f64
            };
            (m.clone(), p)
        })
        .collect()
}

/// The fields of an Experiment the harness reads: candidates with weights, default, mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExperimentShape {
    /// `spec.default`.
    pub default: Option<String>,
    /// `spec.candidates` as `(name, weight)`.
    pub candidates: Vec<(String, u32)>,
    /// `spec.mirror.name`.
    pub mirror: Option<String>,
}

impl ExperimentShape {
    /// Reads an Experiment object (missing fields read as absent).
    pub fn of(obj: &Value) -> ExperimentShape {
        let s = &obj["spec"];
        ExperimentShape {
            default: s["default"].as_str().map(str::to_string),
            candidates: s["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let w = c["weight"].as_u64().unwrap_or(0).min(u64::from(u32::MAX));
                    (c["name"].as_str().unwrap_or_default().to_string(), w as u32)
                })
                .collect(),
            mirror: s["mirror"]["name"].as_str().map(str::to_string),
        }
    }
}

/// Typed mirror of `Experiment` (operator/apis/mlops/v1alpha1/experiment_types.go).
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Object {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Meta,
    spec: Spec,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Meta {
    name: String,
    namespace: Option<String>,
    labels: Option<Value>,
    annotations: Option<Value>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    default: Option<String>,
    candidates: Vec<Candidate>,
    mirror: Option<Mirror>,
    resource_type: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Candidate {
    name: String,
    weight: u32,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Mirror {
    name: String,
    percent: u32,
}

/// An Experiment of team `ns`: its shape, and the rules Seldon's scheduler refuses it by
/// (`scheduler/pkg/store/experiment/validate.go`), each an error here instead of a status later.
/// `models` are the team's Model names. Returns its name when it is usable.
pub(super) fn check_experiment(
    ctx: &mut Ctx<'_>,
    p: &str,
    obj: &Value,
    ns: &str,
    models: &BTreeSet<String>,
) -> Option<String> {
    if !check_seldon_header(ctx, p, obj, "Experiment", ns) {
        return None;
    }
    let o: Object = typed(ctx, p, "Experiment", obj)?;
    let name = o.metadata.name.clone();
    let spec = &o.spec;
    if spec.resource_type.as_deref().is_some_and(|t| t != "model") {
        ctx.error_hint(
            &format!("{p}.spec.resourceType"),
            "only Experiments over models are supported by the harness",
            "remove `resourceType` (or set it to `model`)",
        );
    }
    if spec.candidates.is_empty() {
        ctx.error_hint(
            &format!("{p}.spec.candidates"),
            format!("Experiment `{name}` has no candidates"),
            "list the models to split traffic between, each `{name, weight}`",
        );
    }
    if spec
        .candidates
        .iter()
        .map(|c| u64::from(c.weight))
        .sum::<u64>()
        == 0
        && !spec.candidates.is_empty()
    {
        ctx.error_hint(
            &format!("{p}.spec.candidates"),
            format!("every weight of Experiment `{name}` is 0: no traffic has a route"),
            "give at least one candidate a weight above 0",
        );
    }
    if let Some(d) = &spec.default
        && !spec.candidates.iter().any(|c| &c.name == d)
    {
        ctx.error_hint(
            &format!("{p}.spec.default"),
            format!("default model `{d}` is not a candidate of Experiment `{name}`"),
            "Seldon's scheduler refuses it: add the default model to `candidates`",
        );
    }
    let mut seen = BTreeSet::new();
    let named = spec
        .candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{p}.spec.candidates[{i}].name"), &c.name))
        .chain(
            spec.mirror
                .iter()
                .map(|m| (format!("{p}.spec.mirror.name"), &m.name)),
        );
    for (path, model) in named {
        if !seen.insert(model.clone()) {
            ctx.error_hint(
                &path,
                format!("model `{model}` appears twice in Experiment `{name}`"),
                "each candidate and the mirror must be a different model",
            );
        } else if !models.contains(model) {
            ctx.error_hint(
                &path,
                format!(
                    "Experiment `{name}` names model `{model}`, which team `{ns}` does not declare"
                ),
                "add the Model to the team's `models`, or fix the name",
            );
        }
    }
    if let Some(m) = &spec.mirror
        && m.percent > 100
    {
        ctx.error(
            &format!("{p}.spec.mirror.percent"),
            format!("mirror percent {} is above 100", m.percent),
        );
    }
    Some(name)
}

/// The `experiment` check's fields against the team that must declare the Experiment.
pub(super) fn check_experiment_expectation(
    ctx: &mut Ctx<'_>,
    p: &str,
    e: &ExperimentCheck,
    team: Option<&Team>,
    base: &Path,
) {
    let Some(team) = team else { return };
    let Some(obj) = team
        .experiments
        .iter()
        .find(|x| x["metadata"]["name"] == e.experiment.as_str())
    else {
        ctx.error_hint(
            &format!("{p}.experiment"),
            format!(
                "check names Experiment `{}`, which team `{}` does not declare",
                e.experiment, e.namespace
            ),
            "add it under the team's `experiments`, or fix the name",
        );
        return;
    };
    let shape = ExperimentShape::of(obj);
    if e.via == ExperimentVia::Default && shape.default.is_none() {
        ctx.error_hint(
            &format!("{p}.via"),
            format!("Experiment `{}` has no `default` model", e.experiment),
            "use `via: experiment`, or give the Experiment a `default`",
        );
    }
    let candidates: BTreeSet<&str> = shape.candidates.iter().map(|(c, _)| c.as_str()).collect();
    let mut sampled = BTreeSet::new();
    for (i, s) in e.samples.iter().enumerate() {
        let sp = format!("{p}.samples[{i}]");
        if !candidates.contains(s.model.as_str()) {
            ctx.error_hint(
                &format!("{sp}.model"),
                format!(
                    "`{}` is not a candidate of Experiment `{}`",
                    s.model, e.experiment
                ),
                format!("list samples for its candidates: {}", join(&candidates)),
            );
        } else if !sampled.insert(s.model.as_str()) {
            ctx.error(
                &format!("{sp}.model"),
                format!("`{}` is listed twice", s.model),
            );
        }
        if !base.join(&s.file).is_file() {
            ctx.error_hint(
                &format!("{sp}.file"),
                format!("samples file `{}` does not exist", s.file.display()),
                "paths are relative to the scenario file",
            );
        }
    }
    let unsampled: BTreeSet<&str> = candidates.difference(&sampled).copied().collect();
    if !unsampled.is_empty() {
        ctx.error_hint(
            &format!("{p}.samples"),
            format!("no samples for candidate(s) {}", join(&unsampled)),
            "every candidate may serve a request, so each needs `{model, file}`",
        );
    }
    let mut reweighted = BTreeSet::new();
    for (i, c) in e.reweight.iter().enumerate() {
        if !candidates.contains(c.name.as_str()) || !reweighted.insert(c.name.as_str()) {
            ctx.error_hint(
                &format!("{p}.reweight[{i}].name"),
                format!(
                    "`{}` is not a candidate of Experiment `{}`, or is listed twice",
                    c.name, e.experiment
                ),
                format!("give each candidate one new weight: {}", join(&candidates)),
            );
        }
    }
    if reweighted != candidates {
        ctx.error_hint(
            &format!("{p}.reweight"),
            format!(
                "the edit must give every candidate a weight ({})",
                join(&candidates)
            ),
            "write it as the Experiment's `candidates`: `[{name, weight}]`",
        );
    } else if e.reweight.iter().all(|c| c.weight == 0) {
        ctx.error(
            &format!("{p}.reweight"),
            "every new weight is 0: no traffic would have a route",
        );
    }
    if !(50..=20_000).contains(&e.requests) {
        ctx.error_hint(
            &format!("{p}.requests"),
            format!("{} requests per phase", e.requests),
            "use 50 to 20000 (400 by default)",
        );
        return;
    }
    let after: Vec<(String, u32)> = e
        .reweight
        .iter()
        .map(|c| (c.name.clone(), c.weight))
        .collect();
    for weights in [&shape.candidates, &after] {
        for (model, share) in shares(weights) {
            let variance = f64::from(e.requests) * share * (1.0 - share);
            if share > 0.0 && share < 1.0 && variance < MIN_SHARE_VARIANCE {
                let needed = (MIN_SHARE_VARIANCE / (share * (1.0 - share))).ceil();
                ctx.error_hint(
                    &format!("{p}.requests"),
                    format!(
                        "{} requests are too few to judge a {:.1} % share of `{model}`",
                        e.requests,
                        share * 100.0
                    ),
                    format!(
                        "raise `requests` to at least {needed} (N·p·(1−p) ≥ {MIN_SHARE_VARIANCE})"
                    ),
                );
            }
        }
    }
}

fn join(names: &BTreeSet<&str>) -> String {
    names.iter().copied().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_is_zero_at_the_edges_and_shrinks_with_n() {
        assert_eq!(share_tolerance(0.0, 400), 0.0);
        assert_eq!(share_tolerance(1.0, 400), 0.0);
        let t = share_tolerance(0.5, 400);
        assert!((t - (5.5 * 0.025 + 0.0025)).abs() < 1e-12, "{t}");
        assert!(share_tolerance(0.5, 1600) < t);
    }

    #[test]
    fn shares_are_weights_over_their_sum() {
        let s = shares(&[("a".into(), 30), ("b".into(), 70), ("c".into(), 0)]);
        assert_eq!(
            s,
            vec![("a".into(), 0.3), ("b".into(), 0.7), ("c".into(), 0.0)]
        );
    }
}
