//! Inference endpoint wiring: a Ready runtime gets an endpoint serving exactly its Ready models.

mod behaviour_support;

use behaviour_support::*;
use serde_json::{Value, json};
use sim::faults::{Defect, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "financial-ml";
// gs: the remote every agent preloads (seldon-rclone-gs-public); s3 needs a Secret (storage tests).
const URI: &str = "gs://models/credit-risk";

/// One HTTP/1.1 request over a fresh connection; returns (status, body).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    model: &str,
    body: &str,
) -> (u16, String) {
    let mut s = tokio::time::timeout(DEADLINE, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: seldon-mesh\r\nseldon-model: {model}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(DEADLINE, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn sample() -> (Value, f64) {
    let text = std::fs::read_to_string(credit_risk_dir().join("samples.json")).unwrap();
    let s: Value = serde_json::from_str(&text).unwrap();
    let first = &s["samples"][0];
    (
        json!({"inputs": first["inputs"]}),
        first["outputs"][0]["data"][0].as_f64().unwrap(),
    )
}

async fn endpoint_with_model(faults: Faults) -> (Platform, std::net::SocketAddr) {
    let p = Platform::start(faults);
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    p.create(
        "Model",
        model(NS, "credit", URI, json!({"requirements": ["sklearn"]})),
    );
    model_ready(&p, NS, "credit", "True").await;
    let addr = p
        .wait_endpoint("endpoint address", |p| {
            p.state.mesh_addrs.lock().unwrap().get(NS).copied()
        })
        .await;
    (p, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_models_are_served_and_deleted_ones_are_not() {
    let (p, addr) = endpoint_with_model(Faults::default()).await;
    let (req, expected) = sample();
    let (status, body) = http(
        addr,
        "POST",
        "/v2/models/credit/infer",
        "credit",
        &req.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got: Value = serde_json::from_str(&body).unwrap();
    let y = got["outputs"][0]["data"][0].as_f64().unwrap();
    assert!((y - expected).abs() < 1e-6, "{y} vs {expected}");
    let (status, _) = http(
        addr,
        "POST",
        "/v2/models/nope/infer",
        "nope",
        &req.to_string(),
    )
    .await;
    assert_eq!(status, 404);
    // The endpoint stops serving the deleted model.
    let mut changes = p.state.mesh_changes.subscribe();
    p.store.delete(rt("Model"), Some(NS), "credit").unwrap();
    tokio::time::timeout(DEADLINE, changes.changed())
        .await
        .expect("endpoint updated")
        .unwrap();
    let (status, _) = http(addr, "GET", "/v2/models/credit/ready", "credit", "").await;
    assert_ne!(status, 200, "deleted model still served");
    // Deleting the runtime removes the endpoint.
    p.store
        .delete(rt("SeldonRuntime"), Some(NS), &format!("{NS}-runtime"))
        .unwrap();
    p.wait_endpoint("endpoint removed", |p| {
        (!p.state.mesh_addrs.lock().unwrap().contains_key(NS)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataplane_defects_are_passed_to_the_endpoint() {
    let (_p, addr) = endpoint_with_model(Faults::defect(Defect::UnknownModelAnswered200)).await;
    let (req, _) = sample();
    let (status, _) = http(
        addr,
        "POST",
        "/v2/models/nope/infer",
        "nope",
        &req.to_string(),
    )
    .await;
    assert_eq!(status, 200);
}
