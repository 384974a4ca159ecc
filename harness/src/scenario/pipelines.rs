//! Validation of a scenario's Pipelines and of the checks about them: each Pipeline's shape
//! (typed mirror of the v2.10.2 CRD), its steps naming Models of its team, and `pipeline` checks
//! only where the platform has Kafka (without it no Pipeline is ever Ready:
//! docs/seldon-behaviour.md §24).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::diagnostic::Ctx;
use super::format::{Expectation, ScenarioFile};
use super::objects::{check_label_name, check_seldon_header, typed};
use super::seldon::Kafka;

/// `spec` of a Pipeline (v2.10.2 `pipeline_types.go`), unknown fields refused.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PipelineSpec {
    input: Option<Value>,
    steps: Vec<Step>,
    output: Option<Output>,
    dataflow: Option<Value>,
    allow_cycles: Option<bool>,
    max_step_revisits: Option<u32>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Step {
    name: String,
    #[serde(default)]
    inputs: Vec<String>,
    join_window_ms: Option<u32>,
    tensor_map: Option<BTreeMap<String, String>>,
    #[serde(default)]
    triggers: Vec<String>,
    inputs_join_type: Option<String>,
    triggers_join_type: Option<String>,
    batch: Option<Value>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Output {
    #[serde(default)]
    steps: Vec<String>,
    join_window_ms: Option<u32>,
    steps_join: Option<String>,
    tensor_map: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Object {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Value,
    spec: PipelineSpec,
}

/// Checks every team's Pipelines and every check naming one.
pub(super) fn check_pipelines(ctx: &mut Ctx<'_>, doc: &ScenarioFile, base: &Path) {
    let mut declared: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (i, team) in doc.spec.teams.iter().enumerate() {
        let ns = team.namespace.as_str();
        let models: BTreeSet<&str> = team
            .models
            .iter()
            .filter_map(|m| m["metadata"]["name"].as_str())
            .collect();
        for (j, obj) in team.pipelines.iter().enumerate() {
            let p = format!("spec.teams[{i}].pipelines[{j}]");
            if !check_seldon_header(ctx, &p, obj, "Pipeline", ns) {
                continue;
            }
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            if !declared.insert((ns, name)) {
                ctx.error(
                    &format!("{p}.metadata.name"),
                    format!("Pipeline `{name}` is declared twice in namespace `{ns}`"),
                );
            }
            // A misshapen Pipeline is reported once, at its field; checks naming it still find it.
            if let Some(pipe) = typed::<Object>(ctx, &p, "Pipeline", obj) {
                check_steps(ctx, &p, name, &pipe.spec, &models);
            }
        }
    }
    let no_kafka = doc.spec.seldon.kafka == Kafka::None;
    for (i, c) in doc.spec.checks.iter().enumerate() {
        let (ns, pipeline, field) = match &c.expect {
            Expectation::Pipeline(x) => (&x.namespace, &x.pipeline, "pipeline"),
            Expectation::PipelineNotReady(x) => (&x.namespace, &x.pipeline, "pipelineNotReady"),
            _ => continue,
        };
        let p = format!("spec.checks[{i}].expect.{field}");
        if !declared.contains(&(ns.as_str(), pipeline.as_str())) {
            ctx.error_hint(
                &format!("{p}.pipeline"),
                format!(
                    "check names Pipeline `{pipeline}`, which does not exist in namespace `{ns}`"
                ),
                "add the Pipeline to the team's `pipelines`, or fix the name",
            );
        }
        match &c.expect {
            Expectation::Pipeline(x) => {
                if no_kafka {
                    ctx.error_hint(
                        &p,
                        "a `pipeline` check needs Kafka, but `spec.seldon.kafka` is `none`: the Pipeline can never become Ready",
                        "declare `spec.seldon.kafka: installed` (or `{external: {bootstrap: host:port}}`), or assert the failure with `pipelineNotReady` (docs/seldon-behaviour.md §24)",
                    );
                }
                if !base.join(&x.samples).is_file() {
                    ctx.error_hint(
                        &format!("{p}.samples"),
                        format!("samples file `{}` does not exist", x.samples.display()),
                        "paths are relative to the scenario file",
                    );
                }
            }
            Expectation::PipelineNotReady(x) if x.reason.trim().is_empty() => ctx.error_hint(
                &format!("{p}.reason"),
                "reason must not be empty",
                "e.g. `no dataflow engines available to handle pipeline`",
            ),
            _ => {}
        }
    }
}

/// Steps name Models of the team; inputs and outputs name steps (or the pipeline's own inputs).
fn check_steps(
    ctx: &mut Ctx<'_>,
    p: &str,
    pipeline: &str,
    spec: &PipelineSpec,
    models: &BTreeSet<&str>,
) {
    if spec.steps.is_empty() {
        ctx.error(
            &format!("{p}.spec.steps"),
            "a Pipeline needs at least one step",
        );
    }
    let steps: BTreeSet<&str> = spec.steps.iter().map(|s| s.name.as_str()).collect();
    for (k, s) in spec.steps.iter().enumerate() {
        let sp = format!("{p}.spec.steps[{k}]");
        check_label_name(ctx, &format!("{sp}.name"), &s.name, "step name");
        if !models.contains(s.name.as_str()) {
            ctx.error_hint(
                &format!("{sp}.name"),
                format!("step `{}` names no Model of this team", s.name),
                "a step is the Model of its name: add it to the team's `models`, or fix the name",
            );
        }
        for (l, r) in s.inputs.iter().enumerate() {
            check_ref(ctx, &format!("{sp}.inputs[{l}]"), r, pipeline, &steps);
        }
    }
    if spec.output.as_ref().is_none_or(|o| o.steps.is_empty()) {
        ctx.warn(
            &format!("{p}.spec"),
            "this Pipeline has no `output.steps`: nothing writes its output topic, so requests to it are never answered",
            "add `output: {steps: [<last step>]}` (docs/seldon-behaviour.md §24)",
        );
    }
    for (l, r) in spec.output.iter().flat_map(|o| o.steps.iter()).enumerate() {
        check_ref(
            ctx,
            &format!("{p}.spec.output.steps[{l}]"),
            r,
            pipeline,
            &steps,
        );
    }
}

/// `<step>[.inputs|.outputs[.<tensor>]]`, or the pipeline's own name for its inputs.
fn check_ref(ctx: &mut Ctx<'_>, p: &str, r: &str, pipeline: &str, steps: &BTreeSet<&str>) {
    let parts: Vec<&str> = r.split('.').collect();
    let kind_ok = parts
        .get(1)
        .is_none_or(|k| matches!(*k, "inputs" | "outputs"));
    if parts.len() > 3 || !kind_ok {
        ctx.error_hint(
            p,
            format!("`{r}` is not `<step>`, `<step>.outputs` or `<step>.outputs.<tensor>`"),
            "e.g. `credit-risk` or `credit-risk.outputs.default_probability`",
        );
    } else if parts[0] != pipeline && !steps.contains(parts[0]) {
        ctx.error_hint(
            p,
            format!(
                "`{r}` names step `{}`, which is not a step of this Pipeline",
                parts[0]
            ),
            "name a step listed under `spec.steps`",
        );
    }
}
