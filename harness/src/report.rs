//! Verdicts and reports: terminal summary, Markdown, and redaction of secret values.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::checks::Verdict;
use crate::run::ScenarioReport;

/// Sets up `tracing` output on stderr (held back per scenario while several run at once, see
/// [`crate::jobs`]), filtered by `RUST_LOG` (default: `info` for the harness, `warn` elsewhere;
/// kube's per-response error line is off: transient errors are retried and what fails for good is
/// reported with its cause).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,harness=info,kube_client::client::builder=off")
    });
    // A second init (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::jobs::LogWriter)
        .with_target(false)
        .try_init();
}

fn label(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass { .. } => "PASS",
        Verdict::Fail { .. } => "FAIL",
        Verdict::Skip { .. } => "SKIP",
    }
}

fn text(v: &Verdict) -> &str {
    match v {
        Verdict::Pass { detail } => detail,
        Verdict::Fail { reason } | Verdict::Skip { reason } => reason,
    }
}

/// Counts (passed, failed, skipped) checks; a scenario whose setup failed counts as one failure.
pub fn totals(reports: &[ScenarioReport]) -> (usize, usize, usize) {
    let mut t = (0, 0, 0);
    for r in reports {
        if r.setup_error.is_some() {
            t.1 += 1;
        }
        for c in &r.checks {
            match c.verdict {
                Verdict::Pass { .. } => t.0 += 1,
                Verdict::Fail { .. } => t.1 += 1,
                Verdict::Skip { .. } => t.2 += 1,
            }
        }
    }
    t
}

/// The terminal summary: one line per check, reasons under failures, and the proven defects.
pub fn terminal(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(
            out,
            "\n{} (target {}{})",
            r.scenario,
            r.target,
            run_suffix(r)
        );
        if let Some(why) = &r.not_applicable {
            let _ = writeln!(out, "  not applicable on this target: {why}");
            continue;
        }
        if let Some(done) = &r.setup_only {
            let _ = writeln!(out, "  setup only: {done}");
        }
        for n in &r.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        if let Some(e) = &r.setup_error {
            let _ = writeln!(out, "  SETUP FAILED: {}", indent(e, "    "));
        }
        for c in &r.checks {
            let catches = if c.proven_to_catch.is_empty() {
                String::new()
            } else {
                format!("  [proven to catch: {}]", c.proven_to_catch.join(", "))
            };
            let _ = writeln!(
                out,
                "  {} {:<40} {:>6.2}s{catches}",
                label(&c.verdict),
                c.name,
                c.duration.as_secs_f64()
            );
            if !c.verdict.passed() {
                let _ = writeln!(out, "       {}", indent(text(&c.verdict), "       "));
            }
        }
    }
    let (p, f, s) = totals(reports);
    let set_up = reports.iter().filter(|r| r.setup_only.is_some()).count();
    if set_up > 0 && reports.iter().all(|r| r.checks.is_empty()) {
        // `--setup-only` ran no check: a count of zero checks would read like a result.
        let failed = reports.iter().filter(|r| r.setup_error.is_some()).count();
        let _ = writeln!(
            out,
            "\nset up {set_up} scenario(s), {failed} failed; no checks were run (--setup-only)"
        );
    } else {
        let _ = writeln!(out, "\n{p} passed, {f} failed, {s} skipped");
    }
    out
}

fn run_suffix(r: &ScenarioReport) -> String {
    if r.run_id.is_empty() {
        String::new()
    } else {
        format!(", run {}", r.run_id)
    }
}

fn indent(s: &str, pad: &str) -> String {
    s.lines().collect::<Vec<_>>().join(&format!("\n{pad}"))
}

/// The Markdown summary (for `$GITHUB_STEP_SUMMARY` and `--report DIR`).
pub fn markdown(reports: &[ScenarioReport]) -> String {
    let (p, f, s) = totals(reports);
    let mut out =
        format!("# Seldon Core v2 conformance\n\n**{p} passed, {f} failed, {s} skipped**\n\n");
    for r in reports {
        let _ = writeln!(
            out,
            "## {} (target `{}`{})\n",
            r.scenario,
            r.target,
            run_suffix(r)
        );
        if let Some(why) = &r.not_applicable {
            let _ = writeln!(out, "Not applicable on this target: {why}\n");
            continue;
        }
        if let Some(done) = &r.setup_only {
            let _ = writeln!(out, "Setup only: {done}\n");
        }
        for n in &r.notes {
            let _ = writeln!(out, "> {n}\n");
        }
        if let Some(e) = &r.setup_error {
            let _ = writeln!(out, "**Setup failed:**\n\n```text\n{e}\n```\n");
        }
        if r.checks.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "| check | verdict | time | details |\n|---|---|---|---|"
        );
        for c in &r.checks {
            let details = text(&c.verdict).replace('|', "\\|").replace('\n', "<br>");
            let _ = writeln!(
                out,
                "| `{}` | {} | {:.2}s | {} |",
                c.name,
                label(&c.verdict),
                c.duration.as_secs_f64(),
                details
            );
        }
        out.push('\n');
        for c in r.checks.iter().filter(|c| !c.timeline.is_empty()) {
            let _ = writeln!(
                out,
                "Traffic of `{}` per second (correct/sent, `!` = a wrong answer; CSV: `{}`): {}\n",
                c.name,
                figures_file(&r.scenario, &c.name),
                crate::v2::traffic::timeline(&c.timeline)
            );
        }
    }
    out
}

/// Where a continuity check's per-second figures go, relative to the report folder.
fn figures_file(scenario: &str, check: &str) -> String {
    format!("traffic/{scenario}-{check}.csv")
}

/// Writes `summary.md` into `dir` (created if missing) and returns its path.
pub fn write_markdown(dir: &Path, reports: &[ScenarioReport]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("summary.md");
    std::fs::write(&path, markdown(reports))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// What a whole `harness run` was, for `results.json` and the conformance statement.
#[derive(Debug, Clone)]
pub struct RunMeta {
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// How long it took.
    pub duration: std::time::Duration,
    /// The target (`sim`, `kind`, `existing`).
    pub target: String,
    /// Whether a signal stopped it.
    pub interrupted: bool,
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass { .. } => "pass",
        Verdict::Fail { .. } => "fail",
        Verdict::Skip { .. } => "skip",
    }
}

/// The platform versions the reports observed: (Kubernetes server, Seldon chart).
fn versions(reports: &[ScenarioReport]) -> (String, String) {
    let first = |f: fn(&ScenarioReport) -> Option<&String>| {
        let mut all: Vec<&str> = reports.iter().filter_map(f).map(String::as_str).collect();
        all.dedup();
        if all.is_empty() {
            "unknown".to_string()
        } else {
            all.join(", ")
        }
    };
    (
        first(|r| r.kubernetes_version.as_ref()),
        first(|r| r.chart_version.as_ref()),
    )
}

/// The conformance statement that opens `summary.md`: verdict, platform versions, scenarios, counts.
pub fn conformance_statement(reports: &[ScenarioReport], meta: &RunMeta) -> String {
    let (p, f, s) = totals(reports);
    let (k8s, chart) = versions(reports);
    let scenarios: Vec<&str> = reports.iter().map(|r| r.scenario.as_str()).collect();
    let verdict = if meta.interrupted {
        "**Not conformant: the run was interrupted.**"
    } else if crate::run::all_succeeded(reports) {
        "**Conformant:** every selected check passed."
    } else {
        "**Not conformant:** some checks failed or could not run."
    };
    format!(
        "{verdict}\n\nTarget `{}`, Kubernetes {k8s}, Seldon Core v2 chart {chart}; started {} and took {:.0} s.\n\
         Scenarios: {}.\n\n**{p} passed, {f} failed, {s} skipped**\n",
        meta.target,
        meta.started_at,
        meta.duration.as_secs_f64(),
        scenarios.join(", ")
    )
}

/// `results.json`: run metadata and, per scenario and check, verdict, cause, duration, tags and
/// the defects the check is proven to catch.
pub fn results_json(reports: &[ScenarioReport], meta: &RunMeta) -> serde_json::Value {
    let (p, f, s) = totals(reports);
    let (k8s, chart) = versions(reports);
    let scenarios: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let checks: Vec<serde_json::Value> = r
                .checks
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "name": c.name,
                        "kind": c.kind,
                        "verdict": verdict_word(&c.verdict),
                        "cause": text(&c.verdict),
                        "durationSeconds": c.duration.as_secs_f64(),
                        "tags": c.tags,
                        "provenToCatch": c.proven_to_catch,
                        "retries": c.retries,
                        "flaky": c.verdict.message().starts_with(crate::run::attempts::FLAKY),
                    })
                })
                .collect();
            serde_json::json!({
                "name": r.scenario,
                "target": r.target,
                "runId": r.run_id,
                "kubernetesVersion": r.kubernetes_version,
                "chartVersion": r.chart_version,
                "setupError": r.setup_error,
                "notApplicable": r.not_applicable,
                "notes": r.notes,
                "checks": checks,
            })
        })
        .collect();
    serde_json::json!({
        "run": {
            "harnessVersion": env!("CARGO_PKG_VERSION"),
            "target": meta.target,
            "startedAt": meta.started_at,
            "durationSeconds": meta.duration.as_secs_f64(),
            "interrupted": meta.interrupted,
            "kubernetesVersion": k8s,
            "chartVersion": chart,
            "conformant": !meta.interrupted && crate::run::all_succeeded(reports),
            "passed": p,
            "failed": f,
            "skipped": s,
        },
        "scenarios": scenarios,
    })
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `junit.xml`: a test suite per scenario, a test case per check (`setup` when setup failed).
pub fn junit_xml(reports: &[ScenarioReport]) -> String {
    let (p, f, s) = totals(reports);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"seldon-conformance\" tests=\"{}\" failures=\"{f}\" skipped=\"{s}\">\n",
        p + f + s
    );
    for r in reports {
        let failures = r
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail { .. }))
            .count()
            + usize::from(r.setup_error.is_some());
        let skipped = r
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Skip { .. }))
            .count();
        let time: f64 = r.checks.iter().map(|c| c.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
            xml_escape(&r.scenario),
            r.checks.len() + usize::from(r.setup_error.is_some()),
        );
        if let Some(e) = &r.setup_error {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{0}\" name=\"setup\"><failure message=\"setup failed\">{1}</failure></testcase>",
                xml_escape(&r.scenario),
                xml_escape(e)
            );
        }
        for c in &r.checks {
            let body = match &c.verdict {
                Verdict::Pass { .. } => String::new(),
                Verdict::Fail { reason } => format!(
                    "<failure message=\"{}\">{}</failure>",
                    xml_escape(reason.lines().next().unwrap_or_default()),
                    xml_escape(reason)
                ),
                Verdict::Skip { reason } => {
                    format!("<skipped message=\"{}\"/>", xml_escape(reason))
                }
            };
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">{body}</testcase>",
                xml_escape(&r.scenario),
                xml_escape(&c.name),
                c.duration.as_secs_f64()
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Writes `summary.md` (conformance statement first), `results.json`, `junit.xml` and each
/// continuity check's per-second traffic figures (`traffic/<scenario>-<check>.csv`) into `dir`;
/// returns their paths.
pub fn write_all(
    dir: &Path,
    reports: &[ScenarioReport],
    meta: &RunMeta,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = [
        ("summary.md", summary(reports, meta)),
        (
            "results.json",
            serde_json::to_string_pretty(&results_json(reports, meta))? + "\n",
        ),
        ("junit.xml", junit_xml(reports)),
    ];
    let mut paths = Vec::new();
    let figures = reports.iter().flat_map(|r| {
        r.checks.iter().filter(|c| !c.timeline.is_empty()).map(|c| {
            (
                figures_file(&r.scenario, &c.name),
                crate::v2::traffic::csv(&c.timeline),
            )
        })
    });
    for (name, body) in files
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .chain(figures)
    {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// `summary.md`: the conformance statement, then the per-scenario tables.
pub fn summary(reports: &[ScenarioReport], meta: &RunMeta) -> String {
    let body = markdown(reports);
    let rest = body
        .split_once("\n\n")
        .map_or(body.as_str(), |(_, rest)| rest);
    format!(
        "# Seldon Core v2 conformance\n\n{}\n{rest}",
        conformance_statement(reports, meta)
    )
}

/// The (scenario, check) pairs that did not pass in a `results.json` (`*`: every check of a
/// scenario whose setup failed), for `harness run --rerun-failed`.
pub fn failed_in(path: &Path) -> Result<std::collections::BTreeSet<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not JSON ({e}); pass the results.json a `harness run --report DIR` wrote",
            path.display()
        )
    })?;
    let scenarios = v["scenarios"].as_array().ok_or_else(|| {
        format!(
            "{}: no `scenarios` list; pass the results.json a `harness run --report DIR` wrote",
            path.display()
        )
    })?;
    let mut out = std::collections::BTreeSet::new();
    for s in scenarios {
        let full = s["name"].as_str().unwrap_or_default();
        // Upgrade phases append " (on …)" to the scenario's name.
        let name = full.split(" (").next().unwrap_or(full).to_string();
        if !s["setupError"].is_null() && s["checks"].as_array().is_none_or(Vec::is_empty) {
            out.insert((name.clone(), "*".to_string()));
        }
        for c in s["checks"].as_array().into_iter().flatten() {
            if c["verdict"] != "pass" {
                out.insert((
                    name.clone(),
                    c["name"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    Ok(out)
}
