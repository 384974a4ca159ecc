//! The CI we ship to users: workflow structure (`ci/lint-workflows.sh` lints the workflows with
//! actionlint and shellcheck; `workflow_actions.rs` checks the actions' pins and runtimes), the
//! scripts they call, the pinned tool versions and checksums, and the
//! fail-closed behaviour of `ci/install-tools.sh` and the summary script.

mod targets_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use harness::tools::{self, Version};
use serde_norway::Value;
use targets_support::repo_dir;

const WORKFLOWS: [&str; 2] = ["nightly.yml", "pre-upgrade.yml"];

fn workflow(name: &str) -> Value {
    let path = repo_dir().join(".github/workflows").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn steps(job: &Value) -> Vec<&Value> {
    job["steps"]
        .as_sequence()
        .expect("job has steps")
        .iter()
        .collect()
}

fn jobs(wf: &Value) -> Vec<(&str, &Value)> {
    wf["jobs"]
        .as_mapping()
        .expect("jobs mapping")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap(), v))
        .collect()
}

fn run_text(step: &Value) -> Option<&str> {
    step.get("run").and_then(Value::as_str)
}

#[test]
fn workflows_parse_and_have_the_expected_triggers() {
    let nightly = workflow("nightly.yml");
    assert!(
        !nightly["on"]["schedule"].as_sequence().unwrap().is_empty(),
        "nightly runs on a schedule"
    );
    assert!(
        nightly["on"].get("workflow_dispatch").is_some(),
        "and by hand"
    );
    let pre = workflow("pre-upgrade.yml");
    let on = pre["on"].as_mapping().unwrap();
    assert_eq!(on.len(), 1, "pre-upgrade is manual only");
    let input = &pre["on"]["workflow_dispatch"]["inputs"]["chart_version"];
    assert_eq!(
        input["required"],
        Value::Bool(true),
        "the chart version to validate is an input"
    );
    for name in WORKFLOWS {
        let wf = workflow(name);
        assert_eq!(
            wf["permissions"]["contents"], "read",
            "{name}: least privilege"
        );
        for (job, body) in jobs(&wf) {
            assert!(body.get("runs-on").is_some(), "{name}/{job}: runs-on");
            assert!(
                body["timeout-minutes"].as_u64().is_some(),
                "{name}/{job}: every job has a timeout"
            );
            for step in steps(body) {
                assert!(
                    step.get("run").is_some() != step.get("uses").is_some(),
                    "{name}/{job}: a step has exactly one of run/uses: {step:?}"
                );
            }
        }
    }
}

#[test]
fn workflow_steps_reference_existing_scripts_and_pinned_actions() {
    for name in WORKFLOWS {
        let wf = workflow(name);
        for (job, body) in jobs(&wf) {
            for step in steps(body) {
                if let Some(run) = run_text(step) {
                    assert!(
                        !run.contains("${{"),
                        "{name}/{job}: expressions inside `run:` allow script injection; pass them via env: {run}"
                    );
                    for token in run.split_whitespace() {
                        let token = token.trim_matches(|c| c == '"' || c == '\'' || c == ';');
                        if let Some(rel) = token.strip_prefix("ci/") {
                            let path = repo_dir().join("ci").join(rel);
                            assert!(path.is_file(), "{name}/{job}: {token} does not exist");
                            #[cfg(unix)]
                            {
                                use std::os::unix::fs::PermissionsExt;
                                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                                assert!(mode & 0o111 != 0, "{token} must be executable");
                            }
                        }
                    }
                }
                if let Some(uses) = step.get("uses").and_then(Value::as_str) {
                    let (_, reference) = uses
                        .split_once('@')
                        .unwrap_or_else(|| panic!("{uses} is unpinned"));
                    let sha =
                        reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit());
                    assert!(
                        sha,
                        "{name}/{job}: {uses} must be pinned to a full commit SHA (see workflow_actions.rs)"
                    );
                }
            }
        }
    }
}

#[test]
fn every_kind_job_installs_tools_runs_nextest_and_always_reports() {
    for name in WORKFLOWS {
        let wf = workflow(name);
        for (job, body) in jobs(&wf) {
            let all = steps(body);
            let position = |needle: &str| {
                all.iter()
                    .position(|s| run_text(s).is_some_and(|r| r.contains(needle)))
            };
            let install = position("ci/install-tools.sh")
                .unwrap_or_else(|| panic!("{name}/{job}: install tools"));
            // The suites through nextest (JUnit), or the harness CLI itself (one process: needed
            // for the install -> scenarios -> upgrade -> scenarios sequence).
            let nextest = position("cargo nextest run --profile kind");
            let cli = position("-p harness -- run");
            let tests = nextest
                .or(cli)
                .unwrap_or_else(|| panic!("{name}/{job}: nextest or harness run"));
            assert!(install < tests, "{name}/{job}: tools before tests");
            let summary = all
                .iter()
                .find(|s| run_text(s).is_some_and(|r| r.contains("GITHUB_STEP_SUMMARY")))
                .unwrap_or_else(|| panic!("{name}/{job}: Markdown summary"));
            assert_eq!(
                summary["if"], "always()",
                "{name}/{job}: summary even on failure"
            );
            let uploads: Vec<&&Value> = all
                .iter()
                .filter(|s| {
                    s.get("uses")
                        .and_then(Value::as_str)
                        .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
                })
                .collect();
            let paths: Vec<String> = uploads
                .iter()
                .map(|u| u["with"]["path"].as_str().unwrap().to_string())
                .collect();
            assert!(
                nextest.is_none() || paths.iter().any(|p| p.contains("junit.xml")),
                "{name}/{job}: JUnit uploaded"
            );
            assert!(
                paths.iter().any(|p| p.contains("reports/")),
                "{name}/{job}: diagnostics uploaded"
            );
            for u in uploads {
                assert_eq!(
                    u["if"], "always()",
                    "{name}/{job}: artifacts uploaded on failure too"
                );
            }
        }
    }
}

fn tool_versions() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_dir().join("ci/tool-versions.env")).unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

#[test]
fn pinned_tools_are_supported_and_checksummed() {
    let v = tool_versions();
    for (tool, min) in [
        ("KIND", tools::KIND.min_version),
        ("KUBECTL", tools::KUBECTL.min_version),
        ("HELM", tools::HELM.min_version),
    ] {
        let version = Version::parse(&v[&format!("{tool}_VERSION")]).unwrap();
        assert!(
            version >= min,
            "{tool} {version} is older than the harness's minimum {min}"
        );
        let sum = &v[&format!("{tool}_SHA256_LINUX_AMD64")];
        assert!(
            sum.len() == 64
                && sum
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{tool}: {sum}"
        );
    }
    assert_eq!(
        v["HELM_VERSION"].chars().nth(1),
        Some('3'),
        "the harness drives Helm 3"
    );
    let kind_config = std::fs::read_to_string(repo_dir().join("kind-config.yaml")).unwrap();
    assert!(
        kind_config.contains(&format!("releases/tag/{}", v["KIND_VERSION"])),
        "kind-config.yaml's node image must come from the pinned kind release's notes"
    );
}

fn install_tools(dest: &Path, envs: &[(&str, String)]) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_dir().join("ci/install-tools.sh"))
        .arg(dest)
        .env_remove("GITHUB_PATH");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("bash runs")
}

#[test]
fn install_tools_refuses_platforms_without_a_verified_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("bin");
    let out = install_tools(&dest, &[("TOOLS_PLATFORM", "darwin-arm64".into())]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no verified sha256 for kind on darwin-arm64"),
        "{stderr}"
    );
    assert!(!dest.exists(), "nothing installed");
}

#[test]
fn install_tools_refuses_a_download_whose_checksum_differs() {
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::write(mirror.join("kind-linux-amd64"), b"not kind").unwrap();
    let dest = dir.path().join("bin");
    let out = install_tools(
        &dest,
        &[
            ("TOOLS_PLATFORM", "linux-amd64".into()),
            ("TOOLS_MIRROR", format!("file://{}", mirror.display())),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("checksum mismatch for kind-linux-amd64"),
        "{stderr}"
    );
    assert!(!dest.join("kind").exists(), "nothing installed");
}

#[test]
fn summary_lists_totals_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    std::fs::write(
        &junit,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0">
  <testsuite name="suites::conformance" tests="3" disabled="0" errors="0" failures="1">
    <testcase name="team_a::model_iris_ready" classname="suites::conformance" time="1.0"/>
    <testcase name="team_b::isolation_denied" classname="suites::conformance" time="2.0">
      <failure message="thread panicked: team-b reached team-a | seldon-mesh:80" type="test failure">details</failure>
    </testcase>
    <testcase name="team_c::quota" classname="suites::conformance" time="0.0"><skipped/></testcase>
  </testsuite>
</testsuites>"#,
    )
    .unwrap();
    let out = match Command::new("python3")
        .arg(repo_dir().join("ci/summary.py"))
        .arg(&junit)
        .arg(dir.path().join("absent.md"))
        .arg("Nightly")
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "python3 not installed: summary.py not exercised here (GitHub runners have it)"
            );
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.starts_with("## Nightly"), "{md}");
    assert!(
        md.contains("❌ 1 failed** — 1 passed, 1 failed, 1 skipped, 3 total"),
        "{md}"
    );
    assert!(
        md.contains("`suites::conformance team_b::isolation_denied`"),
        "{md}"
    );
    assert!(
        md.contains("team-b reached team-a \\| seldon-mesh:80"),
        "pipes escaped for the table: {md}"
    );

    let missing = Command::new("python3")
        .arg(repo_dir().join("ci/summary.py"))
        .arg(dir.path().join("none.xml"))
        .output()
        .unwrap();
    assert!(missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stdout).contains("the tests did not run"));
}

/// No nextest profile retries failed tests and no workflow passes `--retries`: a check that fails
/// and then passes is an intermittent real failure and must turn the run red, not green.
#[test]
fn no_blind_retries_of_verdict_failures() {
    let text = std::fs::read_to_string(repo_dir().join(".config/nextest.toml")).unwrap();
    let config: toml_probe::Table = toml_probe::parse(&text);
    for (profile, retries) in config {
        assert_eq!(
            retries, "0",
            "nextest profile `{profile}` retries failed tests ({retries}); flaky checks would pass"
        );
    }
    for wf in ["nightly.yml", "pre-upgrade.yml"] {
        let text = std::fs::read_to_string(repo_dir().join(".github/workflows").join(wf)).unwrap();
        assert!(
            !text.contains("--retries") && !text.contains("NEXTEST_RETRIES"),
            "{wf} retries failed tests"
        );
    }
}

/// The `retries` setting of each `[profile.*]` of a nextest config, read line by line (the file is
/// flat TOML; an absent setting is nextest's default, 0).
mod toml_probe {
    pub type Table = Vec<(String, String)>;

    pub fn parse(text: &str) -> Table {
        let mut out: Table = Vec::new();
        for line in text.lines().map(str::trim) {
            if let Some(p) = line
                .strip_prefix("[profile.")
                .and_then(|l| l.strip_suffix(']'))
                .filter(|p| !p.contains('.'))
            {
                out.push((p.to_string(), "0".to_string()));
            } else if let Some(v) = line.strip_prefix("retries") {
                let v = v.trim_start().trim_start_matches('=').trim();
                if let Some(last) = out.last_mut() {
                    last.1 = v.to_string();
                }
            }
        }
        out
    }
}
