//! Shared helpers of the `targets_*` tests: tool-output fixtures and golden files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use harness::tools::Output;

/// `harness/` (the crate root).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    crate_dir()
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

/// Loads `tests/fixtures/tools/<rel>`: `#` header lines (the source note), then
/// `--- exit: N ---`, `--- stdout ---`, `--- stderr ---` sections.
pub fn fixture(rel: &str) -> Output {
    let path = crate_dir().join("tests/fixtures/tools").join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    let mut lines = text.lines().peekable();
    let mut note = false;
    while lines.peek().is_some_and(|l| l.starts_with('#')) {
        note = true;
        lines.next();
    }
    assert!(
        note,
        "fixture {} must start with a `#` note saying where its format comes from",
        path.display()
    );
    let mut out = Output {
        code: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    let mut section: Option<&str> = None;
    for line in lines {
        if let Some(code) = line
            .strip_prefix("--- exit: ")
            .and_then(|r| r.strip_suffix(" ---"))
        {
            out.code = Some(code.parse().expect("exit code"));
            section = None;
        } else if line == "--- stdout ---" {
            section = Some("stdout");
        } else if line == "--- stderr ---" {
            section = Some("stderr");
        } else {
            let target = match section {
                Some("stdout") => &mut out.stdout,
                Some("stderr") => &mut out.stderr,
                _ => panic!(
                    "fixture {}: text outside a section: {line:?}",
                    path.display()
                ),
            };
            target.push_str(line);
            target.push('\n');
        }
    }
    assert!(
        out.code.is_some(),
        "fixture {} needs an `--- exit: N ---` line",
        path.display()
    );
    out
}

/// Compares `actual` with `tests/golden/<name>.txt`; `UPDATE_GOLDEN=1` rewrites the file.
pub fn assert_golden(name: &str, description: &str, actual: &[String]) {
    let path = crate_dir().join("tests/golden").join(format!("{name}.txt"));
    let mut body = format!(
        "# {description}\n# Regenerate: UPDATE_GOLDEN=1 cargo test -p harness --test targets_golden\n"
    );
    for line in actual {
        body.push_str(line);
        body.push('\n');
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &body).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "golden file {} is missing: run with UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    if expected != body {
        let mut report = String::new();
        let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), body.lines().collect());
        for i in 0..e.len().max(a.len()) {
            let (el, al) = (
                e.get(i).copied().unwrap_or("<none>"),
                a.get(i).copied().unwrap_or("<none>"),
            );
            if el != al {
                report.push_str(&format!(
                    "line {}:\n  expected: {el}\n  actual:   {al}\n",
                    i + 1
                ));
            }
        }
        panic!(
            "command sequence differs from golden {} (UPDATE_GOLDEN=1 to accept):\n{report}",
            path.display()
        );
    }
}

/// Replaces machine-specific paths in transcript lines.
pub fn normalise(lines: Vec<String>, replacements: &[(&Path, &str)]) -> Vec<String> {
    lines
        .into_iter()
        .map(|mut l| {
            for (from, to) in replacements {
                l = l.replace(&from.display().to_string(), to);
            }
            l
        })
        .collect()
}
