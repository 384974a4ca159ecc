//! Golden command sequences for kind provisioning (fresh, reuse, recreate, keep policies,
//! teardown) and the helm install, driven by the recording runner (the in-place upgrade:
//! `targets_upgrade_golden.rs`).
//! `UPDATE_GOLDEN=1` rewrites `tests/golden/*.txt`; review the diff before committing.

// `std::env::set_var` is unsafe in edition 2024; this test sets a variable before any thread reads it.
#![allow(unsafe_code)]

mod targets_support;

use std::sync::Arc;
use std::time::Duration;

use harness::target::kind::addons;
use harness::target::kind::helm::{
    self as install, ControllerReadiness, InstallError, InstallSettings, Installer, KubeTarget,
    SetString,
};
use harness::target::kind::provision::{
    self, KeepPolicy, KindProvisioner, KindSettings, Provisioned,
};
use harness::tools::{Output, RecordingRunner, SharedRunner, ToolError};
use targets_support::{assert_golden, fixture, normalise, repo_dir};

const CLUSTER: &str = "seldon-h-golden";
const FAKE_KUBECONFIG: &str =
    "apiVersion: v1\nkind: Config\nclusters: []\ncontexts:\n- name: kind-seldon-h-golden\n";

struct Fixture {
    recorder: Arc<RecordingRunner>,
    runner: SharedRunner,
    state: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let recorder = Arc::new(RecordingRunner::new());
        recorder
            .respond("docker version", fixture("docker/version.txt"))
            .respond("kind version", fixture("kind/version.txt"))
            .respond("kubectl version", fixture("kubectl/version.json"))
            .respond("kind get kubeconfig", Output::ok(FAKE_KUBECONFIG));
        let runner: SharedRunner = recorder.clone();
        Self {
            recorder,
            runner,
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn kind_settings(&self, keep: KeepPolicy) -> KindSettings {
        KindSettings {
            config_path: repo_dir().join("kind-config.yaml"),
            images_to_load: vec!["example.com/team/model-server:dev".into()],
            keep,
            ..KindSettings::new(CLUSTER)
        }
    }

    fn provisioner(&self, keep: KeepPolicy) -> KindProvisioner {
        KindProvisioner::new(
            self.runner.clone(),
            self.kind_settings(keep),
            self.state.path().join("state"),
            self.state.path().join("diagnostics"),
        )
    }

    fn transcript(&self) -> Vec<String> {
        normalise(
            self.recorder.transcript(),
            &[(self.state.path(), "$TMP"), (&repo_dir(), "$REPO")],
        )
    }
}

fn wanted(f: &Fixture, chart: &str) -> provision::Fingerprint {
    provision::fingerprint_from_files(
        &f.kind_settings(KeepPolicy::Never),
        &InstallSettings::new(chart),
    )
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn provision_fresh_cluster_then_teardown() {
    let f = Fixture::new();
    f.recorder
        .respond("kind get clusters", fixture("kind/get-clusters-none.txt"));
    let fp = wanted(&f, "2.9.1");
    rt().block_on(async {
        let cluster = f
            .provisioner(KeepPolicy::Never)
            .provision(&fp)
            .await
            .unwrap();
        assert_eq!(cluster.provisioned(), &Provisioned::Created);
        assert_eq!(
            std::fs::read_to_string(cluster.kubeconfig()).unwrap(),
            FAKE_KUBECONFIG
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cluster.kubeconfig())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "kubeconfig must not be readable by others");
        }
        cluster
            .load_images(&["example.com/team/model-server:dev".into()])
            .await
            .unwrap();
        cluster.record_fingerprint(&fp).await.unwrap();
        let teardown = cluster.finish(false).await;
        assert_eq!(teardown.kept, None);
        assert!(teardown.problems.is_empty(), "{:?}", teardown.problems);
    });
    assert_golden(
        "provision-fresh",
        "kind target, no cluster yet: check tools, create, export kubeconfig, load images, record fingerprint; run passed with keep=never: delete",
        &f.transcript(),
    );
}

#[test]
fn provision_reuses_a_cluster_with_the_same_fingerprint_and_keeps_it() {
    let f = Fixture::new();
    let fp = wanted(&f, "2.9.1");
    f.recorder
        .respond(
            "kind get clusters",
            Output::ok(format!("kind\n{CLUSTER}\n")),
        )
        // The fingerprint ConfigMap as the API server returns it.
        .respond(
            "kubectl --kubeconfig",
            Output::ok(provision::fingerprint_configmap(&fp)),
        );
    let export = rt().block_on(async {
        let cluster = f
            .provisioner(KeepPolicy::Always)
            .provision(&fp)
            .await
            .unwrap();
        assert_eq!(cluster.provisioned(), &Provisioned::Reused);
        let line = cluster.export_line();
        let teardown = cluster.finish(false).await;
        assert_eq!(teardown.kept.as_deref(), Some(line.as_str()));
        line
    });
    assert!(export.starts_with("export KUBECONFIG=") && export.ends_with("/kubeconfig"));
    let t = f.transcript();
    assert!(
        !t.iter()
            .any(|l| l.starts_with("kind create") || l.starts_with("kind delete")),
        "{t:#?}"
    );
    assert_golden(
        "provision-reuse",
        "kind target, cluster exists with the same fingerprint: reuse; keep=always: kept after a passing run",
        &t,
    );
}

#[test]
fn provision_recreates_when_the_fingerprint_changed_and_keeps_it_after_a_failure() {
    let f = Fixture::new();
    let fp = wanted(&f, "2.9.1");
    f.recorder
        .respond("kind get clusters", Output::ok(format!("{CLUSTER}\n")))
        // Recorded by an earlier run that installed chart 2.9.0.
        .respond(
            "kubectl --kubeconfig",
            fixture("kubectl/fingerprint-configmap.json"),
        );
    rt().block_on(async {
        let cluster = f
            .provisioner(KeepPolicy::OnFailure)
            .provision(&fp)
            .await
            .unwrap();
        match cluster.provisioned() {
            Provisioned::Recreated(reason) => {
                assert!(
                    reason.contains("install.chartVersion: \"2.9.0\" → \"2.9.1\""),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        let teardown = cluster.finish(true).await;
        assert!(teardown.kept.is_some());
        assert!(
            teardown
                .logs
                .as_ref()
                .unwrap()
                .ends_with("diagnostics/kind-logs")
        );
    });
    assert_golden(
        "provision-recreate",
        "kind target, cluster exists with another fingerprint: delete and create; run failed with keep=on-failure: export logs, keep",
        &f.transcript(),
    );
}

#[test]
fn keep_never_deletes_after_a_failure_and_exports_logs_first() {
    let f = Fixture::new();
    f.recorder
        .respond("kind get clusters", fixture("kind/get-clusters-none.txt"));
    let fp = wanted(&f, "2.9.1");
    rt().block_on(async {
        let cluster = f
            .provisioner(KeepPolicy::Never)
            .provision(&fp)
            .await
            .unwrap();
        f.recorder.clear_transcript();
        let teardown = cluster.finish(true).await;
        assert_eq!(teardown.kept, None);
        assert!(teardown.logs.is_some());
    });
    assert_golden(
        "teardown-never-after-failure",
        "teardown of a failed run with keep=never: export logs into the diagnostics bundle, then delete",
        &f.transcript(),
    );
}

#[test]
fn dropping_a_cluster_without_finish_counts_as_failure() {
    let f = Fixture::new();
    f.recorder
        .respond("kind get clusters", fixture("kind/get-clusters-none.txt"));
    let fp = wanted(&f, "2.9.1");
    rt().block_on(async {
        let cluster = f
            .provisioner(KeepPolicy::OnFailure)
            .provision(&fp)
            .await
            .unwrap();
        f.recorder.clear_transcript();
        drop(cluster);
    });
    let t = f.transcript();
    assert_eq!(t.len(), 1, "{t:#?}");
    assert!(
        t[0].starts_with("kind export logs $TMP/diagnostics/kind-logs"),
        "{t:#?}"
    );
}

#[test]
fn missing_kind_or_a_dead_docker_daemon_stop_provisioning_with_a_hint() {
    let f = Fixture::new();
    f.recorder.missing_tool("kind");
    let err = rt()
        .block_on(
            f.provisioner(KeepPolicy::Never)
                .provision(&wanted(&f, "2.9.1")),
        )
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("go install sigs.k8s.io/kind@"),
        "{err}"
    );

    let f = Fixture::new();
    f.recorder
        .replace("docker version", fixture("docker/version-daemon-down.txt"));
    let err = rt()
        .block_on(
            f.provisioner(KeepPolicy::Never)
                .provision(&wanted(&f, "2.9.1")),
        )
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("Cannot connect to the Docker daemon") && text.contains("docker info"),
        "{text}"
    );
    assert_eq!(
        f.transcript().len(),
        1,
        "nothing runs after the failed check"
    );

    let f = Fixture::new();
    f.recorder
        .replace("kind version", fixture("kind/version-too-old.txt"));
    let err = rt()
        .block_on(
            f.provisioner(KeepPolicy::Never)
                .provision(&wanted(&f, "2.9.1")),
        )
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            provision::ProvisionError::Tool(ToolError::TooOld { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("NetworkPolicy"), "{err}");
}

#[test]
fn kind_errors_reach_the_user_with_advice() {
    let f = Fixture::new();
    f.recorder
        .respond("kind get clusters", fixture("kind/get-clusters-none.txt"))
        .respond(
            "kind create cluster",
            fixture("kind/create-docker-down.txt"),
        );
    let err = rt()
        .block_on(
            f.provisioner(KeepPolicy::Never)
                .provision(&wanted(&f, "2.9.1")),
        )
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("exit code 1") && text.contains("kind create cluster --name seldon-h-golden"),
        "{text}"
    );
    assert!(text.contains("start the Docker daemon"), "{text}");
}

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

    async fn wait_kafka_ready(
        &self,
        ns: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<(), InstallError> {
        self.0.note(format!(
            "wait {}s: Kafka {ns}/{name} Ready",
            timeout.as_secs()
        ));
        Ok(())
    }
}

fn status_json(release: &str, ns: &str, version: &str) -> Output {
    Output::ok(format!(
        r#"{{"name":"{release}","namespace":"{ns}","version":1,"info":{{"status":"deployed","description":"Install complete"}},"chart":{{"metadata":{{"name":"{release}","version":"{version}","appVersion":"{version}"}}}}}}"#
    ))
}

fn install_fixture(f: &Fixture) -> (Installer, InstallSettings) {
    let target = KubeTarget {
        kubeconfig: Some(
            f.state
                .path()
                .join("state/kind")
                .join(CLUSTER)
                .join("kubeconfig"),
        ),
        context: format!("kind-{CLUSTER}"),
    };
    let installer = Installer::new(f.runner.clone(), target, f.state.path().join("state"));
    let mut settings = InstallSettings::new("2.9.1");
    settings.values =
        serde_json::json!({"controller": {"resources": {"memory": "128Mi", "cpu": "20m"}}});
    // SAFETY: single-threaded at this point of the test; the variable is unique to this test.
    unsafe { std::env::set_var("HARNESS_GOLDEN_SECRET", "golden-s3cret") };
    settings.set_strings = vec![
        SetString {
            key: "security.kafka.sasl.client.username".into(),
            value: Some("seldon".into()),
            from_env: None,
        },
        SetString {
            key: "extra.token".into(),
            value: None,
            from_env: Some("HARNESS_GOLDEN_SECRET".into()),
        },
    ];
    (installer, settings)
}

#[test]
fn install_runs_the_documented_helm_sequence() {
    let f = Fixture::new();
    f.recorder
        .respond(
            "helm status seldon-core-v2-crds",
            status_json("seldon-core-v2-crds", "default", "2.9.1"),
        )
        .respond(
            "helm status seldon-core-v2-setup",
            status_json("seldon-core-v2-setup", "seldon-mesh", "2.9.1"),
        );
    let (installer, settings) = install_fixture(&f);
    let warnings = rt()
        .block_on(installer.install(&settings, &NotedReadiness(f.recorder.clone())))
        .unwrap();
    assert!(warnings.is_empty());
    let t = f.transcript();
    assert!(
        !t.iter().any(|l| l.contains("golden-s3cret")),
        "secret leaked: {t:#?}"
    );
    let values =
        std::fs::read_to_string(install::values_file(&f.state.path().join("state"))).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&values).unwrap(),
        settings.values,
        "values file holds exactly the settings' values"
    );
    assert_golden(
        "install",
        "helm install: repo, CRDs chart into default, setup chart cluster-wide into the controller namespace, release checks, readiness",
        &t,
    );
}

#[test]
fn watch_namespaces_reach_the_setup_chart_as_a_helm_list() {
    // scenarios/controller-scope.yaml's install: cluster-wide, narrowed to one namespace.
    let file = repo_dir().join("scenarios/controller-scope.yaml");
    let scenario = harness::scenario::Scenario::load(&file).unwrap();
    let f = Fixture::new();
    f.recorder
        .respond(
            "helm status seldon-core-v2-crds",
            status_json("seldon-core-v2-crds", "default", "2.10.2"),
        )
        .respond(
            "helm status seldon-core-v2-setup",
            status_json("seldon-core-v2-setup", "seldon-mesh", "2.10.2"),
        );
    let (installer, _) = install_fixture(&f);
    let settings = scenario.doc.spec.seldon.clone();
    rt().block_on(installer.install(&settings, &NotedReadiness(f.recorder.clone())))
        .unwrap();
    let setup = f
        .transcript()
        .into_iter()
        .find(|l| l.contains("helm upgrade --install seldon-core-v2-setup"))
        .expect("the setup chart is installed");
    // The chart joins the list into WATCH_NAMESPACES (`_components-deployments.tpl`), which the
    // operator reads only with --clusterwide=true (`operator/main.go`).
    assert!(
        setup.contains("--set controller.clusterwide=true")
            && setup.contains("--set 'controller.watchNamespaces={scope-watched}'"),
        "{setup}"
    );
}

#[test]
fn an_unpublished_chart_version_fails_clearly_before_the_setup_chart() {
    let f = Fixture::new();
    f.recorder.respond(
        "helm upgrade --install seldon-core-v2-crds",
        fixture("helm/error-version-not-found-index.txt"),
    );
    let (installer, settings) = install_fixture(&f);
    let err = rt()
        .block_on(installer.install(&settings, &NotedReadiness(f.recorder.clone())))
        .unwrap_err();
    assert!(
        matches!(err, InstallError::ChartVersionNotFound { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("may not be published"), "{err}");
    assert!(
        !f.transcript()
            .iter()
            .any(|l| l.contains("seldon-core-v2-setup seldon-charts"))
    );
}

#[test]
fn a_release_left_failed_is_reported() {
    let f = Fixture::new();
    f.recorder.respond(
        "helm status seldon-core-v2-crds",
        fixture("helm/status-failed.json"),
    );
    let (installer, settings) = install_fixture(&f);
    let err = rt()
        .block_on(installer.install(&settings, &NotedReadiness(f.recorder.clone())))
        .unwrap_err();
    assert!(err.to_string().contains("status is \"failed\""), "{err}");
}

#[test]
fn kind_config_is_pinned_and_documented() {
    let text = std::fs::read_to_string(repo_dir().join("kind-config.yaml")).unwrap();
    let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(doc["kind"], "Cluster");
    assert_eq!(doc["apiVersion"], "kind.x-k8s.io/v1alpha4");
    assert_eq!(
        doc["networking"]["disableDefaultCNI"], false,
        "kindnet enforces NetworkPolicy"
    );
    let nodes = doc["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty());
    for n in nodes {
        let image = n["image"].as_str().unwrap();
        assert!(
            image.starts_with("kindest/node:v1.") && image.contains("@sha256:"),
            "pin by digest: {image}"
        );
        assert_eq!(image.split("@sha256:").nth(1).unwrap().len(), 64);
    }
    assert!(
        doc.get("name").is_none(),
        "the cluster name comes from the run"
    );
    assert!(
        text.contains("https://github.com/kubernetes-sigs/kind/releases/tag/v0.30.0"),
        "cite the digest's source"
    );
}

fn seldon_status(f: &Fixture) {
    f.recorder
        .respond(
            "helm status seldon-core-v2-crds",
            status_json("seldon-core-v2-crds", "default", "2.9.1"),
        )
        .respond(
            "helm status seldon-core-v2-setup",
            status_json("seldon-core-v2-setup", "seldon-mesh", "2.9.1"),
        );
}

#[test]
fn kind_platform_install_adds_the_sealed_secrets_controller_pinned() {
    let f = Fixture::new();
    seldon_status(&f);
    let (installer, settings) = install_fixture(&f);
    rt().block_on(addons::install_platform(
        &installer,
        &settings,
        &NotedReadiness(f.recorder.clone()),
    ))
    .unwrap();
    let t = f.transcript();
    let sealed = t
        .iter()
        .position(|l| l.starts_with("helm upgrade --install sealed-secrets "))
        .expect("sealed-secrets is installed");
    let seldon = t
        .iter()
        .position(|l| l.starts_with("helm upgrade --install seldon-core-v2-setup"))
        .unwrap();
    assert!(seldon < sealed, "Seldon first: {t:#?}");
    assert!(
        t[sealed].contains("--version 2.18.5")
            && t[sealed].contains("--namespace kube-system")
            && t[sealed].contains("--set-string fullnameOverride=sealed-secrets-controller")
            && t[sealed].contains("--set-string image.tag=0.36.6"),
        "{}",
        t[sealed]
    );
    assert!(
        !t.iter()
            .any(|l| l.contains("strimzi") || l.contains("Kafka")),
        "kafka: none installs no Kafka: {t:#?}"
    );
    assert_golden(
        "install-platform",
        "kind platform install, kafka: none: Seldon as in install.txt, then the sealed-secrets controller (chart 2.18.5, image 0.36.6) in kube-system under kubeseal's default name",
        &t,
    );
}

#[test]
fn kind_platform_install_with_kafka_installs_strimzi_and_a_one_broker_kraft_kafka() {
    let f = Fixture::new();
    seldon_status(&f);
    let (installer, mut settings) = install_fixture(&f);
    settings.kafka = install::Kafka::Installed;
    rt().block_on(addons::install_platform(
        &installer,
        &settings,
        &NotedReadiness(f.recorder.clone()),
    ))
    .unwrap();
    let t = f.transcript();
    let setup = t
        .iter()
        .find(|l| l.starts_with("helm upgrade --install seldon-core-v2-setup"))
        .unwrap();
    assert!(
        setup.contains("--set-string kafka.bootstrap=seldon-kafka-bootstrap.seldon-mesh:9092"),
        "the SeldonConfig points at the installed Kafka: {setup}"
    );
    let at = |prefix: &str| {
        t.iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in {t:#?}"))
    };
    let strimzi =
        at("helm upgrade --install strimzi-kafka-operator strimzi/strimzi-kafka-operator");
    let apply = at("kubectl --kubeconfig");
    let wait = at("# wait 600s: Kafka seldon-mesh/seldon Ready");
    assert!(strimzi < apply && apply < wait, "{t:#?}");
    assert!(
        t[strimzi].contains("--version 0.44.0")
            && t[strimzi].contains("--namespace seldon-mesh")
            && t[strimzi].contains("--set-string defaultImageTag=0.44.0"),
        "{}",
        t[strimzi]
    );
    assert!(
        t[apply].ends_with("< KafkaNodePool kafka, Kafka seldon"),
        "{}",
        t[apply]
    );
    assert_golden(
        "install-platform-kafka",
        "kind platform install, kafka: installed: Seldon pointed at seldon-kafka-bootstrap, sealed-secrets, Strimzi 0.44.0 in the controller namespace, the Kafka cluster applied, waited for Ready",
        &t,
    );
}

#[test]
fn the_installed_kafka_is_one_kraft_node_named_as_seldon_expects_with_pinned_images() {
    let text = addons::kafka_manifests("seldon-mesh");
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect();
    let [pool, kafka] = &docs[..] else {
        panic!("{docs:#?}")
    };
    assert_eq!(pool["kind"], "KafkaNodePool");
    assert_eq!(pool["metadata"]["labels"]["strimzi.io/cluster"], "seldon");
    assert_eq!(pool["spec"]["replicas"], 1);
    assert_eq!(
        pool["spec"]["roles"],
        serde_json::json!(["controller", "broker"])
    );
    assert_eq!(kafka["kind"], "Kafka");
    // Strimzi names the bootstrap Service `<cluster>-kafka-bootstrap`: Seldon's default.
    assert_eq!(
        format!(
            "{}-kafka-bootstrap.seldon-mesh:9092",
            kafka["metadata"]["name"].as_str().unwrap()
        ),
        addons::installed_kafka_bootstrap("seldon-mesh")
    );
    assert_eq!(
        kafka["metadata"]["annotations"]["strimzi.io/kraft"],
        "enabled"
    );
    assert_eq!(
        kafka["metadata"]["annotations"]["strimzi.io/node-pools"],
        "enabled"
    );
    assert_eq!(
        kafka["spec"]["kafka"]["image"],
        "quay.io/strimzi/kafka:0.44.0-kafka-3.8.0"
    );
    assert_eq!(kafka["spec"]["kafka"]["listeners"][0]["port"], 9092);
    assert_eq!(kafka["spec"]["kafka"]["listeners"][0]["tls"], false);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_golden(
        "kafka-manifests",
        "the Kafka cluster the kind target applies for kafka: installed (KafkaNodePool + Kafka, KRaft, one node)",
        &lines,
    );
}
