//! SIGINT or SIGTERM at random instants of `harness run`: whatever the instant (target start,
//! package extraction, setup, a check's canary namespace or probe pods, cleanup), the run exits
//! non-zero or finishes, and no object labelled as the harness's remains on the cluster, nor any
//! extracted secret package on disk.
//!
//! A standalone embedded platform (`harness platform up --scenario S`) plays an existing cluster,
//! so the objects outlive each `harness run` process. The default test interrupts each scenario
//! in `scenarios/` at `HARNESS_INTERRUPTIONS` instants (default 2);
//! `interrupts_every_scenario_50_times` (ignored, `cargo nextest run -p harness --run-ignored
//! only -E 'test(/50_times/)'`) does 50 per scenario. Instants are drawn uniformly from the first `WINDOW` of the run (a
//! scenario on the embedded platform sets up and runs its first checks in about 1.5 s).

// Sending signals to the processes this test starts needs libc.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::kube::{Applier, ObjectRef, RunLabels};
use kube::api::{Api, DynamicObject, ListParams};

const MANAGED: &str = "app.kubernetes.io/managed-by=seldon-conformance-harness";
/// Instants are drawn from this window after the run process starts.
const WINDOW: Duration = Duration::from_millis(2500);
/// Every kind a run (setup or checks) creates.
const KINDS: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "Pod"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("mlops.seldon.io/v1alpha1", "SeldonRuntime"),
    ("mlops.seldon.io/v1alpha1", "Server"),
    ("mlops.seldon.io/v1alpha1", "Model"),
    // The run's Lease (run ownership): released at the end, interrupted or not.
    ("coordination.k8s.io/v1", "Lease"),
];

/// Kills the process on every path out of the test (a panic included).
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

/// Every scenario in `scenarios/`, so a scenario added later is interrupted too.
fn scenarios() -> Vec<String> {
    let files = harness::scenario::discover(&[repo().join("scenarios")]).expect("scenarios/");
    let mut names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no scenario in scenarios/");
    names
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

/// Every object on the platform carrying the harness's managed-by label.
async fn labelled(client: &kube::Client) -> Vec<String> {
    let applier = Applier::new(client.clone(), RunLabels::new("probe", "probe"));
    let mut found = Vec::new();
    for (api_version, kind) in KINDS {
        let Ok(r) = applier
            .resolve(&ObjectRef::new(api_version, kind, None, "-"))
            .await
        else {
            continue;
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &r.resource);
        for o in api
            .list(&ListParams::default().labels(MANAGED))
            .await
            .expect("list")
            .items
        {
            found.push(format!(
                "{kind} {}/{}",
                o.metadata.namespace.unwrap_or_default(),
                o.metadata.name.unwrap_or_default()
            ));
        }
    }
    found
}

/// A uniformly random duration below `max`.
fn random_below(max: Duration) -> Duration {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random bytes");
    let ms = u64::from_le_bytes(b) % (max.as_millis() as u64).max(1);
    Duration::from_millis(ms)
}

/// Runs `scenario` `n` times, each interrupted after a random delay, and checks nothing is left.
async fn interrupt_scenario(scenario: &str, n: usize) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (_platform, kubeconfig) = platform(dir.path(), scenario);
    let client = client(&kubeconfig).await;
    let work = dir.path().join("work");
    let mut log = Vec::new();
    for i in 0..n {
        let delay = random_below(WINDOW);
        let (signal, name) = if i % 2 == 0 {
            (libc::SIGINT, "SIGINT")
        } else {
            (libc::SIGTERM, "SIGTERM")
        };
        let child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .current_dir(repo())
            .env("KUBECONFIG", &kubeconfig)
            .env("HARNESS_WORK_DIR", &work)
            .env("HARNESS_STATE_DIR", dir.path().join("state"))
            .env_remove("HARNESS_RUN_ID")
            .args([
                "run",
                "--target",
                "existing",
                "--context",
                "embedded-platform",
            ])
            .args(["--allow-context", "embedded-platform", "--keep", "never"])
            .arg("--scenario")
            .arg(format!("scenarios/{scenario}.yaml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("harness run starts");
        let pid = child.id() as libc::pid_t;
        let started = Instant::now();
        std::thread::sleep(delay);
        // SAFETY: a signal to our own child (which may have exited already: then ESRCH).
        unsafe { libc::kill(pid, signal) };
        let waited = tokio::time::timeout(
            Duration::from_secs(120),
            tokio::task::spawn_blocking(move || child.wait_with_output()),
        )
        .await;
        let Ok(output) = waited else {
            // SAFETY: our own child, which did not exit in time.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{scenario}: the run interrupted after {delay:?} did not exit within 120 s");
        };
        let output = output.expect("wait task").expect("wait for harness run");
        let err = String::from_utf8_lossy(&output.stderr).to_string();
        let took = started.elapsed();
        let interrupted = err.contains("interrupted");
        if interrupted {
            assert_eq!(
                output.status.code(),
                Some(130),
                "{scenario}: an interrupted run exits 130\n{err}"
            );
        }
        let left = labelled(&client).await;
        assert!(
            left.is_empty(),
            "{scenario}: {name} after {delay:?} left {left:?}\n{err}"
        );
        let secrets = work.join(harness::setup::SECRETS_DIR);
        assert!(
            !secrets.exists(),
            "{scenario}: {name} after {delay:?} left extracted packages in {}\n{err}",
            secrets.display()
        );
        eprintln!(
            "{scenario}: {name} after {delay:?}: {}",
            if interrupted {
                "interrupted, nothing left"
            } else {
                "finished first, nothing left"
            }
        );
        log.push(format!(
            "{scenario}: {name} after {delay:?} ({}, exit {:?}, {took:?})",
            if interrupted {
                "interrupted"
            } else {
                "finished first"
            },
            output.status.code()
        ));
    }
    log
}

async fn interrupt_every_scenario(n: usize) {
    let mut log = Vec::new();
    for s in scenarios() {
        log.extend(interrupt_scenario(&s, n).await);
    }
    let interrupted = log.iter().filter(|l| l.contains("(interrupted")).count();
    eprintln!("{}", log.join("\n"));
    eprintln!(
        "{} runs, {interrupted} interrupted, 0 left objects or packages behind",
        log.len()
    );
    assert!(
        interrupted * 2 >= log.len(),
        "most runs must really be interrupted, or the test proves little:\n{}",
        log.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_at_random_instants_leaves_nothing() {
    let n = std::env::var("HARNESS_INTERRUPTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    interrupt_every_scenario(n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "50 interrupted runs per scenario, about 20 minutes on 2 cores; run on demand"]
async fn interrupts_every_scenario_50_times() {
    interrupt_every_scenario(50).await;
}
