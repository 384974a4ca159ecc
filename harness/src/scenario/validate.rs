//! Validation of scenario files: shape (unknown fields, types) and meaning (names, quantities,
//! duplicates, dangling references), each finding pointing at `file:line:column` and a field path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::yaml::{self, Positions};
use super::*;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The scenario cannot run.
    Error,
    /// The scenario runs, but probably not as meant.
    Warning,
}

/// Capabilities of the ServerConfigs Seldon's setup chart installs (facts §3).
pub fn known_capabilities(server_config: &str) -> Option<&'static [&'static str]> {
    match server_config {
        "mlserver" => Some(&[
            "mlserver",
            "alibi-detect",
            "alibi-explain",
            "huggingface",
            "lightgbm",
            "mlflow",
            "python",
            "sklearn",
            "spark-mlib",
            "xgboost",
        ]),
        "triton" => Some(&[
            "triton",
            "dali",
            "fil",
            "onnx",
            "openvino",
            "python",
            "pytorch",
            "tensorflow",
            "tensorrt",
        ]),
        _ => None,
    }
}

/// Seldon runtime components and their container names (facts §2), for `overrides[]`.
const COMPONENTS: &[(&str, &str)] = &[
    ("seldon-scheduler", "scheduler"),
    ("seldon-envoy", "envoy"),
    ("seldon-dataflow-engine", "dataflow-engine"),
    ("hodometer", "hodometer"),
    ("seldon-modelgateway", "modelgateway"),
    ("seldon-pipelinegateway", "pipelinegateway"),
];

struct Ctx<'a> {
    file: &'a Path,
    positions: &'a Positions,
    found: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn push(
        &mut self,
        severity: Severity,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let message = message.into();
        // An unknown field is a mistake in the key; anything else is about the value.
        let position = if message.contains("unknown field") {
            self.positions.find_key(path)
        } else {
            self.positions.find(path)
        };
        self.found.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            position,
            path: path.to_string(),
            message,
            hint,
        });
    }
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, path, message, None);
    }
    fn error_hint(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Error, path, message, Some(hint.into()));
    }
    fn warn(&mut self, path: &str, message: impl Into<String>, hint: impl Into<String>) {
        self.push(Severity::Warning, path, message, Some(hint.into()));
    }
}

pub(super) fn parse_and_validate(file: &Path, text: &str) -> Result<Scenario, ScenarioErrors> {
    let (value, positions) = yaml::parse(text).map_err(|e| {
        ScenarioErrors(vec![Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            position: e.position,
            path: String::new(),
            message: format!("not valid YAML: {}", e.message),
            hint: None,
        }])
    })?;
    let mut ctx = Ctx {
        file,
        positions: &positions,
        found: Vec::new(),
    };
    let doc: ScenarioFile = match serde_path_to_error::deserialize(&value) {
        Ok(doc) => doc,
        Err(e) => {
            let (path, message, hint) = describe_shape_error(&e);
            ctx.push(Severity::Error, &path, message, hint);
            return Err(ScenarioErrors(ctx.found));
        }
    };
    check_document(&mut ctx, &doc, file);
    let (errors, warnings): (Vec<_>, Vec<_>) = ctx
        .found
        .into_iter()
        .partition(|d| d.severity == Severity::Error);
    if !errors.is_empty() {
        return Err(ScenarioErrors(errors));
    }
    Ok(Scenario {
        file: file.to_path_buf(),
        doc,
        positions,
        warnings,
    })
}

/// Turns a serde error into (path, message, hint), with the path pointing at the offending field.
fn describe_shape_error(
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> (String, String, Option<String>) {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = e.inner().to_string();
    if let Some(rest) = inner.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let field_path = if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        // serde_path_to_error already includes the unknown key in the path for maps.
        let field_path = if path.ends_with(field) {
            path.clone()
        } else {
            field_path
        };
        let expected = rest.split("expected ").nth(1).map(|s| s.to_string());
        let hint =
            expected.map(|x| format!("expected {x}; field names are case-sensitive camelCase"));
        return (field_path, format!("unknown field `{field}`"), hint);
    }
    if let Some(rest) = inner.strip_prefix("unknown variant `") {
        let v = rest.split('`').next().unwrap_or_default();
        let expected = rest
            .split("expected ")
            .nth(1)
            .map(|s| format!("expected {s}"));
        // For a one-key enum mapping the unknown key is the mistake; point at it.
        let key_path = if path.is_empty() {
            v.to_string()
        } else {
            format!("{path}.{v}")
        };
        return (key_path, format!("unknown value `{v}`"), expected);
    }
    if let Some(rest) = inner.strip_prefix("missing field `") {
        let f = rest.split('`').next().unwrap_or_default();
        return (path, format!("missing required field `{f}`"), None);
    }
    (path, inner, None)
}

fn check_document(ctx: &mut Ctx<'_>, doc: &ScenarioFile, file: &Path) {
    let base = file.parent().unwrap_or(Path::new("."));
    if doc.api_version != API_VERSION {
        ctx.error_hint(
            "apiVersion",
            format!("apiVersion `{}` is not supported", doc.api_version),
            format!("use `{API_VERSION}`"),
        );
    }
    if doc.kind != KIND {
        ctx.error_hint(
            "kind",
            format!("kind `{}` is not a scenario", doc.kind),
            format!("use `{KIND}`"),
        );
    }
    check_label_name(ctx, "metadata.name", &doc.metadata.name, "scenario name");
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !stem.is_empty() && stem != doc.metadata.name {
        ctx.warn(
            "metadata.name",
            format!("scenario `{}` is in file `{stem}.yaml`", doc.metadata.name),
            "name the file after the scenario so `harness list` and test names match",
        );
    }
    let spec = &doc.spec;
    check_install(ctx, &spec.seldon);

    // Namespaces: extra ones and teams share one name space.
    let mut namespaces: BTreeSet<&str> = BTreeSet::new();
    for (i, ns) in spec.namespaces.iter().enumerate() {
        let p = format!("spec.namespaces[{i}]");
        check_label_name(ctx, &format!("{p}.name"), &ns.name, "namespace name");
        check_labels(ctx, &format!("{p}.labels"), &ns.labels);
        if !namespaces.insert(&ns.name) {
            ctx.error(
                &format!("{p}.name"),
                format!("namespace `{}` is declared twice", ns.name),
            );
        }
    }
    for (i, team) in spec.teams.iter().enumerate() {
        let p = format!("spec.teams[{i}]");
        check_label_name(
            ctx,
            &format!("{p}.namespace"),
            &team.namespace,
            "namespace name",
        );
        check_labels(ctx, &format!("{p}.labels"), &team.labels);
        if !namespaces.insert(&team.namespace) {
            ctx.error(
                &format!("{p}.namespace"),
                format!("namespace `{}` is declared twice", team.namespace),
            );
        }
    }
    if spec.teams.is_empty() {
        ctx.error_hint(
            "spec.teams",
            "a scenario needs at least one team",
            "add a team with a `namespace`",
        );
    }

    // Artifacts.
    let mut artifact_uris = BTreeSet::new();
    for (i, a) in spec.artifacts.iter().enumerate() {
        let p = format!("spec.artifacts[{i}]");
        if !a.storage_uri.contains("://") {
            ctx.error_hint(
                &format!("{p}.storageUri"),
                format!("`{}` is not a storage URI", a.storage_uri),
                "write it as `<scheme>://<bucket>/<path>`, e.g. `s3://models/credit-risk`",
            );
        }
        if !artifact_uris.insert(a.storage_uri.as_str()) {
            ctx.error(
                &format!("{p}.storageUri"),
                format!("artifact `{}` is declared twice", a.storage_uri),
            );
        }
        if !base.join(&a.path).is_dir() {
            ctx.error_hint(
                &format!("{p}.path"),
                format!("artifact folder `{}` does not exist", a.path.display()),
                "paths are relative to the scenario file",
            );
        }
    }

    let mut models: BTreeMap<(&str, String), usize> = BTreeMap::new();
    let mut servers: BTreeMap<(&str, String), Vec<String>> = BTreeMap::new();
    let mut provided: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (i, team) in spec.teams.iter().enumerate() {
        let tp = format!("spec.teams[{i}]");
        let ns = team.namespace.as_str();
        for (slot, objects, allowed) in [
            (
                "resourceQuotas",
                &team.resource_quotas,
                &[("v1", "ResourceQuota")][..],
            ),
            (
                "limitRanges",
                &team.limit_ranges,
                &[("v1", "LimitRange")][..],
            ),
            (
                "networkPolicies",
                &team.network_policies,
                &[("networking.k8s.io/v1", "NetworkPolicy")][..],
            ),
            (
                "rbac",
                &team.rbac,
                &[
                    ("v1", "ServiceAccount"),
                    ("rbac.authorization.k8s.io/v1", "Role"),
                    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
                ][..],
            ),
        ] {
            let mut names = BTreeSet::new();
            for (j, obj) in objects.iter().enumerate() {
                let p = format!("{tp}.{slot}[{j}]");
                if let Some((kind, name)) = check_object_header(ctx, &p, obj, allowed, ns) {
                    if !names.insert((kind.clone(), name.clone())) {
                        ctx.error(
                            &format!("{p}.metadata.name"),
                            format!("{kind} `{name}` is declared twice in namespace `{ns}`"),
                        );
                    }
                    check_kubernetes_object(ctx, &p, &kind, obj);
                }
            }
        }
        let mut secrets_here = BTreeSet::new();
        for (j, pkg) in team.secret_packages.iter().enumerate() {
            let p = format!("{tp}.secretPackages[{j}]");
            check_package(ctx, &p, pkg, base, ns);
            for (k, s) in pkg.provides.iter().enumerate() {
                check_subdomain(ctx, &format!("{p}.provides[{k}]"), s, "Secret name");
                secrets_here.insert(s.as_str());
            }
        }
        provided.insert(ns, secrets_here);
        if let Some(rt) = &team.runtime {
            check_runtime(ctx, &format!("{tp}.runtime"), rt, ns, &provided[ns]);
        }
        let mut names = BTreeSet::new();
        for (j, s) in team.servers.iter().enumerate() {
            let p = format!("{tp}.servers[{j}]");
            if let Some(caps) = check_server(ctx, &p, s, ns) {
                let name = s["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if !names.insert(name.clone()) {
                    ctx.error(
                        &format!("{p}.metadata.name"),
                        format!("Server `{name}` is declared twice in namespace `{ns}`"),
                    );
                }
                servers.insert((ns, name), caps);
            }
        }
        for (j, m) in team.models.iter().enumerate() {
            let p = format!("{tp}.models[{j}]");
            if check_model(ctx, &p, m, ns, &provided[ns], &artifact_uris) {
                let name = m["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if models.insert((ns, name.clone()), i).is_some() {
                    ctx.error(
                        &format!("{p}.metadata.name"),
                        format!("Model `{name}` is declared twice in namespace `{ns}`"),
                    );
                }
            }
        }
    }

    // Checks.
    let mut check_names = BTreeSet::new();
    let mut expected_failures: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, c) in spec.checks.iter().enumerate() {
        let p = format!("spec.checks[{i}]");
        check_label_name(ctx, &format!("{p}.name"), &c.name, "check name");
        if !check_names.insert(c.name.as_str()) {
            ctx.error_hint(
                &format!("{p}.name"),
                format!("check `{}` is declared twice", c.name),
                "check names are test names: make them unique",
            );
        }
        if c.timeout.is_some_and(|t| t.is_zero()) {
            ctx.error(&format!("{p}.timeout"), "timeout must be more than zero");
        }
        let ep = format!("{p}.expect.{}", c.expect.kind());
        let world = World {
            namespaces: &namespaces,
            teams: &spec.teams,
            models: &models,
            servers: &servers,
            provided: &provided,
        };
        check_expectation(ctx, &ep, &c.expect, &world, base);
        if let Expectation::ScheduleFailed(s) = &c.expect {
            expected_failures.insert((s.namespace.clone(), s.model.clone()));
        }
    }
    if spec.checks.is_empty() {
        ctx.error_hint(
            "spec.checks",
            "a scenario needs at least one check",
            "add a check under `spec.checks`",
        );
    }

    // A model nobody can serve is a mistake unless a check expects exactly that.
    for (i, team) in spec.teams.iter().enumerate() {
        for (j, m) in team.models.iter().enumerate() {
            let name = m["metadata"]["name"].as_str().unwrap_or_default();
            let reqs: Vec<&str> = m["spec"]["requirements"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let ns = team.namespace.as_str();
            let candidates: Vec<&Vec<String>> = servers
                .iter()
                .filter(|((sns, _), _)| *sns == ns)
                .map(|(_, c)| c)
                .collect();
            let servable = candidates
                .iter()
                .any(|caps| reqs.iter().all(|r| caps.iter().any(|c| c == r)));
            if !servable && !expected_failures.contains(&(ns.to_string(), name.to_string())) {
                let what = if candidates.is_empty() {
                    format!("team `{ns}`: model `{name}` has no Server in its namespace to run on")
                } else {
                    format!(
                        "team `{ns}`: model `{name}` requires {reqs:?} but no Server in this namespace lists all of them"
                    )
                };
                ctx.error_hint(
                    &format!("spec.teams[{i}].models[{j}].spec.requirements"),
                    what,
                    "add a Server whose ServerConfig has these capabilities (mlserver: sklearn, python, ...; triton: pytorch, onnx, ...), or add a `scheduleFailed` check if the failure is what the scenario shows",
                );
            }
        }
    }
}

struct World<'a> {
    namespaces: &'a BTreeSet<&'a str>,
    teams: &'a [Team],
    models: &'a BTreeMap<(&'a str, String), usize>,
    servers: &'a BTreeMap<(&'a str, String), Vec<String>>,
    provided: &'a BTreeMap<&'a str, BTreeSet<&'a str>>,
}

impl World<'_> {
    fn team(&self, ns: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.namespace == ns)
    }
}

fn check_expectation(ctx: &mut Ctx<'_>, p: &str, e: &Expectation, w: &World<'_>, base: &Path) {
    let known_ns = |ctx: &mut Ctx<'_>, field: &str, ns: &str| {
        if !w.namespaces.contains(ns) {
            ctx.error_hint(
                &format!("{p}.{field}"),
                format!("namespace `{ns}` is not declared in this scenario"),
                "declare it as a team or under `spec.namespaces`",
            );
            false
        } else {
            true
        }
    };
    let team_ns = |ctx: &mut Ctx<'_>, field: &str, ns: &str| {
        if known_ns(ctx, field, ns) && w.team(ns).is_none() {
            ctx.error_hint(
                &format!("{p}.{field}"),
                format!("namespace `{ns}` is not a team"),
                "this check needs a team namespace",
            );
            return false;
        }
        w.namespaces.contains(ns)
    };
    let model = |ctx: &mut Ctx<'_>, ns: &str, m: &str| {
        if team_ns(ctx, "namespace", ns) && !w.models.contains_key(&(ns, m.to_string())) {
            ctx.error_hint(
                &format!("{p}.model"),
                format!("check names model `{m}`, which does not exist in namespace `{ns}`"),
                "add the Model to the team's `models`, or fix the name",
            );
        }
    };
    match e {
        Expectation::RuntimeReady(n) => {
            if team_ns(ctx, "namespace", &n.namespace)
                && w.team(&n.namespace).is_some_and(|t| t.runtime.is_none())
            {
                ctx.error_hint(
                    &format!("{p}.namespace"),
                    format!("team `{}` has no runtime", n.namespace),
                    "add a SeldonRuntime under the team's `runtime`",
                );
            }
        }
        Expectation::NetworkPolicyEnforced(n) => {
            team_ns(ctx, "namespace", &n.namespace);
        }
        Expectation::ServerReady(s) => {
            if team_ns(ctx, "namespace", &s.namespace)
                && !w
                    .servers
                    .contains_key(&(s.namespace.as_str(), s.server.clone()))
            {
                ctx.error_hint(
                    &format!("{p}.server"),
                    format!(
                        "check names server `{}`, which does not exist in namespace `{}`",
                        s.server, s.namespace
                    ),
                    "add the Server to the team's `servers`, or fix the name",
                );
            }
        }
        Expectation::ModelReady(m) => model(ctx, &m.namespace, &m.model),
        Expectation::ScheduleFailed(s) => {
            model(ctx, &s.namespace, &s.model);
            if s.reason.trim().is_empty() {
                ctx.error(&format!("{p}.reason"), "reason must not be empty");
            }
        }
        Expectation::Inference(inf) => {
            model(ctx, &inf.namespace, &inf.model);
            let forms = [inf.samples.is_some(), inf.request.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if forms != 1 {
                ctx.error_hint(p, "an inference check needs exactly one of `samples` or `request`", "use `samples: models/<model>/samples.json`, or an inline `request` with `outputs` or `argmax`");
            }
            if inf.request.is_some() && inf.outputs.is_none() && inf.argmax.is_none() {
                ctx.error_hint(
                    p,
                    "an inline `request` needs `outputs` or `argmax` to compare with",
                    "add the expected `outputs`, or `argmax: {output, index}`",
                );
            }
            if let Some(s) = &inf.samples
                && !base.join(s).is_file()
            {
                ctx.error_hint(
                    &format!("{p}.samples"),
                    format!("samples file `{}` does not exist", s.display()),
                    "paths are relative to the scenario file",
                );
            }
            if !(inf.tolerance > 0.0 && inf.tolerance < 1.0) {
                ctx.error(
                    &format!("{p}.tolerance"),
                    format!(
                        "tolerance {} must be between 0 and 1 (relative)",
                        inf.tolerance
                    ),
                );
            }
        }
        Expectation::InferenceRejected(r) => model(ctx, &r.namespace, &r.model),
        Expectation::Connectivity(c) => {
            known_ns(ctx, "from", &c.from);
            known_ns(ctx, "to.namespace", &c.to.namespace);
            check_labels(ctx, &format!("{p}.fromLabels"), &c.from_labels);
            if c.to.port == 0 {
                ctx.error(&format!("{p}.to.port"), "port must be 1-65535");
            }
        }
        Expectation::Access(a) => {
            match a.service_account.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                    if !w.namespaces.contains(ns) {
                        ctx.error_hint(
                            &format!("{p}.serviceAccount"),
                            format!("namespace `{ns}` is not declared in this scenario"),
                            "declare it as a team or under `spec.namespaces`",
                        );
                    }
                }
                _ => ctx.error_hint(
                    &format!("{p}.serviceAccount"),
                    format!("`{}` is not `<namespace>/<name>`", a.service_account),
                    "e.g. `financial-ml/default`",
                ),
            }
            known_ns(ctx, "namespace", &a.namespace);
            if a.verb.is_empty() || a.resource.is_empty() {
                ctx.error(p, "verb and resource must not be empty");
            }
        }
        Expectation::QuotaRejects(q) => {
            team_ns(ctx, "namespace", &q.namespace);
            match q.workload.split_once('/') {
                Some(("StatefulSet" | "Deployment", name)) if !name.is_empty() => {}
                _ => ctx.error_hint(
                    &format!("{p}.workload"),
                    format!("`{}` is not `<Kind>/<name>`", q.workload),
                    "e.g. `StatefulSet/seldon-scheduler` or `Deployment/seldon-envoy`",
                ),
            }
            if w.team(&q.namespace)
                .is_some_and(|t| t.resource_quotas.is_empty())
            {
                ctx.error_hint(
                    &format!("{p}.namespace"),
                    format!(
                        "team `{}` has no ResourceQuota to reject anything",
                        q.namespace
                    ),
                    "add one under the team's `resourceQuotas`",
                );
            }
        }
        Expectation::RequiredFlows(f) => {
            team_ns(ctx, "namespace", &f.namespace);
            let mut seen = BTreeSet::new();
            for (k, name) in f.expect_blocked.iter().enumerate() {
                if !seen.insert(name) {
                    ctx.error(
                        &format!("{p}.expectBlocked[{k}]"),
                        format!("flow `{name}` is listed twice"),
                    );
                }
            }
        }
        Expectation::SecretsApplied(s) => {
            if team_ns(ctx, "namespace", &s.namespace) {
                for (k, name) in s.secrets.iter().enumerate() {
                    if !w
                        .provided
                        .get(s.namespace.as_str())
                        .is_some_and(|p| p.contains(name.as_str()))
                    {
                        ctx.error_hint(
                            &format!("{p}.secrets[{k}]"),
                            format!(
                                "no secret package of team `{}` provides Secret `{name}`",
                                s.namespace
                            ),
                            "list it under the package's `provides`",
                        );
                    }
                }
            }
        }
    }
}

fn check_install(ctx: &mut Ctx<'_>, s: &SeldonInstall) {
    // The install module owns the rules for its settings; point its findings at the field.
    match crate::install::validate(s) {
        Err(crate::install::InstallError::Settings { field, message }) => {
            let path = format!("spec.seldon.{field}");
            ctx.error_hint(
                &path,
                format!("{field}: {message}"),
                "see docs/targets.md for the install settings",
            );
        }
        Err(e) => ctx.error("spec.seldon", e.to_string()),
        Ok(_) => {}
    }
    check_label_name(
        ctx,
        "spec.seldon.controllerNamespace",
        &s.controller_namespace,
        "namespace name",
    );
    if !s.clusterwide && !s.watch_namespaces.is_empty() {
        ctx.error_hint("spec.seldon.watchNamespaces", "watchNamespaces only applies with `clusterwide: true`", "set `clusterwide: true` or remove `watchNamespaces` (facts: `--watch-namespaces` is only used when --clusterwide is set)");
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

fn check_package(ctx: &mut Ctx<'_>, p: &str, pkg: &SecretPackageRef, base: &Path, ns: &str) {
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

/// Checks `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`; returns (kind, name) when usable.
fn check_object_header(
    ctx: &mut Ctx<'_>,
    p: &str,
    obj: &Value,
    allowed: &[(&str, &str)],
    ns: &str,
) -> Option<(String, String)> {
    let Some(map) = obj.as_object() else {
        ctx.error(
            p,
            "expected a Kubernetes object (a mapping with apiVersion, kind, metadata)",
        );
        return None;
    };
    let kinds = allowed
        .iter()
        .map(|(a, k)| format!("{a} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let api = map.get("apiVersion").and_then(Value::as_str);
    let kind = map.get("kind").and_then(Value::as_str);
    let Some(&(want_api, want_kind)) = allowed.iter().find(|(_, k)| Some(*k) == kind) else {
        ctx.error_hint(
            &format!("{p}.kind"),
            format!(
                "kind {} does not belong here",
                kind.map_or("(missing)".into(), |k| format!("`{k}`"))
            ),
            format!("expected one of: {kinds}"),
        );
        return None;
    };
    if api != Some(want_api) {
        ctx.error_hint(
            &format!("{p}.apiVersion"),
            format!(
                "apiVersion {} is wrong for {want_kind}",
                api.map_or("(missing)".into(), |a| format!("`{a}`"))
            ),
            format!("use `{want_api}`"),
        );
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        ctx.error(
            &format!("{p}.metadata.name"),
            format!("{want_kind} needs `metadata.name`"),
        );
        return None;
    }
    check_subdomain(
        ctx,
        &format!("{p}.metadata.name"),
        name,
        &format!("{want_kind} name"),
    );
    if let Some(other) = obj["metadata"]["namespace"].as_str()
        && other != ns
    {
        ctx.error_hint(
            &format!("{p}.metadata.namespace"),
            format!("{want_kind} `{name}` names namespace `{other}` inside team `{ns}`"),
            "omit metadata.namespace: objects of a team go to the team's namespace",
        );
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("\u{0}").to_string()))
            .collect();
        check_labels(ctx, &format!("{p}.metadata.labels"), &labels);
    }
    Some((want_kind.to_string(), name.to_string()))
}

/// Unknown fields and quantities of a Kubernetes kind, found by a round trip through its k8s-openapi type.
fn check_kubernetes_object(ctx: &mut Ctx<'_>, p: &str, kind: &str, obj: &Value) {
    use k8s_openapi::api::{core::v1 as core, networking::v1 as net, rbac::v1 as rbac};
    let result = match kind {
        "ResourceQuota" => round_trip::<core::ResourceQuota>(obj),
        "LimitRange" => round_trip::<core::LimitRange>(obj),
        "NetworkPolicy" => round_trip::<net::NetworkPolicy>(obj),
        "ServiceAccount" => round_trip::<core::ServiceAccount>(obj),
        "Role" => round_trip::<rbac::Role>(obj),
        "RoleBinding" => round_trip::<rbac::RoleBinding>(obj),
        _ => Ok(Vec::new()),
    };
    report_round_trip(ctx, p, kind, result);
    check_quantities(ctx, p, obj);
}

fn report_round_trip(
    ctx: &mut Ctx<'_>,
    p: &str,
    kind: &str,
    result: Result<Vec<String>, (String, String)>,
) {
    match result {
        Ok(unknown) => {
            for u in unknown {
                let field = u.rsplit('.').next().unwrap_or(&u).to_string();
                ctx.error_hint(&join(p, &u), format!("unknown field `{field}` for {kind}"), "check the spelling against the Kubernetes API reference (fields are camelCase)");
            }
        }
        Err((path, msg)) => ctx.error(&join(p, &path), format!("invalid {kind}: {msg}")),
    }
}

fn join(p: &str, rel: &str) -> String {
    if rel.is_empty() || rel == "." {
        p.to_string()
    } else if rel.starts_with('[') {
        format!("{p}{rel}")
    } else {
        format!("{p}.{rel}")
    }
}

/// Deserializes into `T` and back; keys the type dropped are unknown fields (relative paths).
fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Vec<String>, (String, String)> {
    let typed: T = serde_path_to_error::deserialize(v)
        .map_err(|e| (e.path().to_string(), e.inner().to_string()))?;
    let back = serde_json::to_value(&typed).map_err(|e| (String::new(), e.to_string()))?;
    let mut unknown = Vec::new();
    diff_keys(v, &back, String::new(), &mut unknown);
    Ok(unknown)
}

fn diff_keys(orig: &Value, back: &Value, path: String, out: &mut Vec<String>) {
    match (orig, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, v) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(bv) => diff_keys(v, bv, p, out),
                    None if !v.is_null() => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(o), Value::Array(b)) => {
            for (i, (ov, bv)) in o.iter().zip(b).enumerate() {
                diff_keys(ov, bv, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Every value under `resources`, `hard`, `limits`-like maps must be a Kubernetes quantity.
fn check_quantities(ctx: &mut Ctx<'_>, p: &str, v: &Value) {
    const QUANTITY_MAPS: &[&str] = &[
        "limits",
        "requests",
        "hard",
        "default",
        "defaultRequest",
        "max",
        "min",
        "maxLimitRequestRatio",
    ];
    // `quantities` is true for the values of a map such as `limits:` or `hard:`.
    fn walk(ctx: &mut Ctx<'_>, path: String, v: &Value, quantities: bool) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    walk(
                        ctx,
                        format!("{path}.{k}"),
                        child,
                        QUANTITY_MAPS.contains(&k.as_str()) && child.is_object(),
                    );
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(ctx, format!("{path}[{i}]"), child, false);
                }
            }
            _ => {}
        }
        if let (true, Value::Object(m)) = (quantities, v) {
            for (k, child) in m {
                match child {
                    Value::String(s) if parse_quantity(s).is_none() => {
                        ctx.error_hint(
                            &format!("{path}.{k}"),
                            format!("`{s}` is not a Kubernetes quantity"),
                            "write e.g. `500m`, `2`, `1Gi`, `128Mi`",
                        );
                    }
                    Value::Number(_) => ctx.error_hint(
                        &format!("{path}.{k}"),
                        "quantities must be strings",
                        "quote it, e.g. `cpu: \"1\"`",
                    ),
                    _ => {}
                }
            }
        }
    }
    walk(ctx, p.to_string(), v, false);
}

/// Parses a Kubernetes quantity (`500m`, `1Gi`, `2`, `1e3`) into its value in base units.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mult) = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
    .unwrap_or((s, 1.0));
    let digits_ok = !num.is_empty()
        && num
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E'))
        && num
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'));
    if !digits_ok {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some(v * mult)
}

fn check_seldon_header(ctx: &mut Ctx<'_>, p: &str, obj: &Value, kind: &str, ns: &str) -> bool {
    check_object_header(ctx, p, obj, &[("mlops.seldon.io/v1alpha1", kind)], ns).is_some()
}

/// Seldon objects are checked against typed mirrors of their CRDs (v2.10.2), so typos are errors.
mod mirrors {
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Object<S> {
        pub api_version: Option<String>,
        pub kind: Option<String>,
        pub metadata: Meta,
        pub spec: S,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Meta {
        pub name: String,
        pub namespace: Option<String>,
        pub labels: Option<Value>,
        pub annotations: Option<Value>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct RuntimeSpec {
        pub seldon_config: String,
        #[serde(default)]
        pub overrides: Vec<Override>,
        pub config: Option<RuntimeConfig>,
        pub disable_auto_update: Option<bool>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct Override {
        pub name: String,
        pub disable: Option<bool>,
        pub replicas: Option<i32>,
        pub service_type: Option<String>,
        pub pod_spec: Option<Value>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct RuntimeConfig {
        pub agent_config: Option<AgentConfig>,
        pub kafka_config: Option<Value>,
        pub scaling_config: Option<Value>,
        pub service_config: Option<Value>,
        pub tracing_config: Option<Value>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct AgentConfig {
        pub rclone: Option<Rclone>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rclone {
        #[serde(default)]
        pub config_secrets: Vec<String>,
        #[serde(default)]
        pub config: Vec<String>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ServerSpec {
        pub server_config: String,
        pub extra_capabilities: Option<Vec<String>>,
        pub capabilities: Option<Vec<String>>,
        pub image_overrides: Option<Value>,
        pub pod_spec: Option<Value>,
        pub stateful_set_persistent_volume_claim_retention_policy: Option<Value>,
        pub replicas: Option<i32>,
        pub min_replicas: Option<i32>,
        pub max_replicas: Option<i32>,
        pub deployment_strategy: Option<Value>,
        pub disable_auto_update: Option<bool>,
    }

    #[derive(Deserialize, Serialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub struct ModelSpec {
        pub storage_uri: String,
        pub model_type: Option<String>,
        pub artifact_version: Option<i64>,
        pub schema_uri: Option<String>,
        pub secret_name: Option<String>,
        pub requirements: Option<Vec<String>>,
        pub memory: Option<Value>,
        pub replicas: Option<i32>,
        pub min_replicas: Option<i32>,
        pub max_replicas: Option<i32>,
        pub server: Option<String>,
        pub preloaded: Option<bool>,
        pub dedicated: Option<bool>,
        pub logger: Option<Value>,
        pub explainer: Option<Value>,
        pub parameters: Option<Value>,
        pub llm: Option<Value>,
        pub dataflow: Option<Value>,
    }
}

fn typed<T: DeserializeOwned>(ctx: &mut Ctx<'_>, p: &str, kind: &str, obj: &Value) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(obj) {
        Ok(t) => Some(t),
        Err(e) => {
            let (path, message, hint) = describe_shape_error(&e);
            let hint = hint.or_else(|| {
                Some(format!(
                    "see the {kind} CRD of Seldon Core v2 (mlops.seldon.io/v1alpha1)"
                ))
            });
            ctx.push(
                Severity::Error,
                &join(p, &path),
                format!("{kind}: {message}"),
                hint,
            );
            None
        }
    }
}

fn check_pod_spec(
    ctx: &mut Ctx<'_>,
    p: &str,
    pod_spec: &Value,
    allowed_containers: Option<&[&str]>,
) {
    // Seldon's PodSpec makes `containers` optional; the Kubernetes type needs the key to round-trip.
    let mut probe = pod_spec.clone();
    if probe.get("containers").is_none() {
        probe["containers"] = Value::Array(Vec::new());
    }
    report_round_trip(
        ctx,
        p,
        "podSpec",
        round_trip::<k8s_openapi::api::core::v1::PodSpec>(&probe),
    );
    check_quantities(ctx, p, pod_spec);
    if let (Some(allowed), Some(cs)) = (allowed_containers, pod_spec["containers"].as_array()) {
        for (i, c) in cs.iter().enumerate() {
            let name = c["name"].as_str().unwrap_or_default();
            if !allowed.contains(&name) {
                ctx.error_hint(&format!("{p}.containers[{i}].name"), format!("container `{name}` does not exist in this component, so Seldon would ignore these settings"), format!("podSpec containers are merged by name; this component has: {}", allowed.join(", ")));
            }
        }
    }
}

fn check_runtime(ctx: &mut Ctx<'_>, p: &str, rt: &Value, ns: &str, provided: &BTreeSet<&str>) {
    if !check_seldon_header(ctx, p, rt, "SeldonRuntime", ns) {
        return;
    }
    let Some(obj) = typed::<mirrors::Object<mirrors::RuntimeSpec>>(ctx, p, "SeldonRuntime", rt)
    else {
        return;
    };
    let mut seen = BTreeSet::new();
    for (i, o) in obj.spec.overrides.iter().enumerate() {
        let op = format!("{p}.spec.overrides[{i}]");
        let Some((_, container)) = COMPONENTS.iter().find(|(c, _)| *c == o.name) else {
            let names: Vec<&str> = COMPONENTS.iter().map(|(c, _)| *c).collect();
            ctx.error_hint(
                &format!("{op}.name"),
                format!(
                    "`{}` is not a runtime component; Seldon silently ignores such an override",
                    o.name
                ),
                format!("components: {}", names.join(", ")),
            );
            continue;
        };
        if !seen.insert(o.name.as_str()) {
            ctx.error(
                &format!("{op}.name"),
                format!("component `{}` is overridden twice", o.name),
            );
        }
        if o.replicas.is_some_and(|r| r < 0) {
            ctx.error(&format!("{op}.replicas"), "replicas must not be negative");
        }
        if let Some(st) = &o.service_type
            && !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&st.as_str())
        {
            ctx.error_hint(
                &format!("{op}.serviceType"),
                format!("`{st}` is not a Service type"),
                "use ClusterIP, NodePort or LoadBalancer",
            );
        }
        if let Some(ps) = &o.pod_spec {
            check_pod_spec(ctx, &format!("{op}.podSpec"), ps, Some(&[container]));
        }
    }
    if let Some(secrets) = obj
        .spec
        .config
        .as_ref()
        .and_then(|c| c.agent_config.as_ref())
        .and_then(|a| a.rclone.as_ref())
    {
        for (i, s) in secrets.config_secrets.iter().enumerate() {
            if !provided.contains(s.as_str()) {
                ctx.error_hint(&format!("{p}.spec.config.agentConfig.rclone.config_secrets[{i}]"), format!("runtime preloads rclone Secret `{s}`, which no secret package of team `{ns}` provides"), "add it to a package's `provides`, or deliver it in a package");
            }
        }
    }
}

/// Returns the Server's effective capabilities when it is valid.
fn check_server(ctx: &mut Ctx<'_>, p: &str, s: &Value, ns: &str) -> Option<Vec<String>> {
    if !check_seldon_header(ctx, p, s, "Server", ns) {
        return None;
    }
    let obj = typed::<mirrors::Object<mirrors::ServerSpec>>(ctx, p, "Server", s)?;
    let base = known_capabilities(&obj.spec.server_config);
    if base.is_none() && obj.spec.capabilities.is_none() {
        ctx.warn(
            &format!("{p}.spec.serverConfig"),
            format!(
                "ServerConfig `{}` is not one the setup chart installs (mlserver, triton)",
                obj.spec.server_config
            ),
            "make sure it exists in the controller namespace, and list `capabilities`",
        );
    }
    if let Some(ps) = &obj.spec.pod_spec {
        check_pod_spec(ctx, &format!("{p}.spec.podSpec"), ps, None);
    }
    let mut caps: Vec<String> = match &obj.spec.capabilities {
        Some(c) => c.clone(),
        None => base
            .unwrap_or_default()
            .iter()
            .map(|c| c.to_string())
            .collect(),
    };
    caps.extend(obj.spec.extra_capabilities.clone().unwrap_or_default());
    Some(caps)
}

fn check_model(
    ctx: &mut Ctx<'_>,
    p: &str,
    m: &Value,
    ns: &str,
    provided: &BTreeSet<&str>,
    artifacts: &BTreeSet<&str>,
) -> bool {
    if !check_seldon_header(ctx, p, m, "Model", ns) {
        return false;
    }
    let Some(obj) = typed::<mirrors::Object<mirrors::ModelSpec>>(ctx, p, "Model", m) else {
        return false;
    };
    let spec = &obj.spec;
    match spec.storage_uri.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => {
            if scheme != "gs" && !artifacts.contains(spec.storage_uri.as_str()) {
                ctx.warn(&format!("{p}.spec.storageUri"), format!("no artifact in `spec.artifacts` is published at `{}`", spec.storage_uri), "declare the artifact folder so the harness can publish it to the model store");
            }
        }
        _ => ctx.error_hint(&format!("{p}.spec.storageUri"), format!("`{}` is not a storage URI", spec.storage_uri), "e.g. `gs://seldon-models/...` or `s3://bucket/path`; the scheme must match the rclone secret's `name`"),
    }
    match &spec.memory {
        None => {}
        Some(Value::String(q)) if parse_quantity(q).is_some() => {}
        Some(other) => ctx.error_hint(
            &format!("{p}.spec.memory"),
            format!("`{other}` is not a Kubernetes quantity"),
            "write e.g. `memory: 100Ki` or `memory: 1Gi`",
        ),
    }
    if let Some(secret) = &spec.secret_name
        && !provided.contains(secret.as_str())
    {
        ctx.error_hint(&format!("{p}.spec.secretName"), format!("model `{}` uses Secret `{secret}`, which no secret package of team `{ns}` provides", obj.metadata.name), "deliver it in a secret package and list it under `provides`");
    }
    if spec.min_replicas.unwrap_or(0) > spec.max_replicas.unwrap_or(i32::MAX) {
        ctx.error(
            &format!("{p}.spec.minReplicas"),
            "minReplicas is above maxReplicas",
        );
    }
    true
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn check_label_name(ctx: &mut Ctx<'_>, p: &str, s: &str, what: &str) {
    if !is_label(s) {
        ctx.error_hint(p, format!("{what} `{s}` is not a valid RFC 1123 label"), "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit");
    }
}

fn check_subdomain(ctx: &mut Ctx<'_>, p: &str, s: &str, what: &str) {
    if !is_subdomain(s) {
        ctx.error_hint(
            p,
            format!("{what} `{s}` is not a valid RFC 1123 subdomain"),
            "use lowercase letters, digits, '-' and '.', at most 253 characters",
        );
    }
}

fn check_labels(ctx: &mut Ctx<'_>, p: &str, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        let (prefix, name) = k
            .rsplit_once('/')
            .map_or((None, k.as_str()), |(a, b)| (Some(a), b));
        let name_ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !name_ok || prefix.is_some_and(|p| !is_subdomain(p)) {
            ctx.error_hint(
                &format!("{p}.{k}"),
                format!("label key `{k}` is not valid"),
                "use `[prefix/]name`, name up to 63 characters of letters, digits, '-', '_', '.'",
            );
        }
        let value_ok = v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && (v.is_empty()
                || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && v.ends_with(|c: char| c.is_ascii_alphanumeric())));
        if !value_ok {
            ctx.error_hint(&format!("{p}.{k}"), format!("label value `{v}` of `{k}` is not valid"), "label values are strings of up to 63 letters, digits, '-', '_', '.' (quote numbers and booleans)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("lots"), None);
        assert_eq!(parse_quantity("1GB"), None);
        assert_eq!(parse_quantity(""), None);
    }

    #[test]
    fn names() {
        assert!(is_label("financial-ml"));
        assert!(!is_label("Financial"));
        assert!(!is_label("-x"));
        assert!(is_subdomain("a.b-c"));
    }
}
