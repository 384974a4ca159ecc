//! Table-driven tests of the static NetworkPolicy evaluator (Kubernetes semantics).

use std::net::Ipv4Addr;

use harness::flows::policy::{Cluster, ContainerPort, Decision, Endpoint, Protocol, labels};
use serde_json::Value;

/// Where a case's connection goes.
enum To {
    /// A pod: namespace, labels, container ports.
    Pod(
        &'static str,
        &'static [(&'static str, &'static str)],
        Vec<ContainerPort>,
    ),
    /// An address outside the pod network.
    Addr([u8; 4]),
}

struct Case {
    name: &'static str,
    /// NetworkPolicies (YAML list); each lives in its `metadata.namespace` (default `team`).
    policies: &'static str,
    from: (&'static str, &'static [(&'static str, &'static str)]),
    to: To,
    port: u16,
    protocol: Protocol,
    allowed: bool,
    /// The policy names expected to deny (egress first, then ingress), when denied.
    denied_by: &'static [&'static str],
}

fn scheduler_ports() -> Vec<ContainerPort> {
    vec![
        ContainerPort::tcp("xds", 9002),
        ContainerPort::tcp("scheduler", 9004),
        ContainerPort::tcp("agent", 9005),
    ]
}

fn envoy_ports() -> Vec<ContainerPort> {
    vec![ContainerPort::tcp("http", 9000)]
}

fn server_ports() -> Vec<ContainerPort> {
    vec![
        ContainerPort::tcp("http", 9001),
        ContainerPort::tcp("server-http", 9000),
    ]
}

fn dns_ports() -> Vec<ContainerPort> {
    vec![
        ContainerPort::udp("dns", 53),
        ContainerPort::tcp("dns-tcp", 53),
    ]
}

const SERVER: &[(&str, &str)] = &[("app.kubernetes.io/name", "seldon-server")];
const SCHED: &[(&str, &str)] = &[("app.kubernetes.io/name", "seldon-scheduler")];
const ENVOY: &[(&str, &str)] = &[("app.kubernetes.io/name", "seldon-envoy")];
const DNS: &[(&str, &str)] = &[("k8s-app", "kube-dns")];
const NONE: &[(&str, &str)] = &[];

fn cases() -> Vec<Case> {
    use Protocol::{Tcp, Udp};
    vec![
        Case {
            name: "no policy selects either pod: default allow",
            policies: "[]",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "ingress deny-all (policyTypes defaulted to Ingress) cuts the destination",
            policies: "- metadata: {name: deny-in}\n  spec: {podSelector: {}}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: false,
            denied_by: &["deny-in"],
        },
        Case {
            name: "ingress deny-all does not isolate egress: traffic leaving to another namespace passes",
            policies: "- metadata: {name: deny-in}\n  spec: {podSelector: {}}\n",
            from: ("team", SERVER),
            to: To::Pod("other", ENVOY, envoy_ports()),
            port: 9000,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "egress rules without policyTypes make the policy an Egress policy too",
            policies: "- metadata: {name: only-infra}\n  spec:\n    podSelector: {}\n    egress:\n    - to:\n      - namespaceSelector: {matchLabels: {name: infra}}\n",
            from: ("team", SERVER),
            to: To::Pod("other", ENVOY, envoy_ports()),
            port: 9000,
            protocol: Tcp,
            allowed: false,
            denied_by: &["only-infra"],
        },
        Case {
            name: "`egress: []` without policyTypes does not isolate egress",
            policies: "- metadata: {name: empty-egress}\n  spec:\n    podSelector: {matchLabels: {app.kubernetes.io/name: seldon-server}}\n    egress: []\n",
            from: ("team", SERVER),
            to: To::Pod("other", ENVOY, envoy_ports()),
            port: 9000,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "egress-only deny-all cuts the source",
            policies: "- metadata: {name: deny-out}\n  spec: {podSelector: {}, policyTypes: [Egress]}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: false,
            denied_by: &["deny-out"],
        },
        Case {
            name: "egress-only policy leaves ingress open from other namespaces",
            policies: "- metadata: {name: deny-out}\n  spec: {podSelector: {}, policyTypes: [Egress]}\n",
            from: ("other", NONE),
            to: To::Pod("team", ENVOY, envoy_ports()),
            port: 9000,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "podSelector that matches nothing isolates nothing",
            policies: "- metadata: {name: deny-gpu}\n  spec: {podSelector: {matchLabels: {role: gpu}}, policyTypes: [Ingress, Egress]}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "ingress from podSelector allows matching pods of the same namespace",
            policies: "- metadata: {name: from-servers}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - podSelector: {matchLabels: {app.kubernetes.io/name: seldon-server}}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "podSelector alone never selects pods of another namespace",
            policies: "- metadata: {name: from-servers}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - podSelector: {matchLabels: {app.kubernetes.io/name: seldon-server}}\n",
            from: ("other", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: false,
            denied_by: &["from-servers"],
        },
        Case {
            name: "namespaceSelector alone allows any pod of a labelled namespace",
            policies: "- metadata: {name: from-infra}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - namespaceSelector: {matchLabels: {name: infra}}\n",
            from: ("infra", NONE),
            to: To::Pod("team", ENVOY, envoy_ports()),
            port: 9000,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "namespaceSelector and podSelector in one peer both must match",
            policies: "- metadata: {name: controller-only}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - namespaceSelector: {matchLabels: {name: infra}}\n        podSelector: {matchLabels: {control-plane: v2-controller-manager}}\n",
            from: ("infra", NONE),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9004,
            protocol: Tcp,
            allowed: false,
            denied_by: &["controller-only"],
        },
        Case {
            name: "namespaceSelector and podSelector as two peers are ORed",
            policies: "- metadata: {name: either}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - namespaceSelector: {matchLabels: {name: infra}}\n      - podSelector: {matchLabels: {control-plane: v2-controller-manager}}\n",
            from: ("infra", NONE),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9004,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "matchExpressions In on the Kubernetes-set namespace name label",
            policies: "- metadata: {name: from-named}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - namespaceSelector:\n          matchExpressions:\n          - {key: kubernetes.io/metadata.name, operator: In, values: [seldon-mesh, other]}\n",
            from: ("other", NONE),
            to: To::Pod("team", ENVOY, envoy_ports()),
            port: 9000,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "matchExpressions NotIn matches a pod without the label",
            policies: "- metadata: {name: not-blocked}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - podSelector:\n          matchExpressions:\n          - {key: tier, operator: NotIn, values: [untrusted]}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "matchExpressions Exists fails when the label is absent",
            policies: "- metadata: {name: needs-tier}\n  spec:\n    podSelector: {}\n    ingress:\n    - from:\n      - podSelector:\n          matchExpressions:\n          - {key: tier, operator: Exists}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: false,
            denied_by: &["needs-tier"],
        },
        Case {
            name: "matchExpressions DoesNotExist selects the destination; it stays open when another label is used",
            policies: "- metadata: {name: lock-unlabelled}\n  spec:\n    podSelector:\n      matchExpressions:\n      - {key: app.kubernetes.io/name, operator: DoesNotExist}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "numeric port mismatch is denied",
            policies: "- metadata: {name: sched-xds}\n  spec:\n    podSelector: {}\n    ingress:\n    - ports: [{port: 9002}]\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: false,
            denied_by: &["sched-xds"],
        },
        Case {
            name: "a rule with ports but no `from` admits any source on that port",
            policies: "- metadata: {name: sched-agent}\n  spec:\n    podSelector: {}\n    ingress:\n    - ports: [{port: 9005, protocol: TCP}]\n",
            from: ("elsewhere", NONE),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "a port without protocol means TCP: UDP 53 stays blocked",
            policies: "- metadata: {name: dns-tcp-only}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - ports: [{port: 53}]\n",
            from: ("team", SERVER),
            to: To::Pod("kube-system", DNS, dns_ports()),
            port: 53,
            protocol: Udp,
            allowed: false,
            denied_by: &["dns-tcp-only"],
        },
        Case {
            name: "named port resolves on the destination pod (ingress)",
            policies: "- metadata: {name: named-agent}\n  spec:\n    podSelector: {}\n    ingress:\n    - ports: [{port: agent}]\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "named egress port `http` is envoy's 9000 but not the server's 9000 (named server-http)",
            policies: "- metadata: {name: named-http}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - ports: [{port: http}]\n",
            from: ("team", ENVOY),
            to: To::Pod("team", SERVER, server_ports()),
            port: 9000,
            protocol: Tcp,
            allowed: false,
            denied_by: &["named-http"],
        },
        Case {
            name: "named egress port `http` allows the server's agent on 9001",
            policies: "- metadata: {name: named-http}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - ports: [{port: http}]\n",
            from: ("team", ENVOY),
            to: To::Pod("team", SERVER, server_ports()),
            port: 9001,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "named port never matches an address outside the cluster",
            policies: "- metadata: {name: named-https}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - ports: [{port: https}]\n",
            from: ("team", SERVER),
            to: To::Addr([203, 0, 113, 10]),
            port: 443,
            protocol: Tcp,
            allowed: false,
            denied_by: &["named-https"],
        },
        Case {
            name: "endPort range includes its upper bound",
            policies: "- metadata: {name: range}\n  spec:\n    podSelector: {}\n    ingress:\n    - ports: [{port: 9000, endPort: 9005}]\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "endPort range excludes ports above it",
            policies: "- metadata: {name: range}\n  spec:\n    podSelector: {}\n    ingress:\n    - ports: [{port: 9000, endPort: 9004}]\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: false,
            denied_by: &["range"],
        },
        Case {
            name: "policies are a union: a deny-all plus an allowing policy allows",
            policies: "- metadata: {name: deny-all}\n  spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n- metadata: {name: same-ns}\n  spec:\n    podSelector: {}\n    policyTypes: [Ingress, Egress]\n    ingress: [{from: [{podSelector: {}}]}]\n    egress: [{to: [{podSelector: {}}]}]\n",
            from: ("team", ENVOY),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9002,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "every isolating policy is named when none allows",
            policies: "- metadata: {name: deny-all}\n  spec: {podSelector: {}, policyTypes: [Egress]}\n- metadata: {name: dns-only}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress: [{ports: [{port: 53, protocol: UDP}]}]\n",
            from: ("team", ENVOY),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9002,
            protocol: Tcp,
            allowed: false,
            denied_by: &["deny-all", "dns-only"],
        },
        Case {
            name: "ipBlock egress allows an address outside the cluster",
            policies: "- metadata: {name: to-internet}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]\n      ports: [{port: 443}]\n",
            from: ("team", SERVER),
            to: To::Addr([203, 0, 113, 10]),
            port: 443,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "ipBlock `except` removes the pod network",
            policies: "- metadata: {name: to-internet}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: false,
            denied_by: &["to-internet"],
        },
        Case {
            name: "ipBlock of the pod network allows pods",
            policies: "- metadata: {name: to-pods}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - to: [{ipBlock: {cidr: 10.244.0.0/16}}]\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "selectors never match an address outside the cluster",
            policies: "- metadata: {name: to-all-ns}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - to: [{namespaceSelector: {}}]\n",
            from: ("team", SERVER),
            to: To::Addr([203, 0, 113, 10]),
            port: 443,
            protocol: Tcp,
            allowed: false,
            denied_by: &["to-all-ns"],
        },
        Case {
            name: "an egress rule without `to` allows the API server address on its port",
            policies: "- metadata: {name: apiserver}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - ports: [{port: 6443}]\n",
            from: ("team", SERVER),
            to: To::Addr([172, 18, 0, 2]),
            port: 6443,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "DNS: egress to kube-dns in kube-system by its Kubernetes-set name label, UDP 53",
            policies: "- metadata: {name: dns}\n  spec:\n    podSelector: {}\n    policyTypes: [Egress]\n    egress:\n    - to:\n      - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n        podSelector: {matchLabels: {k8s-app: kube-dns}}\n      ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]\n",
            from: ("team", SERVER),
            to: To::Pod("kube-system", DNS, dns_ports()),
            port: 53,
            protocol: Udp,
            allowed: true,
            denied_by: &[],
        },
        Case {
            name: "DNS: egress only to a seldon-system namespace cuts kube-dns (the seed)",
            policies: "- metadata: {name: seed}\n  spec:\n    podSelector: {}\n    policyTypes: [Ingress, Egress]\n    egress:\n    - to: [{namespaceSelector: {matchLabels: {name: seldon-system}}}]\n",
            from: ("team", SERVER),
            to: To::Pod("kube-system", DNS, dns_ports()),
            port: 53,
            protocol: Udp,
            allowed: false,
            denied_by: &["seed"],
        },
        Case {
            name: "a policy in another namespace does not select this namespace's pods",
            policies: "- metadata: {name: deny-other, namespace: other}\n  spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n",
            from: ("team", SERVER),
            to: To::Pod("team", SCHED, scheduler_ports()),
            port: 9005,
            protocol: Tcp,
            allowed: true,
            denied_by: &[],
        },
    ]
}

fn cluster_for(case: &Case) -> Cluster {
    let mut c = Cluster::new();
    c.add_namespace("team", labels(&[("name", "team")]));
    c.add_namespace("infra", labels(&[("name", "infra")]));
    c.add_namespace("other", labels(&[("name", "other")]));
    let list: Vec<Value> = serde_norway::from_str(case.policies).expect("case policies parse");
    for p in list {
        let mut p = p;
        p["apiVersion"] = "networking.k8s.io/v1".into();
        p["kind"] = "NetworkPolicy".into();
        c.add_policy("team", None, &p).expect("a NetworkPolicy");
    }
    c
}

#[test]
fn evaluator_follows_networkpolicy_semantics() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in &cases {
        let c = cluster_for(case);
        let from = Endpoint::Pod(c.pod(case.from.0, labels(case.from.1), Vec::new()));
        let to = match &case.to {
            To::Pod(ns, l, ports) => Endpoint::Pod(c.pod(ns, labels(l), ports.clone())),
            To::Addr(a) => Endpoint::Address(Ipv4Addr::from(*a)),
        };
        let conn = c.connect(&from, &to, case.port, case.protocol);
        if conn.allowed() != case.allowed {
            failures.push(format!(
                "{}: expected allowed={}, got {conn:?}",
                case.name, case.allowed
            ));
            continue;
        }
        let mut denied: Vec<String> = Vec::new();
        for d in [&conn.egress, &conn.ingress] {
            if let Decision::Denied { by } = d {
                denied.extend(by.iter().map(|p| p.name.clone()));
            }
        }
        let want: Vec<String> = case.denied_by.iter().map(|s| s.to_string()).collect();
        if denied != want {
            failures.push(format!(
                "{}: expected denial by {want:?}, got {denied:?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn allowed_side_names_the_allowing_policy() {
    let mut c = Cluster::new();
    c.add_namespace("team", labels(&[("name", "team")]));
    let p: Value = serde_norway::from_str(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: same-ns, namespace: team}\nspec:\n  podSelector: {}\n  ingress: [{from: [{podSelector: {}}]}]\n",
    )
    .unwrap();
    c.add_policy("team", Some("here".into()), &p).unwrap();
    let from = Endpoint::Pod(c.pod("team", labels(SERVER), Vec::new()));
    let to = Endpoint::Pod(c.pod("team", labels(SCHED), scheduler_ports()));
    let conn = c.connect(&from, &to, 9005, Protocol::Tcp);
    assert_eq!(conn.egress, Decision::NotIsolated);
    match conn.ingress {
        Decision::Allowed { by } => {
            assert_eq!(by.name, "same-ns");
            assert_eq!(by.path.as_deref(), Some("here"));
        }
        other => panic!("expected allowed by same-ns, got {other:?}"),
    }
}

#[test]
fn malformed_policy_is_rejected_with_a_reason() {
    let mut c = Cluster::new();
    let bad: Value = serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x"}, "spec": {"podSelector": "all"}});
    let err = c.add_policy("team", None, &bad).unwrap_err();
    assert!(err.contains("not a NetworkPolicy"), "{err}");
    assert!(!c.has_policies("team"));
}
