//! `networkPolicyEnforced`, `connectivity`, `requiredFlows` and `access` on the embedded platform:
//! pass when healthy, fail (or skip, for connectivity without enforcement) naming the cause.

mod checks_support;

use checks_support::*;
use harness::scenario::{Expectation, Outcome};
use harness::target::Defect;

const FIN: &str = "financial-ml.yaml";
const SEED: &str = "seed-network-policy.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_proves_enforcement_and_catches_ignored_policies() {
    let d = assert_pass(&healthy(FIN, "networkpolicy-enforced").await).to_string();
    assert!(d.contains("blocked") && d.contains("control"), "{d}");
    let v = broken(FIN, "networkpolicy-enforced", Defect::NetworkPolicyIgnored).await;
    assert_fail(
        &v,
        &["this cluster does not enforce NetworkPolicy (a deny-all canary was reachable)"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_is_not_fooled_by_a_default_deny_team_namespace() {
    // The seed's policy cuts everything in financial-ml; the canary runs in its own namespace.
    assert_pass(&healthy(SEED, "network-policy-enforced").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_passes_on_blocked_and_allowed_paths() {
    let d = assert_pass(&healthy(FIN, "cross-team-mesh-denied").await).to_string();
    assert!(
        d.contains("seldon-mesh.financial-ml 80") && d.contains("Connection timed out"),
        "{d}"
    );
    let d = assert_pass(&healthy(FIN, "seldon-system-mesh-allowed").await).to_string();
    assert!(d.contains("connected"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_is_skipped_rather_than_passed_without_enforcement() {
    for check in ["cross-team-mesh-denied", "seldon-system-mesh-allowed"] {
        let v = broken(FIN, check, Defect::NetworkPolicyIgnored).await;
        assert_skip(&v, "this cluster does not enforce NetworkPolicy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_fails_naming_the_probe_when_the_expectation_is_wrong() {
    let mut s = scenario(FIN);
    for c in &mut s.doc.spec.checks {
        if let Expectation::Connectivity(x) = &mut c.expect
            && c.name == "same-namespace-mesh-allowed"
        {
            x.expect = Outcome::Denied;
        }
    }
    let v = verdict_of(&s, "same-namespace-mesh-allowed", Default::default()).await;
    assert_fail(
        &v,
        &[
            "probe pod financial-ml/",
            "nc -z -w 5 seldon-mesh.financial-ml 80",
            "connected",
            "expected it to be denied",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_flows_agree_live_and_catch_ignored_policies() {
    let d = assert_pass(&healthy(SEED, "seed-policy-blocks-required-flows").await).to_string();
    assert!(d.contains("probes agree"), "{d}");
    assert_pass(&healthy(FIN, "required-flows-allowed").await);
    let v = broken(
        SEED,
        "seed-policy-blocks-required-flows",
        Defect::NetworkPolicyIgnored,
    )
    .await;
    assert_fail(&v, &["live probes disagree", "but the probe connected"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_review_denies_cross_team_secrets_and_catches_allow_all() {
    let d = assert_pass(&healthy(FIN, "no-cross-team-secrets").await).to_string();
    assert!(
        d.contains("system:serviceaccount:financial-mlops-pytorch:model-deployer"),
        "{d}"
    );
    let v = broken(FIN, "no-cross-team-secrets", Defect::AccessReviewAllowsAll).await;
    assert_fail(&v, &["allowed, but it must be denied"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_review_allows_the_team_its_own_models() {
    let d = assert_pass(&healthy(FIN, "team-manages-own-models").await).to_string();
    assert!(d.contains("allowed"), "{d}");
    let v = broken(
        FIN,
        "team-manages-own-models",
        Defect::AccessReviewDeniesAll,
    )
    .await;
    assert_fail(&v, &["denied"]);
}
