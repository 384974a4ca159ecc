//! Proof of verdicts: each scenario runs on the embedded platform once per named defect, and
//! exactly the checks meant to catch that defect must fail (with a message), all others pass.
//! Each (scenario, defect) pair is its own test, `<scenario>::<defect>`; one more test per
//! scenario asserts that every check is caught by at least one defect.

use std::collections::BTreeSet;
use std::path::PathBuf;

use harness::checks::Verdict;
use harness::proof::{meant_to_catch, upgrade_refused_under};
use harness::run::{ScenarioReport, run_on_fresh_target};
use harness::scenario::{self, Scenario, TargetKind};
use harness::target::{Defect, EmbeddedOptions, Faults, Keep, TargetOptions};
use libtest_mimic::{Arguments, Failed, Trial};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

fn run(scenario: &Scenario, faults: Faults) -> Result<ScenarioReport, Failed> {
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| Failed::from(format!("starting tokio: {e}")))?;
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        embedded: EmbeddedOptions::with_faults(faults),
        keep: Keep::Never,
        ..Default::default()
    };
    rt.block_on(run_on_fresh_target(&opts, scenario, None))
        .map_err(|e| Failed::from(format!("{e:#}")))
}

/// `harness run --upgrade-to` on the embedded platform: every check must pass before the upgrade
/// and, after a clean upgrade, again on the same objects; under a defect the upgrade flow is meant
/// to catch, the upgrade must be refused naming each Model and the field its new CRD requires (by
/// the scenario's `helmUpgrade` checks, when it has any, which meet the refusal first).
fn check_upgrade(scenario: &Scenario, defect: Option<Defect>) -> Result<(), Failed> {
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| Failed::from(format!("starting tokio: {e}")))?;
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        embedded: EmbeddedOptions::with_faults(defect.map(Faults::defect).unwrap_or_default()),
        keep: Keep::Never,
        upgrade_to: Some("2.10.3".into()),
        ..Default::default()
    };
    // Every check runs, `helmUpgrade` continuity checks included: such a check upgrades during
    // the first round (and again, to the same version, after the flow's own upgrade), judged
    // against its traffic budget like any other transition.
    let reports = rt.block_on(harness::run::upgrade::run_all(
        &opts,
        std::slice::from_ref(scenario),
        &harness::run::Selection::default(),
        1,
    ));
    let models = scenario.doc.spec.teams.iter().any(|t| !t.models.is_empty());
    let refused = defect.is_some_and(upgrade_refused_under) && models;
    let upgrading: BTreeSet<String> = scenario
        .doc
        .spec
        .checks
        .iter()
        .filter(|c| c.expect.needs_upgrade())
        .map(|c| c.name.clone())
        .collect();
    // Under a defect the dry-run catches, a `helmUpgrade` check meets the refusal first: it
    // alone fails, naming the field, and the flow then upgrades nothing.
    if let [before] = &reports[..]
        && refused
        && !upgrading.is_empty()
        && before.setup_error.is_none()
        && failing(before) == upgrading
        && before
            .checks
            .iter()
            .filter(|c| upgrading.contains(&c.name))
            .all(|c| {
                let m = c.verdict.message();
                m.contains("Model ") && m.contains("status.selector: Required value")
            })
    {
        return Ok(());
    }
    if let [before] = &reports[..]
        && !before.succeeded()
    {
        return Err(Failed::from(format!(
            "checks failed before the upgrade (so it did not happen): {:?} {:?}",
            failing(before),
            before.setup_error
        )));
    }
    let [before, after] = &reports[..] else {
        return Err(Failed::from(format!(
            "expected a report before and one after the upgrade: {reports:#?}"
        )));
    };
    if !before.succeeded() {
        return Err(Failed::from(format!(
            "checks failed before the upgrade: {:?}",
            failing(before)
        )));
    }
    match (&after.setup_error, refused) {
        (Some(e), true)
            if e.contains("Model ") && e.contains("status.selector: Required value") =>
        {
            Ok(())
        }
        (Some(e), _) => Err(Failed::from(format!("the upgrade failed: {e}"))),
        (None, true) => Err(Failed::from("the upgrade must be refused by its dry-run")),
        (None, false) if after.succeeded() => Ok(()),
        (None, false) => Err(Failed::from(format!(
            "checks failed after the upgrade: {:?}",
            failing(after)
        ))),
    }
}

fn failing(report: &ScenarioReport) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| !c.verdict.passed())
        .map(|c| c.name.clone())
        .collect()
}

/// The checks the suite judges: all but those needing `harness run --upgrade-to`.
fn checks(scenario: &Scenario) -> impl Iterator<Item = &harness::scenario::Check> {
    scenario
        .doc
        .spec
        .checks
        .iter()
        .filter(|c| !c.expect.needs_upgrade())
}

fn check_defect(scenario: &Scenario, defect: Defect) -> Result<(), Failed> {
    let report = run(scenario, Faults::defect(defect))?;
    if let Some(e) = &report.setup_error {
        // A defect that breaks setup itself is caught by the setup, not by a check.
        return Err(Failed::from(format!(
            "setup failed under {}: {e}",
            defect.name()
        )));
    }
    let expected: BTreeSet<String> = checks(scenario)
        .filter(|c| meant_to_catch(defect, scenario, c))
        .map(|c| c.name.clone())
        .collect();
    let got = failing(&report);
    let mut problems = Vec::new();
    // Checks needing `--upgrade-to` are skipped here (no upgrade runs): not judged.
    for c in report
        .checks
        .iter()
        .filter(|c| checks(scenario).any(|d| d.name == c.name))
    {
        let should_fail = expected.contains(&c.name);
        match (&c.verdict, should_fail) {
            (Verdict::Pass { .. }, true) => problems.push(format!(
                "`{}` passed but must catch {}",
                c.name,
                defect.name()
            )),
            (Verdict::Fail { reason } | Verdict::Skip { reason }, false) => problems.push(format!(
                "`{}` failed although {} does not concern it: {reason}",
                c.name,
                defect.name()
            )),
            (Verdict::Fail { reason } | Verdict::Skip { reason }, true)
                if reason.trim().is_empty() =>
            {
                problems.push(format!("`{}` failed without saying why", c.name))
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        println!("{}: caught by {:?}", defect.name(), got);
        Ok(())
    } else {
        Err(Failed::from(problems.join("\n")))
    }
}

/// The specificity rule: every check must be killed by at least one defect that fails at most half
/// of its scenario's checks, so no check is proven only by a blanket defect (one that breaks the
/// whole platform). The per-pair tests prove the failing sets are exactly `meant_to_catch`, so the
/// counts are taken from it.
fn specificity(scenario: &Scenario) -> Result<(), Failed> {
    let checks: Vec<&harness::scenario::Check> = checks(scenario).collect();
    let specific: Vec<Defect> = Defect::ALL
        .into_iter()
        .filter(|d| {
            let killed = checks
                .iter()
                .filter(|c| meant_to_catch(*d, scenario, c))
                .count();
            killed > 0 && 2 * killed <= checks.len()
        })
        .collect();
    let mut problems = Vec::new();
    for c in &checks {
        if specific.iter().any(|d| meant_to_catch(*d, scenario, c)) {
            continue;
        }
        let blanket: Vec<String> = Defect::ALL
            .into_iter()
            .filter(|d| meant_to_catch(*d, scenario, c))
            .map(|d| {
                let n = checks
                    .iter()
                    .filter(|c| meant_to_catch(d, scenario, c))
                    .count();
                format!("{} ({n})", d.name())
            })
            .collect();
        problems.push(format!(
            "`{}` is killed only by defects failing more than half of the scenario's {} checks: {}",
            c.name,
            checks.len(),
            blanket.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(problems.join("\n")))
    }
}

fn main() {
    let args = Arguments::from_args();
    let files = scenario::discover(&[scenarios_dir()]).expect("listing scenarios/");
    let mut trials = Vec::new();
    let all: Vec<Scenario> = files
        .iter()
        .filter_map(|f| harness::run::load(f).ok())
        .filter(|s| s.runs_on(TargetKind::Sim))
        .collect();
    // Mutation score: every named defect must be meant to be caught somewhere (and the per-pair
    // tests prove it is).
    trials.push(Trial::test("every-defect-is-caught-somewhere", move || {
        let uncaught: Vec<&str> = Defect::ALL
            .into_iter()
            .filter(|d| {
                // The upgrade flow's dry-run catches what breaks only across an upgrade.
                !upgrade_refused_under(*d)
                    && !all
                        .iter()
                        .any(|s| s.doc.spec.checks.iter().any(|c| meant_to_catch(*d, s, c)))
            })
            .map(Defect::name)
            .collect();
        if uncaught.is_empty() {
            Ok(())
        } else {
            Err(Failed::from(format!(
                "no scenario check catches: {}",
                uncaught.join(", ")
            )))
        }
    }));
    for file in files {
        let Ok(s) = harness::run::load(&file) else {
            continue;
        };
        if !s.runs_on(TargetKind::Sim) {
            continue;
        }
        // Pairs where no check relies on the broken behaviour are not run: the pairs that are run
        // already require every other check to keep passing.
        for defect in Defect::ALL {
            if !s
                .doc
                .spec
                .checks
                .iter()
                .any(|c| meant_to_catch(defect, &s, c))
            {
                continue;
            }
            let scenario = s.clone();
            trials.push(
                Trial::test(format!("{}::{}", s.name(), defect.name()), move || {
                    check_defect(&scenario, defect)
                })
                .with_kind("mutation"),
            );
        }
        for defect in std::iter::once(None).chain(
            Defect::ALL
                .into_iter()
                .filter(|d| upgrade_refused_under(*d))
                .map(Some),
        ) {
            let scenario = s.clone();
            let name = defect.map_or("clean", Defect::name);
            trials.push(
                Trial::test(format!("{}::upgrade::{name}", s.name()), move || {
                    check_upgrade(&scenario, defect)
                })
                .with_kind("mutation"),
            );
        }
        let scenario = s.clone();
        trials.push(Trial::test(
            format!("{}::every-check-is-caught-specifically", s.name()),
            move || specificity(&scenario),
        ));
        let scenario = s.clone();
        trials.push(Trial::test(
            format!("{}::every-check-is-caught", s.name()),
            move || {
                let uncaught: Vec<&str> = checks(&scenario)
                    .filter(|c| !Defect::ALL.iter().any(|d| meant_to_catch(*d, &scenario, c)))
                    .map(|c| c.name.as_str())
                    .collect();
                if uncaught.is_empty() {
                    Ok(())
                } else {
                    Err(Failed::from(format!(
                        "no defect is meant to catch: {}",
                        uncaught.join(", ")
                    )))
                }
            },
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
