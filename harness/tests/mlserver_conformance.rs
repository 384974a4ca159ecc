//! `harness::inference` against a REAL MLServer (the V2 server Seldon ships) serving the
//! credit-risk sample: health, metadata, numeric outputs and refusals, over REST and gRPC.
//!
//! MLServer comes from `HARNESS_MLSERVER` (path of the `mlserver` binary, as printed by
//! `ci/mlserver-venv.sh`) or the script's default venv. Without it every trial is reported
//! ignored with the reason; with `HARNESS_REQUIRE_MLSERVER=1` a missing MLServer fails.
//! One MLServer process serves all trials of one test-binary run and is killed (process group)
//! when the run ends, on every path.

// Signals and prctl on the processes this test starts need libc calls.
#![allow(unsafe_code)]

use harness::v2::{
    BadRequest, InferenceClient, SampleSet, Transport, check_samples, check_signature,
    compare_outputs, negative_case,
};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The model under test and a copy with one weight changed, which every numeric check must catch.
const MODEL: &str = "credit-risk";
const TAMPERED: &str = "credit-risk-tampered";
/// What goes into MLServer's model repository: the artifact, not the generator or samples.
const ARTIFACT_FILES: [&str; 3] = ["model-settings.json", "runtime.py", "model.safetensors"];
/// Cold Python imports on a busy 2-core CI runner can take a while.
const READY_DEADLINE: Duration = Duration::from_secs(90);

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/credit-risk")
}

/// Where MLServer is, or why it is not usable.
fn locate_mlserver() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HARNESS_MLSERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "HARNESS_MLSERVER={} is not a file; point it at the `mlserver` binary printed by ci/mlserver-venv.sh",
                p.display()
            ))
        };
    }
    let venv = match std::env::var_os("HARNESS_MLSERVER_VENV").filter(|p| !p.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache/seldon-harness/mlserver-1.7.1"),
            None => return Err("MLServer not found: HARNESS_MLSERVER and HOME are unset; run ci/mlserver-venv.sh and export HARNESS_MLSERVER=<its output>".into()),
        },
    };
    let bin = venv.join("bin/mlserver");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "MLServer not found: HARNESS_MLSERVER is unset and {} does not exist; run ci/mlserver-venv.sh and export HARNESS_MLSERVER=<its output>",
            bin.display()
        ))
    }
}

/// A running MLServer in its own process group, serving a temp copy of the artifacts.
struct MlServer {
    child: Child,
    dir: tempfile::TempDir,
    http_port: u16,
    grpc_port: u16,
}

impl MlServer {
    fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    fn grpc_addr(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("mlserver.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts MLServer and waits until both models are ready over REST and gRPC is serving.
    fn start(bin: &Path, rt: &tokio::runtime::Runtime) -> Result<MlServer, String> {
        // A free port can be taken between probing and binding; one retry covers that race.
        match Self::start_once(bin, rt) {
            Err(e) if e.contains("address already in use") => Self::start_once(bin, rt),
            other => other,
        }
    }

    fn start_once(bin: &Path, rt: &tokio::runtime::Runtime) -> Result<MlServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("harness-mlserver-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        copy_artifact(&model_dir(), &dir.path().join(MODEL), None)?;
        copy_artifact(&model_dir(), &dir.path().join(TAMPERED), Some(TAMPERED))?;
        let (http_port, grpc_port) = free_ports()?;
        let log =
            File::create(dir.path().join("mlserver.log")).map_err(|e| format!("log file: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("start").arg(dir.path()).current_dir(dir.path());
        for (key, _) in std::env::vars_os() {
            // Inherited MLSERVER_* settings would change what is being tested.
            if key.to_string_lossy().starts_with("MLSERVER_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("MLSERVER_HOST", "127.0.0.1")
            .env("MLSERVER_HTTP_PORT", http_port.to_string())
            .env("MLSERVER_GRPC_PORT", grpc_port.to_string())
            // Empty endpoint = no metrics server (and no third port to collide on).
            .env("MLSERVER_METRICS_ENDPOINT", "")
            // The worker pool crashes with uvloop >= 0.22; in-process inference is enough here.
            .env("MLSERVER_PARALLEL_WORKERS", "0")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it makes the kernel kill MLServer if this test
        // process dies without running destructors (e.g. SIGKILL from a test-runner timeout).
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut server = MlServer {
            child,
            dir,
            http_port,
            grpc_port,
        };
        rt.block_on(server.wait_ready())?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let rest = InferenceClient::rest(&self.rest_url())
            .map_err(|e| e.to_string())?
            .with_timeout(Duration::from_secs(2));
        let grpc = InferenceClient::grpc(&self.grpc_addr())
            .map_err(|e| e.to_string())?
            .with_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + READY_DEADLINE;
        let mut last;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "MLServer exited ({status}) before becoming ready; log tail:\n{}",
                    self.log_tail()
                ));
            }
            let probe = async {
                for model in [MODEL, TAMPERED] {
                    if !rest.model_ready(model).await.map_err(|e| e.to_string())? {
                        return Err(format!("model {model} not ready yet"));
                    }
                }
                match grpc.server_ready(MODEL).await.map_err(|e| e.to_string())? {
                    true => Ok(()),
                    false => Err("gRPC server not ready yet".to_string()),
                }
            };
            match probe.await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "MLServer not ready within {READY_DEADLINE:?}; last probe: {last}; log tail:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MlServer {
    fn drop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall; signals only the group this test created (pgid = child's pid).
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The group may still hold stragglers (worker processes); make sure they go too.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// Copies the artifact files; `rename` makes a tampered copy: another model name and one weight shifted.
fn copy_artifact(src: &Path, dst: &Path, rename: Option<&str>) -> Result<(), String> {
    std::fs::create_dir_all(dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    for f in ARTIFACT_FILES {
        std::fs::copy(src.join(f), dst.join(f))
            .map_err(|e| format!("copy {}: {e}", src.join(f).display()))?;
    }
    let Some(name) = rename else { return Ok(()) };
    let settings_path = dst.join("model-settings.json");
    let mut settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    settings["name"] = name.into();
    std::fs::write(&settings_path, settings.to_string()).map_err(|e| e.to_string())?;
    let weights_path = dst.join("model.safetensors");
    let mut bytes = std::fs::read(&weights_path).map_err(|e| e.to_string())?;
    let (n, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| e.to_string())?;
    let (start, _) = meta
        .info("net.4.bias")
        .ok_or("model.safetensors has no net.4.bias")?
        .data_offsets;
    let at = 8 + n + start;
    let bias = f32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) + 0.05;
    bytes[at..at + 4].copy_from_slice(&bias.to_le_bytes());
    std::fs::write(&weights_path, bytes).map_err(|e| e.to_string())
}

fn free_ports() -> Result<(u16, u16), String> {
    let a = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let b = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok((
        a.local_addr().map_err(|e| e.to_string())?.port(),
        b.local_addr().map_err(|e| e.to_string())?.port(),
    ))
}

/// Shared by all trials of one run.
struct Ctx {
    rt: tokio::runtime::Runtime,
    server: Result<MlServer, String>,
    samples: SampleSet,
    settings: serde_json::Value,
}

impl Ctx {
    fn client(&self, transport: Transport) -> Result<(&MlServer, InferenceClient), Failed> {
        let server = self.server.as_ref().map_err(|e| Failed::from(e.as_str()))?;
        let _guard = self.rt.enter(); // a lazy gRPC channel spawns its worker on the current runtime
        let client = match transport {
            Transport::Rest => InferenceClient::rest(&server.rest_url()),
            Transport::Grpc => InferenceClient::grpc(&server.grpc_addr()),
        }
        .map_err(|e| Failed::from(e.to_string()))?;
        Ok((server, client))
    }
}

/// Health, metadata, every sample within tolerance, and all three refusals, over one transport.
fn conformance(ctx: &Ctx, transport: Transport) -> Result<(), Failed> {
    let (_, client) = ctx.client(transport)?;
    let mut failures: Vec<String> = Vec::new();
    ctx.rt.block_on(async {
        for (what, result) in [
            ("server live", client.server_live(MODEL).await),
            ("server ready", client.server_ready(MODEL).await),
            ("model ready", client.model_ready(MODEL).await),
        ] {
            match result {
                Ok(true) => {}
                Ok(false) => failures.push(format!("{what}: answered false")),
                Err(e) => failures.push(format!("{what}: {e}")),
            }
        }
        match client.model_metadata(MODEL).await {
            Err(e) => failures.push(format!("metadata: {e}")),
            Ok(m) => {
                let declared = |key: &str| -> Vec<oip::rest::MetadataTensor> {
                    serde_json::from_value(ctx.settings[key].clone())
                        .expect("model-settings.json tensors")
                };
                if m.name != MODEL {
                    failures.push(format!("metadata: name {:?}, expected {MODEL:?}", m.name));
                }
                if let Err(diffs) = check_signature(&m, &declared("inputs"), &declared("outputs")) {
                    failures.extend(diffs.into_iter().map(|d| format!("metadata: {d}")));
                }
            }
        }
        failures.extend(
            check_samples(&client, MODEL, &ctx.samples)
                .await
                .iter()
                .map(ToString::to_string),
        );
        let valid = ctx.samples.samples[0].request();
        for case in BadRequest::ALL {
            let verdict = negative_case(&client, MODEL, &valid, case).await;
            println!("{verdict}");
            if !verdict.passed {
                failures.push(verdict.to_string());
            }
        }
    });
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} over {transport} at {}:\n  {}",
            MODEL,
            client.endpoint(),
            failures.join("\n  ")
        )
        .into())
    }
}

/// The same checks must fail, naming the output, when MLServer serves slightly different weights.
fn tampered_model_is_caught(ctx: &Ctx) -> Result<(), Failed> {
    for transport in [Transport::Rest, Transport::Grpc] {
        let (_, client) = ctx.client(transport)?;
        for sample in &ctx.samples.samples {
            let resp = ctx
                .rt
                .block_on(client.infer(TAMPERED, &sample.request()))
                .map_err(|e| format!("{transport}: sample `{}`: {e}", sample.name))?;
            match sample.check(&resp.outputs, ctx.samples.tolerance) {
                Ok(()) => {
                    return Err(format!(
                        "{transport}: sample `{}`: outputs of the tampered model were accepted as correct",
                        sample.name
                    )
                    .into());
                }
                Err(m) if !m.to_string().contains("output \"default_probability\"[") => {
                    return Err(format!(
                        "{transport}: sample `{}`: mismatch does not name the output element: {m}",
                        sample.name
                    )
                    .into());
                }
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// REST and gRPC answers agree bit for bit (both carry f32 values).
fn rest_and_grpc_agree(ctx: &Ctx) -> Result<(), Failed> {
    let (_, rest) = ctx.client(Transport::Rest)?;
    let (_, grpc) = ctx.client(Transport::Grpc)?;
    for sample in &ctx.samples.samples {
        let (r, g) = ctx.rt.block_on(async {
            (
                rest.infer(MODEL, &sample.request()).await,
                grpc.infer(MODEL, &sample.request()).await,
            )
        });
        let (r, g) = (r.map_err(|e| e.to_string())?, g.map_err(|e| e.to_string())?);
        let exact = harness::v2::Tolerance {
            relative: 0.0,
            absolute: 0.0,
        };
        compare_outputs(&r.outputs, &g.outputs, exact)
            .map_err(|m| format!("sample `{}`: REST vs gRPC: {m}", sample.name))?;
    }
    Ok(())
}

/// The embedded platform's data plane (`sim::artifact` behind `sim::dataplane::Mesh`) and MLServer
/// give the same outputs for every sample and the same refusals, over REST and gRPC.
fn embedded_data_plane_agrees_with_mlserver(ctx: &Ctx) -> Result<(), Failed> {
    let artifact = sim::artifact::ModelArtifact::load(&model_dir()).map_err(|e| e.to_string())?;
    let mesh = {
        let _guard = ctx.rt.enter();
        sim::dataplane::Mesh::start("financial-ml", Default::default())
            .map_err(|e| e.to_string())?
    };
    mesh.set_models(vec![sim::dataplane::ServedModel {
        name: MODEL.into(),
        version: "1".into(),
        predictor: Arc::new(artifact),
    }]);
    let mut failures = Vec::new();
    for transport in [Transport::Rest, Transport::Grpc] {
        let (_, real) = ctx.client(transport)?;
        let embedded = {
            let _guard = ctx.rt.enter();
            match transport {
                Transport::Rest => InferenceClient::rest(&format!("http://{}", mesh.addr())),
                Transport::Grpc => InferenceClient::grpc(&mesh.addr().to_string()),
            }
            .map_err(|e| e.to_string())?
        };
        ctx.rt.block_on(async {
            for sample in &ctx.samples.samples {
                let (r, e) = (real.infer(MODEL, &sample.request()).await, embedded.infer(MODEL, &sample.request()).await);
                match (r, e) {
                    (Ok(r), Ok(e)) => {
                        if let Err(m) = compare_outputs(&r.outputs, &e.outputs, ctx.samples.tolerance) {
                            failures.push(format!("{transport}: sample `{}`: MLServer (expected) vs embedded (actual): {m}", sample.name));
                        }
                    }
                    (r, e) => failures.push(format!("{transport}: sample `{}`: MLServer {:?}, embedded {:?}", sample.name, r.err().map(|x| x.to_string()), e.err().map(|x| x.to_string()))),
                }
            }
            let valid = ctx.samples.samples[0].request();
            for case in BadRequest::ALL {
                let (r, e) = (negative_case(&real, MODEL, &valid, case).await, negative_case(&embedded, MODEL, &valid, case).await);
                if !(r.passed && e.passed) {
                    failures.push(format!("MLServer: {r}\n  embedded: {e}"));
                }
            }
            match (real.model_metadata(MODEL).await, embedded.model_metadata(MODEL).await) {
                (Ok(r), Ok(e)) => {
                    if let Err(diffs) = check_signature(&e, &r.inputs, &r.outputs) {
                        failures.extend(diffs.into_iter().map(|d| format!("{transport}: embedded metadata vs MLServer: {d}")));
                    }
                }
                (r, e) => failures.push(format!("{transport}: metadata: MLServer {:?}, embedded {:?}", r.err().map(|x| x.to_string()), e.err().map(|x| x.to_string()))),
            }
        });
    }
    drop(mesh);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n  ").into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let located = locate_mlserver();
    let required = std::env::var("HARNESS_REQUIRE_MLSERVER").is_ok_and(|v| v == "1");
    let skip_reason = match (&located, required) {
        (Err(why), false) => Some(why.clone()),
        _ => None,
    };

    type Check = fn(&Ctx) -> Result<(), Failed>;
    let checks: [(&str, Check); 5] = [
        ("mlserver::rest_conformance", |c| {
            conformance(c, Transport::Rest)
        }),
        ("mlserver::grpc_conformance", |c| {
            conformance(c, Transport::Grpc)
        }),
        (
            "mlserver::tampered_model_is_caught",
            tampered_model_is_caught,
        ),
        ("mlserver::rest_and_grpc_agree", rest_and_grpc_agree),
        (
            "mlserver::embedded_data_plane_agrees_with_mlserver",
            embedded_data_plane_agrees_with_mlserver,
        ),
    ];

    // Listing must be fast and print nothing else; starting MLServer happens only for a real run.
    let ctx: Option<Arc<Ctx>> = if args.list || skip_reason.is_some() {
        None
    } else {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let samples =
            SampleSet::load(&model_dir().join("samples.json")).expect("credit-risk samples.json");
        let settings: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(model_dir().join("model-settings.json"))
                .expect("model-settings.json"),
        )
        .expect("model-settings.json is JSON");
        let server = located.clone().and_then(|bin| {
            eprintln!("mlserver_conformance: starting {}", bin.display());
            MlServer::start(&bin, &rt)
        });
        Some(Arc::new(Ctx {
            rt,
            server,
            samples,
            settings,
        }))
    };
    if let Some(why) = &skip_reason
        && !args.list
    {
        eprintln!("mlserver_conformance: SKIPPED: {why}");
    }

    let trials = checks
        .into_iter()
        .map(|(name, check)| {
            let ctx = ctx.clone();
            let reason = skip_reason.clone();
            Trial::ignorable_test(name, move || match (&ctx, reason) {
                (_, Some(why)) => Ok(Completion::ignored_with(why)),
                (Some(ctx), None) => check(ctx).map(|()| Completion::Completed),
                (None, None) => Err("internal: no MLServer context".into()),
            })
            // Shown as skipped by cargo test and nextest; the reason is printed when run anyway.
            .with_ignored_flag(skip_reason.is_some())
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // Stop MLServer before exiting: `exit` would skip destructors.
    drop(ctx);
    conclusion.exit();
}
