//! `harness::inference` against a REAL MLServer (the V2 server Seldon ships) serving the
//! credit-risk sample: health, metadata, numeric outputs and refusals, over REST and gRPC; and the
//! loan-decision sample, alone and composed after credit-risk as the `pipelines` scenario's
//! Pipeline runs them, against the embedded platform's data plane and pipeline endpoint.
//!
//! MLServer comes from `HARNESS_MLSERVER` (path of the `mlserver` binary, as printed by
//! `ci/mlserver-venv.sh`) or the script's default venv. Without it every trial is reported
//! ignored with the reason; with `HARNESS_REQUIRE_MLSERVER=1` a missing MLServer fails.
//! One MLServer process serves all trials of one test-binary run and is killed (process group)
//! when the run ends, on every path.

mod mlserver_support;

use harness::v2::{
    BadRequest, InferenceClient, SampleSet, Transport, check_samples, check_signature,
    compare_outputs, negative_case,
};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use mlserver_support::{MlServer, locate_mlserver};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The model under test and a copy with one weight changed, which every numeric check must catch.
const MODEL: &str = "credit-risk";
const TAMPERED: &str = "credit-risk-tampered";
/// The second sample model, the pipeline's second step.
const DECISION: &str = "loan-decision";
/// What goes into MLServer's model repository: the artifact, not the generator or samples.
const ARTIFACT_FILES: [&str; 3] = ["model-settings.json", "runtime.py", "model.safetensors"];

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/credit-risk")
}

/// The experiments' second candidate: another artifact with the same runtime.
const CHALLENGER: &str = "credit-risk-challenger";

fn challenger_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/credit-risk-challenger")
}

fn decision_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/models/loan-decision")
}

/// MLServer serving a temp repository with the model and its tampered copy.
fn start_mlserver(
    bin: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<(MlServer, tempfile::TempDir), String> {
    let dir = tempfile::Builder::new()
        .prefix("harness-mlserver-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let repo = dir.path().join("repo");
    copy_artifact(&model_dir(), &repo.join(MODEL), None)?;
    copy_artifact(&model_dir(), &repo.join(TAMPERED), Some(TAMPERED))?;
    copy_artifact(&challenger_dir(), &repo.join(CHALLENGER), None)?;
    let decision = repo.join(DECISION);
    std::fs::create_dir_all(&decision).map_err(|e| format!("{}: {e}", decision.display()))?;
    for f in ["model-settings.json", "loan_decision_runtime.py"] {
        std::fs::copy(decision_dir().join(f), decision.join(f))
            .map_err(|e| format!("copy {f}: {e}"))?;
    }
    let server = MlServer::start(
        bin,
        rt,
        &repo,
        &dir.path().join("mlserver.log"),
        &[MODEL, TAMPERED, CHALLENGER, DECISION],
    )?;
    Ok((server, dir))
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

/// Shared by all trials of one run.
struct Ctx {
    rt: tokio::runtime::Runtime,
    server: Result<(MlServer, tempfile::TempDir), String>,
    samples: SampleSet,
    settings: serde_json::Value,
}

impl Ctx {
    fn client(&self, transport: Transport) -> Result<(&MlServer, InferenceClient), Failed> {
        let (server, _) = self.server.as_ref().map_err(|e| Failed::from(e.as_str()))?;
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
        upstream: Default::default(),
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

/// MLServer answers the challenger's samples (its own numbers, not credit-risk's) over both
/// transports, so the experiments' numeric attribution holds on a real server too.
fn challenger_answers_its_samples(ctx: &Ctx) -> Result<(), Failed> {
    let set = SampleSet::load(&challenger_dir().join("samples.json"))
        .map_err(|e| Failed::from(e.to_string()))?;
    let mut failures = Vec::new();
    for transport in [Transport::Rest, Transport::Grpc] {
        let (_, client) = ctx.client(transport)?;
        let found = ctx.rt.block_on(check_samples(&client, CHALLENGER, &set));
        failures.extend(found.iter().map(|f| format!("{transport}: {f}")));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n  ").into())
    }
}

/// loan-decision on MLServer: its samples (threshold edges included) and its declared signature;
/// credit-risk then loan-decision on MLServer gives `pipeline-samples.json`; the embedded data
/// plane answers the same, for the model and for the Pipeline addressed as `<name>.pipeline`.
fn loan_decision_and_the_composed_pipeline(ctx: &Ctx) -> Result<(), Failed> {
    let own = SampleSet::load(&decision_dir().join("samples.json")).map_err(|e| e.to_string())?;
    let composed = SampleSet::load(&decision_dir().join("pipeline-samples.json"))
        .map_err(|e| e.to_string())?;
    let settings: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(decision_dir().join("model-settings.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let declared = |key: &str| -> Vec<oip::rest::MetadataTensor> {
        serde_json::from_value(settings[key].clone()).expect("model-settings.json tensors")
    };
    let mesh = {
        let _guard = ctx.rt.enter();
        sim::dataplane::Mesh::start("lending", Default::default()).map_err(|e| e.to_string())?
    };
    let decision = sim::decision::LoanDecision::load_if_declared(&decision_dir())
        .ok_or("loan-decision does not declare loan_decision_runtime.LoanDecisionRuntime")?
        .map_err(|e| e.to_string())?;
    let credit = sim::artifact::ModelArtifact::load(&model_dir()).map_err(|e| e.to_string())?;
    let served =
        |name: &str, predictor: Arc<dyn sim::dataplane::Predictor>| sim::dataplane::ServedModel {
            name: name.into(),
            version: "1".into(),
            predictor,
            upstream: Default::default(),
        };
    mesh.set_models(vec![
        served(MODEL, Arc::new(credit)),
        served(DECISION, Arc::new(decision)),
    ]);
    mesh.set_pipelines(vec![sim::dataplane::ServedPipeline {
        name: "credit-decision".into(),
        steps: vec![
            sim::dataplane::PipelineStep {
                name: MODEL.into(),
                ..Default::default()
            },
            sim::dataplane::PipelineStep {
                name: DECISION.into(),
                inputs: vec![format!("{MODEL}.outputs")],
                ..Default::default()
            },
        ],
        output_steps: vec![DECISION.into()],
        ..Default::default()
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
            for (who, client) in [("MLServer", &real), ("embedded", &embedded)] {
                for f in check_samples(client, DECISION, &own).await {
                    failures.push(format!("{transport}: {who}: {f}"));
                }
                match client.model_metadata(DECISION).await {
                    Ok(m) => {
                        if let Err(d) =
                            check_signature(&m, &declared("inputs"), &declared("outputs"))
                        {
                            failures.push(format!("{transport}: {who} metadata: {}", d.join("; ")));
                        }
                    }
                    Err(e) => failures.push(format!("{transport}: {who} metadata: {e}")),
                }
            }
            // The composition on MLServer, step by step, as the dataflow engine chains them.
            for sample in &composed.samples {
                let step = real.infer(MODEL, &sample.request()).await;
                let answer = match step {
                    Ok(p) => {
                        real.infer(DECISION, &harness::v2::InferenceRequest::new(p.outputs))
                            .await
                    }
                    Err(e) => Err(e),
                };
                match answer {
                    Ok(a) => {
                        if let Err(m) = sample.check(&a.outputs, composed.tolerance) {
                            failures.push(format!(
                                "{transport}: MLServer composed, sample `{}`: {m}",
                                sample.name
                            ));
                        }
                    }
                    Err(e) => failures.push(format!(
                        "{transport}: MLServer composed, sample `{}`: {e}",
                        sample.name
                    )),
                }
            }
            for f in check_samples(&embedded, "credit-decision.pipeline", &composed).await {
                failures.push(format!("{transport}: embedded pipeline: {f}"));
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
    let checks: [(&str, Check); 7] = [
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
        (
            "mlserver::challenger_answers_its_samples",
            challenger_answers_its_samples,
        ),
        (
            "mlserver::loan_decision_and_the_composed_pipeline",
            loan_decision_and_the_composed_pipeline,
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
            start_mlserver(&bin, &rt)
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
