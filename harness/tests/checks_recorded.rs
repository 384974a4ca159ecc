//! Objects a check creates (the NetworkPolicy canary's namespace, listeners and probe pods) are
//! recorded in the run's record before they are created, so a run stopped mid-check (Ctrl-C
//! drops the check's future) still deletes them. Before this, an interrupted canary leaked
//! `np-canary-<run>` with its pods and policy.

mod checks_support;

use std::time::Duration;

use harness::checks::{self, CheckContext};
use harness::kube::{ObjectRef, RunLabels};
use harness::scenario::TargetKind;
use harness::setup::{CleanupGuard, Phase, RunContext, setup_recorded};
use harness::target::{Keep, Target, TargetOptions};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams};

const MANAGED: &str = "app.kubernetes.io/managed-by=seldon-conformance-harness";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_stopped_mid_canary_leaves_nothing_after_cleanup() {
    let s = checks_support::scenario("financial-ml.yaml");
    let work = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        work_dir: Some(work.path().to_path_buf()),
        ..Default::default()
    };
    let target = Target::start(&opts, &s).await.expect("embedded platform");
    let client = target.client();
    let run_id = RunLabels::generate_run_id();
    let ctx = RunContext::new(RunLabels::new(s.name(), &run_id)).with_work_dir(work.path());
    let guard = CleanupGuard::new(client.clone(), &ctx);
    let recorder = guard.recorder();
    setup_recorded(&client, &s, &ctx, &recorder)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let check_ctx = CheckContext {
        model_store: None,
        client: client.clone(),
        scenario: &s,
        mesh: &target,
        run_id: &run_id,
        recorder: Some(recorder.clone()),
        settle: target.settle_window(),
        upgrade: None,
        upgrade_to: None,
        figures: Default::default(),
        platform_stall: target.platform_stall(),
    };
    let check = s
        .check("networkpolicy-enforced")
        .expect("canary check")
        .clone();
    // Boxed, so dropping it drops the check mid-flight, as Ctrl-C does.
    let mut run = Box::pin(checks::run(&check_ctx, &check));

    // Stop the check as soon as it has recorded a pod of its own (the canary namespace exists
    // by then, and its listeners are being created).
    let recorded_pod = || {
        recorder
            .snapshot()
            .records
            .iter()
            .any(|r| r.phase == Phase::Checks && r.object.kind == "Pod")
    };
    let stopped = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            tokio::select! {
                v = &mut run => panic!("the check finished before it was stopped: {v:?}"),
                _ = tokio::time::sleep(Duration::from_millis(1)) => {
                    if recorded_pod() { return; }
                }
            }
        }
    })
    .await;
    assert!(stopped.is_ok(), "the check never recorded a pod");
    drop(run);
    drop(check_ctx);

    let canary = recorder
        .snapshot()
        .records
        .into_iter()
        .find(|r| r.phase == Phase::Checks && r.object.kind == "Namespace")
        .expect("the canary namespace is recorded before it is created")
        .object;
    assert!(canary.name.starts_with("np-canary"), "{canary}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(
        namespaces.get_opt(&canary.name).await.unwrap().is_some(),
        "the canary namespace exists when the check is stopped"
    );

    let report = guard.finish().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report
            .deleted
            .contains(&ObjectRef::new("v1", "Namespace", None, &canary.name)),
        "cleanup reports the canary namespace deleted: {report:?}"
    );
    let left_ns = namespaces
        .list(&ListParams::default().labels(MANAGED))
        .await
        .unwrap();
    assert!(
        left_ns.items.is_empty(),
        "namespaces left: {:?}",
        left_ns
            .items
            .iter()
            .map(|n| n.metadata.name.clone())
            .collect::<Vec<_>>()
    );
    let pods: Api<Pod> = Api::all(client.clone());
    let left_pods = pods
        .list(&ListParams::default().labels(MANAGED))
        .await
        .unwrap();
    assert!(left_pods.items.is_empty(), "pods left");
    target.finish(false).await;
}
