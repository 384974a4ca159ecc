//! The in-place upgrade on kind and on an existing cluster (`--manage-install`), at its seams:
//! the helm command lines and their order around the cluster's answers (CRD generations, the
//! dry-run of every existing Seldon object, readiness), recorded as golden transcripts.
//! `UPDATE_GOLDEN=1` rewrites `tests/golden/upgrade-*.txt`; review the diff before committing.

mod targets_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::target::kind::helm::{
    self as install, ControllerReadiness, InstallError, InstallSettings, Installer, KubeTarget,
};
use harness::target::kind::helm_upgrade::HelmSteps;
use harness::target::upgrade::{DryRun, Rejection, UpgradeCluster, upgrade_sequence};
use harness::tools::{Output, RecordingRunner, SharedRunner};
use targets_support::{assert_golden, normalise};

/// Readiness double that records the wait in the transcript.
struct NotedReadiness(Arc<RecordingRunner>);

impl ControllerReadiness for NotedReadiness {
    async fn wait_ready(&self, ns: &str, timeout: Duration) -> Result<(), InstallError> {
        self.0.note(format!(
            "wait {}s: Deployment {ns}/{} Available; CRDs {} Established",
            timeout.as_secs(),
            install::CONTROLLER_DEPLOYMENT,
            install::SELDON_CRDS.len()
        ));
        Ok(())
    }

    async fn wait_kafka_ready(&self, _: &str, _: &str, _: Duration) -> Result<(), InstallError> {
        unreachable!("an upgrade installs no Kafka")
    }
}

/// The cluster's answers, scripted: CRD generations before and after, the dry-run's findings.
struct NotedCluster {
    notes: Arc<RecordingRunner>,
    generations: Mutex<Vec<BTreeMap<String, i64>>>,
    dry_run: DryRun,
}

impl UpgradeCluster for NotedCluster {
    async fn crd_generations(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        self.notes.note("read the generations of the Seldon CRDs");
        Ok(self.generations.lock().unwrap().remove(0))
    }

    async fn dry_run_objects(&self) -> anyhow::Result<DryRun> {
        self.notes.note(format!(
            "server-side dry-run (dryRun=All) of every existing Seldon object: {} checked, {} rejected",
            self.dry_run.checked,
            self.dry_run.rejected.len()
        ));
        Ok(self.dry_run.clone())
    }

    async fn serving(&self) -> anyhow::Result<Vec<String>> {
        self.notes
            .note("list the SeldonRuntimes and Servers that are Ready");
        Ok(vec![
            "SeldonRuntime team/seldon".into(),
            "Server team/mlserver".into(),
        ])
    }

    async fn wait_serving(&self, serving: &[String], timeout: Duration) -> anyhow::Result<()> {
        self.notes.note(format!(
            "wait {}s: Ready again: {}",
            timeout.as_secs(),
            serving.join(", ")
        ));
        Ok(())
    }
}

fn generations(generation: i64) -> BTreeMap<String, i64> {
    install::SELDON_CRDS
        .iter()
        .map(|c| {
            (
                c.to_string(),
                if *c == "models.mlops.seldon.io" {
                    generation
                } else {
                    1
                },
            )
        })
        .collect()
}

fn status_json(release: &str, ns: &str, version: &str) -> Output {
    Output::ok(format!(
        r#"{{"name":"{release}","namespace":"{ns}","version":2,"info":{{"status":"deployed","description":"Upgrade complete"}},"chart":{{"metadata":{{"name":"{release}","version":"{version}","appVersion":"{version}"}}}}}}"#
    ))
}

struct Run {
    recorder: Arc<RecordingRunner>,
    state: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        let recorder = Arc::new(RecordingRunner::new());
        recorder
            .respond(
                "helm status seldon-core-v2-crds",
                status_json("seldon-core-v2-crds", "default", "2.9.1"),
            )
            .respond(
                "helm status seldon-core-v2-setup",
                status_json("seldon-core-v2-setup", "seldon-mesh", "2.9.1"),
            );
        Run {
            recorder,
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// Upgrades an install of 2.9.0 to 2.9.1 through `target`.
    fn upgrade(
        &self,
        target: KubeTarget,
        after: BTreeMap<String, i64>,
        dry_run: DryRun,
    ) -> anyhow::Result<harness::target::upgrade::Findings> {
        let runner: SharedRunner = self.recorder.clone();
        let installer = Arc::new(Installer::new(
            runner,
            target,
            self.state.path().join("state"),
        ));
        let settings = InstallSettings::new("2.9.0");
        let steps = HelmSteps::new(installer, settings, NotedReadiness(self.recorder.clone()));
        let cluster = NotedCluster {
            notes: self.recorder.clone(),
            generations: Mutex::new(vec![generations(1), after]),
            dry_run,
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(upgrade_sequence(
                &steps,
                &cluster,
                "2.9.1",
                Duration::from_secs(600),
            ))
    }

    fn transcript(&self) -> Vec<String> {
        normalise(self.recorder.transcript(), &[(self.state.path(), "$TMP")])
    }
}

fn kind_target(run: &Run) -> KubeTarget {
    KubeTarget {
        kubeconfig: Some(
            run.state
                .path()
                .join("state/kind/seldon-h-golden/kubeconfig"),
        ),
        context: "kind-seldon-h-golden".into(),
    }
}

fn position(t: &[String], needle: &str) -> usize {
    t.iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in {t:#?}"))
}

#[test]
fn kind_upgrade_applies_the_crds_chart_then_dry_runs_then_the_setup_chart() {
    let run = Run::new();
    let dry_run = DryRun {
        checked: 4,
        rejected: Vec::new(),
        single_replica_servers: vec!["Server team/mlserver".into()],
    };
    let findings = run
        .upgrade(kind_target(&run), generations(2), dry_run)
        .unwrap();
    assert_eq!(
        findings.crds_changed,
        vec!["models.mlops.seldon.io (generation 1 → 2)"]
    );
    assert_eq!(findings.crds_unchanged.len(), 6);
    let lines = findings.lines("2.9.1").join("\n");
    assert!(
        lines.contains("Server team/mlserver runs one replica") && lines.contains("#4478"),
        "{lines}"
    );
    let t = run.transcript();
    let crds = position(&t, "helm upgrade --install seldon-core-v2-crds");
    let dry = position(&t, "server-side dry-run");
    let setup = position(&t, "helm upgrade --install seldon-core-v2-setup");
    let serving = position(
        &t,
        "Ready again: SeldonRuntime team/seldon, Server team/mlserver",
    );
    assert!(crds < dry && dry < setup && setup < serving, "{t:#?}");
    assert!(t[crds].contains("--version 2.9.1"), "{}", t[crds]);
    assert_golden(
        "upgrade-in-place-kind",
        "in-place upgrade 2.9.0 → 2.9.1 on kind: CRDs chart (its CRDs are templates, so helm upgrades them), CRDs verified changed, dry-run of every Seldon object, setup chart, controller and every runtime/Server Ready",
        &t,
    );
}

#[test]
fn existing_cluster_upgrade_uses_the_allowed_context_and_the_same_order() {
    let run = Run::new();
    let target = KubeTarget {
        kubeconfig: None,
        context: "staging-eu1".into(),
    };
    run.upgrade(target, generations(2), DryRun::default())
        .unwrap();
    let t = run.transcript();
    assert!(
        t.iter()
            .filter(|l| l.starts_with("helm "))
            .all(|l| l.contains("--kube-context staging-eu1") || l.starts_with("helm repo")),
        "{t:#?}"
    );
    assert_golden(
        "upgrade-in-place-existing",
        "in-place upgrade 2.9.0 → 2.9.1 on an existing cluster with --manage-install: the same order through the allowed context",
        &t,
    );
}

#[test]
fn an_object_the_new_crds_reject_stops_the_upgrade_before_the_setup_chart() {
    let run = Run::new();
    // After the rollback the CRDs release is back on the installed version.
    run.recorder.respond(
        "helm status seldon-core-v2-crds",
        status_json("seldon-core-v2-crds", "default", "2.9.0"),
    );
    let dry_run = DryRun {
        checked: 2,
        rejected: vec![Rejection {
            object: "Model team/iris".into(),
            message: "Model.mlops.seldon.io \"iris\" is invalid: status.selector: Required value"
                .into(),
        }],
        single_replica_servers: Vec::new(),
    };
    let err = run
        .upgrade(kind_target(&run), generations(2), dry_run)
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("Model team/iris") && text.contains("status.selector: Required value"),
        "{text}"
    );
    assert!(
        text.contains("CRDs were put back")
            && text.contains("components were left on the old version"),
        "{text}"
    );
    let t = run.transcript();
    assert!(
        position(&t, "server-side dry-run") < position(&t, "helm rollback seldon-core-v2-crds"),
        "{t:#?}"
    );
    assert!(
        !t.iter().any(|l| l.contains("seldon-core-v2-setup")),
        "the setup chart must not be upgraded: {t:#?}"
    );
    assert_golden(
        "upgrade-in-place-refused",
        "in-place upgrade refused: the new CRDs reject an existing Model, so they are rolled back and the setup chart is not upgraded",
        &t,
    );
}

#[test]
fn unchanged_crds_are_reported_not_hidden() {
    let run = Run::new();
    let findings = run
        .upgrade(kind_target(&run), generations(1), DryRun::default())
        .unwrap();
    assert!(findings.crds_changed.is_empty());
    let lines = findings.lines("2.9.1").join("\n");
    assert!(
        lines.contains("the new CRDs are the same as the installed ones (7 unchanged)"),
        "{lines}"
    );
}
