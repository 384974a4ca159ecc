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

pub use policy::{Decision, DirectionVerdict, PolicyType, Protocol, RuleRef, connection_allowed};
pub use probe::{
    DNS_LABEL, DNS_NAMESPACE, PROBE_IMAGE, PROBE_LABEL, PROBE_TARGET_ANNOTATION, ProbeOutcome,
    ProbeSpec, cluster_dns_pod, probe_outcome, probe_pod, probe_target,
};

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use selector::Labels;

/// The label every namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A snapshot of the objects that decide pod-to-pod connectivity.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    /// Namespaces (for `namespaceSelector`); a namespace missing here still has its name label.
    pub namespaces: Vec<Namespace>,
    /// All pods.
    pub pods: Vec<Pod>,
    /// All services (for name resolution and endpoints).
    pub services: Vec<Service>,
    /// All network policies.
    pub policies: Vec<NetworkPolicy>,
}

impl NetworkView {
    /// A snapshot of the given objects.
    pub fn new(
        namespaces: Vec<Namespace>,
        pods: Vec<Pod>,
        services: Vec<Service>,
        policies: Vec<NetworkPolicy>,
    ) -> NetworkView {
        NetworkView {
            namespaces,
            pods,
            services,
            policies,
        }
    }

    /// Labels of a namespace, including `kubernetes.io/metadata.name`.
    pub fn namespace_labels(&self, namespace: &str) -> Labels {
        let mut labels = self
            .namespaces
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(namespace))
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default();
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string());
        labels
    }
}

/// `namespace/name` of an object, for messages.
fn object_key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
mod tests;
