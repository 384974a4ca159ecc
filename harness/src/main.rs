//! `harness`: the command line of the Seldon Core v2 conformance harness.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::cli;

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
    /// cannot run. Ctrl-C (SIGINT) or SIGTERM stops the run, deletes what it created (what its
    /// checks created too), says what it deleted and could not, and exits 130. Secret packages are
    /// extracted into a private folder under HARNESS_WORK_DIR (default target/harness-state),
    /// removed at the end unless the run is kept. A run never takes over objects of another run.
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
        /// Seal the folder's Secrets for the namespace first (strict, namespace-wide or
        /// cluster-wide), with the controller's certificate from --cert or --context.
        #[arg(long, value_name = "SCOPE")]
        seal: Option<String>,
        #[command(flatten)]
        cert: CertArgs,
    },
    /// Seal Secret YAML files into SealedSecrets (kubeseal's format), printed to stdout.
    Seal {
        /// YAML files holding v1 Secrets (other documents are printed unchanged).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// strict (only this name in this namespace), namespace-wide or cluster-wide.
        #[arg(long, default_value = "strict")]
        scope: String,
        /// The namespace for Secrets that name none.
        #[arg(long)]
        namespace: Option<String>,
        #[command(flatten)]
        cert: CertArgs,
    },
}

/// Where the sealed-secrets controller's certificate comes from.
#[derive(clap::Args)]
struct CertArgs {
    /// The controller's certificate (PEM), e.g. saved with `kubeseal --fetch-cert`.
    #[arg(long, value_name = "PEM", conflicts_with = "context")]
    cert: Option<PathBuf>,
    /// Fetch it from this kubeconfig context, as kubeseal does (through the API server's service proxy).
    #[arg(long, env = "HARNESS_CONTEXT")]
    context: Option<String>,
    /// Allow the harness to use this context.
    #[arg(long = "allow-context", value_name = "NAME")]
    allow_contexts: Vec<String>,
    /// The controller's namespace.
    #[arg(long, default_value = "kube-system")]
    controller_namespace: String,
    /// The controller's Service name.
    #[arg(long, default_value = "sealed-secrets-controller")]
    controller_name: String,
}

impl CertArgs {
    fn source(self) -> Result<cli::CertSource, ExitCode> {
        match (self.cert, self.context) {
            (Some(path), _) => Ok(cli::CertSource::File(path)),
            (None, Some(context)) => Ok(cli::CertSource::Cluster {
                context,
                allow_contexts: self.allow_contexts,
                controller_namespace: self.controller_namespace,
                controller_name: self.controller_name,
            }),
            (None, None) => {
                eprintln!(
                    "error: sealing needs the controller's certificate: pass --cert FILE or --context NAME --allow-context NAME"
                );
                Err(ExitCode::from(2))
            }
        }
    }
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
    /// Write summary.md (a conformance statement first), results.json (run metadata and every
    /// verdict with its cause, duration, tags and proven-to-catch defects) and junit.xml into this
    /// folder. With $GITHUB_STEP_SUMMARY set, the summary is also appended there.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Run only checks carrying this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Run only the checks that did not pass in this results.json of an earlier run.
    #[arg(long, value_name = "RESULTS_JSON")]
    rerun_failed: Option<PathBuf>,
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
    /// Upgrade Seldon in place to this chart version between two rounds of checks on the same
    /// objects: set up once, check, install the new CRDs (verified changed), dry-run every
    /// existing Seldon object against them (a rejection stops the upgrade, naming the object and
    /// field), warn about single-replica Servers, upgrade the components, check again (objects
    /// must keep their UIDs), clean up once. kind, existing with --manage-install, and the
    /// embedded platform (its own in-place upgrade). No upgrade when a check fails before it.
    #[arg(long, env = "HARNESS_UPGRADE_TO", value_name = "VERSION")]
    upgrade_to: Option<String>,
    /// `non-disruptive` skips checks that disrupt serving (restarts, rollouts), reporting them
    /// skipped with the reason; `disruptive` runs them. Default: non-disruptive on `existing`,
    /// disruptive on the embedded platform and kind.
    #[arg(long, env = "HARNESS_MODE", value_name = "MODE")]
    mode: Option<String>,
    /// kind: the cluster config.
    #[arg(long, default_value = "kind-config.yaml")]
    kind_config: PathBuf,
    /// Set up every selected scenario, run no check, clean up, and fail unless a sweep of the
    /// run's label then finds nothing left. On an existing cluster the Seldon controller is not
    /// waited for (its namespace and CRDs must exist): this proves every object applies and
    /// cleans up, e.g. on a bare control plane. Nothing waits for what controllers do.
    #[arg(long)]
    setup_only: bool,
    /// Seal the scenarios' `seal:` secret packages with this certificate (PEM, as `kubeseal
    /// --fetch-cert > cert.pem` saves it) instead of fetching the cluster's sealed-secrets
    /// controller's.
    #[arg(long, env = "HARNESS_SEALING_CERT", value_name = "PEM")]
    sealing_cert: Option<PathBuf>,
    /// Embedded platform only: break a documented behaviour on purpose, to see which checks catch it.
    /// Names: quota-not-enforced, limitrange-ignored, networkpolicy-ignored, controller-not-clusterwide,
    /// cross-namespace-scheduling, runtime-never-ready, server-capabilities-missing, model-never-ready,
    /// mesh-ignores-model-header, wrong-inference-output, unknown-model-answered-200,
    /// invalid-input-answered-200, secret-package-objects-dropped, access-review-allows-all,
    /// access-review-denies-all, sealed-secrets-scope-ignored, kafka-components-ready-without-kafka,
    /// podspec-overrides-ignored, runtime-creates-servers, wrong-schedule-reason,
    /// dataflow-engine-ready-without-kafka, gateways-ready-without-kafka, disable-overrides-ignored,
    /// sealed-namespace-wide-unsupported, sealed-strict-label-without-name, egress-policy-ignored,
    /// namespace-selector-ignored, policy-ignored-for-seldon-traffic, runtime-status-not-written,
    /// policy-only-for-new-pods, experiment-weights-ignored, memory-not-accounted,
    /// watch-namespaces-ignored, storage-errors-hidden, pipeline-step-skipped,
    /// scheduler-forgets-models-on-restart, envoy-drops-during-rollout, available-replicas-pruned,
    /// envoy-forgets-config-without-scheduler, envoy-routes-late-after-restart,
    /// modelgateway-fails-after-restart, server-reload-delayed, scaling-beyond-server-unloads,
    /// upgrade-breaks-existing-models (with --upgrade-to).
    #[arg(long = "defect", value_name = "NAME")]
    defects: Vec<String>,
    /// Embedded platform only: answer this share of API requests (e.g. `5%` or `0.05`) with
    /// 500 InternalError or 429 TooManyRequests (with Retry-After), half each; close every watch
    /// after a second and add latency to every answer. Verdicts must not change: the harness
    /// retries transient API errors with bounded backoff inside each check's deadline.
    #[arg(long, value_name = "RATE")]
    api_faults: Option<String>,
    /// How many scenarios run at the same time (each on its own embedded platform; on a cluster,
    /// never two sharing a namespace). Each scenario's log lines are printed together when it
    /// ends; verdicts and reports keep the scenarios' order.
    #[arg(long, env = "HARNESS_JOBS", default_value_t = harness::jobs::DEFAULT_JOBS, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
}

impl From<RunArgs> for cli::RunArgs {
    fn from(a: RunArgs) -> cli::RunArgs {
        cli::RunArgs {
            target: a.target,
            scenarios: a.scenarios,
            check: a.check,
            keep: a.keep,
            report: a.report,
            context: a.context,
            allow_contexts: a.allow_contexts,
            manage_install: a.manage_install,
            kind_config: a.kind_config,
            chart_version: a.chart_version,
            upgrade_to: a.upgrade_to,
            mode: a.mode,
            defects: a.defects,
            tags: a.tags,
            rerun_failed: a.rerun_failed,
            setup_only: a.setup_only,
            sealing_cert: a.sealing_cert,
            api_faults: a.api_faults,
            jobs: usize::from(a.jobs),
        }
    }
}

fn main() -> ExitCode {
    let cli_args = Cli::parse();
    harness::report::init_logging();
    match cli_args.command {
        Command::Validate { paths } => cli::validate(paths),
        Command::List { paths } => cli::list(paths),
        Command::Run(args) => cli::run(args.into()),
        Command::Flows { scenario } => cli::flows(scenario),
        Command::Render { scenario, out } => cli::render(&scenario, out.as_deref()),
        Command::Secrets {
            command:
                SecretsCommand::Pack {
                    dir,
                    namespace,
                    purpose,
                    date,
                    out,
                    seal: None,
                    ..
                },
        } => cli::secrets_pack(&dir, &namespace, &purpose, date.as_deref(), &out),
        Command::Secrets {
            command:
                SecretsCommand::Pack {
                    dir,
                    namespace,
                    purpose,
                    date,
                    out,
                    seal: Some(scope),
                    cert,
                },
        } => match cert.source() {
            Ok(cert) => cli::secrets_pack_sealed(
                &dir,
                &namespace,
                &purpose,
                date.as_deref(),
                &out,
                &cert,
                &scope,
            ),
            Err(code) => code,
        },
        Command::Secrets {
            command:
                SecretsCommand::Seal {
                    files,
                    scope,
                    namespace,
                    cert,
                },
        } => match cert.source() {
            Ok(cert) => cli::secrets_seal(&files, &cert, &scope, namespace.as_deref()),
            Err(code) => code,
        },
        Command::Cleanup {
            run,
            context,
            allow_contexts,
        } => cli::cleanup(run, context, allow_contexts),
        Command::Platform {
            command:
                PlatformCommand::Up {
                    kubeconfig,
                    defects,
                    scenario,
                },
        } => cli::platform_up(&kubeconfig, &defects, scenario),
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
