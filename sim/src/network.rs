//! NetworkPolicy evaluation with Kubernetes semantics, and connectivity probe outcomes.
//!
//! Everything here is a pure function of a [`NetworkView`] snapshot built from k8s-openapi
//! objects, so the API server can answer "would this connection succeed?" without a network.
//!
//! # Semantics (as documented for `networking.k8s.io/v1`)
//! - A pod not selected by any policy of a type (Ingress/Egress) is unrestricted for that type.
//! - `policyTypes` absent or empty: `Ingress`, plus `Egress` when `spec.egress` has rules.
//! - Rules of all policies selecting a pod are unioned; a connection needs the source's egress
//!   AND the destination's ingress to allow it.
//! - Empty/absent `from`/`to`: every peer. Empty/absent `ports`: every port and protocol.
//! - A peer with `podSelector` only: pods of the policy's namespace; `namespaceSelector` only:
//!   all pods of the matching namespaces; both in ONE peer: pods matching both (AND). Separate
//!   peers are ORed. Namespaces always carry `kubernetes.io/metadata.name=<name>`.
//! - Ports by number or by name (named ports resolve against the DESTINATION pod's container
//!   ports, also for egress rules), `protocol` defaults to TCP, `endPort` makes a range.
//! - `ipBlock` peers: matched against the pod's `status.podIP` (as kindnet's
//!   kube-network-policies does); a pod without an IP matches no ipBlock. A peer with no field
//!   set matches nothing (the API server rejects it).
//! - Host-network pods (the API server) and addresses outside the cluster are matched only by
//!   `ipBlock` peers, never by pod or namespace selectors (CNIs differ here; this is the harsher
//!   choice, and it is why an `ipBlock` is the only way to allow the API server).
//!
//! # Connectivity probes (fixed convention, works unchanged on a real cluster)
//! A probe is a Pod labelled `conformance.harness/probe: "true"`, annotated
//! `conformance.harness/probe-target: "<host>:<port>"`, with one container (image
//! `busybox:1.36`) running `nc -z -w <seconds> <host> <port>` and `restartPolicy: Never`;
//! [`probe_pod`] builds one. The pod Succeeds when the TCP connection opens, else Fails.
//! [`probe_outcome`] predicts that result and the container log; see [`probe`] for the model
//! (DNS through `k8s-app: kube-dns` pods in `kube-system`, Service resolution, endpoints).

mod policy;
pub mod probe;
pub mod selector;
mod view;

pub use policy::{Decision, DirectionVerdict, PolicyType, Protocol, RuleRef, connection_allowed};
pub use probe::{
    DNS_LABEL, DNS_NAMESPACE, PROBE_IMAGE, PROBE_LABEL, PROBE_TARGET_ANNOTATION, ProbeOutcome,
    ProbeSpec, cluster_dns_pod, probe_outcome, probe_pod, probe_target,
};
pub use view::{Enforcement, NAMESPACE_NAME_LABEL, NetworkView};

#[cfg(test)]
mod partial_tests;
#[cfg(test)]
mod tests;
