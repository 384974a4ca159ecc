//! Isolation checks: NetworkPolicy enforcement canary, connectivity probes, RBAC access reviews.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::checks::{CheckContext, Deadline, Verdict};
use crate::flows::{self, FlowProbe, ProbeOwner, ProbeTarget};
use crate::quota::{Workload, all_pods_ready};
use crate::scenario::{
    Access, Check, Connectivity, Expectation, NamespaceRef, Outcome, RequiredFlows,
};
use crate::wait::{self, Condition, Target, current_condition};

/// Label marking a probe pod (value `"true"`).
pub const PROBE_LABEL: &str = "conformance.harness/probe";
/// Annotation holding a probe's `<host>:<port>`.
pub const PROBE_TARGET_ANNOTATION: &str = "conformance.harness/probe-target";
/// Image of probes and canary listeners.
pub const PROBE_IMAGE: &str = "busybox:1.36";
/// Label of the canary listener pods (`closed`: selected by the deny-all policy, `open`: not).
pub const CANARY_LABEL: &str = "conformance.harness/canary";
/// The port canary listeners listen on.
pub const CANARY_PORT: u16 = 8080;
/// `nc -w` seconds: how long a probe waits for a connection before calling it blocked.
pub const PROBE_CONNECT_SECONDS: u32 = 5;
/// How often a canary probe that connected is repeated: policies are programmed asynchronously.
const CANARY_ATTEMPTS: usize = 3;

static NAME_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique object name for something a check creates: `<parts>-<run suffix>-<n>`, at most 63
/// characters, RFC 1123.
pub fn object_name(parts: &[&str], run_id: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, Ordering::Relaxed);
    let suffix: String = run_id
        .chars()
        .rev()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_ascii_lowercase();
    let tail = format!("-{suffix}-{n}");
    let mut head: String = parts
        .join("-")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    head.truncate(63 - tail.len());
    let head = head.trim_matches('-');
    format!("{head}{tail}")
}

/// A connectivity probe to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Namespace the probe runs in.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Extra labels (to be selected like a given client).
    pub labels: BTreeMap<String, String>,
    /// Host name or IP to dial.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `nc -w` seconds.
    pub connect_seconds: u32,
}

/// Small requests and limits (quota namespaces demand limits) and a restricted security context.
fn small_container(name: &str, command: Vec<String>) -> Value {
    json!({
        "name": name,
        "image": PROBE_IMAGE,
        "command": command,
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "10m", "memory": "16Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        },
    })
}

fn pod_security() -> Value {
    json!({"runAsNonRoot": true, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}})
}

impl Probe {
    /// The command the probe runs.
    pub fn command(&self) -> Vec<String> {
        vec![
            "nc".into(),
            "-z".into(),
            "-w".into(),
            self.connect_seconds.to_string(),
            self.host.clone(),
            self.port.to_string(),
        ]
    }

    /// The Pod manifest of the convention.
    pub fn pod(&self) -> Value {
        let mut labels = self.labels.clone();
        labels.insert(PROBE_LABEL.into(), "true".into());
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": {PROBE_TARGET_ANNOTATION: format!("{}:{}", self.host, self.port)},
            },
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": false,
                "securityContext": pod_security(),
                "containers": [small_container("probe", self.command())],
            },
        })
    }
}

/// What a probe pod did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// `<namespace>/<pod>`.
    pub pod: String,
    /// The command, as a shell line.
    pub command: String,
    /// Whether the connection opened (phase Succeeded).
    pub connected: bool,
    /// The container log (empty on success).
    pub log: String,
}

/// Why a probe did not connect, from busybox `nc`'s message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No answer within `-w` seconds: dropped, as a NetworkPolicy does.
    TimedOut,
    /// Refused: nothing listens (no ready endpoints), or a CNI that rejects.
    Refused,
    /// The name did not resolve (no such Service, or DNS unreachable).
    BadAddress,
    /// Anything else.
    Other,
}

impl ProbeResult {
    /// Classifies the failure from the log.
    pub fn failure(&self) -> Option<ProbeFailure> {
        if self.connected {
            return None;
        }
        let log = self.log.to_ascii_lowercase();
        Some(if log.contains("timed out") {
            ProbeFailure::TimedOut
        } else if log.contains("refused") {
            ProbeFailure::Refused
        } else if log.contains("bad address") {
            ProbeFailure::BadAddress
        } else {
            ProbeFailure::Other
        })
    }

    /// One line: what was run and what happened.
    pub fn describe(&self) -> String {
        let outcome = if self.connected {
            "connected".to_string()
        } else if self.log.trim().is_empty() {
            "failed without output".to_string()
        } else {
            format!("failed: {}", self.log.trim())
        };
        format!("probe pod {} ran `{}`: {outcome}", self.pod, self.command)
    }
}

/// Runs a probe pod to completion and deletes it (on every path).
pub async fn run_probe(
    ctx: &CheckContext<'_>,
    probe: &Probe,
    deadline: Deadline,
) -> Result<ProbeResult, String> {
    let command = probe.command().join(" ");
    run_probe_pod(ctx, &probe.pod(), &command, deadline).await
}

/// Runs any probe pod manifest of the convention (`metadata.namespace` and `metadata.name`
/// set) to completion, reads its log and deletes it (on every path).
pub async fn run_probe_pod(
    ctx: &CheckContext<'_>,
    pod: &Value,
    command: &str,
    deadline: Deadline,
) -> Result<ProbeResult, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let result = run_probe_inner(ctx, &api, pod, command, deadline).await;
    delete_pod(&api, name).await;
    result
}

async fn delete_pod(api: &Api<Pod>, name: &str) {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    if let Err(e) = api.delete(name, &dp).await
        && !matches!(&e, kube::Error::Api(s) if s.code == 404)
    {
        tracing::warn!("could not delete pod {name}: {e}");
    }
}

async fn run_probe_inner(
    ctx: &CheckContext<'_>,
    api: &Api<Pod>,
    manifest: &Value,
    command: &str,
    deadline: Deadline,
) -> Result<ProbeResult, String> {
    let ns = manifest["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    let pod = format!("{ns}/{name}");
    ctx.applier()
        .apply(manifest)
        .await
        .map_err(|e| format!("could not create probe pod {pod}: {e}"))?;
    let done = Condition::new("phase Succeeded or Failed", |o| {
        o.is_some_and(|o| {
            matches!(
                o.data["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            )
        })
    });
    let target = Target::of::<Pod>(Some(ns), name);
    let obj = wait::wait_for(&ctx.client, &target, &done, deadline.remaining())
        .await
        .map_err(|e| format!("probe pod {pod} (`{command}`) did not finish\n{e}"))?
        .ok_or_else(|| format!("probe pod {pod} vanished"))?;
    let connected = obj.data["status"]["phase"] == "Succeeded";
    let log = api
        .logs(name, &LogParams::default())
        .await
        .map_err(|e| format!("could not read the log of probe pod {pod}: {e}"))?;
    Ok(ProbeResult {
        pod,
        command: command.to_string(),
        connected,
        log,
    })
}

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
        let target = Target::of::<Pod>(Some(ns), name);
        match wait::wait_for(&ctx.client, &target, &listening(), deadline.remaining()).await {
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
    let probe = |host: &str| Probe {
        namespace: ns.to_string(),
        name: object_name(&["canary-probe"], ctx.run_id),
        labels: BTreeMap::from([(CANARY_LABEL.to_string(), "probe".to_string())]),
        host: host.to_string(),
        port: CANARY_PORT,
        connect_seconds: PROBE_CONNECT_SECONDS,
    };
    let control = match run_probe(ctx, &probe(&ips[1]), deadline).await {
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
        let r = match run_probe(ctx, &probe(&ips[0]), deadline).await {
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
        "this cluster does not enforce NetworkPolicy (a deny-all canary was reachable): NetworkPolicy {ns}/{policy} selects {closed}, yet {} ({CANARY_ATTEMPTS} attempts); is the CNI's policy controller running (kindnet >= kind v0.24, Calico, Cilium)?",
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
    match enforcement(ctx, &c.from, deadline).await {
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
        && let Err(e) = wait::wait_for(
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
            crate::quota::describe(&ctx.client, &w).await
        ));
    }
    let probe = Probe {
        namespace: c.from.clone(),
        name: object_name(&["probe", &check.name], ctx.run_id),
        labels: c.from_labels.clone(),
        host: format!("{}.{}", to.service, to.namespace),
        port: to.port,
        connect_seconds: PROBE_CONNECT_SECONDS,
    };
    let r = match run_probe(ctx, &probe, deadline).await {
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

/// `access`: a SubjectAccessReview for the ServiceAccount answers as expected.
pub async fn access(ctx: &CheckContext<'_>, a: &Access) -> Verdict {
    let Some((sa_ns, sa_name)) = a.service_account.split_once('/') else {
        return Verdict::fail(format!(
            "serviceAccount `{}` is not `<namespace>/<name>`",
            a.service_account
        ));
    };
    let user = format!("system:serviceaccount:{sa_ns}:{sa_name}");
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.clone()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{sa_ns}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(a.namespace.clone()),
                verb: Some(a.verb.clone()),
                group: Some(a.group.clone()),
                resource: Some(a.resource.clone()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(ctx.client.clone());
    let answer = match api.create(&PostParams::default(), &review).await {
        Ok(r) => r,
        Err(e) => return Verdict::fail(format!("the SubjectAccessReview for {user} failed: {e}")),
    };
    let Some(status) = answer.status else {
        return Verdict::fail(format!(
            "the SubjectAccessReview for {user} came back without status"
        ));
    };
    let resource = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let mut why = status.reason.clone().unwrap_or_default();
    if let Some(e) = status.evaluation_error.as_deref().filter(|e| !e.is_empty()) {
        why.push_str(&format!(" (evaluation error: {e})"));
    }
    if why.is_empty() {
        why = "no reason given".into();
    }
    let asked = format!(
        "can {user} {} {resource} in namespace {}",
        a.verb, a.namespace
    );
    let allowed = status.allowed;
    let said = if allowed { "allowed" } else { "denied" };
    match (a.expect, allowed) {
        (Outcome::Allowed, true) | (Outcome::Denied, false) => {
            Verdict::pass(format!("{asked}? {said}: {why}"))
        }
        (Outcome::Denied, true) => {
            Verdict::fail(format!("{asked}? allowed, but it must be denied: {why}"))
        }
        (Outcome::Allowed, false) => {
            Verdict::fail(format!("{asked}? denied, but it must be allowed: {why}"))
        }
    }
}

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
    let verdicts = flows::evaluate(ctx.scenario, ns);
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
        let ready = crate::scheduling::runtime_ready(
            ctx,
            &NamespaceRef {
                namespace: ns.to_string(),
            },
            deadline,
        )
        .await;
        if !ready.passed() {
            return Verdict::fail(format!(
                "{statically}; the live probes cannot run while the runtime is not Ready: {}",
                ready.message()
            ));
        }
    }
    let plan: Vec<FlowProbe> = flows::probe_plan(ctx.scenario, ns)
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
                lines.push(format!("{} from {}: {}", p.flow, p.source, r.describe()));
                live.push((p.flow.clone(), r.connected));
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
    let skipped = if not_run.is_empty() {
        String::new()
    } else {
        format!("\n  not probed:\n    {}", not_run.join("\n    "))
    };
    if disagreements.is_empty() {
        Verdict::pass(format!("{statically}; {probed} agree{skipped}"))
    } else {
        let found: Vec<String> = disagreements
            .iter()
            .map(|d| format!("flow `{}`: {}", d.flow, d.finding))
            .collect();
        Verdict::fail(format!(
            "{statically}, but live probes disagree:\n  {}\n  probes:\n    {}{skipped}",
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
        } => match ready_pod_ip(ctx, namespace, selector).await? {
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
    let pod = probe.pod(&host, owner);
    let command = format!(
        "nc -z -w {} {host} {}",
        probe.timeout_seconds,
        probe.target.port()
    );
    run_probe_pod(ctx, &pod, &command, deadline).await.map(Some)
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

/// The address of a Ready pod matching `selector` in `namespace`.
async fn ready_pod_ip(
    ctx: &CheckContext<'_>,
    namespace: &str,
    selector: &BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(&labels.join(",")))
        .await
        .map_err(|e| format!("cannot list pods {} in {namespace}: {e}", labels.join(",")))?;
    Ok(pods.items.into_iter().find_map(|p| {
        let status = p.status?;
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let probe = p
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(PROBE_LABEL));
        if ready && !probe { status.pod_ip } else { None }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_unique_labels() {
        let a = object_name(
            &[
                "probe",
                "A very long check name that goes on and on and on and on",
            ],
            "r20250704-101500-3fa9",
        );
        let b = object_name(
            &[
                "probe",
                "A very long check name that goes on and on and on and on",
            ],
            "r20250704-101500-3fa9",
        );
        assert_ne!(a, b);
        for n in [&a, &b] {
            assert!(n.len() <= 63, "{n}");
            assert!(
                n.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
                "{n}"
            );
            assert!(n.contains("-3fa9-"), "{n}");
        }
    }

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

    #[test]
    fn classifies_busybox_nc_failures() {
        let r = |connected: bool, log: &str| ProbeResult {
            pod: "ns/p".into(),
            command: "nc".into(),
            connected,
            log: log.into(),
        };
        assert_eq!(r(true, "").failure(), None);
        assert_eq!(
            r(
                false,
                "nc: seldon-mesh.t (10.96.0.5:80): Connection timed out"
            )
            .failure(),
            Some(ProbeFailure::TimedOut)
        );
        assert_eq!(
            r(
                false,
                "nc: seldon-mesh.t (10.96.0.5:80): Connection refused"
            )
            .failure(),
            Some(ProbeFailure::Refused)
        );
        assert_eq!(
            r(false, "nc: bad address 'x.y'").failure(),
            Some(ProbeFailure::BadAddress)
        );
        assert!(
            r(false, "nc: bad address 'x.y'")
                .describe()
                .contains("failed: nc: bad address")
        );
    }

    #[test]
    fn probe_pods_follow_the_convention() {
        let p = Probe {
            namespace: "team".into(),
            name: "probe-x".into(),
            labels: BTreeMap::from([("app".to_string(), "client".to_string())]),
            host: "seldon-mesh.other".into(),
            port: 80,
            connect_seconds: 5,
        };
        let pod = p.pod();
        assert_eq!(pod["metadata"]["labels"][PROBE_LABEL], "true");
        assert_eq!(pod["metadata"]["labels"]["app"], "client");
        assert_eq!(
            pod["metadata"]["annotations"][PROBE_TARGET_ANNOTATION],
            "seldon-mesh.other:80"
        );
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["image"], PROBE_IMAGE);
        assert_eq!(
            c["command"],
            json!(["nc", "-z", "-w", "5", "seldon-mesh.other", "80"])
        );
        assert!(
            c["resources"]["limits"]["cpu"].is_string(),
            "quota namespaces need limits"
        );
    }
}
