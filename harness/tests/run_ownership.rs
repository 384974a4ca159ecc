//! Run ownership on a shared cluster: each run holds a Lease; a second run never takes over or
//! deletes objects of another run that is live or was kept, and says which run and the
//! `harness cleanup --run` command; a crashed run (expired Lease) is reported as such and can be
//! cleaned; `harness cleanup --run` refuses a live run; scenarios in different namespaces run at
//! the same time on one platform.
//!
//! A standalone embedded platform (`harness platform up`) plays the shared cluster, as in
//! `cli_interrupt_random.rs`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use harness::kube::lease::{HARNESS_NAMESPACE, RunState, lease_name, lease_object, state_of};
use harness::kube::run_lease::RunLease;
use harness::kube::{Applier, Condition, RunLabels, Watched, wait};
use harness::run::{Selection, run_scenario_selected};
use harness::scenario::TargetKind;
use harness::target::{Keep, Target, TargetOptions};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn platform(dir: &Path, scenario: &str) -> (Killed, PathBuf) {
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args(["platform", "up", "--scenario"])
        .arg(format!("scenarios/{scenario}.yaml"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("harness platform up starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("export KUBECONFIG=") {
                let _ = tx.send(());
            }
        }
    });
    let child = Killed(child);
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the platform announces its kubeconfig within 30 s");
    (child, kubeconfig)
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// `harness <args>` against the platform as an existing cluster.
fn harness(dir: &Path, kubeconfig: &Path, args: &[&str]) -> (Option<i32>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .env("KUBECONFIG", kubeconfig)
        .env("HARNESS_WORK_DIR", dir.join("work"))
        .env("HARNESS_STATE_DIR", dir.join("state"))
        .env_remove("HARNESS_RUN_ID")
        .args(args)
        .args([
            "--context",
            "embedded-platform",
            "--allow-context",
            "embedded-platform",
        ])
        .output()
        .expect("harness runs");
    let text = String::from_utf8_lossy(&stdout).to_string() + &String::from_utf8_lossy(&stderr);
    (status.code(), text)
}

fn run_args(keep: &str) -> Vec<&str> {
    vec![
        "run",
        "--target",
        "existing",
        "--scenario",
        "scenarios/missing-servers.yaml",
        "--keep",
        keep,
    ]
}

/// Plays another run `run` holding the scenario's namespace: the namespace labelled as its, and
/// its Lease renewed `renewed_ago`.
async fn other_run(client: &kube::Client, run: &str, renewed_ago: Duration) {
    let labels = RunLabels::new("missing-servers", run);
    let applier = Applier::new(client.clone(), labels.clone());
    applier
        .ensure_shared(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": HARNESS_NAMESPACE}}))
        .await
        .unwrap();
    let mut lease = lease_object(&labels, false);
    let renewed = jiff::Timestamp::now() - jiff::SignedDuration::try_from(renewed_ago).unwrap();
    lease["spec"]["renewTime"] = renewed
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
        .into();
    applier.apply(&lease).await.unwrap();
    applier
        .apply(&serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "financial-ml"}}))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_never_touches_a_live_or_kept_run_and_reports_a_crashed_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_platform, kubeconfig) = platform(dir.path(), "missing-servers");
    let client = client(&kubeconfig).await;
    let d = dir.path().to_path_buf();
    let k = kubeconfig.clone();
    let h = move |args: Vec<&'static str>| {
        let (d, k) = (d.clone(), k.clone());
        tokio::task::spawn_blocking(move || harness(&d, &k, &args))
    };

    // A live run holds the namespace: refused, naming it and the cleanup command.
    other_run(&client, "r-live-run", Duration::ZERO).await;
    let (code, out) = h(run_args("never")).await.unwrap();
    assert_eq!(code, Some(1), "{out}");
    for want in [
        "belongs to another harness run, r-live-run",
        "is still running",
        "harness cleanup --run r-live-run",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    let ns: Api<Namespace> = Api::all(client.clone());
    let live_ns = ns
        .get("financial-ml")
        .await
        .expect("the live run's namespace stays");
    assert_eq!(
        live_ns.metadata.labels.unwrap()["conformance.harness/run"],
        "r-live-run",
        "the live run's namespace was relabelled"
    );
    // Its cleanup is refused while it is live.
    let (code, out) = h(vec!["cleanup", "--run", "r-live-run"]).await.unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is still running"), "{out}");
    assert!(ns.get_opt("financial-ml").await.unwrap().is_some());

    // The run crashed: its Lease expired. Reported as such; its objects can be cleaned.
    other_run(&client, "r-live-run", Duration::from_secs(120)).await;
    let (code, out) = h(run_args("never")).await.unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("crashed or was killed"), "{out}");
    assert!(out.contains("harness cleanup --run r-live-run"), "{out}");
    let (code, out) = h(vec!["cleanup", "--run", "r-live-run"]).await.unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Namespace financial-ml"), "{out}");
    let leases: Api<Lease> = Api::namespaced(client.clone(), HARNESS_NAMESPACE);
    assert!(
        leases
            .get_opt(&lease_name("r-live-run"))
            .await
            .unwrap()
            .is_none(),
        "cleanup deletes the crashed run's Lease"
    );

    // A kept run: the next run refuses too, saying it was kept.
    let (code, out) = h(run_args("always")).await.unwrap();
    assert_eq!(code, Some(0), "{out}");
    // The terminal summary names the run: `missing-servers (target existing, run <id>)`.
    let kept_run = out
        .split_once(", run ")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_string())
        .expect("the run id is printed");
    let (code, out) = h(run_args("never")).await.unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("another harness run, {kept_run}")),
        "{out}"
    );
    assert!(out.contains("was kept"), "{out}");
    let (code, out) = h(vec![
        "cleanup",
        "--run",
        Box::leak(kept_run.into_boxed_str()),
    ])
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{out}");
    // Everything gone: the next run passes and leaves no Lease behind.
    let (code, out) = h(run_args("never")).await.unwrap();
    assert_eq!(code, Some(0), "{out}");
    let left = leases.list(&Default::default()).await.unwrap().items;
    assert!(left.is_empty(), "Leases left: {left:?}");
}

/// An embedded platform started for `scenario`, with a work directory of its own (kept alive by
/// the returned guard).
async fn embedded(scenario: &harness::scenario::Scenario) -> (Target, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        work_dir: Some(work.path().to_path_buf()),
        ..Default::default()
    };
    (Target::start(&opts, scenario).await.unwrap(), work)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_in_different_namespaces_run_at_the_same_time_on_one_platform() {
    let a = harness::run::load(&repo().join("scenarios/missing-servers.yaml")).unwrap();
    let b = harness::run::load(&repo().join("scenarios/kafka-missing.yaml")).unwrap();
    let (target, _work) = embedded(&a).await;
    let all = Selection::default();
    let (ra, rb) = tokio::join!(
        run_scenario_selected(&target, &a, &all, Keep::Never),
        run_scenario_selected(&target, &b, &all, Keep::Never),
    );
    assert_ne!(ra.run_id, rb.run_id);
    for r in [&ra, &rb] {
        assert!(
            r.succeeded() && !r.checks.is_empty(),
            "{}",
            harness::report::terminal(std::slice::from_ref(r))
        );
    }
    // Neither left its Lease behind.
    let leases: Api<Lease> = Api::namespaced(target.client(), HARNESS_NAMESPACE);
    assert!(
        leases
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    target.finish(false).await;
}

/// The Lease a run holds is renewed while the run goes on (its `renewTime` moves), marked kept by
/// `keep` (then judged kept, not live or expired, and no longer renewed) and deleted by `release`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_lease_is_renewed_then_kept_or_released() {
    let scenario = harness::run::load(&repo().join("scenarios/missing-servers.yaml")).unwrap();
    let (target, _work) = embedded(&scenario).await;
    let client = target.client();
    let leases: Api<Lease> = Api::namespaced(client.clone(), HARNESS_NAMESPACE);
    let renew_time = |l: &Lease| l.spec.as_ref().and_then(|s| s.renew_time.clone());

    let applier = Applier::new(client.clone(), RunLabels::new("missing-servers", "renewed"));
    let held = RunLease::acquire_renewing(applier, Duration::from_millis(100))
        .await
        .unwrap();
    let first = leases.get(&lease_name("renewed")).await.unwrap();
    let first_renewal = renew_time(&first).expect("a new Lease carries its renewTime");
    let lease = Watched::of::<Lease>(Some(HARNESS_NAMESPACE), &lease_name("renewed"));
    let renewed = Condition::new("renewTime moved on", move |o| {
        o.and_then(|o| o.data["spec"]["renewTime"].as_str())
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .is_some_and(|t| t > first_renewal.0)
    });
    wait::wait_for(&client, &lease, &renewed, Duration::from_secs(10))
        .await
        .expect("the Lease is renewed while the run holds it");
    assert!(matches!(
        state_of(&client, "renewed").await.unwrap(),
        RunState::Live { .. }
    ));
    held.keep().await;
    let kept = leases.get(&lease_name("renewed")).await.unwrap();
    assert!(
        matches!(
            state_of(&client, "renewed").await.unwrap(),
            RunState::Kept { .. }
        ),
        "{kept:?}"
    );
    // Kept is final: judged kept however long ago it was renewed.
    let much_later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(86_400);
    assert!(matches!(
        harness::kube::lease::judge(&kept, much_later),
        RunState::Kept { .. }
    ));

    let applier = Applier::new(
        client.clone(),
        RunLabels::new("missing-servers", "released"),
    );
    let held = RunLease::acquire(applier).await.unwrap();
    assert!(matches!(
        state_of(&client, "released").await.unwrap(),
        RunState::Live { .. }
    ));
    held.release().await;
    assert!(matches!(
        state_of(&client, "released").await.unwrap(),
        RunState::NoLease
    ));
    target.finish(false).await;
}
