//! Kubernetes NetworkPolicy semantics, evaluated statically for one connection.
//!
//! Written from the `networking.k8s.io/v1` API reference, independently of the embedded platform's
//! own model, so a live probe on any target can disagree with this answer. Connections are judged
//! at the destination *pod* and its container port (after a Service's DNAT), as CNIs do.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::scenario::Scenario;

/// Pod or namespace labels.
pub type Labels = BTreeMap<String, String>;

/// The label Kubernetes sets on every namespace (v1.21+), naming it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Builds labels from string pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A transport protocol as NetworkPolicy names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (the default when a policy port names none).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The name used in Kubernetes objects.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A container port, so named ports in policies can be resolved on the destination pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    /// The port's name (`containerPort.name`).
    pub name: String,
    /// The port number.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

impl ContainerPort {
    /// A TCP container port.
    pub fn tcp(name: &str, port: u16) -> ContainerPort {
        ContainerPort {
            name: name.into(),
            port,
            protocol: Protocol::Tcp,
        }
    }

    /// A UDP container port.
    pub fn udp(name: &str, port: u16) -> ContainerPort {
        ContainerPort {
            name: name.into(),
            port,
            protocol: Protocol::Udp,
        }
    }
}

/// A pod as NetworkPolicy sees it: namespace, labels, declared ports and an address.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    /// Its namespace.
    pub namespace: String,
    /// Its labels.
    pub labels: Labels,
    /// Its containers' ports (for named-port rules).
    pub ports: Vec<ContainerPort>,
    /// An address in the pod network (only `ipBlock` peers look at it).
    pub ip: Ipv4Addr,
}

/// One end of a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// A pod in the cluster, subject to policies in its namespace.
    Pod(Pod),
    /// An address no policy selects: outside the cluster, a node, the API server.
    Address(Ipv4Addr),
}

/// Which side of a connection a policy restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// The source pod's egress.
    Egress,
    /// The destination pod's ingress.
    Ingress,
}

impl Direction {
    /// `egress` / `ingress`, as in `spec.egress`.
    pub fn key(self) -> &'static str {
        match self {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        }
    }
}

/// A NetworkPolicy by namespace and name, with its place in the scenario file when known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyRef {
    /// The policy's namespace.
    pub namespace: String,
    /// The policy's name.
    pub name: String,
    /// Its field path in the scenario, e.g. `spec.teams[0].networkPolicies[0]`.
    pub path: Option<String>,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What the policies of one side say about a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No policy selects the pod for this direction: everything is allowed.
    NotIsolated,
    /// The pod is isolated and this policy has a rule allowing the connection.
    Allowed {
        /// The first policy whose rule matches.
        by: PolicyRef,
    },
    /// The pod is isolated and no rule of these policies (all that select it) allows the connection.
    Denied {
        /// Every policy isolating the pod in this direction.
        by: Vec<PolicyRef>,
    },
}

impl Decision {
    /// Whether the connection passes this side.
    pub fn allowed(&self) -> bool {
        !matches!(self, Decision::Denied { .. })
    }
}

/// Both sides of a connection: allowed only when both allow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The source pod's egress (NotIsolated when the source is an address).
    pub egress: Decision,
    /// The destination pod's ingress (NotIsolated when the destination is an address).
    pub ingress: Decision,
}

impl Connection {
    /// Whether traffic flows.
    pub fn allowed(&self) -> bool {
        self.egress.allowed() && self.ingress.allowed()
    }
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0-32.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; IPv6 blocks and malformed text give `None` (they never match IPv4).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        (prefix <= 32).then_some(Cidr { addr, prefix })
    }

    /// Whether the block holds the address.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        };
        (u32::from(ip) & mask) == (u32::from(self.addr) & mask)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

struct Policy {
    reference: PolicyRef,
    spec: net::NetworkPolicySpec,
}

impl Policy {
    /// `policyTypes`, defaulted as the API server does: Ingress always, Egress when egress rules exist.
    fn has_type(&self, d: Direction) -> bool {
        match self.spec.policy_types.as_deref() {
            Some(types) if !types.is_empty() => types.iter().any(|t| match d {
                Direction::Ingress => t == "Ingress",
                Direction::Egress => t == "Egress",
            }),
            _ => match d {
                Direction::Ingress => true,
                Direction::Egress => self.spec.egress.as_ref().is_some_and(|e| !e.is_empty()),
            },
        }
    }

    fn selects(&self, pod: &Pod) -> bool {
        // An absent podSelector is the empty selector: every pod of the namespace.
        pod.namespace == self.reference.namespace
            && self
                .spec
                .pod_selector
                .as_ref()
                .is_none_or(|s| selector_matches(s, &pod.labels))
    }
}

/// Parts of NetworkPolicy a CNI might not enforce: "what if" questions about a cluster (which
/// verdicts depend on egress enforcement, or on `namespaceSelector` being evaluated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Partial {
    /// Egress rules are not enforced.
    pub egress_ignored: bool,
    /// A peer's `namespaceSelector` matches pods of every namespace.
    pub namespace_selector_ignored: bool,
}

/// The namespaces, their labels and the NetworkPolicies of a (modelled) cluster.
pub struct Cluster {
    namespaces: BTreeMap<String, Labels>,
    policies: Vec<Policy>,
    /// How much of NetworkPolicy is enforced (all of it unless asked "what if").
    pub partial: Partial,
    /// The pod network; pods get an address in it (kind's default 10.244.0.0/16).
    pub pod_cidr: Cidr,
    /// The Service network (kind's default 10.96.0.0/12).
    pub service_cidr: Cidr,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::new()
    }
}

impl Cluster {
    /// An empty cluster with kind's default networks and a `kube-system` namespace.
    pub fn new() -> Cluster {
        let mut c = Cluster {
            namespaces: BTreeMap::new(),
            policies: Vec::new(),
            partial: Partial::default(),
            pod_cidr: Cidr {
                addr: Ipv4Addr::new(10, 244, 0, 0),
                prefix: 16,
            },
            service_cidr: Cidr {
                addr: Ipv4Addr::new(10, 96, 0, 0),
                prefix: 12,
            },
        };
        c.add_namespace("kube-system", Labels::new());
        c
    }

    /// The namespaces, labels and policies a scenario declares.
    ///
    /// Teams get `name: <namespace>` unless they set `name` themselves (the harness adds it when it
    /// creates them); every namespace gets `kubernetes.io/metadata.name`, as Kubernetes does.
    pub fn from_scenario(s: &Scenario) -> Cluster {
        let mut c = Cluster::new();
        for ns in &s.doc.spec.namespaces {
            c.add_namespace(&ns.name, ns.labels.clone());
        }
        for team in &s.doc.spec.teams {
            let mut l = team.labels.clone();
            l.entry("name".into())
                .or_insert_with(|| team.namespace.clone());
            c.add_namespace(&team.namespace, l);
        }
        for (i, team) in s.doc.spec.teams.iter().enumerate() {
            for (j, np) in team.network_policies.iter().enumerate() {
                let path = format!("spec.teams[{i}].networkPolicies[{j}]");
                // Validation already reported malformed policies; skip them here.
                let _ = c.add_policy(&team.namespace, Some(path), np);
            }
        }
        c
    }

    /// Declares a namespace (labels merge with earlier ones); `kubernetes.io/metadata.name` is set.
    pub fn add_namespace(&mut self, name: &str, labels: Labels) {
        let entry = self.namespaces.entry(name.to_string()).or_default();
        entry.extend(labels);
        entry.insert(NAMESPACE_NAME_LABEL.into(), name.into());
    }

    /// A namespace's labels; an undeclared namespace has only `kubernetes.io/metadata.name`.
    pub fn namespace_labels(&self, name: &str) -> Labels {
        self.namespaces
            .get(name)
            .cloned()
            .unwrap_or_else(|| labels(&[(NAMESPACE_NAME_LABEL, name)]))
    }

    /// Adds a NetworkPolicy object; its namespace is `metadata.namespace`, else `default_namespace`.
    pub fn add_policy(
        &mut self,
        default_namespace: &str,
        path: Option<String>,
        object: &Value,
    ) -> Result<(), String> {
        let np: net::NetworkPolicy = serde_json::from_value(object.clone())
            .map_err(|e| format!("not a NetworkPolicy: {e}"))?;
        let name = np.metadata.name.clone().unwrap_or_default();
        let namespace = np
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_string());
        self.policies.push(Policy {
            reference: PolicyRef {
                namespace,
                name,
                path,
            },
            spec: np.spec.unwrap_or_default(),
        });
        Ok(())
    }

    /// Whether any policy exists in a namespace.
    pub fn has_policies(&self, namespace: &str) -> bool {
        self.policies
            .iter()
            .any(|p| p.reference.namespace == namespace)
    }

    /// A pod in `namespace` with these labels and ports, at the pod network's representative address.
    pub fn pod(&self, namespace: &str, labels: Labels, ports: Vec<ContainerPort>) -> Pod {
        let base = u32::from(self.pod_cidr.addr);
        Pod {
            namespace: namespace.into(),
            labels,
            ports,
            ip: Ipv4Addr::from(base.wrapping_add(10)),
        }
    }

    /// Evaluates a connection from `from` to `to` on the destination's `port`/`protocol`.
    pub fn connect(
        &self,
        from: &Endpoint,
        to: &Endpoint,
        port: u16,
        protocol: Protocol,
    ) -> Connection {
        let egress = match from {
            Endpoint::Pod(_) if self.partial.egress_ignored => Decision::NotIsolated,
            Endpoint::Pod(src) => self.side(Direction::Egress, src, to, to, port, protocol),
            Endpoint::Address(_) => Decision::NotIsolated,
        };
        let ingress = match to {
            Endpoint::Pod(dst) => self.side(Direction::Ingress, dst, from, to, port, protocol),
            Endpoint::Address(_) => Decision::NotIsolated,
        };
        Connection { egress, ingress }
    }

    /// One side: `subject` is the pod whose policies apply, `peer` the other end, `dest` the
    /// destination (named ports resolve there).
    fn side(
        &self,
        d: Direction,
        subject: &Pod,
        peer: &Endpoint,
        dest: &Endpoint,
        port: u16,
        protocol: Protocol,
    ) -> Decision {
        let isolating: Vec<&Policy> = self
            .policies
            .iter()
            .filter(|p| p.has_type(d) && p.selects(subject))
            .collect();
        if isolating.is_empty() {
            return Decision::NotIsolated;
        }
        for p in &isolating {
            let allowed = match d {
                Direction::Egress => p.spec.egress.iter().flatten().any(|r| {
                    self.rule_matches(
                        p,
                        r.to.as_deref(),
                        r.ports.as_deref(),
                        peer,
                        dest,
                        port,
                        protocol,
                    )
                }),
                Direction::Ingress => p.spec.ingress.iter().flatten().any(|r| {
                    self.rule_matches(
                        p,
                        r.from.as_deref(),
                        r.ports.as_deref(),
                        peer,
                        dest,
                        port,
                        protocol,
                    )
                }),
            };
            if allowed {
                return Decision::Allowed {
                    by: p.reference.clone(),
                };
            }
        }
        Decision::Denied {
            by: isolating.iter().map(|p| p.reference.clone()).collect(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn rule_matches(
        &self,
        policy: &Policy,
        peers: Option<&[net::NetworkPolicyPeer]>,
        ports: Option<&[net::NetworkPolicyPort]>,
        peer: &Endpoint,
        dest: &Endpoint,
        port: u16,
        protocol: Protocol,
    ) -> bool {
        // Absent or empty `to`/`from`: any peer. Absent or empty `ports`: any port.
        let peer_ok = match peers {
            None | Some([]) => true,
            Some(list) => list.iter().any(|p| self.peer_matches(policy, p, peer)),
        };
        let port_ok = match ports {
            None | Some([]) => true,
            Some(list) => list.iter().any(|p| port_matches(p, dest, port, protocol)),
        };
        peer_ok && port_ok
    }

    fn peer_matches(&self, policy: &Policy, p: &net::NetworkPolicyPeer, peer: &Endpoint) -> bool {
        if let Some(block) = &p.ip_block {
            let ip = match peer {
                Endpoint::Pod(pod) => pod.ip,
                Endpoint::Address(ip) => *ip,
            };
            return ip_block_matches(block, ip);
        }
        let Endpoint::Pod(pod) = peer else {
            // Selectors only ever select pods.
            return false;
        };
        match (&p.namespace_selector, &p.pod_selector) {
            (None, None) => false,
            (None, Some(ps)) => {
                pod.namespace == policy.reference.namespace && selector_matches(ps, &pod.labels)
            }
            (Some(ns), ps) => {
                (self.partial.namespace_selector_ignored
                    || selector_matches(ns, &self.namespace_labels(&pod.namespace)))
                    && ps.as_ref().is_none_or(|s| selector_matches(s, &pod.labels))
            }
        }
    }
}

fn ip_block_matches(block: &net::IPBlock, ip: Ipv4Addr) -> bool {
    let Some(cidr) = Cidr::parse(&block.cidr) else {
        return false;
    };
    cidr.contains(ip)
        && !block
            .except
            .iter()
            .flatten()
            .filter_map(|e| Cidr::parse(e))
            .any(|e| e.contains(ip))
}

fn port_matches(
    p: &net::NetworkPolicyPort,
    dest: &Endpoint,
    port: u16,
    protocol: Protocol,
) -> bool {
    let want = p
        .protocol
        .as_deref()
        .map_or(Some(Protocol::Tcp), Protocol::parse);
    if want != Some(protocol) {
        return false;
    }
    match &p.port {
        None => true,
        Some(IntOrString::Int(n)) => {
            let lo = i64::from(*n);
            let hi = p.end_port.map_or(lo, i64::from);
            (lo..=hi).contains(&i64::from(port))
        }
        Some(IntOrString::String(name)) => {
            // A named port resolves on the destination pod: it must declare that name for this
            // protocol at this number. Addresses outside the cluster have no named ports.
            let Endpoint::Pod(pod) = dest else {
                return false;
            };
            pod.ports
                .iter()
                .any(|c| &c.name == name && c.protocol == protocol && c.port == port)
        }
    }
}

/// Label selector semantics: every `matchLabels` pair and every `matchExpressions` requirement hold.
pub fn selector_matches(sel: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_exprs = sel.match_expressions.iter().flatten().all(|r| {
        let values = r.values.as_deref().unwrap_or_default();
        let have = labels.get(&r.key);
        match r.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            // The API server rejects other operators; such a selector selects nothing.
            _ => false,
        }
    });
    by_labels && by_exprs
}
