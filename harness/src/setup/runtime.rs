//! Team setup: namespaces, policies, SeldonRuntime, Servers and Models, and cleanup.
//!
//! [`plan`](super::plan::plan) lists what a scenario applies, in order: namespaces (scenario `namespaces` and teams,
//! labelled `name: <namespace>` unless given: the seed's NetworkPolicy selects on it),
//! ResourceQuotas, LimitRanges, ServiceAccounts/Roles/RoleBindings, NetworkPolicies, secret
//! packages, each team's SeldonRuntime, its Servers (Seldon does not create them from the
//! runtime), then Models. [`setup`] applies that plan through [`crate::kube::apply`]; [`render`](crate::setup::render)
//! prints it. Before touching the cluster every secret package is extracted, rendered and
//! checked, and the rclone Secrets models and runtimes refer to are checked (docs/seldon-behaviour.md §10).
//!
//! Cleanup deletes in reverse order, waiting for finalizers with a deadline, and only objects that
//! carry this run's label; namespaces the run did not create (adopted) are never deleted.
//!
//! # Cleanup on every path
//!
//! Async Drop does not exist, so callers hold a [`CleanupGuard`](super::cleanup::CleanupGuard):
//!
//! ```no_run
//! # async fn run(client: kube::Client, scenario: &harness::scenario::Scenario) -> anyhow::Result<()> {
//! use harness::setup::{self, CleanupGuard, RunContext};
//! let ctx = RunContext::for_scenario(scenario);
//! let guard = CleanupGuard::new(client.clone(), &ctx);
//! let work = async {
//!     setup::setup_recorded(&client, scenario, &ctx, &guard.recorder()).await?;
//!     // ... checks ...
//!     anyhow::Ok(())
//! };
//! let result = tokio::select! {
//!     r = work => r,
//!     _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
//! };
//! guard.finish().await?; // or `guard.keep()` for --keep: prints how to inspect
//! result
//! # }
//! ```
//!
//! If `finish` is never reached (panic, early return), Drop cleans up synchronously: on a
//! multi-thread runtime through `block_in_place` with the same client; elsewhere on a helper thread
//! with a fresh client built from the `kube::Config` given with `CleanupGuard::with_config`.

use kube::Client;
use serde_json::Value;

use super::plan::{Phase, Step, plan};
use super::record::{Applied, Recorder, RunContext};
use crate::kube::{Applier, ApplyError, ObjectRef};
use crate::package::seal::is_sealed_secret;
use crate::scenario::{BrokenPart, Scenario, SecretPackageRef};
use crate::setup::secrets::{self, RenderedPackage, SecretsError};

/// What went wrong in setup.
#[derive(Debug, thiserror::Error)]
pub enum SetupCause {
    /// Applying an object failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A secret package (or an rclone Secret in it) is unusable.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// Setup failed; `applied` holds what was applied before, for cleanup.
#[derive(Debug, thiserror::Error)]
#[error("setting up scenario `{scenario}` (run {run_id}) failed at {phase}: {cause}")]
pub struct SetupError {
    /// The scenario.
    pub scenario: String,
    /// The run id.
    pub run_id: String,
    /// Where it failed.
    pub phase: Phase,
    /// Why.
    pub cause: SetupCause,
    /// What was applied before the failure.
    pub applied: Applied,
}

/// Applies a scenario (see the module docs for the order). Returns everything applied; on error
/// the [`SetupError`] carries the partial record for cleanup.
pub async fn setup(
    client: &Client,
    scenario: &Scenario,
    ctx: impl Into<RunContext>,
) -> Result<Applied, SetupError> {
    let ctx = ctx.into();
    let recorder = Recorder::new(ctx.labels.clone());
    match setup_recorded(client, scenario, &ctx, &recorder).await {
        Ok(()) => Ok(recorder.snapshot()),
        Err(mut e) => {
            e.applied = recorder.snapshot();
            Err(e)
        }
    }
}

/// Applies a scenario, recording each object in `recorder` before applying it (so a guard holding
/// the recorder cleans up whatever an interrupted setup left).
pub async fn setup_recorded(
    client: &Client,
    scenario: &Scenario,
    ctx: &RunContext,
    recorder: &Recorder,
) -> Result<(), SetupError> {
    let fail = |phase: Phase, cause: SetupCause| SetupError {
        scenario: scenario.name().to_string(),
        run_id: ctx.labels.run_id.clone(),
        phase,
        cause,
        applied: Applied::new(ctx.labels.clone()),
    };
    let steps = plan(scenario);
    // Local work first: a broken package fails the run before the cluster is touched.
    let mut packages: Vec<RenderedPackage> = Vec::new();
    for step in &steps {
        if let Step::Package { namespace, package } = step {
            let r = secrets::prepare(
                package,
                scenario.base_dir(),
                namespace,
                &ctx.packages_dir(),
                Some(&ctx.package_date),
            )
            .and_then(|mut r| {
                supply_target_secrets(scenario, namespace, package, &mut r, ctx)?;
                deliver_broken(scenario, namespace, package, &mut r, ctx)?;
                Ok(r)
            })
            .map_err(|e| {
                remove_packages(ctx);
                fail(Phase::SecretPackages, e.into())
            })?;
            packages.push(r);
        }
    }
    if !ctx.keep_packages {
        // Rendered in memory: the plaintext on disk is no longer needed.
        remove_packages(ctx);
    }
    check_storage_secrets(scenario, &packages).map_err(|(phase, e)| fail(phase, e.into()))?;
    seal_packages(client, ctx, &steps, &mut packages)
        .await
        .map_err(|e| fail(Phase::SecretPackages, e.into()))?;

    let applier = Applier::new(client.clone(), ctx.labels.clone());
    let mut rendered = packages.iter();
    let mut current = None;
    for step in &steps {
        let phase = step.phase();
        if current != Some(phase) {
            tracing::info!("run {}: applying {phase}", ctx.labels.run_id);
            current = Some(phase);
        }
        let objects: Vec<&Value> = match step {
            Step::Object { object, .. } => vec![object],
            Step::Package { .. } => {
                let p = rendered
                    .next()
                    .expect("one rendered package per package step");
                tracing::info!(
                    "applying package {} overlay {} to namespace {} ({} objects)",
                    p.package,
                    p.overlay,
                    p.namespace,
                    p.objects.len()
                );
                p.objects.iter().collect()
            }
        };
        for obj in objects {
            let object =
                ObjectRef::from_value(obj).map_err(|e| fail(phase, ApplyError::from(e).into()))?;
            recorder.intend(phase, &object);
            let outcome = applier
                .apply(obj)
                .await
                .map_err(|e| fail(phase, e.into()))?;
            recorder.done(outcome);
        }
    }
    let applied = recorder.snapshot();
    tracing::info!(
        "run {}: set up {} objects ({} changed)",
        ctx.labels.run_id,
        applied.records.len(),
        applied.outcomes().filter(|o| o.changed).count()
    );
    Ok(())
}

/// Seals the packages the scenario marks `seal:` with the cluster's sealed-secrets controller
/// certificate, fetched once as kubeseal fetches it (or read from the run's certificate file).
async fn seal_packages(
    client: &Client,
    ctx: &RunContext,
    steps: &[Step],
    packages: &mut [RenderedPackage],
) -> Result<(), SecretsError> {
    use crate::package::seal::{CONTROLLER_NAME, CONTROLLER_NAMESPACE, SealingKey};
    let scopes: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Package { package, .. } => Some(package.seal),
            Step::Object { .. } => None,
        })
        .collect();
    if scopes.iter().all(Option::is_none) {
        return Ok(());
    }
    let (origin, pem) = match &ctx.sealing_cert {
        Some(path) => {
            let origin = path.display().to_string();
            let pem = std::fs::read(path).map_err(|e| SecretsError::Certificate {
                origin: origin.clone(),
                message: format!("cannot read the sealing certificate: {e}"),
            })?;
            (origin, pem)
        }
        None => {
            let origin = format!("{CONTROLLER_NAMESPACE}/{CONTROLLER_NAME} (service proxy)");
            let pem = crate::kube::sealed::fetch_certificate(
                client,
                CONTROLLER_NAMESPACE,
                CONTROLLER_NAME,
            )
            .await
            .map_err(|message| SecretsError::Certificate {
                origin: origin.clone(),
                message,
            })?;
            (origin, pem)
        }
    };
    let key = SealingKey::from_pem(&pem, &origin)?;
    for (p, scope) in packages.iter_mut().zip(scopes) {
        if let Some(scope) = scope {
            secrets::seal(p, &key, scope)?;
            tracing::info!(
                "sealed package {} for namespace {} ({scope})",
                p.package,
                p.namespace
            );
        }
    }
    Ok(())
}

/// Removes the run's extracted packages, warning (without values) when it cannot.
fn remove_packages(ctx: &RunContext) {
    if let Err(e) = ctx.remove_packages() {
        tracing::warn!(
            "could not remove the extracted secret packages in {}: {e}; delete that folder by hand",
            ctx.packages_dir().display()
        );
    }
}

/// Swaps each Secret of a rendered package that the target supplies (the rclone Secret of its own
/// model store, `package_overrides`) for the target's, keeping every other object of the package:
/// the target knows the store's endpoint and keys, the package holds the team's placeholders.
fn supply_target_secrets(
    scenario: &Scenario,
    namespace: &str,
    package: &SecretPackageRef,
    rendered: &mut RenderedPackage,
    ctx: &RunContext,
) -> Result<(), SecretsError> {
    for secret in &package.provides {
        let key = (namespace.to_string(), secret.clone());
        let Some(dir) = ctx.package_overrides.packages.get(&key) else {
            continue;
        };
        let supplied = SecretPackageRef {
            path: dir.clone(),
            provides: vec![secret.clone()],
            broken_on_purpose: Default::default(),
            ..package.clone()
        };
        let from_target = secrets::prepare(
            &supplied,
            scenario.base_dir(),
            namespace,
            &ctx.packages_dir(),
            Some(&ctx.package_date),
        )?;
        let mut object = from_target.secret(secret).cloned().ok_or_else(|| {
            SecretsError::Invalid(format!(
                "the target's package {} renders no Secret `{secret}`",
                dir.display()
            ))
        })?;
        // It is applied as part of the scenario's package, so it carries that package's label.
        object["metadata"]["labels"][secrets::PACKAGE_LABEL] =
            secrets::package_label_value(&rendered.package).into();
        match rendered.objects.iter().position(|o| {
            (o["kind"] == "Secret" || is_sealed_secret(o))
                && o["metadata"]["name"] == secret.as_str()
        }) {
            Some(at) => rendered.objects[at] = object,
            None => rendered.objects.push(object),
        }
        tracing::info!(
            "{namespace}: Secret {secret} of package {} comes from the target's model store; the \
             package's other objects are applied as packaged",
            package.path.display()
        );
    }
    Ok(())
}

/// Delivers the Secrets a package declares broken on purpose (`brokenOnPurpose`) by the rule of
/// `package::broken`: each must be a plain Secret of the rendered package whose declared part is
/// wrong for the Models naming it; with the target's model store it is pointed at that store,
/// keeping the wrong part; without one (existing clusters) it stays as packaged, and the run says
/// what its failure then depends on. Never logs a value.
fn deliver_broken(
    scenario: &Scenario,
    namespace: &str,
    package: &SecretPackageRef,
    rendered: &mut RenderedPackage,
    ctx: &RunContext,
) -> Result<(), SecretsError> {
    let models = scenario.team(namespace).map_or(&[][..], |t| &t.models[..]);
    for (name, part) in &package.broken_on_purpose {
        let users: Vec<(&str, &str)> = models
            .iter()
            .filter(|m| m["spec"]["secretName"] == name.as_str())
            .filter_map(|m| {
                let uri = m["spec"]["storageUri"].as_str()?;
                Some((
                    m["metadata"]["name"].as_str().unwrap_or_default(),
                    uri.split_once("://").map_or("", |(s, _)| s),
                ))
            })
            .collect();
        let Some(at) = rendered
            .objects
            .iter()
            .position(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name.as_str())
        else {
            return Err(SecretsError::Invalid(format!(
                "{}: `brokenOnPurpose` names Secret `{name}`, but the package renders no plain \
                 Secret of that name (a SealedSecret cannot be pointed at the target's store): \
                 add it to the package as a Secret, or remove the entry",
                package.path.display()
            )));
        };
        let broken = crate::package::broken::read_broken(&rendered.objects[at], *part, &users)?;
        match &ctx.package_overrides.store {
            Some(store) => {
                rendered.objects[at] =
                    crate::package::broken::point_at_store(&rendered.objects[at], &broken, store);
                tracing::info!(
                    "{namespace}: Secret {name} is broken on purpose ({}): it points at the \
                     target's model store with its {} kept as packaged",
                    part.as_str(),
                    match part {
                        BrokenPart::Keys => "keys",
                        BrokenPart::RemoteName => "remote name",
                    }
                );
            }
            None => tracing::warn!(
                "{namespace}: Secret {name} is broken on purpose ({}) and this target has no \
                 model store of its own, so it is applied as packaged: its Models fail for the \
                 declared reason only if the store its package's `endpoint` names is reachable \
                 from the cluster and holds the scenario's artifacts (scenarios/README.md, \
                 \"Secrets broken on purpose\")",
                part.as_str()
            ),
        }
    }
    Ok(())
}

/// Checks the rclone Secrets that Models (`spec.secretName`) and runtimes
/// (`config.agentConfig.rclone.config_secrets`) use, in the packages of their team.
fn check_storage_secrets(
    scenario: &Scenario,
    packages: &[RenderedPackage],
) -> Result<(), (Phase, SecretsError)> {
    for t in &scenario.doc.spec.teams {
        let find = |name: &str| {
            packages
                .iter()
                .filter(|p| p.namespace == t.namespace)
                .find_map(|p| p.secret(name))
        };
        for m in &t.models {
            let (Some(secret), Some(uri)) = (
                m["spec"]["secretName"].as_str(),
                m["spec"]["storageUri"].as_str(),
            ) else {
                continue;
            };
            let scheme = uri.split_once("://").map_or("", |(s, _)| s);
            let name = m["metadata"]["name"].as_str().unwrap_or_default();
            let broken = t
                .secret_packages
                .iter()
                .any(|p| p.broken_on_purpose.contains_key(secret));
            if broken {
                // Checked against its declaration when its package was rendered.
                continue;
            }
            if let Some(s) = find(secret) {
                crate::package::check_rclone_secret(s, scheme).map_err(|e| {
                    let hint = if scenario.expects_load_failure(&t.namespace, name) {
                        format!(
                            "; Model `{name}` is expected to fail: if Secret `{secret}` is wrong on \
                             purpose, declare it under its package's `brokenOnPurpose` \
                             (scenarios/README.md, \"Secrets broken on purpose\")"
                        )
                    } else {
                        String::new()
                    };
                    (Phase::Models, SecretsError::Invalid(format!("{e}{hint}")))
                })?;
            }
        }
        if let Some(rt) = &t.runtime
            && let Some(names) =
                rt["spec"]["config"]["agentConfig"]["rclone"]["config_secrets"].as_array()
        {
            for name in names.iter().filter_map(Value::as_str) {
                if let Some(s) = find(name) {
                    crate::package::parse_rclone_secret(s).map_err(|e| (Phase::Runtime, e))?;
                }
            }
        }
    }
    Ok(())
}
