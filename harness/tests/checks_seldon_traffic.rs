//! Seldon's own traffic under NetworkPolicy, seen through the checks on the embedded platform:
//! `modelNotServed` under the seed's policy, `requiredFlows` never passing unprobed and telling a
//! dropped probe from a DNS failure, and the partial-enforcement defects caught by connectivity
//! checks while the canary still passes.

mod checks_support;

use checks_support::*;
use harness::flows::{self, Partial};
use harness::proof::meant_to_catch;
use harness::scenario::Expectation;
use harness::target::Defect;

const FIN: &str = "financial-ml.yaml";
const SEED: &str = "seed-network-policy.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_policy_model_not_served_names_the_policy_and_the_flow() {
    let d = assert_pass(&healthy(SEED, "seed-policy-model-not-served").await).to_string();
    for needle in [
        "ScheduleFailed",
        "no matching servers are available",
        "flow `agent-to-scheduler` blocked by",
        "financial-ml/financial-ml-isolation",
    ] {
        assert!(d.contains(needle), "`{needle}` missing: {d}");
    }
    // Seldon's traffic ignoring policy: the agent registers and the model is scheduled (the
    // embedded store has no iris artifact, so it then fails to download): the check fails.
    let v = broken(
        SEED,
        "seed-policy-model-not-served",
        Defect::PolicyIgnoredForSeldonTraffic,
    )
    .await;
    assert_fail(
        &v,
        &[
            "not served, but not as expected",
            "`ModelFailed`",
            "agent-to-scheduler",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrected_policies_serve_the_model() {
    assert_pass(&healthy(SEED, "corrected-policies-model-ready").await);
    assert_pass(&healthy(SEED, "corrected-policies-inference").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_not_served_fails_when_nothing_blocks_serving() {
    let mut s = scenario(FIN);
    s.doc.spec.checks.retain(|c| c.name == "credit-risk-ready");
    let c = &mut s.doc.spec.checks[0];
    c.name = "not-served".into();
    c.expect = serde_json::from_value(serde_json::json!({"modelNotServed": {
        "namespace": "financial-ml", "model": "credit-risk",
        "state": "ScheduleFailed", "reason": "no matching servers"}}))
    .unwrap();
    assert!(matches!(c.expect, Expectation::ModelNotServed(_)));
    let v = verdict_of(&s, "not-served", Default::default()).await;
    assert_fail(&v, &["block none of the flows serving needs"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_flows_probe_dns_blocked_flows_by_ip_and_report_how_they_failed() {
    let d = assert_pass(&healthy(SEED, "seed-policy-blocks-required-flows").await).to_string();
    assert!(d.contains("(by IP, after nc: bad address"), "{d}");
    assert!(d.contains("[dropped (timeout)]"), "{d}");
    // The API server and the model store are real endpoints here: probed, not skipped.
    let d = assert_pass(&healthy(FIN, "required-flows-allowed").await).to_string();
    for needle in [
        "agent-to-apiserver from seldon-server",
        "kubernetes.default 443`: connected",
        "model-store from seldon-server",
        "envoy-to-server-http from seldon-envoy",
    ] {
        assert!(d.contains(needle), "`{needle}` missing: {d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_flows_fail_naming_a_flow_that_cannot_be_probed() {
    // A Server without replicas: no server pod exists, so envoy -> server cannot be probed.
    let mut s = scenario(FIN);
    let team = s
        .doc
        .spec
        .teams
        .iter_mut()
        .find(|t| t.namespace == "financial-ml")
        .unwrap();
    team.servers[0]["spec"]["replicas"] = serde_json::json!(0);
    let v = verdict_of(&s, "required-flows-allowed", Default::default()).await;
    assert_fail(
        &v,
        &[
            "a required flow never passes unprobed",
            "envoy-to-server-http from seldon-envoy: its destination does not exist",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_enforcement_is_caught_by_connectivity_while_the_canary_passes() {
    assert_pass(&broken(FIN, "networkpolicy-enforced", Defect::EgressPolicyIgnored).await);
    let v = broken(
        FIN,
        "serving-cannot-reach-training-mesh",
        Defect::EgressPolicyIgnored,
    )
    .await;
    assert_fail(&v, &["expected it to be denied"]);
    assert_pass(
        &broken(
            FIN,
            "networkpolicy-enforced",
            Defect::NamespaceSelectorIgnored,
        )
        .await,
    );
    let v = broken(
        FIN,
        "cross-team-mesh-denied",
        Defect::NamespaceSelectorIgnored,
    )
    .await;
    assert_fail(&v, &["expected it to be denied"]);
}

#[test]
fn proof_table_maps_the_network_defects_to_the_checks_relying_on_them() {
    let fin = scenario(FIN);
    let seed = scenario(SEED);
    let check = |s: &harness::scenario::Scenario, name: &str| {
        s.doc
            .spec
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .clone()
    };
    let cases = [
        (
            &fin,
            "serving-cannot-reach-training-mesh",
            Defect::EgressPolicyIgnored,
            true,
        ),
        (
            &fin,
            "cross-team-mesh-denied",
            Defect::EgressPolicyIgnored,
            false,
        ),
        (
            &fin,
            "cross-team-mesh-denied",
            Defect::NamespaceSelectorIgnored,
            true,
        ),
        (
            &fin,
            "networkpolicy-enforced",
            Defect::EgressPolicyIgnored,
            false,
        ),
        (
            &fin,
            "networkpolicy-enforced",
            Defect::NamespaceSelectorIgnored,
            false,
        ),
        (
            &fin,
            "credit-risk-ready",
            Defect::PolicyIgnoredForSeldonTraffic,
            false,
        ),
        (
            &seed,
            "seed-policy-model-not-served",
            Defect::PolicyIgnoredForSeldonTraffic,
            true,
        ),
        (
            &seed,
            "seed-policy-model-not-served",
            Defect::EgressPolicyIgnored,
            false,
        ),
        (
            &seed,
            "seed-policy-blocks-required-flows",
            Defect::EgressPolicyIgnored,
            true,
        ),
        (
            &seed,
            "other-team-flows-open",
            Defect::EgressPolicyIgnored,
            false,
        ),
    ];
    for (s, name, defect, expected) in cases {
        assert_eq!(
            meant_to_catch(defect, s, &check(s, name)),
            expected,
            "{name} / {}",
            defect.name()
        );
    }
    // The seed's policy cuts the agent's flows even where only ingress were enforced.
    let blocked: Vec<String> = flows::blocked_serving_flows(
        &seed,
        "financial-ml",
        Partial {
            egress_ignored: true,
            ..Partial::default()
        },
    )
    .into_iter()
    .map(|v| v.flow)
    .collect();
    assert!(
        blocked.contains(&"agent-to-scheduler".to_string()),
        "{blocked:?}"
    );
    assert!(flows::blocked_serving_flows(&fin, "financial-ml", Partial::default()).is_empty());
}
