//! Live probe plans and the comparison of live results with the static verdicts.

use std::collections::BTreeSet;
use std::path::Path;

use harness::flows::{self, FlowProbe, ProbeOwner, ProbeTarget};
use harness::scenario::Scenario;

fn seed() -> Scenario {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/seed-network-policy.yaml");
    Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

fn probe<'a>(plan: &'a [FlowProbe], flow: &str) -> &'a FlowProbe {
    plan.iter()
        .find(|p| p.flow == flow)
        .unwrap_or_else(|| panic!("no probe for `{flow}`"))
}

#[test]
fn plan_impersonates_each_source_and_follows_the_probe_convention() {
    let s = seed();
    let plan = flows::probe_plan(&s, "financial-ml");

    // One probe per flow and source; pod names are unique RFC 1123 labels.
    let names: BTreeSet<&str> = plan.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), plan.len());
    for n in &names {
        assert!(n.len() <= 63, "{n}");
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !n.ends_with('-'),
            "{n}"
        );
    }
    assert_eq!(plan.iter().filter(|p| p.flow == "dns").count(), 7);

    let agent = probe(&plan, "agent-to-scheduler");
    assert_eq!(agent.namespace, "financial-ml");
    assert_eq!(agent.labels["app.kubernetes.io/name"], "seldon-server");
    assert_eq!(agent.labels["seldon-server-name"], "mlserver");
    assert_eq!(agent.labels["conformance.harness/probe"], "true");
    assert_eq!(
        agent.target,
        ProbeTarget::Service {
            host: "seldon-scheduler.financial-ml".into(),
            port: 9005
        }
    );
    assert!(agent.required && !agent.expect_allowed);

    let ctl = probe(&plan, "controller-to-scheduler");
    assert_eq!(ctl.namespace, "seldon-system");
    assert_eq!(ctl.labels["control-plane"], "v2-controller-manager");
    assert!(ctl.expect_allowed);

    // DNS is probed through a name, so the lookup itself is tested.
    let dns = probe(&plan, "dns");
    assert_eq!(dns.target.host(), Some("kube-dns.kube-system"));
    assert_eq!(dns.target.port(), 53);

    // Envoy dials server pods directly: the runner resolves a pod address.
    let http = probe(&plan, "envoy-to-server-http");
    match &http.target {
        ProbeTarget::Pod {
            namespace,
            selector,
            port,
        } => {
            assert_eq!(namespace, "financial-ml");
            assert_eq!(selector["seldon-server-name"], "mlserver");
            assert_eq!(*port, 9001);
        }
        other => panic!("expected a pod target, got {other:?}"),
    }
    assert_eq!(http.target.host(), None);

    let external = probe(&plan, "model-store-external");
    assert_eq!(external.target.host(), Some("storage.googleapis.com"));
    assert_eq!(external.target.port(), 443);
    assert_eq!(
        probe(&plan, "agent-to-apiserver").target.host(),
        Some("kubernetes.default")
    );
    assert!(probe(&plan, "mesh-from-seldon-system").expect_allowed);
}

#[test]
fn probe_pod_manifest() {
    let s = seed();
    let plan = flows::probe_plan(&s, "financial-ml");
    let p = probe(&plan, "envoy-to-scheduler");
    let owner = ProbeOwner {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "harness-probes".into(),
        uid: "1234".into(),
    };
    let pod = p.pod("seldon-scheduler.financial-ml", Some(&owner));
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["namespace"], "financial-ml");
    assert_eq!(
        pod["metadata"]["labels"]["conformance.harness/probe"],
        "true"
    );
    assert_eq!(
        pod["metadata"]["labels"]["app.kubernetes.io/name"],
        "seldon-envoy"
    );
    assert_eq!(
        pod["metadata"]["annotations"]["conformance.harness/probe-target"],
        "seldon-scheduler.financial-ml:9002"
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let containers = pod["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["image"], "busybox:1.36");
    assert_eq!(
        containers[0]["command"],
        serde_json::json!([
            "nc",
            "-z",
            "-w",
            "5",
            "seldon-scheduler.financial-ml",
            "9002"
        ])
    );
    // Not adopted by envoy's ReplicaSet, never an endpoint of seldon-mesh.
    assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "1234");
    assert!(
        pod["spec"]["readinessGates"]
            .as_array()
            .is_some_and(|g| !g.is_empty())
    );
    // The manifest is a valid Pod.
    let typed: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod.clone()).unwrap();
    assert_eq!(typed.metadata.name.as_deref(), Some(p.name.as_str()));
    assert!(
        p.pod("x", None)["metadata"]
            .get("ownerReferences")
            .is_none()
    );
}

#[test]
fn compare_reports_each_kind_of_disagreement() {
    let s = seed();
    let verdicts = flows::evaluate(&s, "financial-ml");

    // Live agrees with static: nothing to report.
    let agree: Vec<(String, bool)> = verdicts
        .iter()
        .map(|v| (v.flow.clone(), v.allowed))
        .collect();
    assert!(flows::compare(&verdicts, &agree).is_empty());

    // The CNI does not enforce: everything connects.
    let open: Vec<(String, bool)> = verdicts.iter().map(|v| (v.flow.clone(), true)).collect();
    let d = flows::compare(&verdicts, &open);
    let flows_found: BTreeSet<&str> = d.iter().map(|d| d.flow.as_str()).collect();
    let blocked: BTreeSet<&str> = verdicts
        .iter()
        .filter(|v| !v.allowed)
        .map(|v| v.flow.as_str())
        .collect();
    assert_eq!(flows_found, blocked);
    let agent = d.iter().find(|d| d.flow == "agent-to-scheduler").unwrap();
    assert_eq!(
        (agent.static_allowed, agent.live_allowed),
        (Some(false), true)
    );
    assert!(
        agent.finding.contains("does not enforce NetworkPolicy"),
        "{}",
        agent.finding
    );
    assert!(
        agent
            .finding
            .contains("financial-ml/financial-ml-isolation"),
        "{}",
        agent.finding
    );

    // Statically allowed, live blocked: another policy, pre-DNAT CNI, or destination down.
    let mut live = agree.clone();
    for l in &mut live {
        if l.0 == "controller-to-scheduler" {
            l.1 = false;
        }
    }
    let d = flows::compare(&verdicts, &live);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].static_allowed, Some(true));
    assert!(
        d[0].finding.contains("could not connect"),
        "{}",
        d[0].finding
    );
    assert!(!d[0].finding.contains("DNS"), "{}", d[0].finding);

    // One failing probe of a multi-source flow makes the flow blocked; DNS failing is named.
    let fixed = flows::evaluate(&s, "financial-mlops-pytorch");
    let mut live: Vec<(String, bool)> = fixed.iter().map(|v| (v.flow.clone(), true)).collect();
    live.push(("dns".into(), false));
    live.push(("envoy-to-scheduler".into(), false));
    let d = flows::compare(&fixed, &live);
    let names: Vec<&str> = d.iter().map(|d| d.flow.as_str()).collect();
    assert_eq!(names, vec!["dns", "envoy-to-scheduler"]);
    assert!(
        d[1].finding.contains("`dns` probe failed too"),
        "{}",
        d[1].finding
    );

    // A result for a flow nobody evaluated is reported, not dropped.
    let d = flows::compare(&verdicts, &[("made-up".into(), true)]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].static_allowed, None);
    assert!(d[0].finding.contains("agent-to-scheduler"));
}
