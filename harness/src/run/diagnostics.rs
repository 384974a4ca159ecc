//! The diagnostics bundle of a failed scenario run, written before cleanup (so the objects are
//! still there) into `<diagnostics dir>/<scenario>-<run id>/`: what `kube::diagnose` collects
//! from the cluster, plus one file per failed check with its verdict (a failed wait's verdict
//! carries the last observed object, its condition history and its Events) and, for failed
//! inference checks, the requests sent again and the answers got.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::checks::Verdict;
use crate::kube::Deadline;
use crate::kube::diagnose::{self, Bundle, Scope};
use crate::scenario::{Expectation, InferenceRejected, Scenario};
use crate::setup::Applied;
use crate::target::{Target, v2_client};
use crate::v2::{
    BadRequest, InferenceClient, InferenceRequest, bad_request, samples, valid_request,
};

/// How long one request of the collection may take.
const PER_REQUEST: Duration = Duration::from_secs(10);

/// What the bundle says about the run (the run layer's report, borrowed).
#[derive(Debug, Clone, Copy)]
pub struct RunFacts<'a> {
    /// The run id.
    pub run_id: &'a str,
    /// The chart version, when known.
    pub chart_version: Option<&'a str>,
    /// Why setup failed, if it did.
    pub setup_error: Option<&'a str>,
}

/// One check that did not pass.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// The check's name.
    pub name: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// How long it took.
    pub duration: Duration,
    /// Its tags.
    pub tags: &'a [String],
    /// Its verdict.
    pub verdict: &'a Verdict,
}

/// Writes the bundle for a run with at least one failure; returns its folder.
pub async fn write(
    target: &Target,
    scenario: &Scenario,
    run: RunFacts<'_>,
    failures: &[Failure<'_>],
    applied: &Applied,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let client = target.client();
    let mut namespaces: BTreeSet<String> = scenario
        .doc
        .spec
        .teams
        .iter()
        .map(|t| t.namespace.clone())
        .collect();
    for r in &applied.records {
        match (&r.object.namespace, r.object.kind.as_str()) {
            (Some(ns), _) => namespaces.insert(ns.clone()),
            (None, "Namespace") => namespaces.insert(r.object.name.clone()),
            _ => false,
        };
    }
    let mut facts = target.facts();
    facts.push(match run.chart_version {
        Some(v) => ("Seldon chart".into(), v.to_string()),
        None => (
            "Seldon chart (the scenario's spec.seldon.chartVersion)".into(),
            scenario.doc.spec.seldon.chart_version.clone(),
        ),
    });
    let target_name = target.kind().name();
    facts.push(("target".into(), target_name.into()));
    let scope = Scope {
        namespaces,
        controller_namespace: Some(scenario.doc.spec.seldon.controller_namespace.clone()),
        facts,
        secrets: Vec::new(),
    };
    let mut bundle = diagnose::collect(&client, &scope, PER_REQUEST).await;
    let mut index = format!(
        "scenario {} on target {target_name}, run {}\n",
        scenario.name(),
        run.run_id
    );
    if let Some(e) = run.setup_error {
        index.push_str(&format!("setup failed:\n{e}\n"));
    }
    for c in failures {
        let file = format!("checks/{}.txt", c.name);
        index.push_str(&format!("{} {}: {file}\n", label(c.verdict), c.name));
        let mut text = format!(
            "check {} ({}), {:.2}s, tags {:?}\n\n{}\n",
            c.name,
            c.kind,
            c.duration.as_secs_f64(),
            c.tags,
            c.verdict.message()
        );
        if let Some(check) = scenario.check(c.name) {
            text.push_str(&inference_exchange(target, scenario, &check.expect).await);
        }
        bundle.add(file, &text);
    }
    bundle.add("index.txt", &index);
    let out = dir.join(format!("{}-{}", scenario.name(), run.run_id));
    write_bundle(&out, &bundle)?;
    Ok(out)
}

fn label(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass { .. } => "PASS",
        Verdict::Fail { .. } => "FAIL",
        Verdict::Skip { .. } => "SKIP",
    }
}

/// For an `inference` check: each sample's request sent again through `seldon-mesh` and the
/// answer (or error) got, as the check saw the platform when it failed; for an
/// `inferenceRejected` check, its bad request and the answer.
async fn inference_exchange(target: &Target, scenario: &Scenario, expect: &Expectation) -> String {
    let i = match expect {
        Expectation::Inference(i) => i,
        Expectation::InferenceRejected(r) => return rejected_exchange(target, scenario, r).await,
        _ => return String::new(),
    };
    let mut out = format!(
        "\nrequests and responses (sent again to model {} through seldon-mesh of {} over {:?}):\n",
        i.model, i.namespace, i.protocol
    );
    let set = match samples::from_check(scenario, i) {
        Ok(s) => s,
        Err(e) => return out + &format!("  cannot build the requests: {e}\n"),
    };
    let client = match v2_client(
        target,
        &i.namespace,
        i.protocol,
        Deadline::after(PER_REQUEST),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return out + &format!("  cannot reach the endpoint: {e}\n"),
    };
    for sample in &set.samples {
        let request = sample.request();
        let answer = send_again(&client, &i.model, &request).await;
        out.push_str(&format!(
            "--- sample {} ({})\nrequest: {request:#?}\nresponse: {answer}\n",
            sample.name,
            client.endpoint()
        ));
    }
    out
}

/// Sends one request again, bounded, and says what came back.
async fn send_again(client: &InferenceClient, model: &str, request: &InferenceRequest) -> String {
    match tokio::time::timeout(PER_REQUEST, client.infer(model, request)).await {
        Ok(Ok(r)) => format!("{r:#?}"),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => format!("no answer within {PER_REQUEST:?}"),
    }
}

/// The bad request of an `inferenceRejected` check sent again through `seldon-mesh`, and the
/// answer a correct server refuses with.
async fn rejected_exchange(target: &Target, scenario: &Scenario, r: &InferenceRejected) -> String {
    let case = BadRequest::from(r.case);
    let mut out = format!(
        "\nrequest and response (the {case} request sent again through seldon-mesh of {} over {:?}):\n",
        r.namespace, r.protocol
    );
    let valid = match valid_request(scenario, r) {
        Ok(v) => v,
        Err(e) => return out + &format!("  cannot build the request: {e}\n"),
    };
    let (model, request) = bad_request(&r.model, &valid, case);
    let request = match request {
        Ok(q) => q,
        Err(e) => return out + &format!("  cannot build the request: {e}\n"),
    };
    let client = match v2_client(
        target,
        &r.namespace,
        r.protocol,
        Deadline::after(PER_REQUEST),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return out + &format!("  cannot reach the endpoint: {e}\n"),
    };
    let answer = send_again(&client, &model, &request).await;
    out.push_str(&format!(
        "--- model {model} ({}), expected {}\nrequest: {request:#?}\nresponse: {answer}\n",
        client.endpoint(),
        case.expected(client.transport())
    ));
    out
}

/// Writes every file of the bundle under `out` (folders 0700, files 0600: logs are the
/// cluster's, even if redacted).
fn write_bundle(out: &Path, bundle: &Bundle) -> anyhow::Result<()> {
    use anyhow::Context;
    for (rel, text) in &bundle.files {
        let path = out.join(rel);
        if let Some(parent) = path.parent() {
            create_private_dir(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        write_private(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(text.as_bytes())
}
