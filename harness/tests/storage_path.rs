//! The model-storage path with real parts (issue 20): a team's rclone Secret, rendered from its
//! secret package with `kubectl kustomize` as a run applies it, goes through REAL rclone
//! (`rclone rcd`, driven over its RC API with the calls Seldon's agent v2.10.2 makes) to a REAL
//! S3 API (moto's server, authentication on) holding `scenarios/models/credit-risk` as
//! `s3://models/credit-risk`; a real MLServer then loads exactly the folder rclone filled and the
//! harness's V2 checks run against it over REST and gRPC with `samples.json`'s numbers. The kind
//! target's generated MinIO Secret goes through the same path, and so do the Secrets scenario
//! `storage-failures` declares broken on purpose, pointed at the store by `package::broken` as the
//! embedded and kind targets point them. Negative cases (remote name vs
//! storageUri scheme, wrong credentials, missing bucket, missing path) record real rclone's
//! errors and check that the agent's texts the embedded platform reports
//! (`sim::seldon::storage`) are what the agent would report for them (docs/seldon-behaviour.md §12).
//!
//! The one change to the package's Secret: its `endpoint` parameter (an in-cluster MinIO
//! address) is replaced with the loopback S3 server's; credentials, provider and remote name are
//! the package's own. The kind Secret is generated for the loopback server directly.
//!
//! Parts: rclone (`HARNESS_RCLONE` or PATH), the S3 server's venv (`HARNESS_STORAGE_PYTHON`, from
//! `ci/storage-venv.sh`), MLServer (`HARNESS_MLSERVER`), `kubectl`. A missing part reports every
//! trial ignored with the reason; `HARNESS_REQUIRE_STORAGE=1` turns that into failures.

mod mlserver_support;
mod storage_support;

use harness::scenario::Scenario;
use harness::target::kind::minio;
use harness::v2::{InferenceClient, SampleSet, Transport, check_samples};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use mlserver_support::{MlServer, locate_mlserver};
use serde_json::{Value, json};
use sim::seldon::storage::{self as agent_says, rclone_says};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use storage_support::agent::{self, CopyFailure, RcloneConfig};
use storage_support::{Rclone, S3Server, files_under, locate_rclone, locate_storage_python};

const SCENARIO: &str = "scenarios/financial-ml.yaml";
const TEAM: &str = "financial-ml";
const MODEL: &str = "credit-risk";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Everything the trials share: located parts, the scenario's facts, the rendered Secrets.
struct Ctx {
    rt: tokio::runtime::Runtime,
    rclone_bin: PathBuf,
    mlserver_bin: PathBuf,
    /// Serves the trials until the context is dropped.
    _s3: S3Server,
    /// The Model's storageUri (`s3://models/credit-risk`).
    uri: String,
    /// The artifact folder the scenario publishes at `uri`.
    artifact: PathBuf,
    /// The package's Secret value, endpoint pointed at the loopback server.
    package: RcloneConfig,
    /// The kind target's generated Secret value, rendered through the same package path.
    kind: RcloneConfig,
    /// The Secrets `storage-failures` declares broken on purpose, by name, pointed at the
    /// loopback store (with the kind Secret's keys) by the rule every target with a store applies.
    broken: Vec<(String, RcloneConfig)>,
    samples: SampleSet,
    work: tempfile::TempDir,
}

fn setup(python: PathBuf, rclone_bin: PathBuf, mlserver_bin: PathBuf) -> Result<Ctx, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let work = tempfile::Builder::new()
        .prefix("harness-storage-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let scenario = Scenario::load(&repo_root().join(SCENARIO)).map_err(|e| e.to_string())?;
    let scenario_dir = scenario.file.parent().expect("scenario file has a folder");
    let team = scenario
        .doc
        .spec
        .teams
        .iter()
        .find(|t| t.namespace == TEAM)
        .ok_or(format!("{SCENARIO} has no team {TEAM}"))?;
    let model = team
        .models
        .iter()
        .find(|m| m["metadata"]["name"] == MODEL)
        .ok_or(format!("{SCENARIO}: team {TEAM} has no Model {MODEL}"))?;
    let uri = model["spec"]["storageUri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let secret_name = model["spec"]["secretName"]
        .as_str()
        .ok_or(format!("{SCENARIO}: Model {MODEL} has no spec.secretName"))?;
    let artifact = scenario
        .doc
        .spec
        .artifacts
        .iter()
        .find(|a| a.storage_uri == uri)
        .map(|a| scenario_dir.join(&a.path))
        .ok_or(format!(
            "{SCENARIO}: no spec.artifacts entry publishes {uri}"
        ))?;
    let pkg = team
        .secret_packages
        .iter()
        .find(|p| p.provides.iter().any(|s| s == secret_name))
        .ok_or(format!(
            "{SCENARIO}: no secret package of {TEAM} provides {secret_name}"
        ))?;

    // The package as a run renders it: packed, extracted with its checks, `kubectl kustomize`.
    let rendered = harness::setup::secrets::render(pkg, scenario_dir, TEAM)
        .map_err(|e| format!("rendering {}: {e}", pkg.path.display()))?;
    let mut package = secret_config(rendered.secret(secret_name), secret_name)?;

    // The kind target's store credentials (random per store) and its package folder, rendered
    // the same way; the S3 server must accept both pairs.
    let creds = minio::Credentials::random().map_err(|e| e.to_string())?;
    let (bucket, prefix) = bucket_and_path(&uri)?;
    let spec = json!({
        "credentials": [
            {"access_key": package.parameters.get("access_key_id"), "secret_key": package.parameters.get("secret_access_key")},
            {"access_key": creds.access_key, "secret_key": creds.secret_key()},
        ],
        "buckets": [bucket],
        "publish": [{"bucket": bucket, "prefix": prefix, "dir": artifact, "files": files_under(&artifact)?}],
    });
    let s3 = S3Server::start(
        &python,
        &repo_root().join("ci/s3-server.py"),
        &spec,
        &work.path().join("s3-server.log"),
    )?;
    package.parameters.insert("endpoint".into(), s3.endpoint());
    let kind_secret = minio::rclone_secret(secret_name, TEAM, &s3.endpoint(), &creds);
    let folder = minio::package_folder(&work.path().join("kind"), TEAM, &pkg.overlay, &kind_secret)
        .map_err(|e| e.to_string())?;
    let kind_pkg = harness::scenario::SecretPackageRef {
        path: folder,
        overlay: pkg.overlay.clone(),
        provides: vec![secret_name.to_string()],
        seal: None,
        broken_on_purpose: Default::default(),
    };
    let kind_rendered = harness::setup::secrets::prepare(
        &kind_pkg,
        &work.path().join("kind"),
        TEAM,
        &work.path().join("kind-work"),
        None,
    )
    .map_err(|e| format!("rendering the kind target's model-store package: {e}"))?;
    let kind = secret_config(kind_rendered.secret(secret_name), secret_name)?;
    let broken = broken_secrets(&minio::StoreAccess {
        endpoint: s3.endpoint(),
        credentials: creds.clone(),
    })?;
    let samples = SampleSet::load(&artifact.join("samples.json")).map_err(|e| e.to_string())?;
    Ok(Ctx {
        rt,
        rclone_bin,
        mlserver_bin,
        _s3: s3,
        uri,
        artifact,
        package,
        kind,
        broken,
        samples,
        work,
    })
}

/// The Secrets of `storage-failures` declared `brokenOnPurpose`, rendered from their package as a
/// run renders it and pointed at `store` by `package::broken`, as the embedded and kind targets do.
fn broken_secrets(store: &minio::StoreAccess) -> Result<Vec<(String, RcloneConfig)>, String> {
    const BROKEN: &str = "scenarios/storage-failures.yaml";
    let scenario = Scenario::load(&repo_root().join(BROKEN)).map_err(|e| e.to_string())?;
    let dir = scenario.file.parent().expect("scenario file has a folder");
    let team = &scenario.doc.spec.teams[0];
    let pkg = team
        .secret_packages
        .iter()
        .find(|p| !p.broken_on_purpose.is_empty())
        .ok_or(format!("{BROKEN}: no package declares brokenOnPurpose"))?;
    let rendered = harness::setup::secrets::render(pkg, dir, &team.namespace)
        .map_err(|e| format!("rendering {}: {e}", pkg.path.display()))?;
    let mut out = Vec::new();
    for (name, part) in &pkg.broken_on_purpose {
        let users: Vec<(&str, &str)> = team
            .models
            .iter()
            .filter(|m| m["spec"]["secretName"] == name.as_str())
            .map(|m| {
                let uri = m["spec"]["storageUri"].as_str().unwrap_or_default();
                (
                    m["metadata"]["name"].as_str().unwrap_or_default(),
                    uri.split_once("://").map_or("", |(s, _)| s),
                )
            })
            .collect();
        let secret = rendered
            .secret(name)
            .ok_or(format!("the package renders no Secret {name}"))?;
        let kept = harness::package::broken::read_broken(secret, *part, &users)
            .map_err(|e| e.to_string())?;
        let pointed = harness::package::broken::point_at_store(secret, &kept, store);
        out.push((name.clone(), secret_config(Some(&pointed), name)?));
    }
    Ok(out)
}

/// The value the agent reads from a rendered Secret, parsed as the agent parses it.
fn secret_config(secret: Option<&Value>, name: &str) -> Result<RcloneConfig, String> {
    let secret = secret.ok_or(format!("the rendered package has no Secret {name}"))?;
    let (_, text) = harness::package::rclone_config_value(secret).map_err(|e| e.to_string())?;
    agent::parse_config(&text).map_err(|e| format!("Secret {name}: {e}"))
}

fn bucket_and_path(uri: &str) -> Result<(String, String), String> {
    let rest = uri
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or(format!("{uri} is not scheme://bucket/path"))?;
    let (b, p) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((b.to_string(), p.to_string()))
}

impl Ctx {
    fn rclone(&self) -> Result<Rclone, String> {
        // A fresh rcd per case: rclone caches remotes it has opened, across config changes.
        Rclone::start(&self.rclone_bin, &self.rt)
    }

    /// MLServer on exactly the folder rclone filled; the V2 checks over REST and gRPC.
    fn serve_and_check(&self, copied: &Path, what: &str) -> Result<(), Failed> {
        let published = files_under(&self.artifact)?;
        let got = files_under(copied)?;
        if got != published {
            return Err(
                format!("{what}: rclone copied {got:?}, the store holds {published:?}").into(),
            );
        }
        for f in &published {
            if std::fs::read(copied.join(f)).ok() != std::fs::read(self.artifact.join(f)).ok() {
                return Err(format!("{what}: {f} differs from the published artifact").into());
            }
        }
        let repo = copied.parent().expect("copy folder has a parent");
        let log = tempfile::NamedTempFile::new_in(self.work.path()).map_err(|e| e.to_string())?;
        let server = MlServer::start(&self.mlserver_bin, &self.rt, repo, log.path(), &[MODEL])?;
        let mut failures = Vec::new();
        for transport in [Transport::Rest, Transport::Grpc] {
            let client = {
                let _guard = self.rt.enter();
                match transport {
                    Transport::Rest => InferenceClient::rest(&server.rest_url()),
                    Transport::Grpc => InferenceClient::grpc(&server.grpc_addr()),
                }
                .map_err(|e| e.to_string())?
            };
            self.rt.block_on(async {
                match client.model_ready(MODEL).await {
                    Ok(true) => {}
                    other => failures.push(format!("{transport}: model ready: {other:?}")),
                }
                failures.extend(
                    check_samples(&client, MODEL, &self.samples)
                        .await
                        .iter()
                        .map(|f| format!("{transport}: {f}")),
                );
            });
        }
        if failures.is_empty() {
            println!(
                "{what}: MLServer on rclone's copy answered all {} samples correctly over REST and gRPC",
                self.samples.samples.len()
            );
            Ok(())
        } else {
            Err(format!(
                "{what}:\n  {}\n{}",
                failures.join("\n  "),
                server.log_tail()
            )
            .into())
        }
    }

    /// Runs the agent's copy and returns its failure, redacted; a success is an error here.
    fn copy_fails(
        &self,
        rc: &Rclone,
        uri: &str,
        cfg: Option<&RcloneConfig>,
        secrets: &[String],
    ) -> Result<CopyFailure, Failed> {
        match self.rt.block_on(agent::copy(rc, MODEL, uri, cfg)) {
            Ok(dst) => Err(format!("copying {uri} succeeded into {}", dst.display()).into()),
            Err(mut f) => {
                f.agent_message = agent::redact(&f.agent_message, secrets);
                if let Some(r) = f.rclone.as_mut() {
                    r.body = json!({"error": r.error().map(|e| agent::redact(e, secrets)), "status": r.body["status"]});
                }
                println!(
                    "{uri}: agent reports {:?}; rclone answered {}",
                    f.in_pod,
                    f.rclone
                        .as_ref()
                        .map_or("nothing (not called)".into(), |r| format!(
                            "HTTP {} {}",
                            r.status, r.body
                        ))
                );
                Ok(f)
            }
        }
    }
}

/// The package's Secret on a Model (`spec.secretName`): connection string, sync/copy, MLServer.
fn package_secret_per_model(ctx: &Ctx) -> Result<(), Failed> {
    let rc = ctx.rclone()?;
    let dst = ctx
        .rt
        .block_on(agent::copy(&rc, MODEL, &ctx.uri, Some(&ctx.package)))
        .map_err(|f| agent::redact(&format!("{f:?}"), &ctx.package.secret_values()))?;
    ctx.serve_and_check(&dst, "package Secret via spec.secretName")
}

/// The package's Secret preloaded (`config_secrets`): config/get + config/create, then a copy
/// that names the remote by the storageUri scheme.
fn package_secret_preloaded(ctx: &Ctx) -> Result<(), Failed> {
    let rc = ctx.rclone()?;
    let name = ctx.rt.block_on(agent::config(&rc, &ctx.package))?;
    let remotes = ctx.rt.block_on(rc.call("config/listremotes", &json!({})))?;
    if remotes.body["remotes"] != json!([name]) {
        return Err(format!("config/listremotes after config/create: {}", remotes.body).into());
    }
    // Again: the agent updates an existing remote (config/update) instead of creating it.
    ctx.rt.block_on(agent::config(&rc, &ctx.package))?;
    let dst = ctx
        .rt
        .block_on(agent::copy(&rc, MODEL, &ctx.uri, None))
        .map_err(|f| agent::redact(&format!("{f:?}"), &ctx.package.secret_values()))?;
    ctx.serve_and_check(&dst, "package Secret preloaded via config_secrets")
}

/// The kind target's generated MinIO Secret, through the same package path and the same copy.
fn kind_minio_secret(ctx: &Ctx) -> Result<(), Failed> {
    if ctx.kind.name != "s3" || ctx.kind.type_ != "s3" {
        return Err(format!(
            "kind Secret names remote {:?} of type {:?}",
            ctx.kind.name, ctx.kind.type_
        )
        .into());
    }
    let rc = ctx.rclone()?;
    let dst = ctx
        .rt
        .block_on(agent::copy(&rc, MODEL, &ctx.uri, Some(&ctx.kind)))
        .map_err(|f| agent::redact(&format!("{f:?}"), &ctx.kind.secret_values()))?;
    ctx.serve_and_check(&dst, "kind MinIO Secret via spec.secretName")?;
    // Preloaded too (the kind target delivers it for config_secrets as well).
    let rc = ctx.rclone()?;
    ctx.rt.block_on(agent::config(&rc, &ctx.kind))?;
    let dst = ctx
        .rt
        .block_on(agent::copy(&rc, MODEL, &ctx.uri, None))
        .map_err(|f| agent::redact(&format!("{f:?}"), &ctx.kind.secret_values()))?;
    ctx.serve_and_check(&dst, "kind MinIO Secret preloaded")
}

/// A remote `name` other than the storageUri scheme: the agent refuses a per-Model Secret
/// before calling rclone; a preloaded one leaves rclone without the remote the URI names.
fn remote_name_mismatch(ctx: &Ctx) -> Result<(), Failed> {
    let mut cfg = ctx.package.clone();
    cfg.name = "minio".into();
    let secrets = cfg.secret_values();
    let rc = ctx.rclone()?;
    let f = ctx.copy_fails(&rc, &ctx.uri, Some(&cfg), &secrets)?;
    let want = agent_says::remote_name_mismatch("s3", "minio");
    if f.agent_message != want || f.rclone.is_some() {
        return Err(format!(
            "per-Model Secret: agent said {:?} (rclone called: {}), expected {want:?}",
            f.agent_message,
            f.rclone.is_some()
        )
        .into());
    }
    ctx.rt.block_on(agent::config(&rc, &cfg))?;
    let f = ctx.copy_fails(&rc, &ctx.uri, None, &secrets)?;
    let reply = f.rclone.as_ref().ok_or("rclone was not called")?;
    expect_sync_copy_failed(ctx, &f)?;
    let err = reply.error().unwrap_or_default();
    if !err.contains(rclone_says::NOT_IN_CONFIG) {
        return Err(format!(
            "preloaded remote `minio`, URI {}: rclone said {err:?}, expected {:?}",
            ctx.uri,
            rclone_says::NOT_IN_CONFIG
        )
        .into());
    }
    Ok(())
}

fn expect_sync_copy_failed(ctx: &Ctx, f: &CopyFailure) -> Result<(), Failed> {
    let dst = agent_says::copy_destination(
        agent_says::RCLONE_DIR,
        &agent_says::versioned_model(MODEL, 1),
        &ctx.uri,
    );
    let want = agent_says::sync_copy_failed(
        &ctx.uri,
        &dst,
        agent_says::RCLONE_HOST,
        agent_says::RCLONE_PORT,
    );
    if f.in_pod != want {
        return Err(format!(
            "agent said {:?}, the embedded platform says {want:?}",
            f.in_pod
        )
        .into());
    }
    Ok(())
}

/// Wrong secret key → SignatureDoesNotMatch; unknown access key → InvalidAccessKeyId.
fn wrong_credentials(ctx: &Ctx) -> Result<(), Failed> {
    for (param, value, says) in [
        (
            "secret_access_key",
            "not-the-secret-key",
            rclone_says::SIGNATURE_DOES_NOT_MATCH,
        ),
        (
            "access_key_id",
            "not-a-known-access-key",
            rclone_says::INVALID_ACCESS_KEY_ID,
        ),
    ] {
        let mut cfg = ctx.package.clone();
        cfg.parameters.insert(param.into(), value.into());
        let mut secrets = cfg.secret_values();
        secrets.extend(ctx.package.secret_values());
        let rc = ctx.rclone()?;
        let f = ctx.copy_fails(&rc, &ctx.uri, Some(&cfg), &secrets)?;
        expect_sync_copy_failed(ctx, &f)?;
        let reply = f.rclone.as_ref().ok_or("rclone was not called")?;
        let err = reply.error().unwrap_or_default();
        if reply.status != 500 || !err.starts_with(says) || !err.contains("status code: 403") {
            return Err(format!(
                "wrong {param}: rclone answered HTTP {} {err:?}, expected 500 {says:?} (S3 403)",
                reply.status
            )
            .into());
        }
    }
    Ok(())
}

/// The Secrets broken on purpose, pointed at a store that serves the artifact: each fails on its
/// declared part only. `keys`: the store answers S3 403 `InvalidAccessKeyId` (not a DNS or
/// connection error, which would give the agent the same text after minutes of retries);
/// `remoteName`: the agent refuses it before calling rclone.
fn broken_on_purpose_fail_for_their_part(ctx: &Ctx) -> Result<(), Failed> {
    let names: Vec<&str> = ctx.broken.iter().map(|(n, _)| n.as_str()).collect();
    if names != ["minio-remote", "wrong-keys-s3"] {
        return Err(format!("storage-failures declares {names:?} broken on purpose").into());
    }
    for (name, cfg) in &ctx.broken {
        let mut secrets = cfg.secret_values();
        secrets.extend(ctx.kind.secret_values());
        let rc = ctx.rclone()?;
        let f = ctx.copy_fails(&rc, &ctx.uri, Some(cfg), &secrets)?;
        if name == "minio-remote" {
            let want = agent_says::remote_name_mismatch("s3", "minio");
            if f.agent_message != want || f.rclone.is_some() {
                return Err(format!(
                    "{name}: agent said {:?} (rclone called: {}), expected {want:?}",
                    f.agent_message,
                    f.rclone.is_some()
                )
                .into());
            }
            continue;
        }
        expect_sync_copy_failed(ctx, &f)?;
        let reply = f.rclone.as_ref().ok_or("rclone was not called")?;
        let err = reply.error().unwrap_or_default();
        if reply.status != 500
            || !err.starts_with(rclone_says::INVALID_ACCESS_KEY_ID)
            || !err.contains("status code: 403")
        {
            return Err(format!(
                "{name}: rclone answered HTTP {} {err:?}, expected 500 {:?} (S3 403)",
                reply.status,
                rclone_says::INVALID_ACCESS_KEY_ID
            )
            .into());
        }
    }
    Ok(())
}

/// A bucket the store does not have: rclone 404 "directory not found".
fn missing_bucket(ctx: &Ctx) -> Result<(), Failed> {
    let uri = "s3://no-such-bucket/credit-risk";
    let rc = ctx.rclone()?;
    let f = ctx.copy_fails(&rc, uri, Some(&ctx.package), &ctx.package.secret_values())?;
    let reply = f.rclone.as_ref().ok_or("rclone was not called")?;
    let dst = agent_says::copy_destination(
        agent_says::RCLONE_DIR,
        &agent_says::versioned_model(MODEL, 1),
        uri,
    );
    let want =
        agent_says::sync_copy_failed(uri, &dst, agent_says::RCLONE_HOST, agent_says::RCLONE_PORT);
    if f.in_pod != want
        || reply.status != 404
        || reply.error() != Some(rclone_says::DIRECTORY_NOT_FOUND)
    {
        return Err(format!(
            "agent said {:?}, rclone HTTP {} {:?}; expected {want:?} and 404 {:?}",
            f.in_pod,
            reply.status,
            reply.error(),
            rclone_says::DIRECTORY_NOT_FOUND
        )
        .into());
    }
    Ok(())
}

/// A path with no objects in an existing bucket: rclone succeeds having copied nothing.
fn missing_path(ctx: &Ctx) -> Result<(), Failed> {
    let uri = "s3://models/nothing-here";
    let rc = ctx.rclone()?;
    let f = ctx.copy_fails(&rc, uri, Some(&ctx.package), &ctx.package.secret_values())?;
    let reply = f.rclone.as_ref().ok_or("rclone was not called")?;
    let want = agent_says::nothing_downloaded(uri);
    if f.in_pod != want
        || reply.status != 200
        || !rc.log().contains(rclone_says::NOTHING_TO_TRANSFER)
    {
        return Err(format!("agent said {:?}, rclone HTTP {} (log mentions {:?}: {}); expected {want:?} after a 200", f.in_pod, reply.status, rclone_says::NOTHING_TO_TRANSFER, rc.log().contains(rclone_says::NOTHING_TO_TRANSFER)).into());
    }
    Ok(())
}

/// Each part, or why it is missing.
fn locate_parts() -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let python = locate_storage_python()?;
    let rclone = locate_rclone()?;
    let mlserver = locate_mlserver()?;
    // The package is rendered with `kubectl kustomize`, as a run renders it.
    storage_support::find_on_path("kubectl")
        .ok_or("kubectl not found on PATH (it renders secret packages)")?;
    Ok((python, rclone, mlserver))
}

fn main() {
    let args = Arguments::from_args();
    let located = locate_parts();
    let required = std::env::var("HARNESS_REQUIRE_STORAGE").is_ok_and(|v| v == "1");
    let skip_reason = match (&located, required) {
        (Err(why), false) => Some(why.clone()),
        _ => None,
    };
    type Check = fn(&Ctx) -> Result<(), Failed>;
    let checks: [(&str, Check); 8] = [
        (
            "storage::package_secret_per_model_serves_v2",
            package_secret_per_model,
        ),
        (
            "storage::package_secret_preloaded_serves_v2",
            package_secret_preloaded,
        ),
        ("storage::kind_minio_secret_serves_v2", kind_minio_secret),
        (
            "storage::remote_name_not_matching_scheme_fails",
            remote_name_mismatch,
        ),
        ("storage::wrong_credentials_fail", wrong_credentials),
        (
            "storage::broken_on_purpose_secrets_fail_for_their_part",
            broken_on_purpose_fail_for_their_part,
        ),
        ("storage::missing_bucket_fails", missing_bucket),
        ("storage::missing_path_fails", missing_path),
    ];
    // Listing must be fast and start nothing; the parts start only for a real run.
    let ctx: Option<Arc<Result<Ctx, String>>> = if args.list || skip_reason.is_some() {
        None
    } else {
        Some(Arc::new(located.clone().and_then(
            |(python, rclone, mlserver)| setup(python, rclone, mlserver),
        )))
    };
    if let Some(why) = &skip_reason
        && !args.list
    {
        eprintln!("storage_path: SKIPPED: {why}");
    }
    let trials = checks
        .into_iter()
        .map(|(name, check)| {
            let ctx = ctx.clone();
            let reason = skip_reason.clone();
            Trial::ignorable_test(name, move || match (&ctx, reason) {
                (_, Some(why)) => Ok(Completion::ignored_with(why)),
                (Some(ctx), None) => match ctx.as_ref() {
                    Ok(ctx) => check(ctx).map(|()| Completion::Completed),
                    Err(e) => Err(format!("setting up the storage path: {e}").into()),
                },
                (None, None) => Err("internal: no storage context".into()),
            })
            .with_ignored_flag(skip_reason.is_some())
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(ctx); // stop the S3 server before exiting: `exit` skips destructors
    conclusion.exit();
}
