//! The actions our GitHub workflows use: each pinned to a full commit SHA with its release in a
//! comment (`owner/repo@<40 hex> # vX.Y.Z`), the same release everywhere, and that release on a
//! runtime GitHub still runs.
//!
//! actionlint (`ci/lint-workflows.sh`) knows deprecated runtimes only for major-tag references such
//! as `actions/checkout@v4`; it cannot see through a SHA pin. This rule reads the release from the
//! comment instead, so the next runtime deprecation is caught here: move the runtime to `REMOVED`
//! and every workflow still on it fails.
//!
//! Reads only the workflow files (no harness code), with the same YAML parser as the harness.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;

/// A release, `vMAJOR.MINOR.PATCH`.
type Release = (u64, u64, u64);

/// When each action's releases changed runtime: (action, first release, its `runs.using` from then
/// on, until the action's next row). Read from `action.yml` at every `vX.Y.Z` tag of the action's
/// repository. An action not listed here fails the rule: read `runs.using` at its release tags and
/// add its rows before using it.
const RUNTIMES: &[(&str, Release, &str)] = &[
    ("actions/checkout", (1, 0, 0), "plugin"),
    ("actions/checkout", (2, 0, 0), "node12"),
    ("actions/checkout", (3, 0, 0), "node16"),
    ("actions/checkout", (4, 0, 0), "node20"),
    ("actions/checkout", (5, 0, 0), "node24"),
    ("actions/upload-artifact", (1, 0, 0), "plugin"),
    ("actions/upload-artifact", (2, 0, 0), "node12"),
    ("actions/upload-artifact", (3, 0, 0), "node16"),
    // v5 still ran on node20 by default; v6 moved to node24.
    ("actions/upload-artifact", (4, 0, 0), "node20"),
    ("actions/upload-artifact", (6, 0, 0), "node24"),
    ("actions/download-artifact", (1, 0, 0), "plugin"),
    ("actions/download-artifact", (2, 0, 0), "node12"),
    ("actions/download-artifact", (3, 0, 0), "node16"),
    // v3.1.0 is a late (2026) node24 backport of v3; v4 to v6 are node20.
    ("actions/download-artifact", (3, 1, 0), "node24"),
    ("actions/download-artifact", (4, 0, 0), "node20"),
    ("actions/download-artifact", (7, 0, 0), "node24"),
    ("Swatinem/rust-cache", (1, 0, 0), "node12"),
    ("Swatinem/rust-cache", (2, 0, 0), "node16"),
    ("Swatinem/rust-cache", (2, 7, 2), "node20"),
    ("Swatinem/rust-cache", (2, 9, 0), "node24"),
    ("taiki-e/install-action", (1, 0, 0), "node16"),
    ("taiki-e/install-action", (2, 5, 0), "composite"),
];

/// Runtimes GitHub's runners no longer run, or have scheduled for removal: node20 goes on
/// 2026-09-23 (GitHub changelog 2025-09-19, "Deprecation of Node 20 on GitHub Actions runners").
const REMOVED: &[&str] = &["plugin", "node12", "node16", "node20"];

/// Runtimes a release in `RUNTIMES` may still be on.
const SUPPORTED: &[&str] = &["node24", "composite", "docker"];

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

/// Every workflow file: `.github/workflows/*.yml` and `*.yaml`, by name.
fn workflow_files() -> Vec<(String, String)> {
    let dir = repo_dir().join(".github/workflows");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            (name, text)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflows in {}", dir.display());
    files
}

/// Every `uses:` of a workflow: of its steps, and of its jobs (reusable workflows).
fn uses_of(workflow: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(jobs) = workflow.get("jobs").and_then(Value::as_mapping) else {
        return out;
    };
    for job in jobs.values() {
        out.extend(job.get("uses").and_then(Value::as_str).map(String::from));
        for step in job
            .get("steps")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            out.extend(step.get("uses").and_then(Value::as_str).map(String::from));
        }
    }
    out
}

/// The comment after `uses: <reference>` on each line of the workflow text that has it.
fn comments_after(text: &str, reference: &str) -> Vec<Option<String>> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().trim_start_matches('-').trim_start();
            let rest = rest.strip_prefix("uses:")?.trim_start();
            let rest = rest.trim_start_matches(['"', '\'']);
            let rest = rest.strip_prefix(reference)?;
            let rest = rest.trim_start_matches(['"', '\'']).trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return None; // a longer reference that starts with this one
            }
            Some(rest.strip_prefix('#').map(|c| c.trim().to_string()))
        })
        .collect()
}

fn parse_release(text: &str) -> Option<Release> {
    let mut parts = text.strip_prefix('v')?.split('.');
    let mut next = || parts.next()?.parse::<u64>().ok();
    let release = (next()?, next()?, next()?);
    parts.next().is_none().then_some(release)
}

fn runtime_of(action: &str, release: Release) -> Option<&'static str> {
    RUNTIMES
        .iter()
        .filter(|(name, from, _)| *name == action && *from <= release)
        .max_by_key(|(_, from, _)| *from)
        .map(|(_, _, runtime)| *runtime)
}

fn is_sha(reference: &str) -> bool {
    reference.len() == 40
        && reference
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// Problems with the actions of these workflows (file name, text); empty when all is well.
fn check(workflows: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    // action -> (sha, release, where first seen)
    let mut pins: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (name, text) in workflows {
        let workflow: Value = match serde_norway::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{name}: not valid YAML: {e}"));
                continue;
            }
        };
        let mut seen = BTreeSet::new();
        for uses in uses_of(&workflow) {
            if !seen.insert(uses.clone()) {
                continue; // each reference once per file; comments_after reads all its lines
            }
            if uses.starts_with("./") {
                continue; // an action of this repository: pinned by the checkout itself
            }
            if let Some(image) = uses.strip_prefix("docker://") {
                if !image.contains("@sha256:") {
                    problems.push(format!(
                        "{name}: {uses}: pin the image by digest (@sha256:…)"
                    ));
                }
                continue;
            }
            let Some((path, reference)) = uses.split_once('@') else {
                problems.push(format!("{name}: {uses}: not pinned"));
                continue;
            };
            let comments = comments_after(text, &uses);
            let Some(Some(comment)) = comments.first().cloned() else {
                problems.push(format!(
                    "{name}: {uses}: pin it as `{path}@<full commit SHA> # vX.Y.Z` (release in a comment)"
                ));
                continue;
            };
            if comments
                .iter()
                .any(|c| c.as_deref() != Some(comment.as_str()))
            {
                problems.push(format!(
                    "{name}: {uses}: every use needs the same `# {comment}` comment"
                ));
                continue;
            }
            if !is_sha(reference) {
                problems.push(format!(
                    "{name}: {uses}: pin a full 40-hex commit SHA (the release's tag commit), not `{reference}`"
                ));
                continue;
            }
            let Some(release) = parse_release(&comment) else {
                problems.push(format!(
                    "{name}: {uses}: the comment must name the release as `# vX.Y.Z`, not `# {comment}`"
                ));
                continue;
            };
            // `owner/repo/sub/action` runs from `owner/repo`; a reusable workflow has no runtime.
            let action = path.split('/').take(2).collect::<Vec<_>>().join("/");
            match pins.get(&action) {
                Some((sha, seen, first)) if sha != reference || *seen != comment => problems.push(
                    format!(
                        "{name}: {uses} # {comment}: {first} pins {action}@{sha} # {seen}; use one release everywhere"
                    ),
                ),
                Some(_) => {}
                None => {
                    pins.insert(
                        action.clone(),
                        (reference.to_string(), comment.clone(), name.clone()),
                    );
                }
            }
            if path.contains("/.github/workflows/") {
                continue;
            }
            match runtime_of(&action, release) {
                None => problems.push(format!(
                    "{name}: {action} {comment}: runtime unknown; read `runs.using` in its action.yml \
                     at its release tags and add it to RUNTIMES in {}",
                    file!()
                )),
                Some(runtime) if REMOVED.contains(&runtime) => problems.push(format!(
                    "{name}: {action} {comment} runs on {runtime}, which GitHub's runners no longer run \
                     (or have scheduled for removal): move to a release on {}",
                    SUPPORTED.join("/")
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

#[test]
fn the_runtime_table_is_ordered_and_names_known_runtimes() {
    for pair in RUNTIMES.windows(2) {
        let ((a, from_a, _), (b, from_b, _)) = (pair[0], pair[1]);
        assert!(
            a != b || from_a < from_b,
            "{a}: rows in release order: {from_a:?} then {from_b:?}"
        );
    }
    for (action, from, runtime) in RUNTIMES {
        assert!(
            REMOVED.contains(runtime) || SUPPORTED.contains(runtime),
            "{action} {from:?}: unknown runtime {runtime}"
        );
    }
}

#[test]
fn workflow_actions_are_sha_pinned_releases_on_a_supported_runtime() {
    let workflows = workflow_files();
    let problems = check(&workflows);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    let count: usize = workflows
        .iter()
        .map(|(_, text)| uses_of(&serde_norway::from_str(text).unwrap()).len())
        .sum();
    assert!(count > 0, "the rule looked at no `uses:` at all");
}

fn one_step_workflow(uses: &str) -> Vec<(String, String)> {
    let text = format!(
        "on: push\njobs:\n  job:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: {uses}\n        with:\n          path: x\n"
    );
    vec![("test.yml".to_string(), text)]
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn the_rule_fails_on_actions_whose_release_runs_on_a_removed_runtime() {
    for (action, release, runtime) in [
        ("actions/checkout", "v4.3.0", "node20"),
        ("actions/checkout", "v3.6.0", "node16"),
        ("actions/upload-artifact", "v4.6.2", "node20"),
        ("actions/upload-artifact", "v5.0.0", "node20"),
        ("actions/download-artifact", "v6.0.0", "node20"),
        ("Swatinem/rust-cache", "v2.8.2", "node20"),
        ("taiki-e/install-action", "v2.4.0", "node16"),
    ] {
        let problems = check(&one_step_workflow(&format!("{action}@{SHA} # {release}")));
        assert!(
            problems.len() == 1 && problems[0].contains(&format!("runs on {runtime}")),
            "{action} {release}: {problems:?}"
        );
    }
    for (action, release) in [
        ("actions/checkout", "v5.0.0"),
        ("actions/checkout", "v7.0.1"),
        ("actions/upload-artifact", "v6.0.0"),
        ("actions/download-artifact", "v3.1.0"),
        ("actions/download-artifact", "v8.0.1"),
        ("Swatinem/rust-cache", "v2.9.0"),
        ("taiki-e/install-action", "v2.5.0"),
    ] {
        let problems = check(&one_step_workflow(&format!("{action}@{SHA} # {release}")));
        assert!(problems.is_empty(), "{action} {release}: {problems:?}");
    }
}

#[test]
fn the_rule_fails_on_unpinned_uncommented_or_unknown_actions() {
    for (uses, expected) in [
        ("actions/checkout@v7".to_string(), "release in a comment"),
        (
            "actions/checkout@v7 # v7.0.1".into(),
            "full 40-hex commit SHA",
        ),
        (
            "actions/checkout@main # v7.0.1".into(),
            "full 40-hex commit SHA",
        ),
        (
            "actions/checkout@0123456789ABCDEF0123456789ABCDEF01234567 # v7.0.1".into(),
            "full 40-hex commit SHA",
        ),
        (format!("actions/checkout@{SHA}"), "release in a comment"),
        (format!("actions/checkout@{SHA} # v7"), "`# vX.Y.Z`"),
        (
            format!("actions/upload-artifact@{SHA} # v3.2.1-node20"),
            "`# vX.Y.Z`",
        ),
        ("actions/checkout".into(), "not pinned"),
        (
            format!("someone/new-action@{SHA} # v1.0.0"),
            "runtime unknown",
        ),
        ("docker://alpine:3.20".into(), "by digest"),
    ] {
        let problems = check(&one_step_workflow(&uses));
        assert!(
            problems.len() == 1 && problems[0].contains(expected),
            "{uses}: expected one problem with {expected:?}, got {problems:?}"
        );
    }
}

#[test]
fn the_rule_wants_one_release_of_an_action_everywhere() {
    let mut twice = one_step_workflow(&format!("actions/checkout@{SHA} # v7.0.1"));
    twice[0]
        .1
        .push_str(&format!("      - uses: actions/checkout@{SHA} # v7.0.0\n"));
    let problems = check(&twice);
    assert!(
        problems.len() == 1 && problems[0].contains("same `# v7.0.1` comment"),
        "{problems:?}"
    );

    let other = "89abcdef0123456789abcdef0123456789abcdef";
    let mut workflows = one_step_workflow(&format!("actions/checkout@{SHA} # v7.0.1"));
    workflows.extend(one_step_workflow(&format!(
        "actions/checkout@{other} # v7.0.0"
    )));
    let problems = check(&workflows);
    assert!(
        problems.len() == 1 && problems[0].contains("one release everywhere"),
        "{problems:?}"
    );
}
