//! `requiredFlows`: the static verdict of the scenario's NetworkPolicies on the flows a Seldon
//! runtime needs, then live probes of every required flow (wearing the source component's
//! labels) that must agree with it.
//!
//! No required flow passes unprobed: a destination the target does not have, or a probe that
//! cannot run, fails the check naming the flow. A blocked flow counts as blocked only when its
//! probe was dropped (timed out): a refusal means nothing answered, and a name that did not
//! resolve (DNS blocked) says nothing about the port, so such a probe is repeated by IP (the
//! Service's cluster IP, or the outside destination's address) to judge the port-level rule.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::json;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::flows::{self, FlowProbe, ProbeTarget};
use crate::kube::probe::{PROBE_LABEL, ProbeFailure, ProbeOwner, ProbeResult};
use crate::kube::seldon::{runtime_name, runtime_readiness};
use crate::kube::{Condition, Deadline, Watched, wait_for};
use crate::names::object_name;
use crate::scenario::RequiredFlows;

/// `requiredFlows`: the static verdict of the scenario's policies, then live probes of every
/// required flow (wearing the source component's labels) that must agree with it.
pub async fn required_flows(
    ctx: &CheckContext<'_>,
    r: &RequiredFlows,
    deadline: Deadline,
) -> Verdict {
    let ns = r.namespace.as_str();
    if let Err(e) = flows::static_verdict(ctx.scenario, r) {
        return Verdict::fail(e);
    }
    let verdicts = flows::evaluate_at(ctx.scenario, ns, ctx.model_store);
    let blocked: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.required && !v.allowed)
        .map(|v| v.flow.as_str())
        .collect();
    let statically = format!(
        "statically, the policies of {ns} allow every required flow{}",
        if blocked.is_empty() {
            String::new()
        } else {
            format!(" except [{}], as expected", blocked.join(", "))
        }
    );
    // Probes need the destinations up, or every flow would look blocked.
    if ctx.scenario.team(ns).is_some_and(|t| t.runtime.is_some()) {
        let controller_ns = &ctx.scenario.doc.spec.seldon.controller_namespace;
        let ready = match runtime_name(&ctx.client, ns, ctx.declared_runtime(ns)).await {
            Ok(name) => runtime_readiness(&ctx.client, ns, &name, controller_ns, deadline).await,
            Err(e) => Err(e),
        };
        if let Err(why) = ready {
            return Verdict::fail(format!(
                "{statically}; the live probes cannot run while the runtime is not Ready: {why}"
            ));
        }
    }
    let plan: Vec<FlowProbe> = flows::probe_plan_at(ctx.scenario, ns, ctx.model_store)
        .into_iter()
        .filter(|p| p.required)
        .collect();
    let owners = match probe_owners(ctx, &plan).await {
        Ok(o) => o,
        Err(e) => return Verdict::fail(format!("{statically}; {e}")),
    };
    let runs = plan.iter().map(|p| {
        let owner = owners.get(&p.namespace);
        async move { (p, run_flow_probe(ctx, p, owner, deadline).await) }
    });
    let mut live = Vec::new();
    let mut lines = Vec::new();
    let mut not_run = Vec::new();
    for (p, res) in futures::future::join_all(runs).await {
        match res {
            Ok(Some(r)) => {
                lines.push(format!(
                    "{} from {}: {} [{}]",
                    p.flow,
                    p.source,
                    r.describe(),
                    outcome_kind(&r)
                ));
                let statically_blocked = verdicts.iter().any(|v| v.flow == p.flow && !v.allowed);
                match r.failure() {
                    Some(ProbeFailure::TimedOut) | None => live.push((p.flow.clone(), r.connected)),
                    Some(ProbeFailure::Refused) if statically_blocked => not_run.push(format!(
                        "{} from {}: refused, not dropped: nothing answered, so the probe cannot show the policy blocks it",
                        p.flow, p.source
                    )),
                    Some(_) if statically_blocked => not_run.push(format!(
                        "{} from {}: {}: not a timeout, so not shown to be a policy denial",
                        p.flow,
                        p.source,
                        outcome_kind(&r)
                    )),
                    // Nothing blocks it statically: any failure disagrees.
                    Some(_) => live.push((p.flow.clone(), false)),
                }
            }
            Ok(None) => not_run.push(format!(
                "{} from {}: its destination does not exist on this cluster (no such Service, or no Ready pod)",
                p.flow, p.source
            )),
            Err(e) => not_run.push(format!("{} from {}: {e}", p.flow, p.source)),
        }
    }
    delete_owners(ctx, &owners).await;
    let disagreements = flows::compare(&verdicts, &live);
    let probed = format!("{} probes", live.len());
    if !not_run.is_empty() {
        return Verdict::fail(format!(
            "{statically}, but {} required flow probe(s) could not show it live (a required flow never passes unprobed):\n    {}\n  probes:\n    {}",
            not_run.len(),
            not_run.join("\n    "),
            lines.join("\n    ")
        ));
    }
    if disagreements.is_empty() {
        Verdict::pass(format!(
            "{statically}; {probed} agree:\n    {}",
            lines.join("\n    ")
        ))
    } else {
        let found: Vec<String> = disagreements
            .iter()
            .map(|d| format!("flow `{}`: {}", d.flow, d.finding))
            .collect();
        Verdict::fail(format!(
            "{statically}, but live probes disagree:\n  {}\n  probes:\n    {}",
            found.join("\n  "),
            lines.join("\n    ")
        ))
    }
}

/// One ConfigMap per probe namespace owns the flow probes, so the controllers whose labels
/// the probes wear never adopt them.
async fn probe_owners(
    ctx: &CheckContext<'_>,
    plan: &[FlowProbe],
) -> Result<BTreeMap<String, ProbeOwner>, String> {
    let mut owners = BTreeMap::new();
    let applier = ctx.applier();
    for ns in plan.iter().map(|p| p.namespace.clone()) {
        if owners.contains_key(&ns) {
            continue;
        }
        let name = object_name(&["flow-probes"], ctx.run_id);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}});
        let applied = applier
            .apply(&cm)
            .await
            .map_err(|e| format!("could not create the probe owner ConfigMap {ns}/{name}: {e}"))?;
        owners.insert(
            ns,
            ProbeOwner {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name,
                uid: applied.uid,
            },
        );
    }
    Ok(owners)
}

async fn delete_owners(ctx: &CheckContext<'_>, owners: &BTreeMap<String, ProbeOwner>) {
    for (ns, o) in owners {
        let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
        if let Err(e) = api.delete(&o.name, &DeleteParams::default()).await {
            tracing::warn!(
                "could not delete probe owner ConfigMap {ns}/{}: {e}",
                o.name
            );
        }
    }
}

/// Runs one flow probe; `Ok(None)` when its destination does not exist on this cluster.
async fn run_flow_probe(
    ctx: &CheckContext<'_>,
    p: &FlowProbe,
    owner: Option<&ProbeOwner>,
    deadline: Deadline,
) -> Result<Option<ProbeResult>, String> {
    let host = match &p.target {
        ProbeTarget::Pod {
            namespace,
            selector,
            ..
        } => match pod_ip(ctx, namespace, selector, deadline).await? {
            Some(ip) => ip,
            None => return Ok(None),
        },
        t => {
            let host = t.host().unwrap_or_default().to_string();
            // A destination this cluster does not have (an API server Service a test double
            // lacks, a model store elsewhere) cannot say anything about policies.
            if let Some((svc, svc_ns)) = in_cluster_service(&host, &p.namespace) {
                let api: Api<Service> = Api::namespaced(ctx.client.clone(), svc_ns);
                match api.get_opt(svc).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(format!("cannot read Service {svc_ns}/{svc}: {e}")),
                }
            }
            host
        }
    };
    let mut probe = p.clone();
    // Unique per run: two checks may probe the same flow source.
    probe.name = object_name(&[&p.name], ctx.run_id);
    let first = probe
        .probe_pod(&host, owner)
        .run(&ctx.applier(), deadline)
        .await?;
    if first.failure() != Some(ProbeFailure::BadAddress) {
        return Ok(Some(first));
    }
    // The name did not resolve: judge the port-level rule by IP.
    let ip = match in_cluster_service(&host, &p.namespace) {
        Some((svc, svc_ns)) => {
            let api: Api<Service> = Api::namespaced(ctx.client.clone(), svc_ns);
            api.get_opt(svc)
                .await
                .map_err(|e| format!("cannot read Service {svc_ns}/{svc}: {e}"))?
                .and_then(|s| s.spec)
                .and_then(|s| s.cluster_ip)
                .filter(|ip| ip != "None")
        }
        None => p.by_ip.clone(),
    };
    let Some(ip) = ip else {
        return Ok(Some(first));
    };
    probe.name = object_name(&[&p.name, "ip"], ctx.run_id);
    let mut by_ip = probe
        .probe_pod(&ip, owner)
        .run(&ctx.applier(), deadline)
        .await?;
    by_ip.log = format!("{} (by IP, after {})", by_ip.log.trim(), first.log.trim());
    Ok(Some(by_ip))
}

/// What a probe result was: connected, dropped, refused or a DNS failure.
fn outcome_kind(r: &ProbeResult) -> &'static str {
    match r.failure() {
        None => "connected",
        Some(ProbeFailure::TimedOut) => "dropped (timeout)",
        Some(ProbeFailure::Refused) => "refused",
        Some(ProbeFailure::BadAddress) => "DNS failure",
        Some(ProbeFailure::Other) => "failed",
    }
}

/// `(service, namespace)` when `host` is a cluster Service name (`svc`, `svc.ns`,
/// `svc.ns.svc[.<domain>]`), `None` for names outside the cluster.
fn in_cluster_service<'a>(host: &'a str, probe_ns: &'a str) -> Option<(&'a str, &'a str)> {
    let parts: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    match parts.as_slice() {
        [svc] => Some((svc, probe_ns)),
        [svc, ns] => Some((svc, ns)),
        [svc, ns, "svc", ..] => Some((svc, ns)),
        _ => None,
    }
}

/// The address of a pod matching `selector` in `namespace`: a Ready one if there is, else any
/// Running one (policies apply whether or not it is Ready, and a Server whose agent is cut off
/// is never Ready). A Server's first pod is waited for until it has an address.
async fn pod_ip(
    ctx: &CheckContext<'_>,
    namespace: &str,
    selector: &BTreeMap<String, String>,
    deadline: Deadline,
) -> Result<Option<String>, String> {
    if let Some(server) = selector.get("seldon-server-name") {
        let first = Watched::of::<Pod>(Some(namespace), &format!("{server}-0"));
        let addressed = Condition::new("Running with a pod IP", |o| {
            o.is_some_and(|o| {
                o.data["status"]["phase"] == "Running"
                    && o.data["status"]["podIP"]
                        .as_str()
                        .is_some_and(|ip| !ip.is_empty())
            })
        });
        // Not there in time: the listing below says what exists.
        let _ = wait_for(&ctx.client, &first, &addressed, deadline.remaining()).await;
    }
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(&labels.join(",")))
        .await
        .map_err(|e| format!("cannot list pods {} in {namespace}: {e}", labels.join(",")))?;
    let candidates: Vec<(bool, String)> = pods
        .items
        .into_iter()
        .filter(|p| {
            !p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(PROBE_LABEL))
        })
        .filter_map(|p| {
            let status = p.status?;
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let running = status.phase.as_deref() == Some("Running");
            status.pod_ip.filter(|_| running).map(|ip| (ready, ip))
        })
        .collect();
    Ok(candidates
        .iter()
        .find(|(ready, _)| *ready)
        .or(candidates.first())
        .map(|(_, ip)| ip.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_cluster_services_from_outside_names() {
        assert_eq!(
            in_cluster_service("kubernetes.default", "x"),
            Some(("kubernetes", "default"))
        );
        assert_eq!(
            in_cluster_service("seldon-mesh", "team"),
            Some(("seldon-mesh", "team"))
        );
        assert_eq!(
            in_cluster_service("minio.store.svc.cluster.local", "x"),
            Some(("minio", "store"))
        );
        assert_eq!(in_cluster_service("storage.googleapis.com", "x"), None);
    }
}
