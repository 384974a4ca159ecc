//! Every check of every scenario under `scenarios/` as its own test, named `<scenario>::<check>`,
//! against the target selected by `HARNESS_TARGET` (default: the embedded platform).
//!
//! On the embedded platform each test starts its own platform, sets the scenario up and runs its
//! one check. On a cluster the setup is server-side apply under the run's labels, so tests of the
//! same scenario sharing `HARNESS_RUN_ID` apply the same objects and can run in parallel.
//! `HARNESS_MODE` (`non-disruptive`, `disruptive`) is read as `harness run --mode` reads it:
//! checks the mode leaves out are listed as ignored (skipped), with the target's default mode.

use std::path::PathBuf;

use harness::run::{Mode, Selection, run_on_fresh_target_selected};
use harness::scenario::{self, Scenario};
use harness::target::{Keep, TargetOptions, kind_from_env};
use libtest_mimic::{Arguments, Failed, Trial};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

fn main() {
    let args = Arguments::from_args();
    let target = match kind_from_env() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(2);
        }
    };
    let mode = match std::env::var("HARNESS_MODE") {
        Ok(m) if !m.is_empty() => match Mode::parse(&m) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("HARNESS_MODE: {e}");
                std::process::exit(2);
            }
        },
        _ => Mode::default_for(target),
    };
    let files = scenario::discover(&[scenarios_dir()]).expect("listing scenarios/");
    let mut trials = Vec::new();
    for file in files {
        let s = match harness::run::load(&file) {
            Ok(s) => s,
            Err(e) => {
                // A broken scenario file is a failing test, not a crash of the whole suite.
                let msg = e.to_string();
                let name = file
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                trials.push(Trial::test(format!("{name}::valid"), move || {
                    Err(Failed::from(msg))
                }));
                continue;
            }
        };
        for check in &s.doc.spec.checks {
            let name = format!("{}::{}", s.name(), check.name);
            // A `helmUpgrade` check needs `harness run --upgrade-to`, which no test here passes.
            let ignored = !s.runs_on(target)
                || check.expect.needs_upgrade()
                || (mode == Mode::NonDisruptive && check.expect.disruptive());
            let scenario = s.clone();
            let check_name = check.name.clone();
            let trial = Trial::test(name, move || run_one(&scenario, &check_name, mode))
                .with_kind(check.expect.kind())
                .with_ignored_flag(ignored);
            trials.push(trial);
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn run_one(scenario: &Scenario, check: &str, mode: Mode) -> Result<(), Failed> {
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| Failed::from(format!("starting tokio: {e}")))?;
    let mut opts = TargetOptions::from_env().map_err(|e| Failed::from(format!("{e:#}")))?;
    // Secret packages are extracted per test, never into the source tree.
    opts.work_dir = Some(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("scenarios")
            .join(format!("{}-{check}", scenario.name())),
    );
    if opts.kind != Some(harness::scenario::TargetKind::Sim) {
        // Test processes share one cluster: none of them may delete it (the workflow does, at the end).
        opts.keep = Keep::Always;
    }
    let report = rt
        .block_on(run_on_fresh_target_selected(
            &opts,
            scenario,
            &Selection {
                mode: Some(mode),
                ..Selection::only(Some(check))
            },
        ))
        .map_err(|e| Failed::from(format!("{e:#}")))?;
    if let Some(e) = &report.setup_error {
        return Err(Failed::from(format!(
            "setup of `{}` failed: {e}",
            scenario.name()
        )));
    }
    let result = report
        .checks
        .first()
        .ok_or_else(|| Failed::from("the check did not run"))?;
    match &result.verdict {
        harness::checks::Verdict::Pass { detail } => {
            println!("{detail}");
            Ok(())
        }
        other => Err(Failed::from(format!("{other:?}"))),
    }
}
