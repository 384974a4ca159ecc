//! The commands of the `harness` binary, as library functions: `main.rs` parses the arguments
//! and calls one of these. Each prints its result and returns the process exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::scenario::{self, Scenario, Severity, TargetKind};
use crate::target::Keep;

/// The options of `harness run`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// `sim`, `kind` or `existing`.
    pub target: String,
    /// Scenario files or folders (default `scenarios/`).
    pub scenarios: Vec<PathBuf>,
    /// Only the check of this name.
    pub check: Option<String>,
    /// When to keep what the run created.
    pub keep: Keep,
    /// Where to write `summary.md`, `results.json` and `junit.xml`.
    pub report: Option<PathBuf>,
    /// Existing cluster: the kubeconfig context.
    pub context: Option<String>,
    /// Existing cluster: contexts the user allows.
    pub allow_contexts: Vec<String>,
    /// Existing cluster: install or upgrade the controller.
    pub manage_install: bool,
    /// kind: the cluster config file.
    pub kind_config: PathBuf,
    /// Overrides every scenario's chart version.
    pub chart_version: Option<String>,
    /// Upgrade in place to this chart version between two rounds of checks on the same objects.
    pub upgrade_to: Option<String>,
    /// `non-disruptive` or `disruptive` (`None`: the target's default).
    pub mode: Option<String>,
    /// Embedded platform defects, by name.
    pub defects: Vec<String>,
    /// Only checks carrying one of these tags.
    pub tags: Vec<String>,
    /// Only the checks that did not pass in this `results.json`.
    pub rerun_failed: Option<PathBuf>,
    /// Set up and clean up every selected scenario, run no check.
    pub setup_only: bool,
    /// Seal `seal:` packages with this certificate instead of the controller's.
    pub sealing_cert: Option<PathBuf>,
    /// Embedded platform: the share of API requests answered 500 or 429 (`5%`, `0.05`).
    pub api_faults: Option<String>,
    /// How many scenarios run at once.
    pub jobs: usize,
}

/// The embedded platform's transport faults for `--api-faults RATE`: half of the share answered
/// 500, half 429 with Retry-After; watches closed after a second; 2 ms added to every answer.
pub fn parse_api_faults(rate: &str) -> Result<crate::target::TransportFaults, String> {
    let text = rate.trim();
    let value = match text.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| {
        format!("--api-faults `{rate}`: not a rate; give a share such as `5%` or `0.05`")
    })?;
    if !(0.0..1.0).contains(&value) {
        return Err(format!(
            "--api-faults `{rate}`: the share must be at least 0 and below 100%"
        ));
    }
    let errors = value / 2.0;
    Ok(crate::target::TransportFaults {
        error_rate: errors,
        // Throttling counts only requests that did not fail: this makes it half of the share.
        throttle_rate: if errors < 1.0 {
            errors / (1.0 - errors)
        } else {
            0.0
        },
        drop_watches_after: (value > 0.0).then(|| std::time::Duration::from_secs(1)),
        latency: if value > 0.0 {
            std::time::Duration::from_millis(2)
        } else {
            std::time::Duration::ZERO
        },
    })
}

/// The embedded platform's faults from defect names; an unknown name lists the known ones.
pub fn parse_defects(names: &[String]) -> Result<crate::target::Faults, String> {
    let mut faults = crate::target::Faults::default();
    for n in names {
        let d = crate::target::Defect::from_name(n).ok_or_else(|| {
            let all: Vec<&str> = crate::target::Defect::ALL
                .iter()
                .map(|d| d.name())
                .collect();
            format!("unknown defect `{n}`; known: {}", all.join(", "))
        })?;
        faults.defects.insert(d);
    }
    Ok(faults)
}

/// `harness render`: every object a run would apply, secrets redacted.
pub fn render(path: &std::path::Path, out: Option<&std::path::Path>) -> ExitCode {
    let s = match crate::run::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let labels = crate::kube::RunLabels::new(s.name(), "render");
    match crate::setup::render::render_to(&s, &labels, out) {
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

/// `harness cleanup`: deletes what a run left behind, found by its run label.
pub fn cleanup(run: String, context: String, allow_contexts: Vec<String>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        let settings = crate::target::existing::ExistingSettings {
            kubeconfig: std::env::var_os("KUBECONFIG")
                .map(PathBuf::from)
                .filter(|p| p.is_file()),
            context,
            allowed_contexts: allow_contexts,
            manage_controller: false,
            controller_namespace: "seldon-mesh".into(),
        };
        let client = crate::target::existing::connect(&settings).await?;
        // A live run cleans up after itself; deleting its objects under it would break it.
        match crate::kube::lease::state_of(&client, &run).await {
            Ok(state) if !state.may_be_cleaned() => anyhow::bail!(
                "run {run} {state}: it deletes its own objects when it ends; if it is stuck, stop it \
                 (Ctrl-C) or wait until its Lease expires ({}s after its last renewal), then run this again",
                crate::kube::lease::LEASE_DURATION.as_secs()
            ),
            Ok(state) => eprintln!("run {run} {state}: deleting what it left"),
            Err(e) => eprintln!("warning: {e}; deleting the run's objects anyway"),
        }
        // The scenario label is not needed to find a run's objects: the run label selects them.
        let labels = crate::kube::RunLabels::new("cleanup", &run);
        let report =
            crate::setup::cleanup_run(&client, &labels, std::time::Duration::from_secs(300))
                .await
                .map_err(anyhow::Error::from)?;
        crate::kube::run_lease::delete(&client, &run).await;
        Ok(report)
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

/// `harness flows`: the flows a runtime needs; with a scenario, which its policies block.
pub fn flows(scenario: Option<PathBuf>) -> ExitCode {
    let Some(path) = scenario else {
        print!("{}", crate::flows::format_table(&crate::flows::table()));
        return ExitCode::SUCCESS;
    };
    let s = match crate::run::load(&path) {
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
            crate::flows::format_table(&crate::flows::flows_for(&s, &team.namespace))
        );
        for v in crate::flows::evaluate(&s, &team.namespace) {
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

/// `harness run`: scenarios on a target, a verdict per check, optionally a Markdown report.
pub fn run(args: RunArgs) -> ExitCode {
    let kind = match crate::target::parse_kind(&args.target) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut faults = match parse_defects(&args.defects) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(rate) = &args.api_faults {
        if kind != TargetKind::Sim {
            eprintln!("error: --api-faults only applies to the embedded platform (--target sim)");
            return ExitCode::from(2);
        }
        match parse_api_faults(rate) {
            Ok(t) => faults.transport = t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if kind != TargetKind::Sim && !faults.defects.is_empty() {
        eprintln!("error: --defect only applies to the embedded platform (--target sim)");
        return ExitCode::from(2);
    }
    let scenarios = match load_all(args.scenarios) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rerun = match args.rerun_failed.as_deref().map(crate::report::failed_in) {
        None => None,
        Some(Ok(failed)) if failed.is_empty() => {
            println!("nothing to rerun: every check passed in that run");
            return ExitCode::SUCCESS;
        }
        Some(Ok(failed)) => Some(failed),
        Some(Err(e)) => {
            eprintln!("error: --rerun-failed: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = match args
        .mode
        .as_deref()
        .map(crate::run::Mode::parse)
        .transpose()
    {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: --mode: {e}");
            return ExitCode::from(2);
        }
    };
    let selection = crate::run::Selection {
        check: args.check.clone(),
        tags: args.tags.clone(),
        rerun,
        setup_only: args.setup_only,
        mode,
    };
    if !args.setup_only && scenarios.iter().all(|s| selection.checks(s).is_empty()) {
        eprintln!(
            "error: no check is selected (--check {:?}, --tag {:?}{}); `harness list` shows the checks",
            args.check,
            args.tags,
            if selection.rerun.is_some() {
                ", --rerun-failed"
            } else {
                ""
            }
        );
        return ExitCode::from(2);
    }
    let started = std::time::Instant::now();
    let started_at = jiff::Timestamp::now().to_string();
    let env_opts = crate::target::TargetOptions::from_env().unwrap_or_default();
    // `--report DIR`: a failed run's diagnostics go with the report, under `DIR/diagnostics`.
    let diagnostics_dir = args
        .report
        .as_ref()
        .map(|d| d.join("diagnostics"))
        .or_else(|| env_opts.diagnostics_dir.clone());
    let opts = crate::target::TargetOptions {
        kind: Some(kind),
        diagnostics_dir,
        embedded: crate::target::EmbeddedOptions::with_faults(faults),
        context: args.context,
        allow_contexts: args.allow_contexts,
        manage_install: args.manage_install,
        kind_config: Some(args.kind_config),
        chart_version: args.chart_version,
        keep: args.keep,
        upgrade_to: args.upgrade_to,
        setup_only: args.setup_only,
        sealing_cert: args.sealing_cert,
        ..env_opts
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let reports = rt.block_on(async {
        // Before anything is created: from here a signal means "clean up and stop".
        crate::run::listen_for_signals();
        if opts.upgrade_to.is_some() {
            crate::run::upgrade::run_all(&opts, &scenarios, &selection, args.jobs).await
        } else {
            crate::run::run_all_jobs(&opts, &scenarios, &selection, args.jobs).await
        }
    });
    let text = crate::report::terminal(&reports);
    print!("{text}");
    let meta = crate::report::RunMeta {
        started_at,
        duration: started.elapsed(),
        target: kind.name().to_string(),
        interrupted: crate::run::signals_received() > 0,
    };
    if let Some(dir) = &args.report {
        match crate::report::write_all(dir, &reports, &meta) {
            Ok(paths) => {
                for p in paths {
                    println!("written: {}", p.display());
                }
            }
            Err(e) => {
                eprintln!("error: writing the report into {}: {e:#}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(crate::report::summary(&reports, &meta).as_bytes()));
        if let Err(e) = appended {
            eprintln!(
                "warning: could not append the summary to $GITHUB_STEP_SUMMARY ({}): {e}",
                PathBuf::from(path).display()
            );
        }
    }
    if crate::run::signals_received() > 0 {
        eprintln!("interrupted: the run was stopped by a signal (exit status 130)");
        ExitCode::from(130)
    } else if crate::run::all_succeeded(&reports) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The scenario paths to read: the given ones, else `scenarios/`.
pub fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    }
}

/// Loads every scenario under `paths`, printing diagnostics; `None` if any file has errors.
pub fn load_all(paths: Vec<PathBuf>) -> Result<Vec<Scenario>, ExitCode> {
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
        match crate::run::load(&f) {
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

/// `harness validate`: every file checked, each scenario listed.
pub fn validate(paths: Vec<PathBuf>) -> ExitCode {
    match load_all(paths) {
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
    }
}

/// `harness list`: scenarios and their checks.
pub fn list(paths: Vec<PathBuf>) -> ExitCode {
    match load_all(paths) {
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
    }
}

/// `harness secrets pack`: builds a dated package from a folder of overlays.
pub fn secrets_pack(
    dir: &std::path::Path,
    namespace: &str,
    purpose: &str,
    date: Option<&str>,
    out: &std::path::Path,
) -> ExitCode {
    match crate::package::pack(dir, namespace, purpose, date, out) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Where `harness secrets seal` and `pack --seal` get the controller's certificate.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// A PEM file (what `kubeseal --fetch-cert` saved).
    File(PathBuf),
    /// The cluster of an allowed kubeconfig context, through the API server's service proxy.
    Cluster {
        /// The context.
        context: String,
        /// Contexts allowed explicitly.
        allow_contexts: Vec<String>,
        /// The controller's namespace.
        controller_namespace: String,
        /// The controller's Service name.
        controller_name: String,
    },
}

fn sealing_key(source: &CertSource) -> anyhow::Result<crate::package::SealingKey> {
    use anyhow::Context;
    match source {
        CertSource::File(path) => {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(crate::package::SealingKey::from_pem(
                &pem,
                &path.display().to_string(),
            )?)
        }
        CertSource::Cluster {
            context,
            allow_contexts,
            controller_namespace,
            controller_name,
        } => {
            let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let pem = rt.block_on(async {
                let settings = crate::target::existing::ExistingSettings {
                    kubeconfig: std::env::var_os("KUBECONFIG")
                        .map(PathBuf::from)
                        .filter(|p| p.is_file()),
                    context: context.clone(),
                    allowed_contexts: allow_contexts.clone(),
                    manage_controller: false,
                    controller_namespace: "seldon-mesh".into(),
                };
                let client = crate::target::existing::connect(&settings).await?;
                crate::kube::sealed::fetch_certificate(
                    &client,
                    controller_namespace,
                    controller_name,
                )
                .await
                .map_err(anyhow::Error::msg)
            })?;
            let origin = format!("{controller_namespace}/{controller_name} in context {context}");
            Ok(crate::package::SealingKey::from_pem(&pem, &origin)?)
        }
    }
}

/// `harness secrets seal`: prints the files' Secrets sealed as SealedSecrets (other documents as
/// they are), like `kubeseal`; the output holds no plaintext.
pub fn secrets_seal(
    files: &[PathBuf],
    cert: &CertSource,
    scope: &str,
    namespace: Option<&str>,
) -> ExitCode {
    let result = (|| -> anyhow::Result<String> {
        let scope = crate::package::Scope::from_name(scope).ok_or_else(|| {
            anyhow::anyhow!(
                "--scope `{scope}`: must be one of strict, namespace-wide, cluster-wide"
            )
        })?;
        let key = sealing_key(cert)?;
        let mut out = Vec::new();
        for f in files {
            let text =
                std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            let (yaml, n) = crate::package::seal_files::seal_yaml(
                &text,
                &f.display().to_string(),
                &key,
                scope,
                namespace,
            )?;
            anyhow::ensure!(n > 0, "{}: holds no v1 Secret to seal", f.display());
            out.push(yaml);
        }
        Ok(out.join("---\n"))
    })();
    match result {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `harness secrets pack --seal`: seals the folder's Secrets for the namespace, then packs.
pub fn secrets_pack_sealed(
    dir: &std::path::Path,
    namespace: &str,
    purpose: &str,
    date: Option<&str>,
    out: &std::path::Path,
    cert: &CertSource,
    scope: &str,
) -> ExitCode {
    let result = (|| -> anyhow::Result<PathBuf> {
        let scope = crate::package::Scope::from_name(scope).ok_or_else(|| {
            anyhow::anyhow!("--seal `{scope}`: must be one of strict, namespace-wide, cluster-wide")
        })?;
        let key = sealing_key(cert)?;
        let tmp = tempfile::tempdir()?;
        let sealed = tmp.path().join(dir.file_name().unwrap_or_default());
        let n = crate::package::seal_files::seal_dir(dir, &sealed, &key, scope, namespace)?;
        let path = crate::package::pack(&sealed, namespace, purpose, date, out)?;
        eprintln!("sealed {n} Secrets for namespace {namespace} ({scope})");
        Ok(path)
    })();
    match result {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `harness platform up`: serves the embedded platform for kubectl until Ctrl-C.
pub fn platform_up(
    kubeconfig: &std::path::Path,
    defects: &[String],
    scenario: Option<PathBuf>,
) -> ExitCode {
    let scenario = match scenario.map(|p| crate::run::load(&p)).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let faults = match parse_defects(defects) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::target::platform_up(kubeconfig, faults, scenario.as_ref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
