//! `continuity`: V2 traffic through the team's `seldon-mesh` while an action disrupts the
//! platform (a restart, scheduler and Server pods deleted together, a Server rollout, a Model
//! scaled, an agent killed while a Model loads, an in-place upgrade), judged against a budget;
//! then the after-action assertions (`kube::transition` moves the platform, `v2::traffic` sends).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::DeleteParams;
use serde_json::{Value, json};

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::seldon::model_served;
use crate::kube::transition::{self, PodId};
use crate::kube::workload::Workload;
use crate::kube::{Condition, Deadline, Watched, wait_for};
use crate::scenario::{Action, Check, Continuity, Protocol, RuntimeComponent};
use crate::target::v2_client;
use crate::v2::traffic::{self, Figures, Stream};
use crate::v2::{SampleSet, check_samples};

/// `continuity`: traffic while the action runs, the budget, then the after-action assertions.
pub async fn continuity(
    ctx: &CheckContext<'_>,
    check: &Check,
    c: &Continuity,
    deadline: Deadline,
) -> Verdict {
    if let Action::HelmUpgrade(h) = &c.action
        && (ctx.upgrade.is_none() || ctx.upgrade_to.is_none())
    {
        let why = "the helmUpgrade action needs an upgrade: run with `--upgrade-to VERSION`";
        return if h.skip_without_upgrade {
            Verdict::skip(why)
        } else {
            Verdict::fail(why)
        };
    }
    let ns = c.namespace.as_str();
    let mut sets = Vec::new();
    for m in &c.models {
        match SampleSet::load(&ctx.scenario.resolve(&m.samples)) {
            Ok(s) => sets.push((m.model.clone(), s)),
            Err(e) => return Verdict::fail(format!("cannot build the requests: {e}")),
        }
    }
    for (model, _) in &sets {
        if let Err(why) = model_served(&ctx.client, ns, model, &ctx.settling(), deadline).await {
            return Verdict::fail(format!("before the action: {why}"));
        }
    }
    let before = match Snapshot::take(ctx, ns).await {
        Ok(s) => s,
        Err(why) => return Verdict::fail(format!("before the action: {why}")),
    };
    if let Err(why) = answers(ctx, ns, &sets, &c.traffic.protocols, deadline).await {
        return Verdict::fail(format!(
            "before the action, the answers were already wrong: {why}"
        ));
    }
    let streams: Vec<Stream<'_>> = sets
        .iter()
        .flat_map(|(model, set)| {
            c.traffic.protocols.iter().map(move |&p| Stream {
                name: format!("{model}/{}", protocol_name(p)),
                model: model.clone(),
                samples: set.clone(),
                connect: Arc::new(move || {
                    Box::pin(async move { v2_client(ctx.mesh, ns, p, deadline).await })
                }),
            })
        })
        .collect();
    let lead = c.traffic.duration / 4;
    let mut acted: Option<Result<String, String>> = None;
    let started = Instant::now();
    let stop = async {
        tokio::time::sleep(lead).await;
        acted = Some(Box::pin(act(ctx, c, &sets, &before, deadline)).await);
        // Traffic runs on until every model answers right again (within `settle`): an outage
        // that outlasts the action (a component Ready before it serves, #5157; models reloaded
        // late) is measured, not cut off when the pods are back.
        if matches!(acted, Some(Ok(_))) {
            let recovery = Deadline::after(c.settle.min(deadline.remaining()));
            let _ = until(recovery, || {
                answers(ctx, ns, &sets, &c.traffic.protocols, recovery)
            })
            .await;
        }
        let end = (started + c.traffic.duration).max(Instant::now() + lead);
        tokio::time::sleep_until(end.into()).await;
    };
    let requests = Box::pin(traffic::run(
        &streams,
        c.traffic.rate,
        Duration::from_secs(2),
        stop,
    ))
    .await;
    let figures = Figures::of(&requests, streams.len());
    ctx.figures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(check.name.clone(), figures.seconds.clone());
    let did = match acted {
        Some(Ok(did)) => did,
        Some(Err(why)) => return Verdict::fail(format!("the action failed: {why}")),
        None => return Verdict::fail("the action did not run"),
    };
    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
    let mut problems = judge(c, &figures, &names);
    let settle = Deadline::after(
        c.settle
            .min(deadline.remaining().max(Duration::from_secs(1))),
    );
    problems.extend(after(ctx, c, &sets, &before, settle).await);
    let how = format!(
        "{did}; traffic {}: {}/{} correct ({:.2} %), {} failed, {} wrong, p95 {} ms, longest outage {} ms",
        streams
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        figures.correct,
        figures.sent,
        figures.success_ratio() * 100.0,
        figures.failed,
        figures.wrong,
        figures.p95.as_millis(),
        figures.longest_outage.0.as_millis(),
    );
    if problems.is_empty() {
        Verdict::pass(format!(
            "{how}; every object kept its UID and answers as before"
        ))
    } else {
        Verdict::fail(format!("{how}\n  {}", problems.join("\n  ")))
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Rest => "REST",
        Protocol::Grpc => "gRPC",
    }
}

/// The budget: success ratio, p95 latency, longest outage, and no wrong answer at all.
fn judge(c: &Continuity, f: &Figures, streams: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    if f.sent == 0 {
        out.push("no request was sent: the traffic window was empty".into());
    }
    if f.wrong > 0 {
        out.push(format!(
            "{} answers had wrong numbers (a wrong answer fails even within the budget): {}",
            f.wrong,
            f.wrong_examples.join("; ")
        ));
    }
    if f.success_ratio() < c.budget.success_ratio {
        out.push(format!(
            "success ratio {:.2} % is below the budget's {:.2} %; failures: {}",
            f.success_ratio() * 100.0,
            c.budget.success_ratio * 100.0,
            f.failure_examples.join("; ")
        ));
    }
    if let Some(max) = c.budget.p95_latency
        && f.p95 > max
    {
        out.push(format!(
            "p95 latency {} ms is above the budget's {} ms",
            f.p95.as_millis(),
            max.as_millis()
        ));
    }
    if let (Some(max), (outage, Some(s))) = (c.budget.max_outage, f.longest_outage)
        && outage > max
    {
        out.push(format!(
            "{} got no correct answer for {} ms, above the budget's {} ms; failures: {}",
            streams[s],
            outage.as_millis(),
            max.as_millis(),
            f.failure_examples.join("; ")
        ));
    }
    out
}

/// What the team's objects were before the action.
struct Snapshot {
    /// `Kind/name` → UID, for the runtime, Servers and Models.
    uids: BTreeMap<String, String>,
    /// Models whose `Ready` was True.
    ready_models: Vec<String>,
    /// Server → `status.loadedModels`.
    loaded: BTreeMap<String, i64>,
}

impl Snapshot {
    async fn take(ctx: &CheckContext<'_>, ns: &str) -> Result<Snapshot, String> {
        let mut s = Snapshot {
            uids: BTreeMap::new(),
            ready_models: Vec::new(),
            loaded: BTreeMap::new(),
        };
        for kind in ["SeldonRuntime", "Server", "Model"] {
            for o in list(ctx, kind, ns).await? {
                let name = o.metadata.name.clone().unwrap_or_default();
                s.uids.insert(
                    format!("{kind}/{name}"),
                    o.metadata.uid.clone().unwrap_or_default(),
                );
                if kind == "Model" && is_ready(&o.data) {
                    s.ready_models.push(name.clone());
                }
                if kind == "Server" {
                    s.loaded
                        .insert(name, o.data["status"]["loadedModels"].as_i64().unwrap_or(0));
                }
            }
        }
        Ok(s)
    }
}

async fn list(
    ctx: &CheckContext<'_>,
    kind: &str,
    ns: &str,
) -> Result<Vec<kube::api::DynamicObject>, String> {
    Watched::seldon(kind, ns, "")
        .api(&ctx.client)
        .list(&Default::default())
        .await
        .map(|l| l.items)
        .map_err(|e| format!("listing {kind}s in {ns}: {e}"))
}

fn is_ready(o: &Value) -> bool {
    o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Every sample of every model once over every protocol; `Err` lists the wrong answers.
async fn answers(
    ctx: &CheckContext<'_>,
    ns: &str,
    sets: &[(String, SampleSet)],
    protocols: &[Protocol],
    deadline: Deadline,
) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (model, set) in sets {
        for &p in protocols {
            let client = v2_client(ctx.mesh, ns, p, deadline).await?;
            for f in check_samples(&client, model, set).await {
                wrong.push(format!("{model} over {}: {f}", protocol_name(p)));
            }
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

/// The team's declared object of a kind by name, with its namespace, as setup applied it.
fn declared(ctx: &CheckContext<'_>, ns: &str, kind: &str, name: &str) -> Result<Value, String> {
    let team = ctx
        .scenario
        .team(ns)
        .ok_or_else(|| format!("namespace {ns} is not a team"))?;
    let list = if kind == "Server" {
        &team.servers
    } else {
        &team.models
    };
    let mut obj = list
        .iter()
        .find(|o| o["metadata"]["name"] == name)
        .cloned()
        .ok_or_else(|| format!("{kind} {name} is not declared in team {ns}"))?;
    obj["metadata"]["namespace"] = json!(ns);
    Ok(obj)
}

async fn apply(ctx: &CheckContext<'_>, obj: &Value) -> Result<(), String> {
    ctx.applier()
        .apply(obj)
        .await
        .map(|_| ())
        .map_err(|e| format!("applying {}: {e}", obj["metadata"]["name"]))
}

/// Runs the action; says what it did.
async fn act(
    ctx: &CheckContext<'_>,
    c: &Continuity,
    sets: &[(String, SampleSet)],
    before: &Snapshot,
    deadline: Deadline,
) -> Result<String, String> {
    let ns = c.namespace.as_str();
    let client = &ctx.client;
    match &c.action {
        Action::Restart(r) => {
            let w = match (r.component, &r.server) {
                (Some(RuntimeComponent::Scheduler), _) => {
                    Workload::stateful_set(ns, "seldon-scheduler")
                }
                (Some(RuntimeComponent::Envoy), _) => Workload::deployment(ns, "seldon-envoy"),
                (Some(RuntimeComponent::ModelGateway), _) => {
                    Workload::deployment(ns, "seldon-modelgateway")
                }
                (None, Some(s)) => Workload::stateful_set(ns, s),
                (None, None) => return Err("restart names nothing".into()),
            };
            let pods = transition::pods_of(client, &w).await?;
            transition::delete_pods(client, ns, &pods).await?;
            transition::wait_replaced(client, &w, &pods, deadline).await?;
            Ok(format!(
                "restarted {w} ({} pods deleted and replaced)",
                pods.len()
            ))
        }
        Action::DeleteTogether(s) => {
            let scheduler = Workload::stateful_set(ns, "seldon-scheduler");
            let server = Workload::stateful_set(ns, &s.server);
            let a = transition::pods_of(client, &scheduler).await?;
            let b = transition::pods_of(client, &server).await?;
            let all: Vec<PodId> = a.iter().chain(&b).cloned().collect();
            transition::delete_pods(client, ns, &all).await?;
            transition::wait_replaced(client, &scheduler, &a, deadline).await?;
            transition::wait_replaced(client, &server, &b, deadline).await?;
            Ok(format!(
                "deleted {scheduler} and {server} pods together ({} pods)",
                all.len()
            ))
        }
        Action::Rollout(s) => {
            let mut server = declared(ctx, ns, "Server", &s.server)?;
            // A podSpec change the Server's StatefulSet rolls out pod by pod: one more second
            // than the live Server has, so a second rollout (after an upgrade) changes it again.
            let live = Watched::seldon("Server", ns, &s.server)
                .api(client)
                .get_opt(&s.server)
                .await
                .map_err(|e| format!("reading Server {ns}/{}: {e}", s.server))?;
            let grace = live
                .as_ref()
                .and_then(|o| o.data["spec"]["podSpec"]["terminationGracePeriodSeconds"].as_i64())
                .or_else(|| server["spec"]["podSpec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30);
            server["spec"]["podSpec"]["terminationGracePeriodSeconds"] = json!(grace + 1);
            let w = Workload::stateful_set(ns, &s.server);
            let before = transition::update_revision(client, &w).await?;
            apply(ctx, &server).await?;
            transition::wait_rolled_out(client, &w, &before, deadline).await?;
            Ok(format!(
                "rolled out Server {ns}/{} (podSpec.terminationGracePeriodSeconds {grace} → {})",
                s.server,
                grace + 1
            ))
        }
        Action::ScaleModel(s) => {
            let original = declared(ctx, ns, "Model", &s.model)?;
            let mut steps: Vec<i64> = s.replicas.iter().map(|&r| i64::from(r)).collect();
            steps.push(original["spec"]["replicas"].as_i64().unwrap_or(1));
            let restore = steps.last().copied().unwrap_or(1);
            let mut seen = Vec::new();
            for n in steps {
                let mut m = original.clone();
                m["spec"]["replicas"] = json!(n);
                apply(ctx, &m).await?;
                let state = wait_model_decided(ctx, ns, &s.model, deadline).await?;
                // Served at every step, also beyond the Server's replicas: the scheduler keeps
                // the replicas it has (`FailedScheduling(..., !HasLiveReplicas())`; #5124).
                let own: Vec<(String, SampleSet)> = sets
                    .iter()
                    .filter(|(x, _)| *x == s.model)
                    .cloned()
                    .collect();
                let step = Deadline::after(Duration::from_secs(5).min(deadline.remaining()));
                if let Err(why) =
                    until(step, || answers(ctx, ns, &own, &c.traffic.protocols, step)).await
                {
                    // Back to the declared replicas, so the checks after this one start as
                    // they would have.
                    let mut m = original.clone();
                    m["spec"]["replicas"] = json!(restore);
                    let restored = apply(ctx, &m).await.err().map_or(String::new(), |e| {
                        format!(" (and restoring {restore} replicas failed: {e})")
                    });
                    return Err(format!(
                        "Model {ns}/{} scaled to {n} replicas ({state}) is not served: {why}{restored}",
                        s.model
                    ));
                }
                seen.push(format!("{n}: {state}, served"));
            }
            Ok(format!(
                "scaled Model {ns}/{} ({})",
                s.model,
                seen.join(", ")
            ))
        }
        Action::KillAgentDuringLoad(k) => {
            let mut m = declared(ctx, ns, "Model", &k.copy_of)?;
            m["metadata"] = json!({"name": k.model, "namespace": ns});
            let server = m["spec"]["server"]
                .as_str()
                .map(str::to_string)
                .or_else(|| before.loaded.keys().next().cloned())
                .ok_or("the team has no Server to load on")?;
            let w = Workload::stateful_set(ns, &server);
            let pods = transition::pods_of(client, &w).await?;
            apply(ctx, &m).await?;
            // Kill once the scheduler placed it (its agents are loading it), not before.
            let placed = Condition::new("placed: status.replicas > 0, or Ready", |o| {
                o.is_some_and(|o| {
                    o.data["status"]["replicas"].as_i64().unwrap_or(0) > 0 || is_ready(&o.data)
                })
            });
            let seen = wait_for(
                client,
                &Watched::seldon("Model", ns, &k.model),
                &placed,
                deadline.remaining(),
            )
            .await
            .map_err(|e| format!("Model {ns}/{} was never placed: {e}", k.model))?;
            let loading = !seen.as_ref().is_some_and(|o| is_ready(&o.data));
            transition::delete_pods(client, ns, &pods).await?;
            transition::wait_replaced(client, &w, &pods, deadline).await?;
            Ok(format!(
                "created Model {ns}/{} and killed the agents of {w} {}",
                k.model,
                if loading {
                    "while it loaded"
                } else {
                    "just after it loaded (the load was quicker than the kill)"
                }
            ))
        }
        Action::HelmUpgrade(_) => {
            let (Some(up), Some(version)) = (&ctx.upgrade, &ctx.upgrade_to) else {
                return Err("no upgrade requested".into());
            };
            let found = up
                .upgrade_in_place(version)
                .await
                .map_err(|e| format!("helm upgrade to {version}: {e:#}"))?;
            Ok(format!(
                "upgraded Seldon in place to {version} ({})",
                found.join("; ")
            ))
        }
    }
}

/// Waits until the Model's status is for its generation and decided: Ready, or ScheduleFailed.
async fn wait_model_decided(
    ctx: &CheckContext<'_>,
    ns: &str,
    model: &str,
    deadline: Deadline,
) -> Result<String, String> {
    let cond = Condition::new(
        "status for the current generation: Ready or ScheduleFailed",
        |o| {
            o.is_some_and(|o| {
                let current =
                    o.data["status"]["observedGeneration"].as_i64() >= o.metadata.generation;
                current && (is_ready(&o.data) || state(&o.data) == "ScheduleFailed")
            })
        },
    );
    let o = wait_for(
        &ctx.client,
        &Watched::seldon("Model", ns, model),
        &cond,
        deadline.remaining(),
    )
    .await
    .map_err(|e| format!("Model {ns}/{model} after scaling: {e}"))?
    .ok_or_else(|| format!("Model {ns}/{model} is gone"))?;
    Ok(if is_ready(&o.data) {
        "Ready".into()
    } else {
        state(&o.data)
    })
}

/// The Model's `ModelReady` message (Seldon's state name) and reason.
fn state(o: &Value) -> String {
    o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "ModelReady")
        .map(|c| c["message"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// The after-action assertions; each problem is one line.
async fn after(
    ctx: &CheckContext<'_>,
    c: &Continuity,
    sets: &[(String, SampleSet)],
    before: &Snapshot,
    settle: Deadline,
) -> Vec<String> {
    let ns = c.namespace.as_str();
    let mut out = Vec::new();
    let mut ready = before.ready_models.clone();
    if let Action::KillAgentDuringLoad(k) = &c.action {
        ready.push(k.model.clone());
    }
    // No Model that was Ready stays ScheduleFailed/ModelProgressing past the settle deadline.
    for m in &ready {
        let cond = Condition::new("Ready", |o| o.is_some_and(|o| is_ready(&o.data)));
        if let Err(e) = wait_for(
            &ctx.client,
            &Watched::seldon("Model", ns, m),
            &cond,
            settle.remaining(),
        )
        .await
        {
            out.push(format!(
                "Model {ns}/{m} is stuck after the action (not Ready within {}s): {e}",
                c.settle.as_secs()
            ));
        }
    }
    // Objects created before keep their UIDs.
    let mut now = BTreeMap::new();
    for kind in ["SeldonRuntime", "Server", "Model"] {
        match list(ctx, kind, ns).await {
            Ok(items) => now.extend(items.into_iter().map(|o| {
                (
                    format!("{kind}/{}", o.metadata.name.clone().unwrap_or_default()),
                    (o.metadata.uid.clone().unwrap_or_default(), o),
                )
            })),
            Err(e) => out.push(e),
        }
    }
    for (key, uid) in &before.uids {
        match now.get(key) {
            None => out.push(format!("{key} existed before the action and is gone")),
            Some((u, _)) if u != uid => out.push(format!(
                "{key} was re-created (UID {uid} → {u}): objects must survive the action"
            )),
            Some(_) => {}
        }
    }
    // Every Model that reports Ready is served.
    for (key, (_, o)) in now
        .iter()
        .filter(|(k, (_, o))| k.starts_with("Model/") && is_ready(&o.data))
    {
        let model = &key["Model/".len()..];
        if let Err(why) = served(ctx, ns, model, settle).await {
            out.push(format!(
                "Model {ns}/{model} is Ready but not served: {why} (generation {})",
                o.metadata.generation.unwrap_or(0)
            ));
        }
    }
    // The same numbers as before.
    let same = until(settle, || {
        answers(ctx, ns, sets, &c.traffic.protocols, settle)
    })
    .await;
    if let Err(why) = same {
        out.push(format!(
            "after the action the answers differ from before: {why}"
        ));
    }
    // The check's own Model goes before the counts are compared.
    if let Action::KillAgentDuringLoad(k) = &c.action {
        let target = Watched::seldon("Model", ns, &k.model);
        let deleted = match target
            .api(&ctx.client)
            .delete(&k.model, &DeleteParams::default())
            .await
        {
            Ok(_) => wait_for(
                &ctx.client,
                &target,
                &crate::kube::gone(),
                settle.remaining(),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = deleted {
            out.push(format!(
                "the check's Model {ns}/{} could not be deleted: {e}",
                k.model
            ));
        }
    }
    // Per-Server model counts restored.
    for (server, want) in &before.loaded {
        let want = *want;
        let cond = Condition::new(format!("status.loadedModels = {want}"), move |o| {
            o.is_some_and(|o| o.data["status"]["loadedModels"].as_i64().unwrap_or(0) == want)
        });
        if let Err(e) = wait_for(
            &ctx.client,
            &Watched::seldon("Server", ns, server),
            &cond,
            settle.remaining(),
        )
        .await
        {
            out.push(format!(
                "Server {ns}/{server} did not get its model count back: {e}"
            ));
        }
    }
    out
}

/// Whether `seldon-mesh` serves the model: its V2 readiness endpoint answers ready over REST,
/// asked again until `deadline` (routes reach envoy a moment after a transition).
async fn served(
    ctx: &CheckContext<'_>,
    ns: &str,
    model: &str,
    deadline: Deadline,
) -> Result<(), String> {
    until(deadline, || async {
        let client = v2_client(ctx.mesh, ns, Protocol::Rest, deadline).await?;
        match client.model_ready(model).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("its V2 readiness endpoint says not ready".into()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Asks `probe` every 100 ms until it succeeds or `deadline` passes (the data plane is not an
/// API object to watch); returns the last answer.
async fn until<F, Fut>(deadline: Deadline, probe: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        match probe().await {
            Ok(()) => return Ok(()),
            Err(why) if deadline.remaining().is_zero() => return Err(why),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::traffic::{Outcome, Request};

    fn continuity(text: &str) -> Continuity {
        serde_json::from_str(text).expect("continuity")
    }

    fn requests(n: usize, bad: &[(usize, Outcome)]) -> Vec<Request> {
        (0..n)
            .map(|i| Request {
                stream: 0,
                at: Duration::from_millis(50 * i as u64),
                latency: Duration::from_millis(3),
                outcome: bad
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map_or(Outcome::Correct, |(_, o)| o.clone()),
            })
            .collect()
    }

    const C: &str = r#"{"namespace": "t", "models": [{"model": "m", "samples": "s.json"}],
        "action": {"restart": {"component": "scheduler"}},
        "budget": {"successRatio": 0.9, "maxOutage": "120ms"}}"#;

    #[test]
    fn a_wrong_answer_fails_even_inside_the_budget() {
        let f = Figures::of(
            &requests(200, &[(7, Outcome::Wrong("sample `a`: 0.1 != 0.2".into()))]),
            1,
        );
        assert!(f.success_ratio() > 0.99);
        let problems = judge(&continuity(C), &f, &["m/REST"]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("1 answers had wrong numbers"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_budget_judges_success_ratio_and_the_longest_outage() {
        let down = |i| (i, Outcome::Failed("HTTP 503".into()));
        let f = Figures::of(&requests(40, &[down(3), down(4), down(5)]), 1);
        let problems = judge(&continuity(C), &f, &["m/REST"]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("m/REST got no correct answer for 150 ms"),
            "{problems:?}"
        );
        let f = Figures::of(&requests(20, &[down(3), down(9), down(15)]), 1);
        let problems = judge(&continuity(C), &f, &["m/REST"]);
        assert!(
            problems[0].contains("success ratio 85.00 % is below the budget's 90.00 %"),
            "{problems:?}"
        );
        assert!(
            judge(
                &continuity(C),
                &Figures::of(&requests(20, &[]), 1),
                &["m/REST"]
            )
            .is_empty()
        );
    }
}
