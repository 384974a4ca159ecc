//! `harness`: the command line of the Seldon Core v2 conformance harness.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::scenario::{self, Scenario, Severity};

/// Conformance harness for Seldon Core v2 multi-team platforms.
///
/// Reads scenario files (scenarios/*.yaml), sets the platform up on a target and gives a verdict
/// per check. The default target is the embedded simulated platform; `--target kind` provisions
/// a kind cluster, `--target existing` uses a kubeconfig context you allow explicitly.
#[derive(Parser)]
#[command(name = "harness", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenario files: shape, names, quantities, references. Exits 1 on any error.
    Validate {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
    },
    /// List scenarios and their checks.
    List {
        /// Scenario files or folders (default: scenarios/).
        paths: Vec<PathBuf>,
    },
}

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    }
}

/// Loads every scenario under `paths`, printing diagnostics; `None` if any file has errors.
fn load_all(paths: Vec<PathBuf>) -> Result<Vec<Scenario>, ExitCode> {
    let files = match scenario::discover(&default_paths(paths)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot list scenario files: {e}");
            return Err(ExitCode::from(2));
        }
    };
    if files.is_empty() {
        eprintln!(
            "error: no scenario files (*.yaml) found; pass a file or a folder such as scenarios/"
        );
        return Err(ExitCode::from(2));
    }
    let mut ok = Vec::new();
    let mut failed = false;
    for f in files {
        match Scenario::load(&f) {
            Ok(s) => {
                for w in &s.warnings {
                    debug_assert_eq!(w.severity, Severity::Warning);
                    eprintln!("{w}");
                }
                ok.push(s);
            }
            Err(errs) => {
                eprintln!("{errs}");
                failed = true;
            }
        }
    }
    if failed {
        Err(ExitCode::from(1))
    } else {
        Ok(ok)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    harness::report::init_logging();
    match cli.command {
        Command::Validate { paths } => match load_all(paths) {
            Ok(scenarios) => {
                for s in &scenarios {
                    println!(
                        "ok  {} ({} checks) {}",
                        s.name(),
                        s.doc.spec.checks.len(),
                        s.file.display()
                    );
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::List { paths } => match load_all(paths) {
            Ok(scenarios) => {
                for s in &scenarios {
                    println!("{}  ({})", s.name(), s.file.display());
                    if !s.doc.metadata.description.is_empty() {
                        println!("    {}", s.doc.metadata.description);
                    }
                    for c in &s.doc.spec.checks {
                        println!("  - {:<40} {}", c.name, c.expect.kind());
                    }
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}
