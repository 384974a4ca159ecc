//! Team setup against the embedded platform, reached only through a kubeconfig and kube-rs:
//! the financial-ml scenario sets up, a second setup of the same run changes nothing, cleanup
//! (also after an interruption, dropping the guard mid-setup) leaves no harness-labelled object,
//! and waits explain their timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::kube::{self as wait, Watched as Target};
use harness::kube::{Applier, FIELD_MANAGER, MANAGED_BY_LABEL, ObjectRef, RunLabels};
use harness::scenario::Scenario;
use harness::setup::{self, CleanupGuard, Phase, RunContext};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario(name: &str) -> Scenario {
    let file = workspace().join("scenarios").join(format!("{name}.yaml"));
    Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

/// A full embedded platform (API server + controllers) with Seldon installed as the scenario says
/// and the scenario's artifacts published; plus a kube::Config for it.
async fn platform_for(s: &Scenario) -> (sim::Platform, Client, kube::Config) {
    platform_with(s, Default::default()).await
}

/// [`platform_for`] with defects.
async fn platform_with(
    s: &Scenario,
    faults: sim::faults::Faults,
) -> (sim::Platform, Client, kube::Config) {
    let p = sim::Platform::start(faults).expect("platform starts");
    let install = &s.doc.spec.seldon;
    p.install_seldon(&sim::seldon::InstallOptions {
        clusterwide: install.clusterwide,
        controller_namespace: install.controller_namespace.clone(),
        watch_namespaces: install.watch_namespaces.clone(),
        kafka: match &install.kafka {
            harness::scenario::seldon::Kafka::None => sim::seldon::Kafka::None,
            harness::scenario::seldon::Kafka::External { bootstrap } => {
                sim::seldon::Kafka::External(bootstrap.clone())
            }
            harness::scenario::seldon::Kafka::Installed => sim::seldon::Kafka::Installed,
        },
    })
    .expect("seldon installs");
    p.install_kind_storage().expect("the default StorageClass");
    for a in &s.doc.spec.artifacts {
        p.publish_artifact(&a.storage_uri, &s.resolve(&a.path))
            .expect("artifact publishes");
    }
    let kc = Kubeconfig::from_yaml(&p.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = Client::try_from(config.clone()).unwrap();
    (p, client, config)
}

/// Every object carrying the harness label, over every kind setup applies.
async fn harness_objects(client: &Client) -> Vec<String> {
    let applier = Applier::new(client.clone(), RunLabels::new("probe", "probe"));
    let lp = ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={FIELD_MANAGER}"));
    let mut found = Vec::new();
    for phase in Phase::ALL {
        for (api_version, kind) in phase.kinds() {
            // Kinds the cluster does not serve (SealedSecret without its controller) hold nothing.
            let Ok(r) = applier
                .resolve(&ObjectRef::new(api_version, kind, None, "-"))
                .await
            else {
                continue;
            };
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &r.resource);
            for o in api.list(&lp).await.unwrap().items {
                found.push(format!(
                    "{kind} {}/{}",
                    o.metadata.namespace.unwrap_or_default(),
                    o.metadata.name.unwrap_or_default()
                ));
            }
        }
    }
    found
}

async fn resource_versions(client: &Client, applied: &setup::Applied) -> Vec<(String, String)> {
    let applier = Applier::new(client.clone(), applied.labels.clone());
    let mut out = Vec::new();
    for r in &applied.records {
        let live = applier
            .get(&r.object)
            .await
            .unwrap()
            .expect("applied object exists");
        out.push((
            r.object.to_string(),
            live.metadata.resource_version.unwrap_or_default(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn financial_ml_sets_up_idempotently_and_cleans_up() {
    let s = scenario("financial-ml");
    let (_platform, client, _config) = platform_for(&s).await;
    let work = tempfile::tempdir().unwrap();
    let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());

    let guard = CleanupGuard::new(client.clone(), &ctx);
    setup::setup_recorded(&client, &s, &ctx, &guard.recorder())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let applied = guard.applied();
    // Order: namespaces first, models last; every object created by this run.
    let phases: Vec<Phase> = applied.records.iter().map(|r| r.phase).collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{phases:?}");
    assert_eq!(phases.first(), Some(&Phase::Namespaces));
    assert_eq!(phases.last(), Some(&Phase::Models));
    assert!(applied.outcomes().all(|o| o.created && !o.adopted));
    for ns in ["seldon-system", "financial-ml", "financial-mlops-pytorch"] {
        let live = Applier::new(client.clone(), ctx.labels.clone())
            .get(&ObjectRef::new("v1", "Namespace", None, ns))
            .await
            .unwrap()
            .unwrap();
        let labels = live.metadata.labels.unwrap();
        assert_eq!(
            labels.get("name").map(String::as_str),
            Some(ns),
            "{ns} gets `name: {ns}`"
        );
        assert_eq!(
            labels.get("conformance.harness/run"),
            Some(&ctx.labels.run_id)
        );
    }
    // The package is extracted privately under the work directory, nowhere else.
    let extracted = ctx
        .packages_dir()
        .join("financial-ml/production/secret.yaml");
    assert!(extracted.is_file(), "{}", extracted.display());
    assert!(ctx.packages_dir().starts_with(work.path()));
    assert_private(&work.path().join(setup::SECRETS_DIR));

    // The platform acts on what was applied: the model becomes Ready (the wait primitive).
    let model = Target::seldon("Model", "financial-ml", "credit-risk");
    wait::wait_for(
        &client,
        &model,
        &wait::condition_true("Ready"),
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let candidate = Target::seldon("Model", "financial-mlops-pytorch", "credit-risk-candidate");
    wait::wait_for(
        &client,
        &candidate,
        &wait::condition_true("Ready"),
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    // A second setup of the same run is a no-op.
    let before = resource_versions(&client, &applied).await;
    let again = setup::setup(&client, &s, &ctx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let changed: Vec<String> = again
        .outcomes()
        .filter(|o| o.changed)
        .map(|o| o.object.to_string())
        .collect();
    assert!(changed.is_empty(), "second apply changed {changed:?}");
    assert_eq!(resource_versions(&client, &applied).await, before);

    assert!(!harness_objects(&client).await.is_empty());
    let report = guard.finish().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.deleted.len(), applied.records.len(), "{report:?}");
    assert!(
        report.finalizers_removed.is_empty(),
        "the runtime's scheduler unloaded the models itself: {report:?}"
    );
    assert_eq!(harness_objects(&client).await, Vec::<String>::new());
    assert!(
        !work.path().join(setup::SECRETS_DIR).exists(),
        "the extracted packages outlive the run: {:?}",
        std::fs::read_dir(work.path()).unwrap().collect::<Vec<_>>()
    );
    // The controller namespace the run did not create is still there.
    let applier = Applier::new(client.clone(), ctx.labels.clone());
    assert!(
        applier
            .get(&ObjectRef::new("v1", "Namespace", None, "seldon-mesh"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracted_packages_go_once_applied_under_keep_never_and_stay_with_a_kept_run() {
    let s = scenario("financial-ml");
    let (_platform, client, _config) = platform_for(&s).await;
    let work = tempfile::tempdir().unwrap();
    let mut ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    ctx.keep_packages = false;
    let guard = CleanupGuard::new(client.clone(), &ctx);
    setup::setup_recorded(&client, &s, &ctx, &guard.recorder())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !work.path().join(setup::SECRETS_DIR).exists(),
        "--keep never: the plaintext must be gone once the packages are applied"
    );
    guard.finish().await.unwrap_or_else(|e| panic!("{e}"));

    // A kept run keeps its extraction (private) and says where it is.
    let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    let guard = CleanupGuard::new(client.clone(), &ctx);
    setup::setup_recorded(&client, &s, &ctx, &guard.recorder())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let hint = guard.keep();
    assert!(ctx.packages_dir().is_dir());
    assert_private(&work.path().join(setup::SECRETS_DIR));
    assert!(
        hint.contains(&ctx.packages_dir().display().to_string()),
        "{hint}"
    );
    setup::cleanup_run(&client, &ctx.labels, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Every folder under `dir` (and `dir`) is 0700 and every file 0600.
fn assert_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    let want = if dir.is_dir() { 0o700 } else { 0o600 };
    assert_eq!(mode, want, "{} has mode {mode:o}", dir.display());
    if dir.is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            assert_private(&e.unwrap().path());
        }
    }
}

/// Drops the setup future once `n` objects are recorded, then drops the guard without `finish`.
async fn interrupt_after(
    client: &Client,
    s: &Scenario,
    ctx: &RunContext,
    guard: &CleanupGuard,
    n: usize,
) {
    let recorder = guard.recorder();
    let setup = setup::setup_recorded(client, s, ctx, &recorder);
    tokio::pin!(setup);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::select! {
            r = &mut setup => panic!("setup finished before the interruption: {:?}", r.err()),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {
                if recorder.snapshot().records.len() >= n {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "setup never recorded {n} objects");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_guard_mid_setup_cleans_up_on_a_multi_thread_runtime() {
    let s = scenario("financial-ml");
    let (_platform, client, _config) = platform_for(&s).await;
    let work = tempfile::tempdir().unwrap();
    let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    let guard = CleanupGuard::new(client.clone(), &ctx);
    interrupt_after(&client, &s, &ctx, &guard, 6).await;
    assert!(
        !harness_objects(&client).await.is_empty(),
        "some objects were applied"
    );
    assert!(ctx.packages_dir().is_dir(), "packages are extracted first");
    drop(guard);
    assert_eq!(harness_objects(&client).await, Vec::<String>::new());
    assert!(
        !ctx.packages_dir().exists(),
        "an interrupted run leaves its extracted packages behind"
    );
}

#[test]
fn dropping_the_guard_cleans_up_on_a_current_thread_runtime_with_a_config() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = scenario("financial-ml");
        let (_platform, client, config) = platform_for(&s).await;
        let work = tempfile::tempdir().unwrap();
        let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
        let guard = CleanupGuard::new(client.clone(), &ctx).with_config(config);
        interrupt_after(&client, &s, &ctx, &guard, 9).await;
        drop(guard);
        assert_eq!(harness_objects(&client).await, Vec::<String>::new());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_only_this_runs_objects_and_never_adopted_namespaces() {
    let s = scenario("financial-ml");
    let (_platform, client, _config) = platform_for(&s).await;
    // A namespace that exists before the run (not the harness's) is adopted, not deleted.
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns_api
        .create(
            &Default::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "seldon-system",
                "labels": {"owner": "platform-team", "name": "kept-by-the-owner"}}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    let applied = setup::setup(&client, &s, &ctx)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let adopted: Vec<String> = applied
        .outcomes()
        .filter(|o| o.adopted)
        .map(|o| o.object.to_string())
        .collect();
    assert_eq!(adopted, vec!["Namespace seldon-system"]);

    // Another run's record of the same objects deletes nothing: the live labels say this run.
    let other = setup::Applied {
        labels: RunLabels::new("financial-ml", "r-someone-else"),
        ..applied.clone()
    };
    let report = setup::cleanup(&client, &other).await.unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    assert!(
        report.left_alone.len() >= applied.records.len() - 1,
        "{report:?}"
    );

    // A second run of the same scenario on the same cluster never takes the first run's
    // objects over: it refuses, naming that run and the command that removes what it left.
    let second = RunContext::for_scenario(&s).with_work_dir(work.path());
    let err = setup::setup(&client, &s, &second)
        .await
        .expect_err("a second run must not take over the first one's objects");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "belongs to another harness run, {}",
            ctx.labels.run_id
        )) && msg.contains(&format!("harness cleanup --run {}", ctx.labels.run_id)),
        "{msg}"
    );
    let second_cleanup = setup::cleanup(&client, &err.applied).await.unwrap();
    assert!(second_cleanup.deleted.is_empty(), "{second_cleanup:?}");
    assert_eq!(
        Applier::new(client.clone(), ctx.labels.clone())
            .get(&ObjectRef::new("v1", "Namespace", None, "financial-ml"))
            .await
            .unwrap()
            .and_then(|n| n.metadata.labels)
            .and_then(|l| l.get("conformance.harness/run").cloned()),
        Some(ctx.labels.run_id.clone()),
        "the first run's namespace keeps its run label"
    );

    let report = setup::cleanup(&client, &applied)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report
            .left_alone
            .iter()
            .any(|(o, _)| o.name == "seldon-system"),
        "{report:?}"
    );
    let adopted_ns = ns_api
        .get_opt("seldon-system")
        .await
        .unwrap()
        .expect("adopted namespace survives");
    let mut labels = adopted_ns.metadata.labels.unwrap_or_default();
    // The API server's own label comes back as it was.
    labels.remove("kubernetes.io/metadata.name");
    assert_eq!(
        labels,
        [("owner", "platform-team"), ("name", "kept-by-the-owner")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        "the adopted namespace gets back exactly the labels it had"
    );
    assert!(ns_api.get_opt("financial-ml").await.unwrap().is_none());
    assert_eq!(harness_objects(&client).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_times_out_explains_itself() {
    let s = scenario("quota-without-cpu-limits");
    let (_platform, client, _config) = platform_for(&s).await;
    let work = tempfile::tempdir().unwrap();
    let ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    let guard = CleanupGuard::new(client.clone(), &ctx);
    setup::setup_recorded(&client, &s, &ctx, &guard.recorder())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let team = &s.doc.spec.teams[0];
    let ns = team.namespace.as_str();
    let rt_name = team.runtime.as_ref().unwrap()["metadata"]["name"]
        .as_str()
        .unwrap();

    // The quota rejects the scheduler's pods: an Event says so.
    let sts = ObjectRef::new("apps/v1", "StatefulSet", Some(ns), "seldon-scheduler");
    let ev = wait::wait_for_event(
        &client,
        &sts,
        "must specify limits.cpu",
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(ev.message.contains("failed quota"), "{ev}");

    // So the scheduler never gets a ready pod: the timeout names the object, its state and events.
    let started = std::time::Instant::now();
    let ready_pod = wait::Condition::new("a ready scheduler pod", |o| {
        o.is_some_and(|o| o.data["status"]["readyReplicas"].as_i64().unwrap_or(0) >= 1)
    });
    let target =
        Target::of::<k8s_openapi::api::apps::v1::StatefulSet>(Some(ns), "seldon-scheduler");
    let err = wait::wait_for(&client, &target, &ready_pod, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "deadline respected: {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "gave up after 2s waiting for StatefulSet {ns}/seldon-scheduler: a ready scheduler pod"
        )),
        "{text}"
    );
    assert!(text.contains("last observed: StatefulSet"), "{text}");
    assert!(
        text.contains("recent events:") && text.contains("must specify limits.cpu"),
        "{text}"
    );
    eprintln!("{text}");
    let _ = rt_name;
    // A never-existing object is reported as such, with no events.
    let err = wait::wait_for(
        &client,
        &Target::seldon("Model", ns, "nope"),
        &wait::exists(),
        Duration::from_millis(500),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("the object was never seen"),
        "{err}"
    );
    guard.finish().await.unwrap_or_else(|e| panic!("{e}"));
}

/// A Model whose scheduler never came up keeps Seldon's finalizer (upstream #5043): cleanup waits
/// a bounded time, removes the finalizer itself, says so, and leaves nothing behind.
/// The Model carries Seldon's finalizer.
fn held_by_finalizer() -> wait::Condition {
    wait::Condition::new("carries seldon.model.finalizer", |o| {
        o.and_then(|o| o.metadata.finalizers.as_ref())
            .is_some_and(|f| f.iter().any(|f| f == setup::MODEL_FINALIZER))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_held_by_its_finalizer_does_not_hang_cleanup() {
    let s = scenario("missing-servers");
    let faults = sim::faults::Faults::defect(sim::faults::Defect::RuntimeNeverReady);
    let (_platform, client, _config) = platform_with(&s, faults).await;
    let work = tempfile::tempdir().unwrap();
    let mut ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    ctx.cleanup_timeout = Duration::from_secs(60);
    // Long: with no scheduler pod Ready cleanup must not wait for it at all.
    ctx.model_unload_timeout = Duration::from_secs(20);
    let guard = CleanupGuard::new(client.clone(), &ctx);
    setup::setup_recorded(&client, &s, &ctx, &guard.recorder())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let held = held_by_finalizer();
    // Both Models must carry the finalizer before cleanup starts, or one may go before it is held.
    for name in ["credit-risk", "mnist-pytorch"] {
        let model = Target::seldon("Model", "financial-ml", name);
        wait::wait_for(&client, &model, &held, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    let report = guard.finish().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "no wait for a scheduler that has no Ready pod: {:?}",
        started.elapsed()
    );
    let removed: Vec<String> = report
        .finalizers_removed
        .iter()
        .map(|(o, why)| format!("{o}: {why}"))
        .collect();
    assert_eq!(removed.len(), 2, "both models were held: {removed:#?}");
    assert!(
        removed.iter().all(|r| r.contains("seldon.model.finalizer")
            && r.contains("#5043")
            && r.contains("StatefulSet financial-ml/seldon-scheduler has no Ready pod")
            && r.contains("at once")),
        "{removed:#?}"
    );
    assert_eq!(harness_objects(&client).await, Vec::<String>::new());
}

/// A Ready scheduler the controller cannot reach (a NetworkPolicy admits only its own namespace)
/// cannot unload a deleted Model either: its finalizer holds the deletion, and cleanup removes it
/// after waiting `model_unload_timeout`, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_whose_scheduler_the_controller_cannot_reach_is_released_after_the_unload_wait() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let s = scenario("mnist-pytorch");
    let (platform, client, _config) = platform_for(&s).await;
    let work = tempfile::tempdir().unwrap();
    let mut ctx = RunContext::for_scenario(&s).with_work_dir(work.path());
    ctx.cleanup_timeout = Duration::from_secs(30);
    ctx.model_unload_timeout = Duration::from_secs(1);
    let guard = CleanupGuard::new(client.clone(), &ctx);
    setup::setup_recorded(&client, &s, &ctx, &guard.recorder())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ns = "financial-mlops-pytorch";
    let held = held_by_finalizer();
    let model = Target::seldon("Model", ns, "mnist-pytorch");
    wait::wait_for(&client, &model, &held, Duration::from_secs(10))
        .await
        .unwrap();
    let scheduler_ready = wait::Condition::new("a Ready pod", |o| {
        o.is_some_and(|o| o.data["status"]["readyReplicas"].as_i64().unwrap_or(0) > 0)
    });
    wait::wait_for(
        &client,
        &Target::of::<k8s_openapi::api::apps::v1::StatefulSet>(Some(ns), "seldon-scheduler"),
        &scheduler_ready,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let cut: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "scheduler-own-namespace-only", "namespace": ns},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-scheduler"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
        },
    }))
    .unwrap();
    let cut = Api::<NetworkPolicy>::namespaced(client.clone(), ns)
        .create(&Default::default(), &cut)
        .await
        .unwrap();
    // The cut must reach the controllers before the deletion does; a real CNI also programs a
    // policy some time after it is created (a loaded machine once deleted the Model first).
    let rv = cut.metadata.resource_version.unwrap().parse().unwrap();
    tokio::time::timeout(Duration::from_secs(30), platform.reconciled(rv))
        .await
        .expect("the platform acts on the NetworkPolicy within 30 s");
    let report = guard.finish().await.unwrap_or_else(|e| panic!("{e}"));
    let removed: Vec<String> = report
        .finalizers_removed
        .iter()
        .map(|(o, why)| format!("{o}: {why}"))
        .collect();
    assert_eq!(removed.len(), 1, "the Model was held: {removed:#?}");
    assert!(
        removed[0].contains("did not unload it within 1s")
            && removed[0].contains("#5043")
            && removed[0].contains(ns),
        "{removed:#?}"
    );
    assert_eq!(harness_objects(&client).await, Vec::<String>::new());
}

/// The one apply path applies with `force`: a field another manager has since changed (which a
/// plain server-side apply would refuse with a 409 conflict, as kube-apiserver does and the
/// embedded platform now does too) is taken back, and the harness owns it in `managedFields`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apply_path_takes_back_fields_another_manager_changed() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Patch, PatchParams};
    let s = scenario("missing-servers");
    let (_p, client, _) = platform_for(&s).await;
    let labels = RunLabels::new("apply-force", "r-apply-force");
    let applier = Applier::new(client.clone(), labels);
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "owned", "namespace": "default"}, "data": {"k": "v"}});
    applier.apply(&cm).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.patch(
        "owned",
        &PatchParams {
            field_manager: Some("someone-else".into()),
            ..PatchParams::default()
        },
        &Patch::Merge(serde_json::json!({"data": {"k": "changed"}})),
    )
    .await
    .unwrap();
    let plain = cms
        .patch(
            "owned",
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(cm.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&plain, kube::Error::Api(e) if e.code == 409
            && e.message == "Apply failed with 1 conflict: conflict with \"someone-else\" using v1: .data.k"),
        "{plain}"
    );
    applier.apply(&cm).await.unwrap();
    let got = cms.get("owned").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "v");
    let owners = got.metadata.managed_fields.unwrap_or_default();
    let harness = owners
        .iter()
        .find(|m| m.manager.as_deref() == Some(FIELD_MANAGER))
        .expect("the harness's entry");
    let fields = harness.fields_v1.as_ref().unwrap().0.clone();
    assert_eq!(fields["f:data"]["f:k"], serde_json::json!({}), "{fields}");
    assert!(
        owners
            .iter()
            .all(|m| m.manager.as_deref() != Some("someone-else")),
        "the other manager lost its only field: {owners:?}"
    );
}
