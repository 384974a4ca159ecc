//! How fast the harness notices, how little it asks of the API server, how runs scale: figures
//! against the embedded platform, printed as Markdown (BENCHMARKS.md records a run).
//!
//! `cargo bench -p harness --bench speed --profile dev` (the profile `cargo run -p harness` uses;
//! plain `cargo bench` builds in release). Sections:
//!
//! 1. Detection latency of `kube::wait_for`: the platform flips a Model's `ModelReady` to True at a
//!    recorded instant; the delay until the wait returns, next to clients polling every 50 ms and
//!    every 1 s, measured in the same run on the same platform, with the requests each needed.
//! 2. API requests per scenario by verb (the platform counts them), next to the requests a client
//!    polling every 1 s (and 50 ms) would have made for the same waits: each wait's duration is
//!    recorded, and a poller asks once at the start and once per interval, where the watch-based
//!    wait makes a list, and a watch only when the list does not already satisfy it.
//! 3. Wall time of `harness run` over every scenario (the real binary), `--jobs 1` vs the default,
//!    and its peak RSS.
//! 4. N = 1, 2, 4, 8 copies of financial-ml (namespaces suffixed `-c<i>`) at once on one platform.
//! 5. Peak RSS of this process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::kube::{Watched, condition_true, wait};
use harness::run::{ScenarioReport, run_scenario};
use harness::scenario::{Scenario, TargetKind};
use harness::target::{Keep, Target, TargetOptions};
use serde_json::json;

/// Samples per detection method.
const SAMPLES: usize = 40;
/// Samples waited for at once (each on its own Model).
const BATCH: usize = 10;

fn main() {
    // `cargo bench` passes `--bench`; `--quick` takes fewer samples; words pick sections
    // (`detection`, `requests`, `run`, `copies`; default all).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let picked: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let on = |s: &str| picked.is_empty() || picked.contains(&s);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    println!("# harness speed benchmark\n");
    println!(
        "machine: {} cores ({}), {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| format!(
                "load average {}",
                l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            ))
            .unwrap_or_default(),
        jiff::Timestamp::now()
    );
    if on("detection") {
        rt.block_on(detection(if quick { 10 } else { SAMPLES }));
        print_rss("after detection");
    }
    let scenarios = load_scenarios();
    if on("requests") {
        rt.block_on(requests_per_scenario(&scenarios));
        print_rss("after requests per scenario");
    }
    if on("run") {
        harness_run_wall_time();
    }
    if on("copies") {
        rt.block_on(copies(&scenarios));
    }
    print_rss("at the end");
}

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

fn load_scenarios() -> Vec<Scenario> {
    let files = harness::scenario::discover(&[scenarios_dir()]).expect("listing scenarios/");
    files
        .iter()
        .filter_map(|f| harness::run::load(f).ok())
        .filter(|s| s.runs_on(TargetKind::Sim))
        .collect()
}

fn sim_opts() -> TargetOptions {
    TargetOptions {
        kind: Some(TargetKind::Sim),
        keep: Keep::Never,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Detection latency

#[derive(Clone, Copy)]
enum Method {
    Watch,
    Poll(Duration),
}

impl Method {
    fn name(self) -> String {
        match self {
            Method::Watch => "watch (`kube::wait_for`)".into(),
            Method::Poll(d) => format!("poll every {}", humantime::format_duration(d)),
        }
    }
}

async fn detection(samples: usize) {
    println!("## 1. Detection latency of the wait primitive\n");
    let mut platform =
        sim::Platform::start_api_only(Default::default()).expect("embedded platform (API only)");
    platform
        .install_seldon(&sim::seldon::InstallOptions::default())
        .expect("Seldon CRDs");
    let rt =
        sim::store::ResourceType::by_kind("mlops.seldon.io/v1alpha1", "Model").expect("Model type");
    let ns_rt = sim::store::ResourceType::by_kind("v1", "Namespace").expect("Namespace type");
    platform
        .store()
        .create(
            ns_rt,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        )
        .expect("namespace");
    let client = client_for(&platform).await;
    println!(
        "{samples} samples per method; each Model's `ModelReady` is set True by the platform at a recorded instant, 100–1100 ms after the wait started (uniformly spread, so a poller's phase is random); {BATCH} waits at once.\n"
    );
    println!("| method | p50 | p95 | max | requests per wait |");
    println!("|---|---|---|---|---|");
    let mut counter = 0usize;
    for method in [
        Method::Watch,
        Method::Poll(Duration::from_millis(50)),
        Method::Poll(Duration::from_secs(1)),
    ] {
        let before = total(&platform.api_requests());
        let mut lat = Vec::new();
        let mut done = 0;
        while done < samples {
            let n = BATCH.min(samples - done);
            let futs = (0..n).map(|i| {
                counter += 1;
                let name = format!("m{counter}");
                let delay =
                    Duration::from_millis(100 + ((done + i) as u64 * 1000 / samples as u64));
                one_sample(&platform, &client, rt, name, delay, method)
            });
            lat.extend(futures::future::join_all(futs).await);
            done += n;
        }
        let requests = total(&platform.api_requests()) - before;
        lat.sort();
        println!(
            "| {} | {} | {} | {} | {:.1} |",
            method.name(),
            ms(pct(&lat, 50)),
            ms(pct(&lat, 95)),
            ms(*lat.last().expect("samples")),
            requests as f64 / samples as f64
        );
    }
    println!();
    platform.shutdown();
}

/// One sample: a Model not Ready, a wait (or poller) started, the condition flipped after
/// `delay` at a recorded instant; returns the time from the flip until the wait returned.
async fn one_sample(
    platform: &sim::Platform,
    client: &kube::Client,
    rt: &'static sim::store::ResourceType,
    name: String,
    delay: Duration,
    method: Method,
) -> Duration {
    let model = json!({
        "apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Model",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {"storageUri": "gs://bench/model"},
    });
    platform.store().create(rt, model).expect("model");
    let target = Watched::seldon("Model", "bench", &name);
    let waiter = async {
        match method {
            Method::Watch => {
                wait::wait_for(
                    client,
                    &target,
                    &condition_true("ModelReady"),
                    Duration::from_secs(30),
                )
                .await
                .expect("the wait sees the flip");
            }
            Method::Poll(every) => {
                let api: kube::Api<kube::api::DynamicObject> =
                    kube::Api::namespaced_with(client.clone(), "bench", &target.resource);
                loop {
                    let o = api.get(&name).await.expect("get");
                    if condition_true("ModelReady").is_met(Some(&o)) {
                        break;
                    }
                    tokio::time::sleep(every).await;
                }
            }
        }
        Instant::now()
    };
    let flipper = async {
        tokio::time::sleep(delay).await;
        let mut m = platform
            .store()
            .get(rt, Some("bench"), &name)
            .expect("model exists");
        m["status"] = json!({"conditions": [{"type": "ModelReady", "status": "True", "message": "ModelAvailable"}]});
        m["metadata"]
            .as_object_mut()
            .map(|o| o.remove("resourceVersion"));
        platform.store().update_status(rt, m).expect("status");
        Instant::now()
    };
    let (returned, flipped) = tokio::join!(waiter, flipper);
    returned.saturating_duration_since(flipped)
}

async fn client_for(platform: &sim::Platform) -> kube::Client {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&platform.kubeconfig_yaml()).expect("kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    kube::Client::try_from(config).expect("client")
}

// ---------------------------------------------------------------------------------------------
// 2. Requests per scenario

async fn requests_per_scenario(scenarios: &[Scenario]) {
    println!("## 2. API requests per scenario, by verb\n");
    println!(
        "One scenario at a time, each on a fresh embedded platform: setup, every check, cleanup. \"poll 1 s\" / \"poll 50 ms\": the same run with every wait replaced by a client asking once at the start and once per interval for as long as the wait took (a watch-based wait makes one list, and a watch only when the list does not already satisfy it).\n"
    );
    let verbs = [
        "get",
        "list",
        "watch",
        "create",
        "patch",
        "update",
        "delete",
        "discovery",
    ];
    println!(
        "| scenario | waits | {} | total | poll 1 s | poll 50 ms | total / poll 1 s |",
        verbs.join(" | ")
    );
    println!("|---|---|{}---|---|---|---|", "---|".repeat(verbs.len()));
    wait::record_wait_durations(true);
    let mut sums = (0u64, 0u64, 0u64);
    for s in scenarios {
        let target = Target::start(&sim_opts(), s)
            .await
            .expect("embedded platform");
        let before = target.api_requests().unwrap_or_default();
        let _ = wait::take_wait_durations();
        let report = run_scenario(&target, s, None, Keep::Never).await;
        let after = target.api_requests().unwrap_or_default();
        let durations = wait::take_wait_durations();
        target.finish(false).await;
        let diff: BTreeMap<String, u64> = after
            .iter()
            .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
            .collect();
        let t = total(&diff);
        // Each wait lists once, and watches only when the list did not already satisfy it (the
        // harness watches nowhere else): those are what a poller would replace.
        let by_waits = durations.len() as u64 + diff.get("watch").copied().unwrap_or(0);
        let poll = |every: Duration| -> u64 {
            let polled: u64 = durations
                .iter()
                .map(|d| 1 + (d.as_millis() / every.as_millis()) as u64)
                .sum();
            (t + polled).saturating_sub(by_waits)
        };
        let (p1, p50) = (
            poll(Duration::from_secs(1)),
            poll(Duration::from_millis(50)),
        );
        sums = (sums.0 + t, sums.1 + p1, sums.2 + p50);
        println!(
            "| {}{} | {} | {} | {t} | {p1} | {p50} | {:.2} |",
            s.name(),
            verdicts(&report),
            durations.len(),
            verbs
                .iter()
                .map(|v| diff.get(*v).copied().unwrap_or(0).to_string())
                .collect::<Vec<_>>()
                .join(" | "),
            t as f64 / p1.max(1) as f64
        );
    }
    wait::record_wait_durations(false);
    println!(
        "| **all** | | {} | **{}** | **{}** | **{}** | **{:.2}** |\n",
        vec![""; verbs.len()].join(" | "),
        sums.0,
        sums.1,
        sums.2,
        sums.0 as f64 / sums.1.max(1) as f64
    );
}

// ---------------------------------------------------------------------------------------------
// 3. `harness run` wall time

fn harness_run_wall_time() {
    println!("## 3. `harness run` over every scenario (the binary, embedded platform)\n");
    println!("| run | wall time | verdicts | peak RSS |");
    println!("|---|---|---|---|");
    let default_jobs = harness::jobs::DEFAULT_JOBS.to_string();
    for (label, jobs) in [
        ("sequential (`--jobs 1`)", "1"),
        ("concurrent (default `--jobs`)", default_jobs.as_str()),
    ] {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["run", "--keep", "never", "--jobs", jobs])
            .current_dir(scenarios_dir().join(".."))
            .env("RUST_LOG", "warn")
            .output()
            .expect("running harness");
        let wall = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout
            .lines()
            .rev()
            .find(|l| l.contains("passed"))
            .unwrap_or("no summary")
            .to_string();
        println!(
            "| {label}, jobs {jobs} | {} | {summary} | {} |",
            ms(wall),
            children_peak_rss().map_or("-".into(), mib)
        );
    }
    println!(
        "\n(peak RSS of a `harness run` process: the largest child so far, `getrusage(RUSAGE_CHILDREN)`; the first row is the sequential run's.)\n"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Parallel copies of financial-ml on one platform

async fn copies(scenarios: &[Scenario]) {
    println!("## 4. N copies of financial-ml at once on one embedded platform\n");
    let Some(fml) = scenarios.iter().find(|s| s.name() == "financial-ml") else {
        println!("financial-ml not found\n");
        return;
    };
    println!("| N | wall time | ratio to N = 1 | checks passed |");
    println!("|---|---|---|---|");
    let mut one = None;
    let mut failures: Vec<String> = Vec::new();
    for n in [1usize, 2, 4, 8] {
        let copies: Vec<Scenario> = (1..=n)
            .map(|i| fml.with_namespace_suffix(&format!("-c{i}")).expect("copy"))
            .collect();
        let refs: Vec<&Scenario> = copies.iter().collect();
        // N copies share one platform and the CPU: each check's budget grows with N, as
        // `harness run --jobs` does for platforms running at once.
        let mut opts = sim_opts();
        opts.embedded.timeout_cap =
            Some(harness::target::embedded::embedded_timeout_cap() * n as u32);
        let target = Target::start(&opts, fml).await.expect("embedded platform");
        let started = Instant::now();
        let reports = harness::jobs::run_bounded(&refs, n, true, |s| {
            let target = &target;
            async move { run_scenario(target, s, None, Keep::Never).await }
        })
        .await;
        let wall = started.elapsed();
        target.finish(false).await;
        let base = *one.get_or_insert(wall);
        let (passed, all) = reports.iter().fold((0, 0), |(p, a), r| {
            (
                p + r.checks.iter().filter(|c| c.verdict.passed()).count(),
                a + r.checks.len(),
            )
        });
        println!(
            "| {n} | {} | {:.2} | {passed}/{all} |",
            ms(wall),
            wall.as_secs_f64() / base.as_secs_f64()
        );
        failures.extend(reports.iter().flat_map(|r| {
            r.checks
                .iter()
                .filter(|c| !c.verdict.passed())
                .map(move |c| format!("N = {n}, {}::{}: {:?}", r.scenario, c.name, c.verdict))
        }));
    }
    println!();
    for f in failures.iter().take(5) {
        println!("- {}", f.lines().next().unwrap_or_default());
    }
    if !failures.is_empty() {
        println!();
    }
}

// ---------------------------------------------------------------------------------------------
// helpers

fn verdicts(r: &ScenarioReport) -> String {
    let failed = r.checks.iter().filter(|c| !c.verdict.passed()).count();
    match (&r.setup_error, failed) {
        (Some(e), _) => format!(" (setup failed: {e})"),
        (None, 0) => String::new(),
        (None, n) => format!(" ({n} checks failed)"),
    }
}

fn total(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    let idx = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// This process's peak RSS (`VmHWM`), in KiB.
fn own_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The largest peak RSS of the child processes waited for so far, in KiB.
fn children_peak_rss() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer it is given.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so the struct is initialised.
    #[allow(unsafe_code)]
    let usage = unsafe { usage.assume_init() };
    u64::try_from(usage.ru_maxrss).ok()
}

fn print_rss(when: &str) {
    println!(
        "Peak RSS of the benchmark process {when} (VmHWM; embedded platforms included): {}\n",
        own_peak_rss().map_or("-".into(), mib)
    );
}
