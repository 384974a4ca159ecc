//! Network isolation checks: the NetworkPolicy enforcement canary (`networkPolicyEnforced`) and
//! connectivity probes (`connectivity`), judged only once the canary shows enforcement.
//!
//! # Probes (a fixed convention, shared with the embedded platform)
//! A probe is a Pod labelled `conformance.harness/probe: "true"` (plus the run's ownership labels
//! and the check's `fromLabels`), annotated `conformance.harness/probe-target: "<host>:<port>"`,
//! with one `busybox:1.36` container running `nc -z -w <seconds> <host> <port>` and
//! `restartPolicy: Never`. It is created through the apply path, awaited until it Succeeded
//! (connected) or Failed, its log read (busybox prints why it failed), then deleted.
//!
//! # Enforcement canary
//! Many clusters accept NetworkPolicies and enforce none (kind before v0.24, kindnet failing
//! open, CNIs without policy support): there a "denied" check would pass for the wrong reason
//! and an "allowed" one proves nothing. Once per run (whichever check asks first) the harness
//! creates a namespace of its own (policies are additive: a team policy allowing ingress would
//! mask the canary's deny-all), starts two listener pods there, selects one with a
//! deny-all-ingress policy and probes both by pod IP: the unselected one must answer (control)
//! and the selected one must not. Until that is shown, `connectivity` checks report Skip
//! rather than a verdict.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::probe::{
    PROBE_CONNECT_SECONDS, PROBE_IMAGE, ProbeFailure, ProbePod, pod_security, small_container,
};
use crate::kube::workload::{Workload, all_pods_ready, describe};
use crate::kube::{Condition, Deadline, Watched, current_condition, wait_for};
use crate::names::object_name;
use crate::scenario::{Check, Connectivity, Expectation, NamespaceRef, Outcome};

/// The label of the canary's listener pods (`closed`, `open`) and probes.
pub const CANARY_LABEL: &str = "conformance.harness/canary";
/// The port the canary's listeners listen on.
pub const CANARY_PORT: u16 = 8080;
/// How often the canary probes its closed listener before concluding policies are not enforced.
const CANARY_ATTEMPTS: usize = 3;

/// Whether the cluster enforces NetworkPolicy, as the canary showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// The selected listener was unreachable and the unselected one reachable.
    Enforced(String),
    /// The listener selected by a deny-all policy was reachable.
    NotEnforced(String),
    /// The canary could not decide (setup failed, or the control probe failed too).
    Unknown(String),
}

type CanaryCell = Arc<OnceCell<Enforcement>>;
static CANARIES: LazyLock<Mutex<HashMap<String, CanaryCell>>> = LazyLock::new(Default::default);

/// The canary's namespace: that of the scenario's `networkPolicyEnforced` check, else `fallback`.
fn canary_namespace<'a>(ctx: &'a CheckContext<'_>, fallback: &'a str) -> &'a str {
    ctx.scenario
        .doc
        .spec
        .checks
        .iter()
        .find_map(|c| match &c.expect {
            Expectation::NetworkPolicyEnforced(n) => Some(n.namespace.as_str()),
            _ => None,
        })
        .unwrap_or(fallback)
}

/// The run's canary result, running the canary if no check of this run has yet.
pub async fn enforcement(
    ctx: &CheckContext<'_>,
    namespace: &str,
    deadline: Deadline,
) -> Enforcement {
    let cell = CANARIES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(ctx.run_id.to_string())
        .or_default()
        .clone();
    let ns = canary_namespace(ctx, namespace);
    cell.get_or_init(|| run_canary(ctx, ns, deadline))
        .await
        .clone()
}

fn listener_pod(namespace: &str, name: &str, role: &str) -> Value {
    let mut container = small_container(
        "listener",
        vec![
            "nc".into(),
            "-lk".into(),
            "-p".into(),
            CANARY_PORT.to_string(),
        ],
    );
    container["ports"] = json!([{"containerPort": CANARY_PORT, "protocol": "TCP"}]);
    container["readinessProbe"] = json!({"tcpSocket": {"port": CANARY_PORT}, "periodSeconds": 1});
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {CANARY_LABEL: role}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "securityContext": pod_security(),
            "containers": [container],
        },
    })
}

/// The listener is Ready with an IP.
fn listening() -> Condition {
    Condition::new("Ready with a pod IP", |o| {
        o.is_some_and(|o| {
            o.data["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| !ip.is_empty())
                && current_condition(o, "Ready").is_some_and(|c| c.status == "True")
        })
    })
}

async fn run_canary(ctx: &CheckContext<'_>, asked_for: &str, deadline: Deadline) -> Enforcement {
    // Its own namespace: policies are additive, so any team policy allowing ingress to the
    // canary would mask the deny-all (and a team's default-deny would block the control).
    let ns = object_name(&["np-canary"], ctx.run_id);
    let closed = object_name(&["canary-closed"], ctx.run_id);
    let open = object_name(&["canary-open"], ctx.run_id);
    let policy = object_name(&["canary-deny-all"], ctx.run_id);
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    let result = match ctx.applier().apply(&namespace).await {
        Ok(_) => canary_inner(ctx, &ns, &closed, &open, &policy, deadline).await,
        Err(e) => Enforcement::Unknown(format!("could not create the canary namespace {ns}: {e}")),
    };
    // Deleting the namespace takes the listeners, probes and policy with it.
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    if let Err(e) = namespaces.delete(&ns, &DeleteParams::default()).await
        && !matches!(&e, kube::Error::Api(s) if s.code == 404)
    {
        tracing::warn!("could not delete the canary namespace {ns}: {e}");
    }
    let note = |d: String| {
        format!("{d} (canary for the run, asked for by a check of namespace {asked_for})")
    };
    match result {
        Enforcement::Enforced(d) => Enforcement::Enforced(note(d)),
        Enforcement::NotEnforced(d) => Enforcement::NotEnforced(note(d)),
        Enforcement::Unknown(d) => Enforcement::Unknown(note(d)),
    }
}

async fn canary_inner(
    ctx: &CheckContext<'_>,
    ns: &str,
    closed: &str,
    open: &str,
    policy: &str,
    deadline: Deadline,
) -> Enforcement {
    let applier = ctx.applier();
    let mut ips = Vec::new();
    for (name, role) in [(closed, "closed"), (open, "open")] {
        if let Err(e) = applier.apply(&listener_pod(ns, name, role)).await {
            return Enforcement::Unknown(format!(
                "could not create canary listener {ns}/{name}: {e}"
            ));
        }
    }
    for name in [closed, open] {
        let target = Watched::of::<Pod>(Some(ns), name);
        match wait_for(&ctx.client, &target, &listening(), deadline.remaining()).await {
            Ok(Some(o)) => ips.push(
                o.data["status"]["podIP"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            Ok(None) => {
                return Enforcement::Unknown(format!("canary listener {ns}/{name} vanished"));
            }
            Err(e) => {
                return Enforcement::Unknown(format!(
                    "canary listener {ns}/{name} never became Ready (image {PROBE_IMAGE} reachable?)\n{e}"
                ));
            }
        }
    }
    let deny = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": policy, "namespace": ns},
        "spec": {"podSelector": {"matchLabels": {CANARY_LABEL: "closed"}}, "policyTypes": ["Ingress"]},
    });
    if let Err(e) = applier.apply(&deny).await {
        return Enforcement::Unknown(format!("could not create the canary NetworkPolicy: {e}"));
    }
    let probe = |host: &str| {
        let mut p = ProbePod::new(
            ns,
            &object_name(&["canary-probe"], ctx.run_id),
            host,
            CANARY_PORT,
        );
        p.labels = BTreeMap::from([(CANARY_LABEL.to_string(), "probe".to_string())]);
        p
    };
    let control = match probe(&ips[1]).run(&applier, deadline).await {
        Ok(r) => r,
        Err(e) => return Enforcement::Unknown(format!("the control probe did not run: {e}")),
    };
    if !control.connected {
        return Enforcement::Unknown(format!(
            "the control probe to the unselected canary listener {ns}/{open} failed, so pod-to-pod traffic in {ns} is blocked by something else (the namespace's own policies, or the network): {}",
            control.describe()
        ));
    }
    let mut last = None;
    for _ in 0..CANARY_ATTEMPTS {
        if deadline.remaining() < Duration::from_secs(u64::from(PROBE_CONNECT_SECONDS))
            && last.is_some()
        {
            break;
        }
        let r = match probe(&ips[0]).run(&applier, deadline).await {
            Ok(r) => r,
            Err(e) => return Enforcement::Unknown(format!("the canary probe did not run: {e}")),
        };
        if !r.connected {
            return Enforcement::Enforced(format!(
                "deny-all-ingress NetworkPolicy {ns}/{policy} blocked {}; control {}",
                r.describe(),
                control.describe()
            ));
        }
        last = Some(r);
    }
    let r = last.expect("at least one attempt");
    Enforcement::NotEnforced(format!(
        "this cluster does not enforce NetworkPolicy (a deny-all canary was reachable): NetworkPolicy {ns}/{policy} selects {closed}, yet {} ({CANARY_ATTEMPTS} attempts); is the CNI's policy controller running (kindnet >= kind v0.24, Calico, Cilium)? The policy was created after {closed} was running: a CNI that applies policies only to pods started after them fails here too",
        r.describe()
    ))
}

/// `networkPolicyEnforced`: the canary shows the cluster enforces NetworkPolicy.
pub async fn network_policy_enforced(
    ctx: &CheckContext<'_>,
    n: &NamespaceRef,
    deadline: Deadline,
) -> Verdict {
    match enforcement(ctx, &n.namespace, deadline).await {
        Enforcement::Enforced(d) => Verdict::pass(d),
        Enforcement::NotEnforced(d) => Verdict::fail(d),
        Enforcement::Unknown(d) => Verdict::fail(format!(
            "could not establish that this cluster enforces NetworkPolicy: {d}"
        )),
    }
}

/// The workload behind a Seldon Service, so probes wait until it can answer.
fn service_workload(namespace: &str, service: &str) -> Option<Workload> {
    match service {
        "seldon-mesh" => Some(Workload::deployment(namespace, "seldon-envoy")),
        "seldon-scheduler" => Some(Workload::stateful_set(namespace, "seldon-scheduler")),
        "seldon-pipelinegateway" => Some(Workload::deployment(namespace, "seldon-pipelinegateway")),
        _ => None,
    }
}

/// `connectivity`: a probe pod in `from` reaches (or not) the Service port, judged only once
/// the canary has shown the cluster enforces NetworkPolicy.
pub async fn connectivity(
    ctx: &CheckContext<'_>,
    check: &Check,
    c: &Connectivity,
    deadline: Deadline,
) -> Verdict {
    // The canary is the run's, judged by `networkPolicyEnforced`: waiting for it (or running it
    // for the run) is not this check's platform time.
    match crate::kube::clock::prerequisite(enforcement(ctx, &c.from, deadline)).await {
        Enforcement::Enforced(_) => {}
        Enforcement::NotEnforced(d) => return Verdict::skip(d),
        Enforcement::Unknown(d) => {
            return Verdict::skip(format!(
                "this cluster does not enforce NetworkPolicy as far as the harness can tell (the canary was inconclusive): {d}"
            ));
        }
    }
    let to = &c.to;
    if let Some(w) = service_workload(&to.namespace, &to.service)
        && let Err(e) = wait_for(
            &ctx.client,
            &w.target(),
            &all_pods_ready(),
            deadline.remaining(),
        )
        .await
    {
        return Verdict::fail(format!(
            "cannot probe {}.{}:{}: {}\n{e}",
            to.service,
            to.namespace,
            to.port,
            describe(&ctx.client, &w).await
        ));
    }
    let mut probe = ProbePod::new(
        &c.from,
        &object_name(&["probe", &check.name], ctx.run_id),
        &format!("{}.{}", to.service, to.namespace),
        to.port,
    );
    probe.labels = c.from_labels.clone();
    let r = match probe.run(&ctx.applier(), deadline).await {
        Ok(r) => r,
        Err(e) => return Verdict::fail(e),
    };
    let text = r.describe();
    match (c.expect, r.failure()) {
        (Outcome::Allowed, None) => Verdict::pass(format!("{text} (allowed, as expected)")),
        (Outcome::Allowed, Some(_)) => {
            Verdict::fail(format!("{text}; expected the connection to be allowed"))
        }
        (Outcome::Denied, Some(ProbeFailure::TimedOut)) => {
            Verdict::pass(format!("{text} (blocked, as expected)"))
        }
        (Outcome::Denied, None) => Verdict::fail(format!(
            "{text}; expected it to be denied: no NetworkPolicy of {} blocks traffic from {} to {}",
            to.namespace, c.from, to.service
        )),
        (Outcome::Denied, Some(ProbeFailure::Refused)) => Verdict::fail(format!(
            "{text}; refused rather than blocked: nothing answered behind {}.{} (no ready endpoints), so the probe cannot show a policy denies it",
            to.service, to.namespace
        )),
        (Outcome::Denied, Some(ProbeFailure::BadAddress)) => Verdict::fail(format!(
            "{text}; the name did not resolve (no such Service, or DNS unreachable from {}), so the probe cannot show a policy denies the connection",
            c.from
        )),
        (Outcome::Denied, Some(ProbeFailure::Other)) => Verdict::fail(format!(
            "{text}; not a timeout, so not shown to be a policy denial"
        )),
    }
}
