//! Validation of scenario files: shape (unknown fields, types) and meaning (names, references,
//! duplicates, dangling references), each finding pointing at `file:line:column` and a field path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::diagnostic::{Ctx, Diagnostic, ScenarioErrors, Severity};
use super::experiment::{check_experiment, check_experiment_expectation};
use super::format::*;
use super::objects::*;
use super::validate_install::{check_broken_on_purpose, check_install, check_kafka, check_package};
use super::yaml;

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
    check_kafka(ctx, doc);
    super::pipelines::check_pipelines(ctx, doc, file.parent().unwrap_or(Path::new(".")));

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
            check_broken_on_purpose(ctx, &p, pkg, team, &spec.checks);
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
        // A Secret a `modelLoadFails` check expects to be missing needs no package.
        let mut may_miss = provided[ns].clone();
        for c in &spec.checks {
            if let Expectation::ModelLoadFails(f) = &c.expect
                && f.namespace == ns
                && let Some(m) = team
                    .models
                    .iter()
                    .find(|m| m["metadata"]["name"] == f.model.as_str())
            {
                may_miss.extend(m["spec"]["secretName"].as_str());
            }
        }
        for (j, m) in team.models.iter().enumerate() {
            let p = format!("{tp}.models[{j}]");
            if check_model(ctx, &p, m, ns, &may_miss, &artifact_uris) {
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
        let team_models = models
            .keys()
            .filter(|(n, _)| *n == ns)
            .map(|(_, m)| m.clone())
            .collect();
        let mut names = BTreeSet::new();
        for (j, x) in team.experiments.iter().enumerate() {
            let p = format!("{tp}.experiments[{j}]");
            if let Some(name) = check_experiment(ctx, &p, x, ns, &team_models)
                && !names.insert(name.clone())
            {
                ctx.error(
                    &format!("{p}.metadata.name"),
                    format!("Experiment `{name}` is declared twice in namespace `{ns}`"),
                );
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
        for (j, t) in c.tags.iter().enumerate() {
            check_label_name(ctx, &format!("{p}.tags[{j}]"), t, "tag");
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
        if let Expectation::RuntimeIgnored(r) = &c.expect {
            // Upstream's operator (docs/seldon-behaviour.md §1): the list narrows only a
            // cluster-wide controller, which always watches its own namespace too.
            let s = &spec.seldon;
            let watched = |ns: &str| {
                ns == s.controller_namespace
                    || (s.clusterwide
                        && (s.watch_namespaces.is_empty()
                            || s.watch_namespaces.iter().any(|w| w == ns)))
            };
            if watched(&r.namespace) || !watched(&r.watched) {
                ctx.error_hint(&ep, format!("with this install (clusterwide {}, watchNamespaces {:?}) `{}` must be unwatched and `{}` watched", s.clusterwide, s.watch_namespaces, r.namespace, r.watched), "set `spec.seldon.clusterwide: true` and list `watched`, but not `namespace`, under `spec.seldon.watchNamespaces`");
            }
        }
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
        Expectation::RuntimeNotReady(r) => {
            if team_ns(ctx, "namespace", &r.namespace) {
                let rt = w.team(&r.namespace).and_then(|t| t.runtime.as_ref());
                let disabled = rt.is_some_and(|rt| {
                    rt["spec"]["overrides"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|o| o["name"] == r.component.as_str() && o["disable"] == true)
                });
                if rt.is_none() {
                    ctx.error_hint(
                        &format!("{p}.namespace"),
                        format!("team `{}` has no runtime", r.namespace),
                        "add a SeldonRuntime under the team's `runtime`",
                    );
                } else if !super::seldon::RUNTIME_COMPONENTS.contains(&r.component.as_str())
                    || disabled
                {
                    ctx.error_hint(
                        &format!("{p}.component"),
                        format!(
                            "`{}` is not an enabled component of the runtime in `{}`",
                            r.component, r.namespace
                        ),
                        format!(
                            "name one of {}",
                            super::seldon::RUNTIME_COMPONENTS.join(", ")
                        ),
                    );
                }
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
        Expectation::ScheduleFailed(s) | Expectation::ModelLoadFails(s) => {
            model(ctx, &s.namespace, &s.model);
            if s.reason.trim().is_empty() {
                ctx.error(&format!("{p}.reason"), "reason must not be empty");
            }
        }
        Expectation::ModelNotServed(s) => {
            model(ctx, &s.namespace, &s.model);
            for (field, value) in [("state", &s.state), ("reason", &s.reason)] {
                if value.trim().is_empty() {
                    ctx.error(
                        &format!("{p}.{field}"),
                        format!("{field} must not be empty (e.g. state `ScheduleFailed`, reason `no matching servers are available`)"),
                    );
                }
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
        Expectation::Experiment(x) => {
            let team = team_ns(ctx, "namespace", &x.namespace)
                .then(|| w.team(&x.namespace))
                .flatten();
            check_experiment_expectation(ctx, p, x, team, base);
        }
        Expectation::ModelsFit(f) => {
            f.models.iter().for_each(|m| model(ctx, &f.namespace, m));
            if f.fit >= f.models.len() || f.reason.trim().is_empty() {
                ctx.error_hint(
                    p,
                    "modelsFit needs a non-empty `reason` and `fit` below the number of `models`",
                    "list the Models competing for one Server and how many of them fit",
                );
            }
        }
        Expectation::RuntimeIgnored(r) => {
            for (field, ns) in [("namespace", &r.namespace), ("watched", &r.watched)] {
                if team_ns(ctx, field, ns) && w.team(ns).is_some_and(|t| t.runtime.is_none()) {
                    ctx.error_hint(
                        &format!("{p}.{field}"),
                        format!("team `{ns}` has no runtime"),
                        "add a SeldonRuntime under the team's `runtime`",
                    );
                }
            }
        }
        // Checked with the Pipelines they name (`pipelines`).
        Expectation::Pipeline(_) | Expectation::PipelineNotReady(_) => {}
        Expectation::Continuity(c) => {
            for (field, what, hint) in
                super::validate_continuity::problems(c, w.team(&c.namespace), base)
            {
                ctx.error_hint(&format!("{p}.{field}"), what, hint);
            }
        }
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
        Expectation::SealedSecretsUnsealed(s) => {
            if team_ns(ctx, "namespace", &s.namespace) {
                for (k, name) in s.secrets.iter().enumerate() {
                    if sealed_scope(w, &s.namespace, name).is_none() {
                        ctx.error_hint(
                            &format!("{p}.secrets[{k}]"),
                            format!(
                                "no package of team `{}` with `seal:` provides Secret `{name}`",
                                s.namespace
                            ),
                            "set `seal: strict` on the package that lists it under `provides`",
                        );
                    }
                }
            }
        }
        Expectation::SealedSecretScope(s) => {
            let both = team_ns(ctx, "from", &s.from) & team_ns(ctx, "to", &s.to);
            if both && s.from == s.to {
                ctx.error_hint(
                    &format!("{p}.to"),
                    "`from` and `to` are the same namespace",
                    "name another team's namespace: the check copies the SealedSecrets there",
                );
            } else if both {
                for (k, name) in s.secrets.iter().enumerate() {
                    let at = format!("{p}.secrets[{k}]");
                    match sealed_scope(w, &s.from, name) {
                        None => ctx.error_hint(
                            &at,
                            format!("no package of team `{}` with `seal:` provides Secret `{name}`", s.from),
                            "set `seal: strict` on the package that lists it under `provides`",
                        ),
                        Some(SealScope::ClusterWide) => ctx.error_hint(
                            &at,
                            format!("Secret `{name}` is sealed cluster-wide: it is meant to unseal in any namespace"),
                            "seal it `strict` or `namespace-wide` to check its scope",
                        ),
                        Some(_) => {}
                    }
                    if w.provided
                        .get(s.to.as_str())
                        .is_some_and(|p| p.contains(name.as_str()))
                    {
                        ctx.error_hint(
                            &at,
                            format!("team `{}` has its own Secret `{name}`, so the check could not tell whether the copy was unsealed", s.to),
                            "check a Secret the receiving team does not have",
                        );
                    }
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

/// The scope a team's package seals a Secret with, if a package with `seal:` provides it.
fn sealed_scope(w: &World<'_>, ns: &str, secret: &str) -> Option<SealScope> {
    w.team(ns)?
        .secret_packages
        .iter()
        .filter(|p| p.provides.iter().any(|s| s == secret))
        .find_map(|p| p.seal)
}
