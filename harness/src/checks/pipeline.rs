//! `pipeline`: a Pipeline is Ready with its conditions (`PipelineGwReady`, `PipelineReady`,
//! `ModelsReady`, `Ready`) and answers every sample through the namespace's `seldon-mesh`,
//! addressed as Seldon does (`seldon-model: <name>.pipeline`), outputs compared numerically
//! (docs/seldon-behaviour.md §24).

use kube::api::DynamicObject;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::seldon::model_served;
use crate::kube::wait::{Deadline, wait_for};
use crate::kube::{Condition, Watched, current_condition};
use crate::scenario::PipelineCheck;
use crate::target::v2_client;
use crate::v2::{self, SampleSet};

/// The conditions a Ready Pipeline carries (operator `pipeline_types.go`).
pub const PIPELINE_CONDITIONS: [&str; 4] =
    ["PipelineGwReady", "PipelineReady", "ModelsReady", "Ready"];

/// `pipeline`: Ready with every condition True, then every sample through `<name>.pipeline`.
pub async fn pipeline(ctx: &CheckContext<'_>, p: &PipelineCheck, deadline: Deadline) -> Verdict {
    let (ns, name) = (p.namespace.as_str(), p.pipeline.as_str());
    let set = match SampleSet::load(&ctx.scenario.resolve(&p.samples)) {
        Ok(s) => s,
        Err(e) => return Verdict::fail(format!("cannot build the requests: {e}")),
    };
    let target = Watched::seldon("Pipeline", ns, name);
    let ready = Condition::new(
        format!("conditions {} all True", PIPELINE_CONDITIONS.join(", ")),
        |o: Option<&DynamicObject>| {
            o.is_some_and(|o| {
                PIPELINE_CONDITIONS
                    .iter()
                    .all(|t| current_condition(o, t).is_some_and(|c| c.status == "True"))
            })
        },
    );
    if let Err(e) = wait_for(&ctx.client, &target, &ready, deadline.remaining()).await {
        return Verdict::fail(format!(
            "inference not attempted: Pipeline {ns}/{name} is not Ready\n{e}"
        ));
    }
    // The steps are the Models of their names; wait for each as `inference` does, so seldon-mesh
    // has a Ready envoy too.
    for step in steps(ctx, ns, name) {
        if let Err(why) = model_served(&ctx.client, ns, &step, &ctx.settling(), deadline).await {
            return Verdict::fail(format!("step {step} of Pipeline {ns}/{name}: {why}"));
        }
    }
    let client = match v2_client(ctx.mesh, ns, p.protocol, deadline).await {
        Ok(c) => c,
        Err(why) => return Verdict::fail(why),
    };
    let addressed = format!("{name}.pipeline");
    let failures = v2::check_samples(&client, &addressed, &set).await;
    let how = format!(
        "{} samples to `seldon-model: {addressed}` over {} through seldon-mesh of {ns} ({})",
        set.samples.len(),
        client.transport(),
        client.endpoint()
    );
    if failures.is_empty() {
        Verdict::pass(format!(
            "Pipeline {ns}/{name} Ready ({}); {how}: every output matched ({})",
            PIPELINE_CONDITIONS.join(", "),
            set.tolerance
        ))
    } else {
        let lines: Vec<String> = failures.iter().map(|f| format!("  {f}")).collect();
        Verdict::fail(format!(
            "{how}: {} of {} wrong\n{}",
            failures.len(),
            set.samples.len(),
            lines.join("\n")
        ))
    }
}

/// The step names of the scenario's Pipeline.
fn steps(ctx: &CheckContext<'_>, ns: &str, name: &str) -> Vec<String> {
    ctx.scenario
        .team(ns)
        .and_then(|t| t.pipelines.iter().find(|p| p["metadata"]["name"] == name))
        .and_then(|p| p["spec"]["steps"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}
