//! Parsing of kind, helm, kubectl and docker outputs, success and error, from documented fixtures;
//! plus the real duct runner's failure modes (missing tool, timeout, non-zero exit).

mod targets_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::target::kind::helm::{self as install, HelmFailure};
use harness::target::kind::provision::{self, KindFailure};
use harness::tools::{
    self, Command, DuctRunner, KUBECTL, Runner, SharedRunner, Tool, ToolError, Version,
    VersionFormat,
};
use targets_support::fixture;

#[test]
fn tool_versions_parse_from_fixtures() {
    let cases = [
        (tools::KIND, "kind/version.txt", Version::new(0, 30, 0)),
        (tools::HELM, "helm/version.txt", Version::new(3, 18, 6)),
        (
            tools::KUBECTL,
            "kubectl/version.json",
            Version::new(1, 32, 4),
        ),
        (tools::DOCKER, "docker/version.txt", Version::new(27, 3, 1)),
    ];
    for (tool, file, want) in cases {
        let out = fixture(file);
        assert_eq!(
            tools::parse_version(tool.version_format, &out.stdout),
            Some(want),
            "{file}"
        );
        assert!(want >= tool.min_version, "{file} is a supported version");
    }
    let old = fixture("kind/version-too-old.txt");
    let v = tools::parse_version(VersionFormat::FirstSemverToken, &old.stdout).unwrap();
    assert!(v < tools::KIND.min_version);
}

#[test]
fn kind_get_clusters_handles_none_and_many() {
    let none = fixture("kind/get-clusters-none.txt");
    assert!(none.success());
    assert!(provision::parse_kind_clusters(&none).is_empty());
    let two = fixture("kind/get-clusters-two.txt");
    assert_eq!(
        provision::parse_kind_clusters(&two),
        ["kind", "seldon-h-nightly"]
    );
}

#[test]
fn kind_errors_are_classified() {
    assert_eq!(
        provision::classify_kind_error(&fixture("kind/create-already-exists.txt").stderr),
        KindFailure::AlreadyExists {
            name: "seldon-h-nightly".into()
        }
    );
    assert_eq!(
        provision::classify_kind_error(&fixture("kind/create-docker-down.txt").stderr),
        KindFailure::DockerUnavailable
    );
    assert_eq!(
        provision::classify_kind_error(&fixture("kind/load-image-missing.txt").stderr),
        KindFailure::ImageNotPresent {
            image: "example.com/team/model-server:dev".into()
        }
    );
    assert_eq!(
        provision::classify_kind_error(&fixture("kind/get-kubeconfig-missing.txt").stderr),
        KindFailure::NoSuchCluster {
            name: "seldon-h-gone".into()
        }
    );
    assert_eq!(
        provision::classify_kind_error("ERROR: something new"),
        KindFailure::Other
    );
}

#[test]
fn helm_status_and_list_parse_and_ignore_user_values() {
    let st = install::parse_helm_status(&fixture("helm/status-deployed.json").stdout).unwrap();
    assert_eq!(st.status, "deployed");
    assert_eq!(st.chart, "seldon-core-v2-setup");
    assert_eq!(st.chart_version, "2.9.1");
    assert_eq!(st.revision, 2);
    assert_eq!(st.namespace, "seldon-mesh");
    assert!(
        !format!("{st:?}").contains("FIXTURE-SECRET-VALUE"),
        "user values must not be kept"
    );
    let failed = install::parse_helm_status(&fixture("helm/status-failed.json").stdout).unwrap();
    assert_eq!(failed.status, "failed");
    assert!(failed.description.contains("context deadline exceeded"));
    assert!(install::parse_helm_status("not json").is_err());

    let list = install::parse_helm_list(&fixture("helm/list.json").stdout).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1].name, "seldon-core-v2-setup");
    assert_eq!(list[1].chart_version(), Some("2.9.1"));
    assert_eq!(list[1].revision, "2");
    assert!(
        install::parse_helm_list(&fixture("helm/list-empty.json").stdout)
            .unwrap()
            .is_empty()
    );
    assert!(install::parse_helm_list("").unwrap().is_empty());
}

#[test]
fn helm_errors_are_classified() {
    assert_eq!(
        install::classify_helm_error(&fixture("helm/error-version-not-found-index.txt").stderr),
        HelmFailure::ChartVersionNotFound {
            chart: "seldon-core-v2-setup".into(),
            version: "2.10.2".into(),
            repo: "seldon-charts".into()
        }
    );
    assert_eq!(
        install::classify_helm_error(&fixture("helm/error-version-not-found-repo.txt").stderr),
        HelmFailure::ChartVersionNotFound {
            chart: "seldon-core-v2-crds".into(),
            version: "2.10.2".into(),
            repo: "https://seldonio.github.io/helm-charts/".into()
        }
    );
    let cases = [
        (
            "helm/error-cluster-unreachable.txt",
            HelmFailure::ClusterUnreachable,
        ),
        ("helm/error-wait-timeout.txt", HelmFailure::WaitTimedOut),
        (
            "helm/error-operation-in-progress.txt",
            HelmFailure::OperationInProgress,
        ),
        (
            "helm/error-release-not-found.txt",
            HelmFailure::ReleaseNotFound,
        ),
    ];
    for (file, want) in cases {
        let out = fixture(file);
        assert!(!out.success(), "{file}");
        assert_eq!(install::classify_helm_error(&out.stderr), want, "{file}");
    }
}

#[test]
fn fingerprint_configmap_round_trips_through_kubectl_output() {
    let fp = provision::parse_fingerprint_configmap(
        &fixture("kubectl/fingerprint-configmap.json").stdout,
    )
    .unwrap()
    .expect("fingerprint present");
    assert_eq!(fp.digest.len(), 64);
    assert!(fp.inputs.contains("\"chartVersion\":\"2.9.0\""));
    assert_eq!(
        provision::parse_fingerprint_configmap(&fixture("kubectl/configmap-not-found.txt").stdout)
            .unwrap(),
        None
    );
    // What the harness writes is what it reads back.
    let written = provision::Fingerprint {
        digest: "ab".repeat(32),
        inputs: "{\"a\":1}".into(),
    };
    let manifest = provision::fingerprint_configmap(&written);
    assert_eq!(
        provision::parse_fingerprint_configmap(&manifest).unwrap(),
        Some(written)
    );
}

fn test_tool(binary: &'static str) -> Tool {
    Tool {
        binary,
        default_timeout: Duration::from_secs(10),
        ..tools::KIND
    }
}

#[test]
fn a_missing_tool_says_how_to_install_it() {
    let runner: SharedRunner = Arc::new(DuctRunner);
    let tool = Tool {
        install_hint: "Get it from https://example.invalid/tool.",
        ..test_tool("seldon-harness-no-such-tool")
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt.block_on(tools::ensure_tool(&runner, &tool)).unwrap_err();
    assert!(matches!(err, ToolError::Missing { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("seldon-harness-no-such-tool")
            && text.contains("https://example.invalid/tool"),
        "{text}"
    );
    assert!(
        tools::KIND
            .install_hint
            .contains("go install sigs.k8s.io/kind@")
    );
    assert!(tools::HELM.install_hint.contains("get-helm-3"));
}

#[test]
fn failures_carry_command_exit_code_and_stderr_tail() {
    let cmd = Command::new(&test_tool("sh"))
        .args(["-c", "echo first >&2; echo 'the real reason' >&2; exit 3"])
        .secret_arg("--token=", "s3cr3t");
    let out = DuctRunner.run(&cmd).unwrap();
    assert_eq!(out.code, Some(3));
    let err = tools::check(&cmd, out).unwrap_err().to_string();
    assert!(err.contains("exit code 3"), "{err}");
    assert!(err.contains("the real reason"), "{err}");
    assert!(
        err.contains("--token=<redacted>") && !err.contains("s3cr3t"),
        "{err}"
    );
}

#[test]
fn commands_are_killed_at_their_timeout() {
    let cmd = Command::new(&test_tool("sleep"))
        .arg("30")
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = DuctRunner.run(&cmd).unwrap_err();
    assert!(matches!(err, ToolError::TimedOut { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("sleep 30"));
}

#[test]
fn stdin_reaches_the_process() {
    let cmd = Command::new(&test_tool("cat")).stdin("secret-bearing manifest", "ConfigMap x");
    assert_eq!(cmd.display(), "cat < ConfigMap x");
    let out = DuctRunner.run(&cmd).unwrap();
    assert_eq!(out.stdout, "secret-bearing manifest");
}

#[test]
fn the_installed_kubectl_is_accepted_or_reported_missing() {
    let runner: SharedRunner = Arc::new(DuctRunner);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match rt.block_on(tools::ensure_tool(&runner, &KUBECTL)) {
        Ok(v) => assert!(v >= KUBECTL.min_version),
        Err(ToolError::Missing { tool, .. }) => assert_eq!(tool, "kubectl"),
        Err(e) => panic!("unexpected: {e}"),
    }
}

/// Seldon's rendered release files (never copied into the repo): `$SELDON_REFERENCE_DIR`, else the
/// shared reference directory next to the checkout.
fn seldon_reference(file: &str) -> Option<String> {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("SELDON_REFERENCE_DIR")
        .map(Into::into)
        .into_iter()
        .collect();
    let repo = targets_support::repo_dir();
    dirs.extend(
        repo.ancestors()
            .skip(1)
            .take(3)
            .map(|a| a.join("shared/reference")),
    );
    dirs.into_iter()
        .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
}

#[test]
fn install_waits_for_what_seldon_actually_ships() {
    let (Some(crds), Some(components)) = (
        seldon_reference("seldon-v2.10.2-crds.yaml"),
        seldon_reference("seldon-v2.10.2-components.yaml"),
    ) else {
        eprintln!("Seldon reference files not found (set SELDON_REFERENCE_DIR): not checked here");
        return;
    };
    let mut shipped: Vec<String> = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&crds) {
        let v = <serde_norway::Value as serde::Deserialize>::deserialize(doc).unwrap();
        if v["kind"] == "CustomResourceDefinition" {
            shipped.push(v["metadata"]["name"].as_str().unwrap().to_string());
        }
    }
    shipped.sort();
    assert_eq!(
        shipped,
        install::SELDON_CRDS,
        "the readiness wait must cover exactly the shipped CRDs"
    );
    assert!(components.contains(&format!("name: {}", install::CONTROLLER_DEPLOYMENT)));
    assert!(components.contains("--clusterwide=$(CLUSTERWIDE)"));
}
