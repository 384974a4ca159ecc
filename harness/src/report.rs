//! Verdicts and reports: terminal summary, Markdown, and redaction of secret values.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::checks::Verdict;
use crate::run::ScenarioReport;

/// Sets up `tracing` output on stderr, filtered by `RUST_LOG` (default: `info` for the harness, `warn` elsewhere).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,harness=info"));
    // A second init (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
    let _ = writeln!(out, "\n{p} passed, {f} failed, {s} skipped");
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
    }
    out
}

/// Writes `summary.md` into `dir` (created if missing) and returns its path.
pub fn write_markdown(dir: &Path, reports: &[ScenarioReport]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("summary.md");
    std::fs::write(&path, markdown(reports))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
