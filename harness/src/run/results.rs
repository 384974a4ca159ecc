//! What a run selects and what each check yields: the leaf types the run's files share.

use std::time::Duration;

use super::mode::Mode;
use crate::checks::Verdict;
use crate::scenario::{Check, Scenario};

/// The verdict of one check, with how long it took.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// The check's kind (`modelReady`, `inference`, ...).
    pub kind: &'static str,
    /// What happened.
    pub verdict: Verdict,
    /// Wall time of the check.
    pub duration: Duration,
    /// Defects of the embedded platform this check is proven (by the mutation suite) to catch.
    pub proven_to_catch: Vec<&'static str>,
    /// The check's tags from the scenario.
    pub tags: Vec<String>,
    /// Extra attempts after infrastructure errors, each with its reason (see `run::attempts`).
    pub retries: Vec<String>,
    /// Skipped by `--mode` (a disruptive check in non-disruptive mode): not a failure.
    pub skipped_by_mode: bool,
    /// Per-second traffic figures (continuity checks; empty for the others).
    pub timeline: Vec<crate::v2::traffic::Second>,
    /// Skipped because the run did not ask for what the check needs (`--upgrade-to` for a
    /// `helmUpgrade` action): reported, but not a failure of the run.
    pub not_requested: bool,
}

/// Which checks to run: by name (`--check`), by tag (`--tag`, any of them), and only those that
/// did not pass in an earlier run (`--rerun-failed results.json`). Empty means every check.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only the check of this name.
    pub check: Option<String>,
    /// Only checks carrying at least one of these tags.
    pub tags: Vec<String>,
    /// Only these (scenario, check) pairs (check `*`: all of the scenario's); a scenario absent
    /// from it is not run at all.
    pub rerun: Option<std::collections::BTreeSet<(String, String)>>,
    /// Setup and cleanup only (`--setup-only`): no check is run.
    pub setup_only: bool,
    /// Whether disruptive checks run (`--mode`); `None`: the target's default ([`Mode::default_for`]).
    pub mode: Option<Mode>,
}

impl Selection {
    /// Every check, or only the one named.
    pub fn only(check: Option<&str>) -> Selection {
        Selection {
            check: check.map(str::to_string),
            ..Selection::default()
        }
    }

    /// Whether a check of a scenario is selected.
    pub fn matches(&self, scenario: &Scenario, check: &Check) -> bool {
        self.check.as_deref().is_none_or(|o| o == check.name)
            && (self.tags.is_empty() || check.tags.iter().any(|t| self.tags.contains(t)))
            && self.rerun.as_ref().is_none_or(|r| {
                let name = scenario.name().to_string();
                r.contains(&(name.clone(), check.name.clone())) || r.contains(&(name, "*".into()))
            })
    }

    /// The selected checks of a scenario, in file order (none when setting up only).
    pub fn checks<'a>(&self, scenario: &'a Scenario) -> Vec<&'a Check> {
        if self.setup_only {
            return Vec::new();
        }
        scenario
            .doc
            .spec
            .checks
            .iter()
            .filter(|c| self.matches(scenario, c))
            .collect()
    }
}
