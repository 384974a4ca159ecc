//! The flow table: names, contents and the `harness flows` text.

use std::collections::BTreeSet;

use harness::flows::{self, Destination, Need};

#[test]
fn flow_names_are_unique_kebab_case() {
    let t = flows::table();
    let mut seen = BTreeSet::new();
    for f in &t {
        assert!(seen.insert(f.name.clone()), "duplicate flow `{}`", f.name);
        assert!(
            f.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !f.name.starts_with('-')
                && !f.name.ends_with('-'),
            "`{}` is not kebab-case",
            f.name
        );
        assert!(
            !f.why.is_empty() && !f.source_of_truth.is_empty(),
            "{}",
            f.name
        );
        assert!(!f.sources.is_empty() && !f.ports.is_empty(), "{}", f.name);
    }
    for required in [
        "controller-to-scheduler",
        "agent-to-scheduler",
        "envoy-to-scheduler",
        "envoy-to-server-http",
        "envoy-to-server-grpc",
        "agent-to-apiserver",
        "dns",
    ] {
        let f = t.iter().find(|f| f.name == required).unwrap();
        assert_eq!(f.need, Need::Required, "{required}");
    }
    let dataflow = t
        .iter()
        .find(|f| f.name == "dataflow-to-scheduler")
        .unwrap();
    assert!(!dataflow.need.required());
}

#[test]
fn flows_carry_seldon_ports_and_labels() {
    let t = flows::table();
    let by = |n: &str| t.iter().find(|f| f.name == n).unwrap();
    let agent = by("agent-to-scheduler");
    assert_eq!(agent.ports[0].port, 9005);
    assert_eq!(
        agent.sources[0]
            .labels
            .get("app.kubernetes.io/name")
            .map(String::as_str),
        Some("seldon-server")
    );
    let ctl = by("controller-to-scheduler");
    assert_eq!(
        ctl.sources[0]
            .labels
            .get("control-plane")
            .map(String::as_str),
        Some("v2-controller-manager")
    );
    assert_eq!(ctl.sources[0].namespace, "<controller-ns>");
    // seldon-mesh:80 is judged at envoy's pod port 9000.
    let mesh = by("mesh-from-same-namespace");
    assert_eq!(mesh.ports[0].port, 9000);
    match &mesh.destination {
        Destination::Pods {
            service: Some(s), ..
        } => assert_eq!((s.name.as_str(), s.port), ("seldon-mesh", 80)),
        other => panic!("{other:?}"),
    }
    let dns = by("dns");
    assert_eq!(dns.ports.len(), 2, "UDP and TCP 53");
}

#[test]
fn table_text_is_aligned_and_complete() {
    let t = flows::table();
    let text = flows::format_table(&t);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("FLOW"));
    let need_col = lines[0].find("NEED").unwrap();
    for (f, line) in t.iter().zip(&lines[1..]) {
        assert!(line.starts_with(&f.name), "{line}");
        let need = if f.need.required() {
            "required"
        } else {
            "optional"
        };
        assert_eq!(line.find(need), Some(need_col), "{line}");
    }
    assert!(text.contains("\nWhy\n"));
    assert!(text.contains("Needed when: pipelines (Kafka configured)."));
    assert!(text.contains("not documented: set by the Seldon operator's code"));
    assert!(
        text.contains(
            "seldon-v2-controller-manager: control-plane=v2-controller-manager (documented"
        )
    );
}
