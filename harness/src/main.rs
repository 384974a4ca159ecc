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
    /// Set scenarios up on a target and give a verdict per check. Exits 1 if any check fails or
    /// cannot run. Ctrl-C stops the run and deletes what it created.
    Run(RunArgs),
    /// Print every object a run of the scenario would apply, in apply order, without contacting a
    /// cluster (secret values replaced by placeholders).
    Render {
        /// The scenario file.
        scenario: PathBuf,
        /// Write one file per object into this folder instead of printing a YAML stream.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Secret packages (the infrastructure team's side).
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Delete what an earlier run left behind (objects labelled `conformance.harness/run=<ID>`).
    Cleanup {
        /// The run id printed by `harness run` (or `HARNESS_RUN_ID` of a suite run).
        #[arg(long)]
        run: String,
        /// The kubeconfig context (the cluster is not touched unless allowed with --allow-context).
        #[arg(long, env = "HARNESS_CONTEXT")]
        context: String,
        /// Allow the harness to delete its own objects in this context.
        #[arg(long = "allow-context", value_name = "NAME")]
        allow_contexts: Vec<String>,
    },
    /// Show the network flows a Seldon v2 team runtime needs; with a scenario, which of them each
    /// team's NetworkPolicies block and the rule that would allow them.
    Flows {
        /// A scenario file (optional).
        scenario: Option<PathBuf>,
    },
    /// Serve the embedded platform until Ctrl-C, for exploring a scenario with kubectl.
    Platform {
        #[command(subcommand)]
        command: PlatformCommand,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Build `<namespace>-<purpose>-secrets-YYYYMMDD.tar.gz` from a folder of kustomize overlays.
    Pack {
        /// The folder (holding e.g. `production/kustomization.yaml`).
        dir: PathBuf,
        /// The namespace the package is for.
        #[arg(long)]
        namespace: String,
        /// What the secrets are for, e.g. `models`.
        #[arg(long)]
        purpose: String,
        /// The package date (default: today, UTC).
        #[arg(long, value_name = "YYYYMMDD")]
        date: Option<String>,
        /// Where to write the package.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum PlatformCommand {
    /// Start it and write a kubeconfig (prints the `export KUBECONFIG=...` line).
    Up {
        /// Where to write the kubeconfig.
        #[arg(long, default_value = "target/embedded-platform.kubeconfig")]
        kubeconfig: PathBuf,
        /// Named defects to inject (see `harness run --help`).
        #[arg(long = "defect", value_name = "NAME")]
        defects: Vec<String>,
        /// Install Seldon as this scenario says and publish its model artifacts (default: Seldon
        /// cluster-wide in seldon-mesh, no artifacts).
        #[arg(long, value_name = "PATH")]
        scenario: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Where to run: `sim` (the embedded platform), `kind` (provision a kind cluster from
    /// kind-config.yaml), or `existing` (a kubeconfig context allowed with --allow-context).
    #[arg(long, env = "HARNESS_TARGET", default_value = "sim")]
    target: String,
    /// Scenario files or folders (default: scenarios/).
    #[arg(long = "scenario", value_name = "PATH")]
    scenarios: Vec<PathBuf>,
    /// Run only the check with this name (in every selected scenario that has it).
    #[arg(long)]
    check: Option<String>,
    /// Keep what the run created: on-failure (default), always, never.
    #[arg(long, env = "HARNESS_KEEP", default_value = "on-failure")]
    keep: harness::target::Keep,
    /// Write a Markdown summary (summary.md) into this folder.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Existing cluster: the kubeconfig context to use.
    #[arg(long, env = "HARNESS_CONTEXT")]
    context: Option<String>,
    /// Existing cluster: allow the harness to create and delete its own namespaces in this context.
    #[arg(long = "allow-context", value_name = "NAME")]
    allow_contexts: Vec<String>,
    /// Existing cluster: install or upgrade the Seldon controller (by default it is only checked).
    #[arg(long)]
    manage_install: bool,
    /// Override every scenario's Seldon chart version.
    #[arg(long, env = "HARNESS_CHART_VERSION")]
    chart_version: Option<String>,
    /// kind (or existing with --manage-install): once the scenarios pass, `helm upgrade` Seldon to
    /// this chart version and run them again.
    #[arg(long, env = "HARNESS_UPGRADE_TO", value_name = "VERSION")]
    upgrade_to: Option<String>,
    /// kind: the cluster config.
    #[arg(long, default_value = "kind-config.yaml")]
    kind_config: PathBuf,
    /// Embedded platform only: break a documented behaviour on purpose, to see which checks catch it.
    /// Names: quota-not-enforced, limitrange-ignored, networkpolicy-ignored, controller-not-clusterwide,
    /// cross-namespace-scheduling, runtime-never-ready, server-capabilities-missing, model-never-ready,
    /// mesh-ignores-model-header, wrong-inference-output, unknown-model-answered-200,
    /// invalid-input-answered-200, secret-package-objects-dropped, access-review-allows-all,
    /// access-review-denies-all.
    #[arg(long = "defect", value_name = "NAME")]
    defects: Vec<String>,
}

fn parse_defects(names: &[String]) -> Result<harness::target::Faults, String> {
    let mut faults = harness::target::Faults::default();
    for n in names {
        let d = harness::target::Defect::from_name(n).ok_or_else(|| {
            let all: Vec<&str> = harness::target::Defect::ALL
                .iter()
                .map(|d| d.name())
                .collect();
            format!("unknown defect `{n}`; known: {}", all.join(", "))
        })?;
        faults.defects.insert(d);
    }
    Ok(faults)
}

fn render(path: &std::path::Path, out: Option<&std::path::Path>) -> ExitCode {
    let s = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let labels = harness::apply::RunLabels::new(s.name(), "render");
    match harness::render::render_to(&s, &labels, out) {
        Ok(Some(yaml)) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!(
                "written to {}",
                out.map(|p| p.display().to_string()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn cleanup(run: String, context: String, allow_contexts: Vec<String>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        let settings = harness::existing::ExistingSettings {
            kubeconfig: std::env::var_os("KUBECONFIG")
                .map(PathBuf::from)
                .filter(|p| p.is_file()),
            context,
            allowed_contexts: allow_contexts,
            manage_controller: false,
            controller_namespace: "seldon-mesh".into(),
        };
        let client = harness::existing::connect(&settings).await?;
        // The scenario label is not needed to find a run's objects: the run label selects them.
        let labels = harness::apply::RunLabels::new("cleanup", &run);
        harness::runtime::cleanup_run(&client, &labels, std::time::Duration::from_secs(300))
            .await
            .map_err(anyhow::Error::from)
    });
    match result {
        Ok(report) => {
            for o in &report.deleted {
                println!("deleted {o}");
            }
            println!(
                "{} deleted, {} already gone, {} left alone (not this run's)",
                report.deleted.len(),
                report.already_gone.len(),
                report.left_alone.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn flows(scenario: Option<PathBuf>) -> ExitCode {
    let Some(path) = scenario else {
        print!("{}", harness::flows::format_table(&harness::flows::table()));
        return ExitCode::SUCCESS;
    };
    let s = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    for team in &s.doc.spec.teams {
        if team.runtime.is_none() {
            continue;
        }
        println!("== namespace {}", team.namespace);
        print!(
            "{}",
            harness::flows::format_table(&harness::flows::flows_for(&s, &team.namespace))
        );
        for v in harness::flows::evaluate(&s, &team.namespace) {
            let state = if v.allowed { "allowed" } else { "BLOCKED" };
            println!("{state:>8}  {:<32} {}", v.flow, v.summary);
            if !v.allowed {
                for cut in &v.cuts {
                    println!(
                        "{}",
                        cut.fix
                            .lines()
                            .map(|l| format!("          {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                }
            }
        }
        println!();
    }
    ExitCode::SUCCESS
}

fn run(args: RunArgs) -> ExitCode {
    use harness::scenario::TargetKind;
    let kind = match harness::target::parse_kind(&args.target) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let faults = match parse_defects(&args.defects) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if kind != TargetKind::Sim && !faults.defects.is_empty() {
        eprintln!("error: --defect only applies to the embedded platform (--target sim)");
        return ExitCode::from(2);
    }
    let scenarios = match load_all(args.scenarios) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = harness::target::TargetOptions {
        kind: Some(kind),
        faults,
        context: args.context,
        allow_contexts: args.allow_contexts,
        manage_install: args.manage_install,
        kind_config: Some(args.kind_config),
        chart_version: args.chart_version,
        keep: args.keep,
        upgrade_to: args.upgrade_to,
        ..harness::target::TargetOptions::from_env().unwrap_or_default()
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let reports = rt.block_on(harness::run::run_all(
        &opts,
        &scenarios,
        args.check.as_deref(),
    ));
    let text = harness::report::terminal(&reports);
    print!("{text}");
    if let Some(dir) = &args.report {
        match harness::report::write_markdown(dir, &reports) {
            Ok(path) => println!("summary written to {}", path.display()),
            Err(e) => {
                eprintln!("error: writing the report into {}: {e:#}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    if harness::run::all_succeeded(&reports) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
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
        Command::Run(args) => run(args),
        Command::Flows { scenario } => flows(scenario),
        Command::Render { scenario, out } => render(&scenario, out.as_deref()),
        Command::Secrets {
            command:
                SecretsCommand::Pack {
                    dir,
                    namespace,
                    purpose,
                    date,
                    out,
                },
        } => match harness::secrets::pack(&dir, &namespace, &purpose, date.as_deref(), &out) {
            Ok(path) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Command::Cleanup {
            run,
            context,
            allow_contexts,
        } => cleanup(run, context, allow_contexts),
        Command::Platform {
            command:
                PlatformCommand::Up {
                    kubeconfig,
                    defects,
                    scenario,
                },
        } => {
            let scenario = match scenario.map(|p| Scenario::load(&p)).transpose() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            let faults = match parse_defects(&defects) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match harness::target::platform_up(&kubeconfig, faults, scenario.as_ref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn help_lists_every_defect() {
        let mut cmd = super::Cli::command();
        let run = cmd.find_subcommand_mut("run").expect("run subcommand");
        let help = run.render_long_help().to_string();
        for d in harness::target::Defect::ALL {
            assert!(
                help.contains(d.name()),
                "`harness run --help` does not list defect {}",
                d.name()
            );
        }
    }
}
