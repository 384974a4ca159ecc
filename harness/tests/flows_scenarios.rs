//! The seed's NetworkPolicy scenario and the corrected financial-ml policies, judged statically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use harness::flows::{
    self, Cluster, Decision, Direction, Endpoint, FlowVerdict, Protocol, policy::labels,
};
use harness::scenario::{Expectation, RequiredFlows, Scenario, Severity};
use serde_json::Value;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn seed() -> Scenario {
    let file = scenarios_dir().join("seed-network-policy.yaml");
    harness::run::load(&file).unwrap_or_else(|e| panic!("seed-network-policy.yaml must load:\n{e}"))
}

/// The seed scenario with financial-ml's policies replaced by the corrected ones the `financial-ml`
/// scenario ships, re-validated as a file.
fn corrected() -> Scenario {
    let fin = harness::run::load(&scenarios_dir().join("financial-ml.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let policies: Vec<Value> = fin
        .team("financial-ml")
        .expect("financial-ml team")
        .network_policies
        .clone();
    let mut doc = seed().doc;
    let team = doc
        .spec
        .teams
        .iter_mut()
        .find(|t| t.namespace == "financial-ml")
        .unwrap();
    team.network_policies = policies;
    doc.metadata.name = "corrected".into();
    for c in &mut doc.spec.checks {
        if let Expectation::RequiredFlows(r) = &mut c.expect {
            r.expect_blocked.clear();
        }
    }
    // Through JSON: serde_norway writes enum variants as YAML tags, which scenario files do not use.
    let yaml = serde_norway::to_string(&serde_json::to_value(&doc).unwrap()).unwrap();
    Scenario::parse(&scenarios_dir().join("corrected.yaml"), &yaml)
        .and_then(flows::analyse)
        .unwrap_or_else(|e| panic!("the corrected policies must validate:\n{e}"))
}

fn verdict<'a>(vs: &'a [FlowVerdict], name: &str) -> &'a FlowVerdict {
    vs.iter()
        .find(|v| v.flow == name)
        .unwrap_or_else(|| panic!("no flow `{name}`"))
}

fn required_flows(s: &Scenario, ns: &str) -> RequiredFlows {
    s.doc
        .spec
        .checks
        .iter()
        .find_map(|c| match &c.expect {
            Expectation::RequiredFlows(r) if r.namespace == ns => Some(r.clone()),
            _ => None,
        })
        .expect("a requiredFlows check")
}

#[test]
fn seed_scenario_loads_without_warnings_about_flows() {
    let s = seed();
    assert_eq!(s.name(), "seed-network-policy");
    assert_eq!(s.doc.spec.seldon.chart_version, "2.10.2");
    let load_warnings: Vec<String> = s.warnings.iter().map(|d| d.to_string()).collect();
    assert!(load_warnings.is_empty(), "{load_warnings:#?}");
    // Every block it causes is declared in `expectBlocked`, so validation has nothing to warn about.
    let w = flows::warnings(&s);
    assert!(
        w.is_empty(),
        "{}",
        w.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn seed_policy_blocks_intra_namespace_dns_apiserver_and_storage_flows() {
    let s = seed();
    let vs = flows::evaluate(&s, "financial-ml");
    let blocked_required: BTreeSet<&str> = vs
        .iter()
        .filter(|v| v.required && !v.allowed)
        .map(|v| v.flow.as_str())
        .collect();
    let want: BTreeSet<&str> = [
        "agent-to-scheduler",
        "envoy-to-scheduler",
        "envoy-to-server-http",
        "envoy-to-server-grpc",
        "agent-to-apiserver",
        "dns",
        "model-store-external",
    ]
    .into();
    assert_eq!(blocked_required, want);

    // Each cut names the seed's policy and the side it cuts.
    for v in vs.iter().filter(|v| !v.allowed) {
        for c in &v.cuts {
            assert_eq!(c.policies.len(), 1, "{v:?}");
            assert_eq!(c.policies[0].name, "financial-ml-isolation");
            assert_eq!(
                c.policies[0].path.as_deref(),
                Some("spec.teams[0].networkPolicies[0]")
            );
        }
    }
    let agent = verdict(&vs, "agent-to-scheduler");
    let dirs: Vec<Direction> = agent.cuts.iter().map(|c| c.direction).collect();
    assert_eq!(dirs, vec![Direction::Egress, Direction::Ingress]);
    assert!(agent.cuts[0].sources == vec!["seldon-server".to_string()]);
    assert!(
        agent.cuts[0]
            .fix
            .contains("add to spec.egress of NetworkPolicy financial-ml/financial-ml-isolation")
    );
    assert!(
        agent.cuts[0]
            .fix
            .contains("app.kubernetes.io/name: seldon-scheduler")
    );
    assert!(agent.cuts[0].fix.contains("port: 9005"));
    assert!(agent.cuts[1].fix.contains("spec.ingress"));
    assert!(
        agent.cuts[1]
            .fix
            .contains("app.kubernetes.io/name: seldon-server")
    );

    // DNS: only egress is cut (kube-system has no policy), for every runtime pod, UDP and TCP.
    let dns = verdict(&vs, "dns");
    assert_eq!(dns.cuts.len(), 1);
    assert_eq!(dns.cuts[0].direction, Direction::Egress);
    assert_eq!(dns.cuts[0].sources.len(), 7);
    assert_eq!(dns.cuts[0].ports.len(), 2);
    assert!(
        dns.cuts[0]
            .fix
            .contains("kubernetes.io/metadata.name: kube-system")
    );
    assert!(dns.cuts[0].fix.contains("protocol: UDP"));

    // Storage outside the cluster: an ipBlock rule.
    let store = verdict(&vs, "model-store-external");
    assert_eq!(store.cuts.len(), 1);
    assert_eq!(store.cuts[0].direction, Direction::Egress);
    assert!(
        store.cuts[0].fix.contains("cidr: 0.0.0.0/0"),
        "{}",
        store.cuts[0].fix
    );

    // What the seed meant to allow still works: the controller in seldon-system, seldon-system clients.
    assert!(verdict(&vs, "controller-to-scheduler").allowed);
    let from_infra = verdict(&vs, "mesh-from-seldon-system");
    assert!(from_infra.required && from_infra.allowed);
    assert_eq!(from_infra.allowed_by[0].name, "financial-ml-isolation");
}

#[test]
fn seed_required_flows_check_passes_statically_and_reports_drift() {
    let s = seed();
    let check = required_flows(&s, "financial-ml");
    flows::static_verdict(&s, &check).expect("the seed scenario's expectation matches");
    assert!(flows::static_verdict(&s, &required_flows(&s, "financial-mlops-pytorch")).is_ok());

    // Forgetting a blocked flow names it and the policy; listing an allowed one says who allows it.
    let mut drift = check.clone();
    drift.expect_blocked.retain(|f| f != "dns");
    drift.expect_blocked.push("controller-to-scheduler".into());
    drift.expect_blocked.push("no-such-flow".into());
    let err = flows::static_verdict(&s, &drift).unwrap_err();
    assert!(err.contains("flow `dns`"), "{err}");
    assert!(
        err.contains("`financial-ml/financial-ml-isolation` (egress of"),
        "{err}"
    );
    assert!(err.contains("flow `controller-to-scheduler`"), "{err}");
    assert!(
        err.contains("allowed by `financial-ml/financial-ml-isolation`"),
        "{err}"
    );
    assert!(
        err.contains("`no-such-flow`, which does not exist"),
        "{err}"
    );
}

#[test]
fn warnings_point_at_the_policy_unless_expected() {
    let mut s = seed();
    for c in &mut s.doc.spec.checks {
        if let Expectation::RequiredFlows(r) = &mut c.expect {
            r.expect_blocked.retain(|f| f != "agent-to-scheduler");
        }
    }
    let w = flows::warnings(&s);
    let agent: Vec<_> = w
        .iter()
        .filter(|d| d.message.contains("`agent-to-scheduler`"))
        .collect();
    assert_eq!(agent.len(), 2, "egress and ingress cuts: {w:#?}");
    assert!(w.iter().all(|d| d.message.contains("agent-to-scheduler")));
    let d = agent[0];
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.path, "spec.teams[0].networkPolicies[0]");
    let text = std::fs::read_to_string(&s.file).unwrap();
    let line = text.lines().nth(d.position.line - 1).unwrap();
    assert!(line.contains("apiVersion: networking.k8s.io/v1"), "{line}");
    assert!(d.message.contains("financial-ml/financial-ml-isolation"));
    assert!(d.hint.as_deref().unwrap().contains("expectBlocked"));
    assert!(d.hint.as_deref().unwrap().contains("port: 9005"));
}

#[test]
fn corrected_policies_allow_every_flow() {
    let s = corrected();
    let vs = flows::evaluate(&s, "financial-ml");
    let blocked: Vec<String> = vs
        .iter()
        .filter(|v| !v.allowed)
        .map(|v| format!("{}: {}", v.flow, v.blocked_by()))
        .collect();
    assert!(blocked.is_empty(), "blocked: {blocked:#?}");
    // Allowed because of the policies, not because nothing isolates the pods.
    assert!(!verdict(&vs, "agent-to-scheduler").allowed_by.is_empty());
    assert!(flows::warnings(&s).is_empty());
    flows::static_verdict(&s, &required_flows(&s, "financial-ml")).unwrap();
}

#[test]
fn corrected_policies_still_deny_the_other_team() {
    let s = corrected();
    let c = Cluster::from_scenario(&s);
    let envoy = Endpoint::Pod(c.pod(
        "financial-ml",
        labels(&[("app.kubernetes.io/name", "seldon-envoy")]),
        vec![flows::policy::ContainerPort::tcp("http", 9000)],
    ));
    let scheduler = Endpoint::Pod(c.pod(
        "financial-ml",
        labels(&[("app.kubernetes.io/name", "seldon-scheduler")]),
        vec![flows::policy::ContainerPort::tcp("scheduler", 9004)],
    ));
    let other_client = Endpoint::Pod(c.pod("financial-mlops-pytorch", labels(&[]), Vec::new()));
    let conn = c.connect(&other_client, &envoy, 9000, Protocol::Tcp);
    assert!(!conn.allowed(), "{conn:?}");
    match &conn.ingress {
        Decision::Denied { by } => {
            assert!(by.iter().any(|p| p.name == "financial-ml-default-deny"))
        }
        other => panic!("expected ingress denial, got {other:?}"),
    }
    // The other team cannot pass for the controller either: the namespace is selected by name.
    let fake_controller = Endpoint::Pod(c.pod(
        "financial-mlops-pytorch",
        labels(&[("control-plane", "v2-controller-manager")]),
        Vec::new(),
    ));
    assert!(
        !c.connect(&fake_controller, &scheduler, 9004, Protocol::Tcp)
            .allowed()
    );
    // seldon-system still gets in, as in the seed.
    let infra = Endpoint::Pod(c.pod("seldon-system", labels(&[]), Vec::new()));
    assert!(c.connect(&infra, &envoy, 9000, Protocol::Tcp).allowed());
    // And the controller in the chart's default namespace reaches the scheduler.
    let controller = Endpoint::Pod(c.pod(
        "seldon-mesh",
        labels(&[("control-plane", "v2-controller-manager")]),
        Vec::new(),
    ));
    assert!(
        c.connect(&controller, &scheduler, 9004, Protocol::Tcp)
            .allowed()
    );
}

#[test]
fn unknown_flow_names_are_errors_at_load() {
    let text = std::fs::read_to_string(scenarios_dir().join("seed-network-policy.yaml")).unwrap();
    let bad = text.replacen("- agent-to-scheduler", "- agent-to-nowhere", 1);
    assert_ne!(
        text, bad,
        "the seed scenario names agent-to-scheduler in expectBlocked"
    );
    let file = scenarios_dir().join("seed-network-policy.yaml");
    // The format alone accepts it; the flow analysis after loading does not.
    let parsed = Scenario::parse(&file, &bad).expect("the format is valid");
    let err = flows::analyse(parsed).unwrap_err().to_string();
    assert!(
        err.contains("`agent-to-nowhere` is not a flow of namespace"),
        "{err}"
    );
    assert!(err.contains("expectBlocked"), "{err}");
}
