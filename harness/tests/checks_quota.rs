//! `quotaRejects` and `secretsApplied` on the embedded platform: pass when healthy, fail naming
//! the cause under the defect meant to break them.

mod checks_support;

use checks_support::*;
use harness::target::Defect;

const QUOTA: &str = "quota-without-cpu-limits.yaml";
const FIN: &str = "financial-ml.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_rejects_finds_the_seed_error_event() {
    let d = assert_pass(&healthy(QUOTA, "default-runtime-rejected").await).to_string();
    assert!(
        d.contains("failed quota: financial-ml-quota: must specify limits.cpu for: scheduler"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_rejects_names_the_pods_an_unenforced_quota_let_through() {
    let v = broken(QUOTA, "default-runtime-rejected", Defect::QuotaNotEnforced).await;
    assert_fail(
        &v,
        &[
            "the quota did not reject the pods of StatefulSet quota-default-runtime/seldon-scheduler",
            "seldon-scheduler-0 were created",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_rejects_reads_replicaset_events_of_a_deployment() {
    let mut s = scenario(QUOTA);
    let check = s
        .doc
        .spec
        .checks
        .iter_mut()
        .find(|c| c.name == "default-runtime-rejected")
        .unwrap();
    if let harness::scenario::Expectation::QuotaRejects(q) = &mut check.expect {
        q.workload = "Deployment/seldon-envoy".into();
        q.message = "must specify limits.cpu for: envoy".into();
    }
    let d = assert_pass(&verdict_of(&s, "default-runtime-rejected", Default::default()).await)
        .to_string();
    assert!(
        d.contains("Deployment quota-default-runtime/seldon-envoy"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_applied_passes_and_fails_when_package_objects_are_dropped() {
    assert_pass(&healthy(FIN, "secrets-delivered").await);
    let v = broken(
        FIN,
        "secrets-delivered",
        Defect::SecretPackageObjectsDropped,
    )
    .await;
    assert_fail(
        &v,
        &[
            "Secrets [harness-models-s3] do not exist in namespace financial-ml",
            "secret package",
        ],
    );
}
