//! `NetworkView`: the snapshot of objects that decides pod-to-pod connectivity.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::selector::Labels;

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
    /// Endpoints of Services without a selector (the `default/kubernetes` Service's API server).
    pub endpoints: Vec<Endpoints>,
    /// Names outside the cluster that upstream DNS resolves, and their addresses (object storage).
    pub external_hosts: BTreeMap<String, IpAddr>,
    /// How the CNI enforces policies (partial enforcement is a named defect).
    pub enforcement: Enforcement,
}

/// Parts of NetworkPolicy a CNI may fail to enforce (named defects of the platform).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enforcement {
    /// Egress rules are not enforced: every pod may connect anywhere (ingress still is).
    pub egress_ignored: bool,
    /// A peer's `namespaceSelector` is not evaluated: it matches pods of every namespace.
    pub namespace_selector_ignored: bool,
    /// A policy applies only to pods created after it: running pods keep their old rules.
    pub only_new_pods: bool,
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
            ..NetworkView::default()
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
pub(super) fn object_key(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("")
    )
}
