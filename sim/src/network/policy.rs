//! Whether one pod may open a connection to another under the NetworkPolicies in force.

use super::selector::{Labels, selects};
use super::view::{Enforcement, NetworkView, object_key};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Transport protocol of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (the default everywhere in Kubernetes).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The spelling used in Kubernetes objects.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            other => Err(format!("unknown protocol `{other}` (use TCP, UDP or SCTP)")),
        }
    }
}

/// Direction a policy restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    /// Traffic into the selected pods.
    Ingress,
    /// Traffic out of the selected pods.
    Egress,
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyType::Ingress => "Ingress",
            PolicyType::Egress => "Egress",
        })
    }
}

/// One rule of one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// `namespace/name` of the policy.
    pub policy: String,
    /// Whether it is an ingress or an egress rule.
    pub policy_type: PolicyType,
    /// Index of the rule in `spec.ingress` or `spec.egress`.
    pub rule: usize,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.policy_type {
            PolicyType::Ingress => "ingress",
            PolicyType::Egress => "egress",
        };
        write!(
            f,
            "{dir} rule {} of NetworkPolicy {}",
            self.rule, self.policy
        )
    }
}

/// The verdict for one direction (the source's egress or the destination's ingress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionVerdict {
    /// Which direction this is.
    pub policy_type: PolicyType,
    /// `namespace/name` of every policy of this type selecting the pod (sorted).
    pub selected_by: Vec<String>,
    /// The first rule (in policy-name order) that allows the connection.
    pub allowed_by: Option<RuleRef>,
}

impl DirectionVerdict {
    /// Allowed when no policy of this type selects the pod, or some rule allows it.
    pub fn allowed(&self) -> bool {
        self.selected_by.is_empty() || self.allowed_by.is_some()
    }

    fn describe(&self, pod: &str) -> String {
        let dir = self.policy_type.to_string().to_lowercase();
        match (&self.allowed_by, self.selected_by.is_empty()) {
            (_, true) => format!(
                "{dir} of {pod}: not selected by any {} policy",
                self.policy_type
            ),
            (Some(rule), false) => format!("{dir} of {pod}: allowed by {rule}"),
            (None, false) => format!(
                "{dir} of {pod}: denied, selected by NetworkPolicy {} and no {dir} rule allows it",
                self.selected_by.join(", ")
            ),
        }
    }
}

/// Whether a connection is allowed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `namespace/name` of the source pod.
    pub from: String,
    /// `namespace/name` of the destination pod.
    pub to: String,
    /// Destination port.
    pub port: i32,
    /// Protocol.
    pub protocol: Protocol,
    /// The source pod's egress verdict.
    pub egress: DirectionVerdict,
    /// The destination pod's ingress verdict.
    pub ingress: DirectionVerdict,
}

impl Decision {
    /// Allowed when both the source's egress and the destination's ingress allow it.
    pub fn allowed(&self) -> bool {
        self.egress.allowed() && self.ingress.allowed()
    }

    /// The policy types that cut the connection (empty when allowed).
    pub fn cut_by(&self) -> Vec<PolicyType> {
        [&self.egress, &self.ingress]
            .into_iter()
            .filter(|v| !v.allowed())
            .map(|v| v.policy_type)
            .collect()
    }

    /// One line explaining the decision.
    pub fn explain(&self) -> String {
        format!(
            "{} -> {} {}/{}: {}; {}; {}",
            self.from,
            self.to,
            self.protocol,
            self.port,
            if self.allowed() { "allowed" } else { "denied" },
            self.egress.describe(&self.from),
            self.ingress.describe(&self.to),
        )
    }
}

/// Whether `from` may connect to `to` on `port`/`protocol` under the view's policies.
pub fn connection_allowed(
    view: &NetworkView,
    from: &Pod,
    to: &Pod,
    port: i32,
    protocol: Protocol,
) -> Decision {
    let src = PodFacts::of(view, from);
    let dst = PodFacts::of(view, to);
    let mut policies: Vec<&NetworkPolicy> = view.policies.iter().collect();
    policies.sort_by_key(|p| object_key(&p.metadata));
    let conn = Conn {
        src: &src,
        dst: &dst,
        port,
        protocol,
        enforcement: view.enforcement,
    };
    Decision {
        from: src.key.clone(),
        to: dst.key.clone(),
        port,
        protocol,
        egress: conn.verdict(&policies, PolicyType::Egress),
        ingress: conn.verdict(&policies, PolicyType::Ingress),
    }
}

/// What policies look at in a pod.
struct PodFacts<'a> {
    key: String,
    namespace: String,
    labels: Labels,
    namespace_labels: Labels,
    ip: Option<IpAddr>,
    /// Host-network pods (and addresses outside the cluster) are matched by `ipBlock` only.
    host_network: bool,
    pod: &'a Pod,
}

impl<'a> PodFacts<'a> {
    fn of(view: &NetworkView, pod: &'a Pod) -> PodFacts<'a> {
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        PodFacts {
            key: object_key(&pod.metadata),
            namespace_labels: view.namespace_labels(&namespace),
            namespace,
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            ip: pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok()),
            host_network: pod
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false),
            pod,
        }
    }
}

/// The peers and ports of one rule.
type RuleParts<'p> = (
    Option<&'p [NetworkPolicyPeer]>,
    Option<&'p [NetworkPolicyPort]>,
);

struct Conn<'a> {
    src: &'a PodFacts<'a>,
    dst: &'a PodFacts<'a>,
    port: i32,
    protocol: Protocol,
    enforcement: Enforcement,
}

impl Conn<'_> {
    fn verdict(&self, policies: &[&NetworkPolicy], ty: PolicyType) -> DirectionVerdict {
        // Egress is decided by the source's policies about the destination, ingress the reverse.
        let (subject, peer) = match ty {
            PolicyType::Egress => (self.src, self.dst),
            PolicyType::Ingress => (self.dst, self.src),
        };
        let mut selected_by = Vec::new();
        let mut allowed_by = None;
        // Defect EgressPolicyIgnored: the CNI never isolates a pod for egress.
        if ty == PolicyType::Egress && self.enforcement.egress_ignored {
            return DirectionVerdict {
                policy_type: ty,
                selected_by,
                allowed_by,
            };
        }
        for policy in policies {
            if !has_type(policy, ty) || !selects_pod(policy, subject) {
                continue;
            }
            // Defect PolicyOnlyForNewPods: a pod created before the policy keeps its old rules.
            if self.enforcement.only_new_pods && created_before(subject.pod, policy) {
                continue;
            }
            let key = object_key(&policy.metadata);
            if allowed_by.is_none() {
                let policy_ns = policy.metadata.namespace.as_deref().unwrap_or("default");
                allowed_by = self
                    .rules(policy, ty)
                    .into_iter()
                    .position(|(peers, ports)| {
                        self.peers_match(peers, policy_ns, peer, self.enforcement)
                            && self.ports_match(ports)
                    })
                    .map(|rule| RuleRef {
                        policy: key.clone(),
                        policy_type: ty,
                        rule,
                    });
            }
            selected_by.push(key);
        }
        DirectionVerdict {
            policy_type: ty,
            selected_by,
            allowed_by,
        }
    }

    /// `(peers, ports)` of every rule of the given type.
    fn rules<'p>(&self, policy: &'p NetworkPolicy, ty: PolicyType) -> Vec<RuleParts<'p>> {
        let spec = policy.spec.as_ref();
        match ty {
            PolicyType::Ingress => spec
                .and_then(|s| s.ingress.as_deref())
                .unwrap_or_default()
                .iter()
                .map(|r| (r.from.as_deref(), r.ports.as_deref()))
                .collect(),
            PolicyType::Egress => spec
                .and_then(|s| s.egress.as_deref())
                .unwrap_or_default()
                .iter()
                .map(|r| (r.to.as_deref(), r.ports.as_deref()))
                .collect(),
        }
    }

    fn peers_match(
        &self,
        peers: Option<&[NetworkPolicyPeer]>,
        policy_ns: &str,
        pod: &PodFacts,
        enforcement: Enforcement,
    ) -> bool {
        match peers {
            None | Some([]) => true,
            Some(peers) => peers
                .iter()
                .any(|p| peer_matches(p, policy_ns, pod, enforcement)),
        }
    }

    fn ports_match(&self, ports: Option<&[NetworkPolicyPort]>) -> bool {
        match ports {
            None | Some([]) => true,
            Some(ports) => ports.iter().any(|p| self.port_matches(p)),
        }
    }

    fn port_matches(&self, p: &NetworkPolicyPort) -> bool {
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        if proto != self.protocol.as_str() {
            return false;
        }
        match &p.port {
            None => true,
            Some(IntOrString::Int(n)) => match p.end_port {
                Some(end) => (*n..=end).contains(&self.port),
                None => *n == self.port,
            },
            Some(IntOrString::String(name)) => {
                named_port(self.dst.pod, name, self.protocol) == Some(self.port)
            }
        }
    }
}

/// The effective policy types, with the API server's defaulting.
fn has_type(policy: &NetworkPolicy, ty: PolicyType) -> bool {
    let spec = match &policy.spec {
        Some(s) => s,
        None => return ty == PolicyType::Ingress,
    };
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => types.iter().any(|t| *t == ty.to_string()),
        _ => match ty {
            PolicyType::Ingress => true,
            PolicyType::Egress => spec.egress.as_ref().is_some_and(|e| !e.is_empty()),
        },
    }
}

/// Whether the store created the pod before the policy.
fn created_before(pod: &Pod, policy: &NetworkPolicy) -> bool {
    let order = |uid: Option<&String>| uid.and_then(|u| crate::store::creation_order(u));
    match (
        order(pod.metadata.uid.as_ref()),
        order(policy.metadata.uid.as_ref()),
    ) {
        (Some(p), Some(n)) => p < n,
        _ => false,
    }
}

fn selects_pod(policy: &NetworkPolicy, pod: &PodFacts) -> bool {
    // Policies do not apply to host-network pods.
    !pod.host_network
        && policy.metadata.namespace.as_deref().unwrap_or("default") == pod.namespace
        && policy
            .spec
            .as_ref()
            .and_then(|s| s.pod_selector.as_ref())
            .is_none_or(|sel| selects(sel, &pod.labels))
}

fn peer_matches(
    peer: &NetworkPolicyPeer,
    policy_ns: &str,
    pod: &PodFacts,
    enforcement: Enforcement,
) -> bool {
    if let Some(block) = &peer.ip_block {
        return pod.ip.is_some_and(|ip| {
            cidr_contains(&block.cidr, ip)
                && !block.except.iter().flatten().any(|e| cidr_contains(e, ip))
        });
    }
    if (peer.pod_selector.is_none() && peer.namespace_selector.is_none()) || pod.host_network {
        return false;
    }
    let ns_ok = match &peer.namespace_selector {
        // Defect NamespaceSelectorIgnored: the selector is not evaluated and matches every namespace.
        Some(_) if enforcement.namespace_selector_ignored => true,
        Some(sel) => selects(sel, &pod.namespace_labels),
        None => pod.namespace == policy_ns,
    };
    ns_ok
        && peer
            .pod_selector
            .as_ref()
            .is_none_or(|sel| selects(sel, &pod.labels))
}

/// The number of the container port called `name` with `protocol` in `pod`.
pub(crate) fn named_port(pod: &Pod, name: &str, protocol: Protocol) -> Option<i32> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| {
            p.name.as_deref() == Some(name)
                && p.protocol.as_deref().unwrap_or("TCP") == protocol.as_str()
        })
        .map(|p| p.container_port)
}

/// Whether `ip` lies in `cidr` (`a.b.c.d/n` or IPv6); a malformed CIDR contains nothing.
fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod cidr_tests {
    use super::cidr_contains;

    #[test]
    fn cidr() {
        let ip = "10.244.1.7".parse().unwrap();
        assert!(cidr_contains("10.244.0.0/16", ip));
        assert!(!cidr_contains("10.245.0.0/16", ip));
        assert!(cidr_contains("0.0.0.0/0", ip));
        assert!(cidr_contains("10.244.1.7/32", ip));
        assert!(!cidr_contains("garbage", ip));
        assert!(!cidr_contains("fd00::/8", ip));
    }
}
