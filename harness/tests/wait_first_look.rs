//! A wait judges the object as it is before it gives up: one started with no time left (its
//! check's deadline spent by earlier steps on a loaded machine) still completes its first
//! listing, instead of reporting "gave up after 0s" about an object it never looked at.

use std::time::Duration;

use harness::kube::{Watched, exists, wait_for};
use harness::scenario::TargetKind;
use harness::target::{Target, TargetOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

#[tokio::test]
async fn a_wait_with_no_time_left_still_looks_once() {
    let scenario = harness::run::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/kafka-missing.yaml"),
    )
    .unwrap();
    let opts = TargetOptions {
        kind: Some(TargetKind::Sim),
        ..Default::default()
    };
    let target = Target::start(&opts, &scenario).await.unwrap();
    let client = target.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "already-there"}}))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let watched = Watched::of::<ConfigMap>(Some("default"), "already-there");
    for _ in 0..5 {
        let got = tokio::time::timeout(
            Duration::from_secs(10),
            wait_for(&client, &watched, &exists(), Duration::ZERO),
        )
        .await
        .expect("bounded by the first look");
        assert!(got.is_ok(), "{}", got.unwrap_err());
    }
    // Absent: it still gives up, having looked.
    let missing = Watched::of::<ConfigMap>(Some("default"), "never-there");
    let err = wait_for(&client, &missing, &exists(), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not exist") || err.to_string().contains("never seen"),
        "{err}"
    );
    target.finish(false).await;
}
