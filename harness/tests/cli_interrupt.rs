//! Ctrl-C during a run: the run stops promptly and deletes everything it created.
//!
//! A standalone embedded platform (`harness platform up`) plays an existing cluster, so the objects
//! outlive the interrupted `harness run` process and can be inspected afterwards. The platform runs
//! with the `model-never-ready` defect, so the run is certainly still waiting in its checks when
//! it is interrupted (no timing guesses).

// Signals and prctl on the processes this test starts need libc calls.
#![allow(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::watcher;

const MANAGED: &str = "app.kubernetes.io/managed-by=seldon-conformance-harness";

/// Kills the process on every path out of the test (a panic included) unless it was taken.
struct Killed(Option<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Starts `harness platform up` and returns it with its kubeconfig path once it serves.
fn platform(dir: &Path) -> (Killed, PathBuf) {
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .args([
            "platform",
            "up",
            "--defect",
            "model-never-ready",
            "--scenario",
            "scenarios/financial-ml.yaml",
            "--kubeconfig",
        ])
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
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the platform announces its kubeconfig within 30 s");
    (Killed(Some(child)), kubeconfig)
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_run_leaves_no_labelled_object() {
    let dir = tempfile::tempdir().unwrap();
    let (_platform, kubeconfig) = platform(dir.path());
    let client = client(&kubeconfig).await;

    let run = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .env("KUBECONFIG", &kubeconfig)
        .env("HARNESS_STATE_DIR", dir.path().join("state"))
        .env("HARNESS_WORK_DIR", dir.path().join("work"))
        .args([
            "run",
            "--target",
            "existing",
            "--context",
            "embedded-platform",
            "--allow-context",
            "embedded-platform",
        ])
        .args([
            "--scenario",
            "scenarios/financial-ml.yaml",
            "--check",
            "credit-risk-ready",
            "--keep",
            "never",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("harness run starts");
    let mut run = Killed(Some(run));
    let pid = run.0.as_ref().expect("running").id() as libc::pid_t;

    // Setup is over once the run's Models exist; from then on the run waits in its check.
    let models: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &kube::api::ApiResource {
            group: "mlops.seldon.io".into(),
            version: "v1alpha1".into(),
            api_version: "mlops.seldon.io/v1alpha1".into(),
            kind: "Model".into(),
            plural: "models".into(),
        },
    );
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        let mut stream =
            watcher(models.clone(), watcher::Config::default().labels(MANAGED)).boxed();
        let mut names = std::collections::BTreeSet::new();
        while let Some(ev) = stream.next().await {
            if let Ok(watcher::Event::Apply(m) | watcher::Event::InitApply(m)) = ev {
                names.insert(m.metadata.name.unwrap_or_default());
            }
            if names.len() == 2 {
                return;
            }
        }
    })
    .await;
    assert!(
        seen.is_ok(),
        "the run did not create its two Models within 60 s"
    );

    // SAFETY: sending a signal to our own child process.
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0, "SIGINT could not be sent");

    let child = run.0.take().expect("running");
    let waited = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(output) = waited else {
        // SAFETY: our own child, which did not exit in time.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("the interrupted run did not exit within 90 s");
    };
    let output = output.expect("wait task").expect("wait for harness run");
    let (status, out, err) = (
        output.status,
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    );
    assert!(
        !status.success(),
        "an interrupted run must not report success\n{out}\n{err}"
    );
    assert!(
        err.contains("interrupted"),
        "the run must say it was interrupted:\n{err}"
    );

    // Nothing the run created may remain (namespaces go away through Terminating).
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let gone = tokio::time::timeout(Duration::from_secs(30), async {
        let mut stream = watcher(
            namespaces.clone(),
            watcher::Config::default().labels(MANAGED),
        )
        .boxed();
        let mut present = std::collections::BTreeSet::new();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => {
                    present.insert(n.metadata.name.unwrap_or_default());
                }
                Ok(watcher::Event::Delete(n)) => {
                    present.remove(&n.metadata.name.unwrap_or_default());
                }
                Ok(watcher::Event::InitDone) | Ok(watcher::Event::Init) => {}
                Err(_) => {}
            }
            if present.is_empty() {
                // An empty initial list also ends here.
                return;
            }
        }
    })
    .await;
    assert!(
        gone.is_ok(),
        "harness-labelled namespaces remain 30 s after the interrupted run:\n{out}\n{err}"
    );
    let left_models = models
        .list(&ListParams::default().labels(MANAGED))
        .await
        .unwrap();
    assert!(
        left_models.items.is_empty(),
        "Models remain: {:?}",
        left_models
            .items
            .iter()
            .map(|m| m.metadata.name.clone())
            .collect::<Vec<_>>()
    );
    let secrets: Api<Secret> = Api::all(client);
    let left_secrets = secrets
        .list(&ListParams::default().labels(MANAGED))
        .await
        .unwrap();
    assert!(left_secrets.items.is_empty(), "Secrets remain");
}
