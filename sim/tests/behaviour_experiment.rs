//! Model Experiments (docs/seldon-behaviour.md §19): status as Seldon's operator writes it, routes
//! by weight through the namespace's endpoint, edits applied, and the #5181 defect.

mod behaviour_support;

use std::collections::BTreeMap;

use behaviour_support::*;
use serde_json::{Value, json};
use sim::faults::{Defect, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "financial-ml";
const URI: &str = "gs://models/credit-risk";

/// One HTTP/1.1 request; returns (status, `x-seldon-route` header, body).
async fn http(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Option<String>, String) {
    let mut s = tokio::time::timeout(DEADLINE, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: seldon-mesh\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let route = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-seldon-route: ")
            .map(str::to_string)
    });
    (status, route, body.to_string())
}

fn request() -> String {
    let text = std::fs::read_to_string(credit_risk_dir().join("samples.json")).unwrap();
    let s: Value = serde_json::from_str(&text).unwrap();
    json!({"inputs": s["samples"][0]["inputs"]}).to_string()
}

fn experiment(weights: &[(&str, u32)]) -> Value {
    json!({
        "metadata": {"name": "ab", "namespace": NS},
        "spec": {
            "default": "credit",
            "candidates": weights.iter().map(|(n, w)| json!({"name": n, "weight": w})).collect::<Vec<_>>(),
            "mirror": {"name": "credit-shadow", "percent": 100},
        }
    })
}

async fn experiment_condition(p: &Platform, type_: &str, status: &str) -> Value {
    p.wait(&format!("experiment {type_}={status}"), |p| {
        condition(&p.get("Experiment", NS, "ab")?, type_).filter(|c| c["status"] == status)
    })
    .await
}

/// Counts which model served `n` requests addressed with `seldon-model: model`; every answer's
/// `model_name` must agree with the route header.
async fn served_by(addr: std::net::SocketAddr, model: &str, n: usize) -> BTreeMap<String, usize> {
    let body = request();
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let (status, route, text) = http(
            addr,
            "/v2/models/ab/infer",
            &[("seldon-model", model)],
            &body,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let name = serde_json::from_str::<Value>(&text).unwrap()["model_name"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(route.as_deref(), Some(format!(":{name}:").as_str()));
        *counts
            .entry(name.trim_end_matches("_1").to_string())
            .or_insert(0) += 1;
    }
    counts
}

/// Within 5.5 standard deviations of the binomial expectation (a false failure below 1e-7).
fn near(count: usize, n: usize, p: f64) -> bool {
    let observed = count as f64 / n as f64;
    (observed - p).abs() <= 5.5 * (p * (1.0 - p) / n as f64).sqrt() + 1.0 / n as f64
}

/// A team whose Experiment exists before its models; returns the endpoint once it is Ready.
async fn experiment_before_models(faults: Faults) -> (Platform, std::net::SocketAddr) {
    let p = Platform::start(faults);
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    p.create(
        "Experiment",
        experiment(&[("credit", 30), ("credit-b", 70)]),
    );
    let c = experiment_condition(&p, "ExperimentReady", "False").await;
    assert_eq!(
        c["reason"], "no live replica for model credit for model route ab.experiment",
        "{c}"
    );
    assert_eq!(
        experiment_condition(&p, "CandidatesReady", "False").await["reason"],
        "Candidates not ready"
    );
    for m in ["credit", "credit-b", "credit-shadow"] {
        p.create("Model", model(NS, m, URI, json!({})));
    }
    let ready = experiment_condition(&p, "Ready", "True").await;
    assert_eq!(ready["reason"], "Mirror ready", "{ready}");
    assert_eq!(
        experiment_condition(&p, "ExperimentReady", "True").await["reason"],
        "experiment active"
    );
    let addr = p
        .wait_endpoint("endpoint address", |p| {
            p.state.mesh_addrs.lock().unwrap().get(NS).copied()
        })
        .await;
    (p, addr)
}

/// Edits the weights and waits until the endpoint got the new routes.
async fn reweight(p: &Platform, weights: &[(&str, u32)]) {
    let mut changes = p.state.mesh_changes.subscribe();
    let mut e = p.get("Experiment", NS, "ab").unwrap();
    e["spec"]["candidates"] = experiment(weights)["spec"]["candidates"].clone();
    p.store.update(rt("Experiment"), e).unwrap();
    tokio::time::timeout(DEADLINE, changes.changed())
        .await
        .expect("endpoint updated")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_routes_by_weight_and_an_edit_takes_effect() {
    let (p, addr) = experiment_before_models(Faults::default()).await;
    for address in ["ab.experiment", "credit"] {
        let counts = served_by(addr, address, 400).await;
        let b = counts.get("credit-b").copied().unwrap_or(0);
        assert!(near(b, 400, 0.7), "{address}: {counts:?}");
        assert!(!counts.contains_key("credit-shadow"), "{counts:?}");
    }
    reweight(&p, &[("credit", 100), ("credit-b", 0)]).await;
    let counts = served_by(addr, "ab.experiment", 200).await;
    assert_eq!(counts, BTreeMap::from([("credit".to_string(), 200)]));
    experiment_condition(&p, "Ready", "True").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_5181_an_edited_zero_weight_keeps_its_earlier_share() {
    let faults = Faults::defect(Defect::ExperimentWeightsIgnored);
    let (p, addr) = experiment_before_models(faults).await;
    reweight(&p, &[("credit", 100), ("credit-b", 0)]).await;
    // Routes 30/70 and 100/0 appended: credit-b keeps 70 of 200.
    let counts = served_by(addr, "ab.experiment", 400).await;
    let b = counts.get("credit-b").copied().unwrap_or(0);
    assert!(near(b, 400, 0.35), "{counts:?}");
    // The status does not show it: Ready as on a healthy platform.
    experiment_condition(&p, "Ready", "True").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_route_header_and_plain_models() {
    let (_p, addr) = experiment_before_models(Faults::default()).await;
    let body = request();
    for _ in 0..20 {
        let (status, route, _) = http(
            addr,
            "/v2/models/ab/infer",
            &[
                ("seldon-model", "ab.experiment"),
                ("x-seldon-route", ":credit-b_1:"),
            ],
            &body,
        )
        .await;
        assert_eq!((status, route.as_deref()), (200, Some(":credit-b_1:")));
    }
    // A plain model's route matches only without the header; a plain model answers with it.
    let (status, _, _) = http(
        addr,
        "/v2/models/credit-shadow/infer",
        &[
            ("seldon-model", "credit-shadow"),
            ("x-seldon-route", ":credit-b_1:"),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 404);
    let (status, route, _) = http(
        addr,
        "/v2/models/credit-shadow/infer",
        &[("seldon-model", "credit-shadow")],
        &body,
    )
    .await;
    assert_eq!((status, route.as_deref()), (200, Some(":credit-shadow_1:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_experiment_is_refused_by_the_scheduler() {
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    let mut e = experiment(&[("credit-b", 100)]);
    e["spec"]["mirror"] = Value::Null;
    p.create("Experiment", e);
    let c = p
        .wait("ModelReady False", |p| {
            condition(&p.get("Experiment", NS, "ab")?, "ModelReady")
                .filter(|c| c["status"] == "False")
        })
        .await;
    assert_eq!(
        c["reason"],
        "rpc error: code = FailedPrecondition desc = default model/pipeline credit not found in experiment ab candidates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_is_the_baseline_of_one_experiment_only() {
    let (p, _addr) = experiment_before_models(Faults::default()).await;
    let mut second = experiment(&[("credit", 50), ("credit-shadow", 50)]);
    second["metadata"]["name"] = json!("cd");
    second["spec"]["mirror"] = Value::Null;
    p.create("Experiment", second);
    let c = p
        .wait("the second experiment refused", |p| {
            condition(&p.get("Experiment", NS, "cd")?, "ModelReady")
                .filter(|c| c["status"] == "False")
        })
        .await;
    assert_eq!(
        c["reason"],
        "rpc error: code = FailedPrecondition desc = Resource credit already in experiment cd as a baseline. A model or pipeline can only appear in one experiment as a baseline"
    );
    // The first keeps its route and status.
    experiment_condition(&p, "Ready", "True").await;
}
