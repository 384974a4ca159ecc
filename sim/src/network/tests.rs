//! Table-driven NetworkPolicy semantics and probe outcome tests.

use super::probe::{ProbeSpec, probe_target};
use super::view::object_key;
use super::*;
use PolicyType::{Egress, Ingress};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};

fn ns(name: &str, labels: Value) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
}

fn pod(ns: &str, name: &str, labels: Value, ip: &str, ports: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]},
        "status": {"phase": "Running", "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

fn policy(ns: &str, name: &str, spec: Value) -> NetworkPolicy {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
        .unwrap()
}

fn base_view() -> NetworkView {
    let web_ports = json!([
        {"name": "http", "containerPort": 8080},
        {"name": "metrics", "containerPort": 9090},
        {"name": "dns-ish", "containerPort": 5353, "protocol": "UDP"}
    ]);
    NetworkView::new(
        vec![
            ns("team-a", json!({"team": "a", "env": "prod"})),
            ns("team-b", json!({"team": "b", "env": "dev"})),
        ],
        vec![
            pod(
                "team-a",
                "client",
                json!({"app": "client"}),
                "10.244.1.5",
                json!([]),
            ),
            pod(
                "team-a",
                "web",
                json!({"app": "web"}),
                "10.244.1.6",
                web_ports.clone(),
            ),
            pod(
                "team-b",
                "client",
                json!({"app": "client"}),
                "10.244.2.5",
                json!([]),
            ),
            pod(
                "team-b",
                "other",
                json!({"app": "other"}),
                "10.244.1.9",
                json!([]),
            ),
            pod(
                "team-b",
                "web",
                json!({"app": "web"}),
                "10.244.2.6",
                web_ports,
            ),
        ],
        vec![],
        vec![],
    )
}

fn find<'a>(view: &'a NetworkView, key: &str) -> &'a Pod {
    view.pods
        .iter()
        .find(|p| object_key(&p.metadata) == key)
        .unwrap_or_else(|| panic!("no pod {key}"))
}

struct Case {
    name: &'static str,
    policies: Vec<NetworkPolicy>,
    from: &'static str,
    to: &'static str,
    port: i32,
    protocol: Protocol,
    allowed: bool,
    cut: &'static [PolicyType],
    /// (policy, type, rule index) of the allowing rule in the direction that has one.
    rule: Option<(&'static str, PolicyType, usize)>,
}

fn case(
    name: &'static str,
    policies: Vec<NetworkPolicy>,
    from: &'static str,
    to: &'static str,
) -> Case {
    Case {
        name,
        policies,
        from,
        to,
        port: 8080,
        protocol: Protocol::Tcp,
        allowed: true,
        cut: &[],
        rule: None,
    }
}

impl Case {
    fn port(mut self, port: i32) -> Case {
        self.port = port;
        self
    }
    fn udp(mut self) -> Case {
        self.protocol = Protocol::Udp;
        self
    }
    fn denied(mut self, cut: &'static [PolicyType]) -> Case {
        self.allowed = false;
        self.cut = cut;
        self
    }
    fn by(mut self, policy: &'static str, ty: PolicyType, rule: usize) -> Case {
        self.rule = Some((policy, ty, rule));
        self
    }
}

fn deny_ingress_a() -> NetworkPolicy {
    policy(
        "team-a",
        "deny-in",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    )
}

fn allow_web_from(name: &str, from: Value, ports: Value) -> NetworkPolicy {
    policy(
        "team-a",
        name,
        json!({"podSelector": {"matchLabels": {"app": "web"}},
               "ingress": [{"from": from, "ports": ports}]}),
    )
}

fn cases() -> Vec<Case> {
    let client_peer = json!([{"podSelector": {"matchLabels": {"app": "client"}}}]);
    let tcp8080 = json!([{"port": 8080}]);
    vec![
        case("no policies: default allow", vec![], "team-a/client", "team-a/web"),
        case("default deny ingress", vec![deny_ingress_a()], "team-a/client", "team-a/web")
            .denied(&[Ingress]),
        case(
            "policyTypes defaulted to Ingress when absent",
            vec![policy("team-a", "bare", json!({"podSelector": {}}))],
            "team-b/client",
            "team-a/web",
        )
        .denied(&[Ingress]),
        case(
            "default deny egress",
            vec![policy("team-a", "deny-out", json!({"podSelector": {}, "policyTypes": ["Egress"]}))],
            "team-a/client",
            "team-b/web",
        )
        .denied(&[Egress]),
        case(
            "egress deny in one namespace leaves others alone",
            vec![policy("team-a", "deny-out", json!({"podSelector": {}, "policyTypes": ["Egress"]}))],
            "team-b/other",
            "team-b/web",
        ),
        case(
            "allow from podSelector on port",
            vec![deny_ingress_a(), allow_web_from("allow-client", client_peer.clone(), tcp8080.clone())],
            "team-a/client",
            "team-a/web",
        )
        .by("team-a/allow-client", Ingress, 0),
        case(
            "allowed peer on other port is denied",
            vec![allow_web_from("allow-client", client_peer.clone(), tcp8080.clone())],
            "team-a/client",
            "team-a/web",
        )
        .port(9090)
        .denied(&[Ingress]),
        case(
            "named port resolves on destination",
            vec![allow_web_from("named", client_peer.clone(), json!([{"port": "http"}]))],
            "team-a/client",
            "team-a/web",
        )
        .by("team-a/named", Ingress, 0),
        case(
            "named port does not match another port number",
            vec![allow_web_from("named", client_peer.clone(), json!([{"port": "http"}]))],
            "team-a/client",
            "team-a/web",
        )
        .port(9090)
        .denied(&[Ingress]),
        case(
            "named port with other protocol does not match",
            vec![allow_web_from("named-udp", client_peer.clone(), json!([{"port": "http", "protocol": "UDP"}]))],
            "team-a/client",
            "team-a/web",
        )
        .denied(&[Ingress]),
        case(
            "endPort range includes port",
            vec![allow_web_from("range", client_peer.clone(), json!([{"port": 8000, "endPort": 8100}]))],
            "team-a/client",
            "team-a/web",
        )
        .by("team-a/range", Ingress, 0),
        case(
            "endPort range excludes port",
            vec![allow_web_from("range", client_peer.clone(), json!([{"port": 8000, "endPort": 8100}]))],
            "team-a/client",
            "team-a/web",
        )
        .port(9090)
        .denied(&[Ingress]),
        case(
            "UDP rule does not allow TCP",
            vec![allow_web_from("udp", client_peer.clone(), json!([{"port": 8080, "protocol": "UDP"}]))],
            "team-a/client",
            "team-a/web",
        )
        .denied(&[Ingress]),
        case(
            "UDP rule allows UDP on named UDP port",
            vec![allow_web_from("udp", client_peer.clone(), json!([{"port": "dns-ish", "protocol": "UDP"}]))],
            "team-a/client",
            "team-a/web",
        )
        .port(5353)
        .udp()
        .by("team-a/udp", Ingress, 0),
        case(
            "rule without ports allows every port",
            vec![allow_web_from("any-port", client_peer.clone(), json!(null))],
            "team-a/client",
            "team-a/web",
        )
        .port(9090)
        .by("team-a/any-port", Ingress, 0),
        case(
            "rule without from allows every source, other namespaces too",
            vec![allow_web_from("any-source", json!(null), tcp8080.clone())],
            "team-b/other",
            "team-a/web",
        )
        .by("team-a/any-source", Ingress, 0),
        case(
            "podSelector-only peer is limited to the policy namespace",
            vec![allow_web_from("allow-client", client_peer.clone(), tcp8080.clone())],
            "team-b/client",
            "team-a/web",
        )
        .denied(&[Ingress]),
        case(
            "namespaceSelector peer admits pods of matching namespace",
            vec![allow_web_from("from-b", json!([{"namespaceSelector": {"matchLabels": {"team": "b"}}}]), tcp8080.clone())],
            "team-b/other",
            "team-a/web",
        )
        .by("team-a/from-b", Ingress, 0),
        case(
            "namespaceSelector AND podSelector in one peer: wrong pod denied",
            vec![allow_web_from(
                "b-clients",
                json!([{"namespaceSelector": {"matchLabels": {"team": "b"}},
                        "podSelector": {"matchLabels": {"app": "client"}}}]),
                tcp8080.clone(),
            )],
            "team-b/other",
            "team-a/web",
        )
        .denied(&[Ingress]),
        case(
            "namespaceSelector AND podSelector in one peer: right pod allowed",
            vec![allow_web_from(
                "b-clients",
                json!([{"namespaceSelector": {"matchLabels": {"team": "b"}},
                        "podSelector": {"matchLabels": {"app": "client"}}}]),
                tcp8080.clone(),
            )],
            "team-b/client",
            "team-a/web",
        )
        .by("team-a/b-clients", Ingress, 0),
        case(
            "separate peers are ORed: namespace peer admits any pod there",
            vec![allow_web_from(
                "or",
                json!([{"namespaceSelector": {"matchLabels": {"team": "b"}}},
                       {"podSelector": {"matchLabels": {"app": "client"}}}]),
                tcp8080.clone(),
            )],
            "team-b/other",
            "team-a/web",
        )
        .by("team-a/or", Ingress, 0),
        case(
            "matchExpressions NotIn on namespace labels",
            vec![allow_web_from(
                "not-dev",
                json!([{"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}}]),
                tcp8080.clone(),
            )],
            "team-b/client",
            "team-a/web",
        )
        .denied(&[Ingress]),
        case(
            "namespace name label is implicit",
            vec![allow_web_from(
                "by-name",
                json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-b"}}}]),
                tcp8080.clone(),
            )],
            "team-b/client",
            "team-a/web",
        )
        .by("team-a/by-name", Ingress, 0),
        case(
            "policy selecting other pods leaves destination unrestricted",
            vec![policy("team-a", "db-only", json!({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}))],
            "team-b/other",
            "team-a/web",
        ),
        case(
            "Egress inferred from egress rules; allowed to matching namespace",
            vec![policy(
                "team-a",
                "to-b",
                json!({"podSelector": {"matchLabels": {"app": "client"}},
                       "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]}]}),
            )],
            "team-a/client",
            "team-b/web",
        )
        .by("team-a/to-b", Egress, 0),
        case(
            "Egress inferred from egress rules; other namespace cut",
            vec![policy(
                "team-a",
                "to-b",
                json!({"podSelector": {"matchLabels": {"app": "client"}},
                       "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]}]}),
            )],
            "team-a/client",
            "team-a/web",
        )
        .denied(&[Egress]),
        case(
            "explicit policyTypes Ingress ignores egress rules",
            vec![policy(
                "team-a",
                "ingress-only",
                json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}],
                       "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "nothing"}}}]}]}),
            )],
            "team-a/client",
            "team-b/web",
        ),
        case(
            "both directions cut",
            vec![
                policy("team-a", "deny-out", json!({"podSelector": {}, "policyTypes": ["Egress"]})),
                policy("team-b", "deny-in", json!({"podSelector": {}, "policyTypes": ["Ingress"]})),
            ],
            "team-a/client",
            "team-b/web",
        )
        .denied(&[Egress, Ingress]),
        case(
            "ipBlock matches pod IP",
            vec![allow_web_from("cidr", json!([{"ipBlock": {"cidr": "10.244.1.0/24", "except": ["10.244.1.9/32"]}}]), tcp8080.clone())],
            "team-a/client",
            "team-a/web",
        )
        .by("team-a/cidr", Ingress, 0),
        case(
            "ipBlock except excludes pod IP",
            vec![allow_web_from("cidr", json!([{"ipBlock": {"cidr": "10.244.1.0/24", "except": ["10.244.1.9/32"]}}]), tcp8080.clone())],
            "team-b/other",
            "team-a/web",
        )
        .denied(&[Ingress]),
        case(
            "second rule of a policy allows",
            vec![policy(
                "team-a",
                "two-rules",
                json!({"podSelector": {"matchLabels": {"app": "web"}},
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "nobody"}}}]},
                                   {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]}),
            )],
            "team-a/client",
            "team-a/web",
        )
        .by("team-a/two-rules", Ingress, 1),
    ]
}

#[test]
fn network_policy_semantics_table() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for c in cases {
        let view = NetworkView {
            policies: c.policies.clone(),
            ..base_view()
        };
        let d = connection_allowed(
            &view,
            find(&view, c.from),
            find(&view, c.to),
            c.port,
            c.protocol,
        );
        assert_eq!(d.allowed(), c.allowed, "{}: {}", c.name, d.explain());
        assert_eq!(d.cut_by(), c.cut, "{}: {}", c.name, d.explain());
        if let Some((policy, ty, rule)) = c.rule {
            let verdict = if ty == Egress { &d.egress } else { &d.ingress };
            assert_eq!(
                verdict.allowed_by,
                Some(RuleRef {
                    policy: policy.to_string(),
                    policy_type: ty,
                    rule
                }),
                "{}: {}",
                c.name,
                d.explain()
            );
        }
    }
}

#[test]
fn decision_names_selecting_policies_and_explains() {
    let view = NetworkView {
        policies: vec![
            deny_ingress_a(),
            allow_web_from(
                "allow-client",
                json!([{"podSelector": {"matchLabels": {"app": "client"}}}]),
                json!(null),
            ),
        ],
        ..base_view()
    };
    let d = connection_allowed(
        &view,
        find(&view, "team-b/client"),
        find(&view, "team-a/web"),
        8080,
        Protocol::Tcp,
    );
    assert_eq!(
        d.ingress.selected_by,
        vec!["team-a/allow-client", "team-a/deny-in"]
    );
    assert!(d.egress.selected_by.is_empty());
    let text = d.explain();
    assert!(text.contains("denied"), "{text}");
    assert!(text.contains("team-a/deny-in"), "{text}");

    let d = connection_allowed(
        &view,
        find(&view, "team-a/client"),
        find(&view, "team-a/web"),
        8080,
        Protocol::Tcp,
    );
    assert!(
        d.explain()
            .contains("allowed by ingress rule 0 of NetworkPolicy team-a/allow-client"),
        "{}",
        d.explain()
    );
}

// ---- probes ----

fn mesh_view(policies: Vec<NetworkPolicy>) -> NetworkView {
    let mut view = base_view();
    view.namespaces.push(ns("kube-system", json!({})));
    view.pods.push(cluster_dns_pod());
    view.pods.push(pod(
        "team-b",
        "envoy-0",
        json!({"app": "seldon-envoy"}),
        "10.244.2.20",
        json!([{"name": "http", "containerPort": 9000}]),
    ));
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "seldon-mesh", "namespace": "team-b"},
        "spec": {"clusterIP": "10.96.5.5", "selector": {"app": "seldon-envoy"},
                 "ports": [{"name": "data", "port": 80, "targetPort": "http"}]}
    }))
    .unwrap();
    let empty: Service = serde_json::from_value(json!({
        "metadata": {"name": "empty", "namespace": "team-b"},
        "spec": {"clusterIP": "10.96.5.6", "selector": {"app": "none"}, "ports": [{"port": 80}]}
    }))
    .unwrap();
    view.services = vec![svc, empty];
    view.policies = policies;
    view
}

fn probe_from(ns: &str, host: &str, port: u16) -> Pod {
    let mut p = probe_pod(&ProbeSpec {
        namespace: ns.into(),
        name: "probe-1".into(),
        host: host.into(),
        port,
        timeout_secs: 2,
        labels: [("app".to_string(), "client".to_string())].into(),
    });
    p.status = Some(Default::default());
    p
}

fn deny_all(ns: &str) -> NetworkPolicy {
    policy(
        ns,
        "deny-all",
        json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
    )
}

fn allow_dns(ns: &str) -> NetworkPolicy {
    policy(
        ns,
        "allow-dns",
        json!({"podSelector": {}, "policyTypes": ["Egress"],
               "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                           "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}),
    )
}

#[test]
fn probe_pod_follows_the_convention() {
    let p = probe_from("team-a", "seldon-mesh.team-b", 80);
    assert_eq!(p.metadata.labels.as_ref().unwrap()[PROBE_LABEL], "true");
    assert_eq!(
        probe_target(&p).unwrap(),
        ("seldon-mesh.team-b".to_string(), 80)
    );
    let spec = p.spec.unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let c = &spec.containers[0];
    assert_eq!(c.image.as_deref(), Some(PROBE_IMAGE));
    assert_eq!(
        c.command.as_deref().unwrap(),
        ["nc", "-z", "-w", "2", "seldon-mesh.team-b", "80"]
    );
    assert!(
        c.resources.as_ref().unwrap().limits.is_some(),
        "quota namespaces need limits"
    );
}

#[test]
fn probe_resolves_service_names_in_every_form() {
    let view = mesh_view(vec![]);
    for host in [
        "seldon-mesh.team-b",
        "seldon-mesh.team-b.svc",
        "seldon-mesh.team-b.svc.cluster.local",
        "seldon-mesh.team-b.svc.cluster.local.",
        "10.96.5.5",
        "10.244.2.20",
    ] {
        let port = if host == "10.244.2.20" { 9000 } else { 80 };
        let out = probe_outcome(&view, &probe_from("team-a", host, port), false);
        assert!(out.succeeded, "{host}: {out:?}");
        assert_eq!(out.log, "");
    }
    // Short name resolves in the probe's own namespace only.
    assert!(probe_outcome(&view, &probe_from("team-b", "seldon-mesh", 80), false).succeeded);
    let out = probe_outcome(&view, &probe_from("team-a", "seldon-mesh", 80), false);
    assert!(!out.succeeded);
    assert_eq!(out.log, "nc: bad address 'seldon-mesh'");
}

#[test]
fn probe_blocked_by_ingress_times_out() {
    let view = mesh_view(vec![deny_all("team-b")]);
    let out = probe_outcome(
        &view,
        &probe_from("team-a", "seldon-mesh.team-b", 80),
        false,
    );
    assert!(!out.succeeded);
    assert_eq!(
        out.log,
        "nc: seldon-mesh.team-b (10.96.5.5:80): Connection timed out"
    );
    assert!(
        out.explanation.contains("team-b/deny-all"),
        "{}",
        out.explanation
    );
    // The defect: policies ignored, the same probe connects.
    assert!(probe_outcome(&view, &probe_from("team-a", "seldon-mesh.team-b", 80), true).succeeded);
}

#[test]
fn probe_without_dns_egress_fails_with_bad_address() {
    let view = mesh_view(vec![deny_all("team-a")]);
    let out = probe_outcome(
        &view,
        &probe_from("team-a", "seldon-mesh.team-b", 80),
        false,
    );
    assert!(!out.succeeded);
    assert_eq!(out.log, "nc: bad address 'seldon-mesh.team-b'");
    assert!(out.explanation.contains("DNS"), "{}", out.explanation);
    // By IP no lookup is needed, but egress is still cut.
    let out = probe_outcome(&view, &probe_from("team-a", "10.96.5.5", 80), false);
    assert_eq!(
        out.log,
        "nc: 10.96.5.5 (10.96.5.5:80): Connection timed out"
    );
}

#[test]
fn probe_with_dns_and_egress_allowed_connects_through_target_port_name() {
    let egress_to_mesh = policy(
        "team-a",
        "to-mesh",
        json!({"podSelector": {}, "policyTypes": ["Egress"],
               "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}],
                           "ports": [{"port": "http"}]}]}),
    );
    let view = mesh_view(vec![
        deny_all("team-a"),
        allow_dns("team-a"),
        egress_to_mesh,
    ]);
    let out = probe_outcome(
        &view,
        &probe_from("team-a", "seldon-mesh.team-b", 80),
        false,
    );
    assert!(out.succeeded, "{out:?}");
    assert!(
        out.explanation.contains("team-a/to-mesh"),
        "{}",
        out.explanation
    );
}

#[test]
fn probe_dns_needs_udp_not_just_tcp() {
    let tcp_only = policy(
        "team-a",
        "dns-tcp",
        json!({"podSelector": {}, "policyTypes": ["Egress"],
               "egress": [{"ports": [{"port": 53, "protocol": "TCP"}]}, {"ports": [{"port": 9000}]}]}),
    );
    let view = mesh_view(vec![tcp_only]);
    let out = probe_outcome(
        &view,
        &probe_from("team-a", "seldon-mesh.team-b", 80),
        false,
    );
    assert_eq!(out.log, "nc: bad address 'seldon-mesh.team-b'");
}

#[test]
fn probe_to_service_without_endpoints_or_port() {
    let view = mesh_view(vec![]);
    let out = probe_outcome(&view, &probe_from("team-a", "empty.team-b", 80), false);
    assert_eq!(
        out.log,
        "nc: empty.team-b (10.96.5.6:80): Connection refused"
    );
    let out = probe_outcome(
        &view,
        &probe_from("team-a", "seldon-mesh.team-b", 8080),
        false,
    );
    assert_eq!(
        out.log,
        "nc: seldon-mesh.team-b (10.96.5.5:8080): Connection timed out"
    );
    let out = probe_outcome(&view, &probe_from("team-a", "nosuch.team-b", 80), false);
    assert_eq!(out.log, "nc: bad address 'nosuch.team-b'");
}

#[test]
fn unready_endpoint_is_not_used() {
    let mut view = mesh_view(vec![]);
    let envoy = view
        .pods
        .iter_mut()
        .find(|p| p.metadata.name.as_deref() == Some("envoy-0"))
        .unwrap();
    envoy.status.as_mut().unwrap().conditions = Some(vec![
        serde_json::from_value(json!({"type": "Ready", "status": "False"})).unwrap(),
    ]);
    let out = probe_outcome(
        &view,
        &probe_from("team-a", "seldon-mesh.team-b", 80),
        false,
    );
    assert!(out.log.ends_with("Connection refused"), "{out:?}");
}

#[test]
fn probe_without_target_annotation_fails_clearly() {
    let mut p = probe_from("team-a", "x", 1);
    p.metadata.annotations = None;
    let out = probe_outcome(&mesh_view(vec![]), &p, false);
    assert!(!out.succeeded);
    assert!(
        out.explanation.contains(PROBE_TARGET_ANNOTATION),
        "{}",
        out.explanation
    );
}
