//! `runtimeReady`, `serverReady`, `modelReady`, `scheduleFailed` on the embedded platform: each
//! passes when healthy and fails, naming the cause, under the defect meant to break it.

mod checks_support;

use checks_support::*;
use harness::target::Defect;

const FIN: &str = "financial-ml.yaml";
const QUOTA: &str = "quota-without-cpu-limits.yaml";
const SHARED: &str = "shared-scheduler.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_ready_passes_when_every_component_pod_is_ready() {
    let d = assert_pass(&healthy(FIN, "serving-runtime-ready").await).to_string();
    assert!(d.contains("seldon-scheduler 1/1 pods Ready"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_ready_names_components_whose_pods_never_get_ready() {
    let v = broken(FIN, "serving-runtime-ready", Defect::RuntimeNeverReady).await;
    assert_fail(
        &v,
        &[
            "StatefulSet financial-ml/seldon-scheduler",
            "0/1 pods Ready",
            "container scheduler not ready",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_ready_says_no_controller_reconciles_the_namespace() {
    let v = broken(
        FIN,
        "training-runtime-ready",
        Defect::ControllerNotClusterWide,
    )
    .await;
    assert_fail(
        &v,
        &[
            "has no status at all",
            "no Seldon controller reconciles namespace financial-mlops-pytorch",
            "clusterwide",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_ready_shows_the_quota_rejection_when_limitrange_defaults_are_ignored() {
    assert_pass(&healthy(QUOTA, "limitrange-defaults-admitted").await);
    let v = broken(
        QUOTA,
        "limitrange-defaults-admitted",
        Defect::LimitRangeIgnored,
    )
    .await;
    // Seldon's own condition says Ready (0 >= 0 pods); the check looks at the pods.
    assert_fail(
        &v,
        &[
            "SchedulerReady=True",
            "StatefulSet quota-limitrange-defaults/seldon-scheduler: 0/1 pods Ready, 0 created",
            "must specify limits.cpu for: scheduler",
            "Deployment quota-limitrange-defaults/seldon-envoy",
            "must specify limits.cpu for: envoy",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ready_passes_and_the_scheduler_accepts_its_capabilities() {
    let d = assert_pass(&healthy(FIN, "serving-mlserver-ready").await).to_string();
    assert!(
        d.contains("the scheduler placed a canary Model requiring"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ready_fails_when_the_scheduler_does_not_see_the_capabilities() {
    let v = broken(
        FIN,
        "serving-mlserver-ready",
        Defect::ServerCapabilitiesMissing,
    )
    .await;
    assert_fail(
        &v,
        &[
            "Server financial-ml/mlserver is Ready but the scheduler does not see capabilities",
            "ScheduleFailed",
            "no matching servers",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ready_fails_on_capabilities_the_server_does_not_declare() {
    let mut s = scenario(FIN);
    let check = s
        .doc
        .spec
        .checks
        .iter_mut()
        .find(|c| c.name == "serving-mlserver-ready")
        .unwrap();
    if let harness::scenario::Expectation::ServerReady(r) = &mut check.expect {
        r.capabilities.push("pytorch".into());
    }
    let v = verdict_of(&s, "serving-mlserver-ready", Default::default()).await;
    assert_fail(
        &v,
        &[
            "does not declare capabilities [\"pytorch\"]",
            "SELDON_SERVER_CAPABILITIES",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_ready_passes_and_fails_with_the_model_state() {
    assert_pass(&healthy(FIN, "credit-risk-ready").await);
    let v = broken(FIN, "credit-risk-ready", Defect::ModelNeverReady).await;
    assert_fail(
        &v,
        &["Model financial-ml/credit-risk is not Ready: state `ModelProgressing`"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_ready_shows_the_agent_reason_when_the_storage_secret_is_missing() {
    let v = broken(
        FIN,
        "credit-risk-ready",
        Defect::SecretPackageObjectsDropped,
    )
    .await;
    // financial-ml's runtime preloads the Secret: without it the agent exits at startup, never
    // registers, and the Model is unscheduled; the verdict shows the crash-looping Server pod.
    assert_fail(
        &v,
        &[
            "state `ScheduleFailed`",
            "CrashLoopBackOff",
            "Failed to initialise rclone config listener: secrets \"harness-models-s3\" not found",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_failed_passes_with_the_scheduler_reason() {
    let d = assert_pass(&healthy(SHARED, "team-model-not-scheduled-on-shared-server").await)
        .to_string();
    assert!(
        d.contains("ScheduleFailed") && d.contains("no matching servers are available"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_failed_fails_when_the_model_lands_on_another_namespace() {
    let v = broken(
        SHARED,
        "team-model-not-scheduled-on-shared-server",
        Defect::CrossNamespaceScheduling,
    )
    .await;
    assert_fail(
        &v,
        &[
            "Model financial-ml/credit-risk became Ready",
            "server=shared-mlserver",
            "another namespace",
        ],
    );
}
