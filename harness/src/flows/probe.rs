//! Live probes for the flows, and the comparison of their results with the static answer.
//!
//! A probe is a short-lived Pod that wears the source component's labels in its namespace (so the
//! same policies select it) and runs `nc -z -w <s> <host> <port>`; exit 0 means the connection
//! was allowed. Two precautions keep impersonation harmless:
//! - an owner reference with `controller: true` (to a harness-owned object, passed in by the
//!   runner) stops the component's ReplicaSet/StatefulSet from adopting the probe, whose selector
//!   the probe's labels match, and lets garbage collection clean probes up;
//! - a readiness gate nobody sets keeps the probe out of Service endpoints (it wears envoy's
//!   labels for some flows, and `seldon-mesh` selects them).
//!
//! Targets: a Service name where the source dials one (so DNS is part of the path, as for the
//! component); the destination pod's address where envoy dials pods directly (the runner resolves
//! it); for DNS, `kube-dns.kube-system:53` by name, so the UDP lookup and a TCP connection to the
//! DNS pods are both tested; for storage outside the cluster, `storage.googleapis.com:443` (needs a
//! cluster with internet egress); for the API server, `kubernetes.default:443`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;

use serde_json::Value;

use super::policy::{Cluster, Labels};
use super::table::{Destination, Flow};
use super::verdict::{FlowVerdict, evaluate_flows, flows_at};
pub use crate::kube::probe::{FLOW_ANNOTATION, PROBE_IMAGE, PROBE_LABEL, ProbeOwner, ProbePod};
use crate::scenario::Scenario;

/// What a probe dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// A Service by name, e.g. `seldon-scheduler.financial-ml:9005`.
    Service {
        /// `<svc>.<ns>`.
        host: String,
        /// The Service port.
        port: u16,
    },
    /// A Ready pod matching the selector, by address (the runner resolves it first).
    Pod {
        /// The pod's namespace.
        namespace: String,
        /// Its labels to find it by.
        selector: Labels,
        /// The pod port.
        port: u16,
    },
    /// A name outside the pod network, e.g. `storage.googleapis.com:443`.
    Address {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
    },
}

impl ProbeTarget {
    /// The host to dial, when known without looking up a pod.
    pub fn host(&self) -> Option<&str> {
        match self {
            ProbeTarget::Service { host, .. } | ProbeTarget::Address { host, .. } => Some(host),
            ProbeTarget::Pod { .. } => None,
        }
    }

    /// The port to dial.
    pub fn port(&self) -> u16 {
        match self {
            ProbeTarget::Service { port, .. }
            | ProbeTarget::Pod { port, .. }
            | ProbeTarget::Address { port, .. } => *port,
        }
    }
}

/// One live probe of one flow from one source component.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowProbe {
    /// The flow tested (report results under this name).
    pub flow: String,
    /// Pod name (RFC 1123, at most 63 characters).
    pub name: String,
    /// The component impersonated.
    pub source: String,
    /// Namespace the probe runs in (the source's).
    pub namespace: String,
    /// The probe's labels: the source's, plus `conformance.harness/probe: "true"`.
    pub labels: Labels,
    /// What it dials.
    pub target: ProbeTarget,
    /// `nc -w` seconds.
    pub timeout_seconds: u32,
    /// Whether the flow is required in this scenario (optional ones may be skipped).
    pub required: bool,
    /// The static answer for this flow.
    pub expect_allowed: bool,
    /// What a success or failure shows.
    pub tests: String,
    /// The address to dial when the name does not resolve (DNS blocked): for a destination
    /// outside the cluster, its representative address (`ipBlock` rules judge it); Services are
    /// resolved to their cluster IP by the runner.
    pub by_ip: Option<String>,
}

impl FlowProbe {
    /// The probe pod; `host` is the dialled host (for [`ProbeTarget::Pod`], the pod's address).
    pub fn probe_pod(&self, host: &str, owner: Option<&ProbeOwner>) -> ProbePod {
        let mut p = ProbePod::new(&self.namespace, &self.name, host, self.target.port());
        p.labels = self.labels.clone();
        p.annotations
            .insert(FLOW_ANNOTATION.into(), self.flow.clone());
        p.connect_seconds = self.timeout_seconds;
        p.owner = owner.cloned();
        // Never Ready: a probe wearing envoy's labels must not receive seldon-mesh traffic.
        p.never_ready = true;
        p
    }

    /// The Pod manifest of [`FlowProbe::probe_pod`].
    pub fn pod(&self, host: &str, owner: Option<&ProbeOwner>) -> Value {
        self.probe_pod(host, owner).pod()
    }
}

fn pod_name(flow: &str, component: &str) -> String {
    let raw = format!("probe-{flow}-{component}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() <= 63 {
        return clean.trim_end_matches('-').to_string();
    }
    // FNV-1a keeps truncated names distinct and stable.
    let hash = clean.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{:08x}", clean[..54].trim_end_matches('-'), hash as u32)
}

/// The address a flow's destination stands for when it is outside the cluster.
fn representative_ip(f: &Flow) -> Option<String> {
    match &f.destination {
        Destination::Address { address, .. } => Some(address.to_string()),
        Destination::Pods { .. } => None,
    }
}

fn target_of(f: &Flow) -> (ProbeTarget, String) {
    match &f.destination {
        Destination::Pods {
            service: Some(s), ..
        } if f.name == "dns" => (
            ProbeTarget::Service {
                host: s.host(),
                port: s.port,
            },
            "resolves the kube-dns Service by name (UDP 53) and connects to it on TCP 53".into(),
        ),
        Destination::Pods {
            service: Some(s), ..
        } => (
            ProbeTarget::Service {
                host: s.host(),
                port: s.port,
            },
            format!(
                "resolves {} and connects to its Service port {} (pod port {})",
                s.host(),
                s.port,
                f.ports.first().map_or(0, |p| p.port)
            ),
        ),
        Destination::Pods {
            workload,
            service: None,
        } => (
            ProbeTarget::Pod {
                namespace: workload.namespace.clone(),
                selector: workload.labels.clone(),
                port: f.ports.first().map_or(0, |p| p.port),
            },
            format!(
                "connects to a Ready {} pod's address directly, as the source does",
                workload.component
            ),
        ),
        Destination::Address {
            host,
            dial_port,
            what,
            ..
        } => (
            ProbeTarget::Address {
                host: host.clone(),
                port: *dial_port,
            },
            format!("resolves {host} and connects to {what} on {dial_port}"),
        ),
    }
}

/// The probes for every flow of a team: one per flow and source component.
pub fn probe_plan(s: &Scenario, namespace: &str) -> Vec<FlowProbe> {
    probe_plan_at(s, namespace, None)
}

/// [`probe_plan`] on a target whose model store is at `model_store` (see `verdict::flows_at`).
pub fn probe_plan_at(
    s: &Scenario,
    namespace: &str,
    model_store: Option<SocketAddrV4>,
) -> Vec<FlowProbe> {
    let flows = flows_at(s, namespace, model_store);
    let verdicts = evaluate_flows(&Cluster::from_scenario(s), &flows);
    let mut out = Vec::new();
    for (f, v) in flows.iter().zip(&verdicts) {
        let (target, tests) = target_of(f);
        for src in &f.sources {
            let mut labels = src.labels.clone();
            labels.insert(PROBE_LABEL.into(), "true".into());
            out.push(FlowProbe {
                flow: f.name.clone(),
                name: pod_name(&f.name, &src.component),
                source: src.component.clone(),
                namespace: src.namespace.clone(),
                labels,
                target: target.clone(),
                timeout_seconds: 5,
                required: v.required,
                expect_allowed: v.allowed,
                tests: tests.clone(),
                by_ip: representative_ip(f),
            });
        }
    }
    out
}

/// A flow whose live result differs from the static one: itself a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The flow.
    pub flow: String,
    /// The static answer (`None`: no such flow was evaluated).
    pub static_allowed: Option<bool>,
    /// The live answer (all of the flow's probes connected).
    pub live_allowed: bool,
    /// What it means and what to look at.
    pub finding: String,
}

/// Compares static verdicts with live results `(flow, connected)`; a flow with several probes is
/// live-allowed only when all of them connected.
pub fn compare(static_: &[FlowVerdict], live: &[(String, bool)]) -> Vec<Disagreement> {
    let mut by_flow: BTreeMap<&str, bool> = BTreeMap::new();
    for (flow, ok) in live {
        let e = by_flow.entry(flow.as_str()).or_insert(true);
        *e = *e && *ok;
    }
    let dns_blocked_live = by_flow.get("dns") == Some(&false);
    let known: BTreeSet<&str> = static_.iter().map(|v| v.flow.as_str()).collect();
    let mut out = Vec::new();
    for (flow, live_allowed) in &by_flow {
        let Some(v) = static_.iter().find(|v| v.flow == *flow) else {
            out.push(Disagreement {
                flow: flow.to_string(),
                static_allowed: None,
                live_allowed: *live_allowed,
                finding: format!(
                    "a probe reported flow `{flow}`, which the static evaluation does not know (flows: {})",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            });
            continue;
        };
        if v.allowed == *live_allowed {
            continue;
        }
        let finding = if *live_allowed {
            format!(
                "the scenario's policies block `{flow}` ({}), but the probe connected: the CNI does not enforce NetworkPolicy (see the `networkPolicyEnforced` canary; kindnet enforces only from kind v0.24.0 and fails open on setup errors), or the cluster's policies differ from the scenario's",
                v.blocked_by()
            )
        } else if dns_blocked_live && v.resolves_name {
            format!(
                "nothing in the scenario's policies blocks `{flow}`, but the probe could not connect, and the `dns` probe failed too: the name could not be resolved, so fix DNS first"
            )
        } else {
            format!(
                "nothing in the scenario's policies blocks `{flow}` ({}), but the probe could not connect: a NetworkPolicy on the cluster that the scenario does not declare, a CNI judging the Service address rather than the pod, or the destination not running/Ready",
                v.summary
            )
        };
        out.push(Disagreement {
            flow: flow.to_string(),
            static_allowed: Some(v.allowed),
            live_allowed: *live_allowed,
            finding,
        });
    }
    out
}
