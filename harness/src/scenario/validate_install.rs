//! Validation of a scenario's install settings (`spec.seldon`, Kafka) and secret package
//! references, with hints.

use std::path::Path;

use super::diagnostic::Ctx;
use super::format::*;
use super::objects::*;

/// Runtimes that enable the Kafka components on a platform declaring no Kafka: they crash-loop
/// (docs/seldon-behaviour.md §14), so the runtime never becomes Ready.
pub(super) fn check_kafka(ctx: &mut Ctx<'_>, doc: &ScenarioFile) {
    use super::seldon::{KAFKA_COMPONENTS, Kafka};
    if doc.spec.seldon.kafka != Kafka::None {
        return;
    }
    for (i, team) in doc.spec.teams.iter().enumerate() {
        let Some(rt) = &team.runtime else { continue };
        let enabled: Vec<&str> = KAFKA_COMPONENTS
            .into_iter()
            .filter(|c| {
                !rt["spec"]["overrides"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|o| o["name"] == *c && o["disable"] == true)
            })
            .collect();
        if !enabled.is_empty() {
            ctx.warn(
                &format!("spec.teams[{i}].runtime"),
                format!(
                    "the runtime in `{}` enables {} but `spec.seldon.kafka` is `none`: without Kafka they crash-loop and the runtime never becomes Ready",
                    team.namespace,
                    enabled.join(", ")
                ),
                "add `overrides: [{name: <component>, disable: true}]` for each, or declare `spec.seldon.kafka: installed` or `{external: {bootstrap: host:port}}` (docs/seldon-behaviour.md §14)",
            );
        }
    }
}

pub(super) fn check_install(ctx: &mut Ctx<'_>, s: &SeldonInstall) {
    // The install module owns the rules for its settings; point its findings at the field.
    if let Err(super::seldon::SettingsError { field, message }) = super::seldon::validate(s) {
        let path = format!("spec.seldon.{field}");
        ctx.error_hint(
            &path,
            format!("{field}: {message}"),
            "see docs/targets.md for the install settings",
        );
    }
    check_label_name(
        ctx,
        "spec.seldon.controllerNamespace",
        &s.controller_namespace,
        "namespace name",
    );
    if !s.clusterwide && !s.watch_namespaces.is_empty() {
        ctx.error_hint("spec.seldon.watchNamespaces", "watchNamespaces only applies with `clusterwide: true`", "set `clusterwide: true` or remove `watchNamespaces` (Seldon's operator: `--watch-namespaces` is only used when --clusterwide is set; docs/seldon-behaviour.md §1)");
    }
    for (i, ns) in s.watch_namespaces.iter().enumerate() {
        check_label_name(
            ctx,
            &format!("spec.seldon.watchNamespaces[{i}]"),
            ns,
            "namespace name",
        );
    }
}

pub(super) fn check_package(
    ctx: &mut Ctx<'_>,
    p: &str,
    pkg: &SecretPackageRef,
    base: &Path,
    ns: &str,
) {
    let full = base.join(&pkg.path);
    let name = pkg
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with(".tar.gz") {
        if !full.is_file() {
            ctx.error_hint(
                &format!("{p}.path"),
                format!("secret package `{}` does not exist", pkg.path.display()),
                "paths are relative to the scenario file",
            );
        }
        let prefix = format!("{ns}-");
        let dated = name
            .strip_suffix(".tar.gz")
            .and_then(|s| s.rsplit_once("-secrets-"))
            .is_some_and(|(head, date)| {
                head.starts_with(&prefix)
                    && head.len() > prefix.len()
                    && date.len() == 8
                    && date.chars().all(|c| c.is_ascii_digit())
            });
        if !dated {
            ctx.error_hint(&format!("{p}.path"), format!("package `{name}` is not named `<namespace>-<purpose>-secrets-YYYYMMDD.tar.gz`"), format!("e.g. `{ns}-models-secrets-20250704.tar.gz`: the name says which namespace it is for"));
        }
    } else if !full.is_dir() {
        ctx.error_hint(
            &format!("{p}.path"),
            format!(
                "`{}` is neither a `.tar.gz` package nor a folder",
                pkg.path.display()
            ),
            "give a package file, or the folder of kustomize overlays to pack",
        );
    } else if !full.join(&pkg.overlay).join("kustomization.yaml").is_file() {
        ctx.error_hint(
            &format!("{p}.overlay"),
            format!(
                "overlay `{}` has no kustomization.yaml in `{}`",
                pkg.overlay,
                pkg.path.display()
            ),
            "the overlay is a folder of the package holding kustomization.yaml",
        );
    }
    if pkg.provides.is_empty() {
        ctx.warn(
            &format!("{p}.provides"),
            "the package declares no Secrets",
            "list the Secrets it provides so models and checks can refer to them",
        );
    }
}

/// A package's `brokenOnPurpose` (scenarios/README.md, "Secrets broken on purpose"): each entry is
/// a Secret the package provides and that a Model a `modelLoadFails` check names uses. A package
/// may also provide working Secrets: a target with its own model store swaps only those.
pub(super) fn check_broken_on_purpose(
    ctx: &mut Ctx<'_>,
    p: &str,
    pkg: &SecretPackageRef,
    team: &Team,
    checks: &[Check],
) {
    if pkg.broken_on_purpose.is_empty() {
        return;
    }
    for name in pkg.broken_on_purpose.keys() {
        let at = format!("{p}.brokenOnPurpose.{name}");
        if !pkg.provides.contains(name) {
            ctx.error_hint(
                &at,
                format!("Secret `{name}` is declared broken on purpose but the package does not list it under `provides`"),
                "list it under `provides`, or remove the entry",
            );
            continue;
        }
        let shows_it = team.models.iter().any(|m| {
            m["spec"]["secretName"] == name.as_str()
                && checks.iter().any(|c| {
                    matches!(&c.expect, Expectation::ModelLoadFails(f)
                        if f.namespace == team.namespace && m["metadata"]["name"] == f.model.as_str())
                })
        });
        if !shows_it {
            ctx.error_hint(
                &at,
                format!(
                    "Secret `{name}` is declared broken on purpose but no Model of team `{}` that a `modelLoadFails` check names uses it (`spec.secretName`): nothing would show it fails",
                    team.namespace
                ),
                "add a Model naming it and a `modelLoadFails` check for that Model, or remove the entry",
            );
        }
    }
}
