//! Partial enforcement (the `egress-policy-ignored` and `namespace-selector-ignored` defects),
//! host-network destinations, selector-less Services and addresses outside the cluster.

use super::*;
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};
use std::net::IpAddr;

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn pod(ns: &str, name: &str, labels: Value, ip: &str, host_network: bool) -> Pod {
    typed(json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"hostNetwork": host_network, "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}
    }))
}

fn policy(ns: &str, name: &str, spec: Value) -> NetworkPolicy {
    typed(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
}

fn view(policies: Vec<NetworkPolicy>) -> NetworkView {
    let mut v = NetworkView::new(
        Vec::new(),
        vec![
            pod("a", "client", json!({"app": "client"}), "10.244.1.1", false),
            pod("b", "web", json!({"app": "web"}), "10.244.1.2", false),
            pod(
                "kube-system",
                "apiserver",
                json!({"component": "kube-apiserver"}),
                "172.18.0.2",
                true,
            ),
            cluster_dns_pod(),
        ],
        vec![typed(
            json!({"metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}}),
        )],
        policies,
    );
    v.endpoints = vec![typed::<Endpoints>(
        json!({"metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "172.18.0.2"}], "ports": [{"name": "https", "port": 6443}]}]}),
    )];
    v.external_hosts = [(
        "storage.example".to_string(),
        "203.0.113.10".parse::<IpAddr>().unwrap(),
    )]
    .into();
    v
}

fn find<'a>(v: &'a NetworkView, name: &str) -> &'a Pod {
    v.pods
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(name))
        .unwrap()
}

fn deny_egress_a() -> NetworkPolicy {
    policy(
        "a",
        "deny-egress",
        json!({"podSelector": {}, "policyTypes": ["Egress"]}),
    )
}

fn ingress_b_from_ns_labelled() -> NetworkPolicy {
    policy(
        "b",
        "from-trusted",
        json!({"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"trusted": "yes"}}}]}]}),
    )
}

#[test]
fn egress_ignored_lifts_egress_denials_only() {
    let mut v = view(vec![deny_egress_a()]);
    assert!(
        !connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp).allowed()
    );
    v.enforcement.egress_ignored = true;
    assert!(
        connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp).allowed()
    );
    // Ingress is still enforced.
    let mut v = view(vec![ingress_b_from_ns_labelled()]);
    v.enforcement.egress_ignored = true;
    assert!(
        !connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp).allowed()
    );
}

#[test]
fn namespace_selector_ignored_matches_every_namespace() {
    let mut v = view(vec![ingress_b_from_ns_labelled()]);
    assert!(
        !connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp).allowed()
    );
    v.enforcement.namespace_selector_ignored = true;
    let d = connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp);
    assert!(d.allowed(), "{}", d.explain());
    // Egress denials are untouched.
    let mut v = view(vec![deny_egress_a()]);
    v.enforcement.namespace_selector_ignored = true;
    assert!(
        !connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp).allowed()
    );
}

/// Gives an object the uid the store would issue as its `n`th creation.
fn created(
    mut meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    n: u64,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    meta.uid = Some(format!("00000000-0000-4000-8000-{n:012x}"));
    meta
}

#[test]
fn only_new_pods_leaves_pods_running_before_a_policy_unpoliced() {
    let deny_ingress_b = policy(
        "b",
        "deny-ingress",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    let mut v = view(vec![deny_ingress_b]);
    // `web` was created (1) before the policy (5): the policy applies to it all the same.
    for p in &mut v.pods {
        p.metadata = created(p.metadata.clone(), 1);
    }
    v.policies[0].metadata = created(v.policies[0].metadata.clone(), 5);
    assert_eq!(
        crate::store::creation_order("00000000-0000-4000-8000-000000000005"),
        Some(5)
    );
    assert!(
        !connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp).allowed()
    );
    v.enforcement.only_new_pods = true;
    let d = connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp);
    assert!(d.allowed(), "{}", d.explain());
    // A pod created after the policy is policed.
    for p in &mut v.pods {
        p.metadata = created(p.metadata.clone(), 9);
    }
    assert!(
        !connection_allowed(&v, find(&v, "client"), find(&v, "web"), 80, Protocol::Tcp).allowed()
    );
}

fn probe(host: &str, port: u16) -> Pod {
    probe_pod(&ProbeSpec {
        namespace: "a".into(),
        name: "p".into(),
        host: host.into(),
        port,
        timeout_secs: 1,
        labels: Default::default(),
    })
}

fn allow_dns_a() -> NetworkPolicy {
    policy(
        "a",
        "allow-dns",
        json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [
        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}]}]}),
    )
}

#[test]
fn the_api_server_is_reached_through_its_endpoints_and_only_an_ip_block_allows_it() {
    let v = view(Vec::new());
    let out = probe_outcome(&v, &probe("kubernetes.default", 443), false);
    assert!(out.succeeded, "{out:?}");
    // A selector matching every pod of every namespace does not match a host-network pod.
    let by_selector = policy(
        "a",
        "to-all-pods",
        json!({"podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {}}]}]}),
    );
    let v = view(vec![deny_egress_a(), allow_dns_a(), by_selector]);
    let out = probe_outcome(&v, &probe("kubernetes.default", 443), false);
    assert!(!out.succeeded && out.log.contains("timed out"), "{out:?}");
    let by_ip = policy(
        "a",
        "to-apiserver",
        json!({"podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}], "ports": [{"port": 6443}]}]}),
    );
    let v = view(vec![deny_egress_a(), allow_dns_a(), by_ip]);
    let out = probe_outcome(&v, &probe("kubernetes.default", 443), false);
    assert!(
        out.succeeded,
        "the rule sees the endpoint port 6443: {out:?}"
    );
}

#[test]
fn outside_names_resolve_when_declared_and_obey_egress() {
    let v = view(Vec::new());
    assert!(probe_outcome(&v, &probe("storage.example", 443), false).succeeded);
    let out = probe_outcome(&v, &probe("nowhere.example", 443), false);
    assert!(out.log.contains("bad address"), "{out:?}");
    let v = view(vec![deny_egress_a(), allow_dns_a()]);
    let out = probe_outcome(&v, &probe("storage.example", 443), false);
    assert!(!out.succeeded && out.log.contains("timed out"), "{out:?}");
    // By address, without DNS.
    let out = probe_outcome(&v, &probe("203.0.113.10", 443), false);
    assert!(out.log.contains("timed out"), "{out:?}");
}
