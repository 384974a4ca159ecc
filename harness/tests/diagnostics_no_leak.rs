//! Diagnostics and reports never hold a secret value. Every secret package every scenario uses
//! gets distinct planted values; each scenario then runs (`harness run --report DIR`) on the
//! embedded platform under defects that make some of its checks fail, so a diagnostics bundle is
//! written (objects, Events, pod logs, versions, failed checks, inference requests and answers).
//! Every byte written under the report folder and the work folder, and the process's output, is
//! then searched for the planted values and their base64 forms.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use harness::proof::meant_to_catch;
use harness::target::Defect;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Replaces the credential values of every Secret of every package with distinct planted
/// values (so also the kept keys of Secrets broken on purpose, which setup rewrites); returns
/// them.
fn plant(scenarios: &Path) -> Vec<String> {
    let mut planted = Vec::new();
    let secrets = scenarios.join("secrets");
    let mut packages: Vec<PathBuf> = std::fs::read_dir(&secrets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    packages.sort();
    assert!(packages.len() >= 2, "test bug: no packages found");
    let nonce = std::process::id();
    for (i, pkg) in packages.iter().enumerate() {
        let file = pkg.join("production/secret.yaml");
        let mut text = std::fs::read_to_string(&file).unwrap();
        for key in ["access_key_id", "secret_access_key"] {
            let mut from = 0;
            let mut n = 0;
            while let Some(at) = text[from..].find(&format!("{key}: ")) {
                let value = format!("planted-{key}-{i}-{n}-{nonce}-Zq8x");
                let start = from + at + key.len() + 2;
                let end = start + text[start..].find('\n').unwrap();
                text.replace_range(start..end, &value);
                from = start + value.len();
                n += 1;
                planted.push(value);
            }
            assert!(n > 0, "test bug: no `{key}` in {}", file.display());
        }
        std::fs::write(&file, text).unwrap();
    }
    planted
}

/// The forms a planted value could be written in: itself and base64 (standard and URL-safe,
/// padded or not).
fn forms(value: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let b = value.as_bytes();
    vec![
        value.to_string(),
        STANDARD.encode(b),
        STANDARD_NO_PAD.encode(b),
        URL_SAFE.encode(b),
        URL_SAFE_NO_PAD.encode(b),
    ]
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            files_under(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// Defects that break at least one check of the scenario, preferring those whose failures say
/// the most (wrong answers keep the inference exchange; a missing model keeps wait histories).
fn failing_defects(scenario: &harness::scenario::Scenario) -> Vec<Defect> {
    let preferred = [
        Defect::WrongInferenceOutput,
        Defect::ModelNeverReady,
        Defect::SealedSecretsScopeIgnored,
        Defect::RuntimeNeverReady,
    ];
    let catches = |d: Defect| {
        scenario
            .doc
            .spec
            .checks
            .iter()
            .any(|c| meant_to_catch(d, scenario, c))
    };
    let mut out: Vec<Defect> = preferred.into_iter().filter(|d| catches(*d)).collect();
    out.extend(Defect::ALL.into_iter().filter(|d| catches(*d)));
    out.dedup();
    out.truncate(2);
    out
}

#[test]
fn diagnostics_of_failed_runs_hold_no_secret_value() {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("diagnostics-no-leak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let scenarios = base.join("scenarios");
    copy_dir(&repo().join("scenarios"), &scenarios);
    let planted = plant(&scenarios);
    let reports = base.join("reports");
    let work = base.join("work");
    let mut output = Vec::new();
    let mut bundles = 0;
    let mut exchanges = 0;
    let mut secrets_listed = 0;
    let mut broken_listed = 0;
    for entry in std::fs::read_dir(&scenarios).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let scenario = harness::run::load(&file).unwrap();
        if !scenario.runs_on(harness::scenario::TargetKind::Sim) {
            continue;
        }
        for defect in failing_defects(&scenario) {
            let report = reports.join(format!("{}-{}", scenario.name(), defect.name()));
            let out = Command::new(env!("CARGO_BIN_EXE_harness"))
                .current_dir(&base)
                .env("HARNESS_WORK_DIR", &work)
                .env_remove("HARNESS_DIAGNOSTICS_DIR")
                .env_remove("GITHUB_STEP_SUMMARY")
                .args(["run", "--target", "sim", "--keep", "never", "--scenario"])
                .arg(&file)
                .args(["--defect", defect.name(), "--report"])
                .arg(&report)
                .output()
                .expect("harness runs");
            assert_eq!(
                out.status.code(),
                Some(1),
                "{} under {} must fail: {}",
                scenario.name(),
                defect.name(),
                String::from_utf8_lossy(&out.stderr)
            );
            output.extend(out.stdout);
            output.extend(out.stderr);
            let mut files = Vec::new();
            files_under(&report.join("diagnostics"), &mut files);
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            for want in [
                "index.txt",
                "versions.txt",
                "/checks/",
                "/objects/",
                "/events/",
            ] {
                assert!(
                    names.iter().any(|n| n.contains(want)),
                    "{} under {}: no `{want}` in the bundle: {names:#?}",
                    scenario.name(),
                    defect.name()
                );
            }
            bundles += 1;
            exchanges += files
                .iter()
                .filter(|f| {
                    std::fs::read_to_string(f)
                        .is_ok_and(|t| t.contains("request: InferenceRequest"))
                })
                .count();
            // The package's Secret is in the bundle (by name and keys): the values were there to leak.
            secrets_listed += files
                .iter()
                .filter(|f| {
                    std::fs::read_to_string(f).is_ok_and(|t| {
                        t.contains("harness-models-s3") && t.contains("keys (values never shown)")
                    })
                })
                .count();
            // The Secret broken on purpose, rewritten for the store, is there too.
            broken_listed += files
                .iter()
                .filter(|f| {
                    std::fs::read_to_string(f).is_ok_and(|t| {
                        t.contains("wrong-keys-s3") && t.contains("keys (values never shown)")
                    })
                })
                .count();
        }
    }
    assert!(secrets_listed > 0, "no bundle lists the packages' Secrets");
    assert!(
        broken_listed > 0,
        "no bundle lists the Secret broken on purpose (storage-failures)"
    );
    assert!(bundles >= 5, "only {bundles} bundles written");
    assert!(
        exchanges > 0,
        "no failed inference check's requests and responses were written"
    );
    let mut files = Vec::new();
    files_under(&reports, &mut files);
    files_under(&work, &mut files);
    let mut leaks = Vec::new();
    let mut scanned = 0usize;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        scanned += bytes.len();
        for v in &planted {
            for form in forms(v) {
                if bytes.windows(form.len()).any(|w| w == form.as_bytes()) {
                    leaks.push(format!("{}: {form}", f.display()));
                }
            }
        }
    }
    for v in &planted {
        for form in forms(v) {
            if output.windows(form.len()).any(|w| w == form.as_bytes()) {
                leaks.push(format!("process output: {form}"));
            }
        }
    }
    assert!(scanned > 10_000, "test bug: only {scanned} bytes scanned");
    assert!(
        leaks.is_empty(),
        "secret values written:\n{}",
        leaks.join("\n")
    );
}

/// A failed `inferenceRejected` check keeps its exchange: the bad request sent again and the
/// answer the platform gave (here a 200 with outputs, under `unknown-model-answered-200`).
#[test]
fn a_failed_rejection_check_keeps_its_request_and_response() {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("diagnostics-rejected-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let report = base.join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(repo())
        .env("HARNESS_WORK_DIR", base.join("work"))
        .env_remove("HARNESS_DIAGNOSTICS_DIR")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["run", "--target", "sim", "--keep", "never", "--scenario"])
        .arg("scenarios/financial-ml.yaml")
        .args(["--defect", "unknown-model-answered-200", "--report"])
        .arg(&report)
        .output()
        .expect("harness runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = Vec::new();
    files_under(&report.join("diagnostics"), &mut files);
    let check = files
        .iter()
        .find(|f| f.ends_with("checks/unknown-model-rejected-rest.txt"))
        .unwrap_or_else(|| panic!("no bundle file for the failed check: {files:#?}"));
    let text = std::fs::read_to_string(check).unwrap();
    for want in [
        "the unknown model request sent again through seldon-mesh of financial-ml",
        "--- model credit-risk--harness-unknown",
        "expected HTTP 404",
        "request: InferenceRequest",
        "default_probability",
    ] {
        assert!(
            text.contains(want),
            "no `{want}` in {}:\n{text}",
            check.display()
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
