//! Transport faults: injected 500s and 429s at exact rates, added latency, dropped watches.

mod common;

use std::time::{Duration, Instant};

use common::{client, platform_with};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, WatchParams};
use sim::faults::{Faults, TransportFaults};

const TIMEOUT: Duration = Duration::from_secs(10);

fn faults(t: TransportFaults) -> Faults {
    Faults {
        transport: t,
        ..Faults::default()
    }
}

/// A plain HTTP GET: kube's client retries 429s by itself, which would hide them.
async fn raw_get(base: &str, path: &str) -> (u16, Option<String>, serde_json::Value) {
    let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
    let code = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (code, retry, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn error_and_throttle_rates_are_exact_and_answered_as_statuses() {
    let p = platform_with(faults(TransportFaults {
        error_rate: 0.25,
        throttle_rate: 0.5,
        ..Default::default()
    }));
    let mut codes = Vec::new();
    for _ in 0..8 {
        let (code, retry, status) =
            raw_get(&p.url(), "/api/v1/namespaces/default/configmaps").await;
        match code {
            500 => assert_eq!(
                (status["kind"].as_str(), status["reason"].as_str()),
                (Some("Status"), Some("InternalError"))
            ),
            429 => {
                assert_eq!(status["reason"], "TooManyRequests");
                assert_eq!(retry.as_deref(), Some("1"), "throttling says when to retry");
            }
            200 => assert_eq!(status["kind"], "ConfigMapList"),
            other => panic!("unexpected {other}"),
        }
        codes.push(code);
    }
    // A quarter fail; half of the rest are throttled; the pattern is the same on every run.
    assert_eq!(codes, [200, 429, 200, 500, 429, 200, 429, 500]);
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let latency = Duration::from_millis(50);
    let p = platform_with(faults(TransportFaults {
        latency,
        ..Default::default()
    }));
    let cms: Api<ConfigMap> = Api::namespaced(client(&p).await, "default");
    let start = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(
        start.elapsed() >= latency * 2,
        "two requests take at least twice the latency"
    );
}

#[tokio::test]
async fn watches_are_dropped_after_the_configured_time() {
    let p = platform_with(faults(TransportFaults {
        drop_watches_after: Some(Duration::from_millis(200)),
        ..Default::default()
    }));
    let cms: Api<ConfigMap> = Api::namespaced(client(&p).await, "default");
    // The client asks for a long watch; the platform ends it early, as a flaky apiserver would.
    let mut stream = Box::pin(
        cms.watch(&WatchParams::default().timeout(290), "0")
            .await
            .unwrap(),
    );
    let ended = tokio::time::timeout(TIMEOUT, async {
        while stream.try_next().await.unwrap().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the watch stream ended");
}
