//! Model scheduling (docs/seldon-behaviour.md §4, §5), storage secrets (§10) and the seed's cross-namespace challenge.

mod behaviour_support;

use behaviour_support::*;
use serde_json::json;
use sim::faults::{Defect, Faults};
use sim::seldon::InstallOptions;

const NS: &str = "financial-ml";
// gs: the remote every agent preloads (seldon-rclone-gs-public); s3 needs a Secret (storage tests).
const URI: &str = "gs://models/credit-risk";

#[tokio::test]
async fn pytorch_model_with_only_an_mlserver_server_is_schedule_failed() {
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    p.create(
        "Model",
        model(
            NS,
            "mnist-pytorch",
            URI,
            json!({"requirements": ["pytorch"]}),
        ),
    );
    let c = model_ready(&p, NS, "mnist-pytorch", "False").await;
    assert_eq!(c["message"], "ScheduleFailed");
    assert_eq!(
        c["reason"],
        "Failed to schedule model as no matching servers are available"
    );
    let m = p.get("Model", NS, "mnist-pytorch").unwrap();
    assert_eq!(condition(&m, "ModelReady").unwrap()["reason"], c["reason"]);
    // A triton Server appearing reschedules it.
    p.create("Server", json!({"metadata": {"name": "triton", "namespace": NS}, "spec": {"serverConfig": "triton"}}));
    let c = model_ready(&p, NS, "mnist-pytorch", "True").await;
    assert_eq!(c["message"], "ModelAvailable");
    let m = p.get("Model", NS, "mnist-pytorch").unwrap();
    assert_eq!(
        (
            m["status"]["replicas"].as_i64(),
            m["status"]["selector"].as_str()
        ),
        (Some(1), Some("server=triton"))
    );
    assert_eq!(
        m["status"]["observedGeneration"],
        m["metadata"]["generation"]
    );
}

#[tokio::test]
async fn sklearn_model_becomes_available_and_memory_and_replicas_are_checked() {
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    p.create(
        "Model",
        model(
            NS,
            "credit",
            URI,
            json!({"requirements": ["sklearn"], "memory": "100Mi"}),
        ),
    );
    model_ready(&p, NS, "credit", "True").await;
    let server = p
        .wait("server loadedModels", |p| {
            p.get("Server", NS, "mlserver")
                .filter(|s| s["status"]["loadedModels"] == 1)
        })
        .await;
    assert!(is_true(&server, "StatefulSetOrDeploymentReady"));
    // mlserver's capacity is its container's requests.memory (1Gi).
    p.create("Model", model(NS, "too-big", URI, json!({"memory": "2Gi"})));
    let c = model_ready(&p, NS, "too-big", "False").await;
    assert_eq!(
        c["reason"],
        "Failed to schedule model as no matching server had enough suitable replicas"
    );
    p.create("Model", model(NS, "three", URI, json!({"replicas": 3})));
    let c = model_ready(&p, NS, "three", "False").await;
    assert_eq!(
        c["reason"],
        "Failed to schedule model as no matching server had enough suitable replicas"
    );
    p.create(
        "Model",
        model(NS, "named", URI, json!({"server": "triton"})),
    );
    let c = model_ready(&p, NS, "named", "False").await;
    assert_eq!(
        c["reason"],
        "Failed to schedule model as no matching servers are available"
    );
}

#[tokio::test]
async fn model_in_a_namespace_without_its_own_runtime_is_not_scheduled_by_a_shared_scheduler() {
    let p = Platform::start(Faults::default());
    team(&p, "seldon-mesh", "mlserver").await;
    p.namespace(NS);
    artifact(&p, URI);
    p.create("Model", model(NS, "credit", URI, json!({})));
    let c = model_ready(&p, NS, "credit", "False").await;
    assert_eq!(c["message"], "ModelProgressing");
    let reason = c["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("rpc error: code = Unavailable")
            && reason.contains("seldon-scheduler.financial-ml"),
        "{reason}"
    );
}

#[tokio::test]
async fn cross_namespace_scheduling_defect_uses_other_namespaces_servers() {
    let p = Platform::start(Faults::defect(Defect::CrossNamespaceScheduling));
    team(&p, "seldon-mesh", "mlserver").await;
    p.namespace(NS);
    artifact(&p, URI);
    p.create("Model", model(NS, "credit", URI, json!({})));
    model_ready(&p, NS, "credit", "True").await;
}

#[tokio::test]
async fn storage_secrets_follow_the_agent_rules() {
    let p = Platform::start(Faults::default());
    const S3: &str = "s3://models/credit-risk";
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    artifact(&p, S3);
    p.create(
        "Model",
        model(NS, "m", S3, json!({"secretName": "minio-secret"})),
    );
    let c = model_ready(&p, NS, "m", "False").await;
    assert_eq!(
        (c["message"].as_str(), c["reason"].as_str()),
        (
            Some("ModelFailed"),
            Some("secrets \"minio-secret\" not found")
        )
    );
    let rclone = "type: s3\nname: s3\nparameters:\n  provider: minio\n  access_key_id: k\n  secret_access_key: hidden-value\n";
    p.create("Secret", json!({"metadata": {"name": "two-keys", "namespace": NS}, "stringData": {"a": rclone, "b": rclone}}));
    p.create(
        "Model",
        model(NS, "m2", S3, json!({"secretName": "two-keys"})),
    );
    let c = model_ready(&p, NS, "m2", "False").await;
    assert_eq!(c["reason"], "Secret does not have 1 key two-keys");
    p.create("Secret", json!({"metadata": {"name": "gs-secret", "namespace": NS}, "stringData": {"gs": rclone.replace("name: s3", "name: gs")}}));
    p.create(
        "Model",
        model(NS, "m3", S3, json!({"secretName": "gs-secret"})),
    );
    let c = model_ready(&p, NS, "m3", "False").await;
    // The agent's own words (createUriWithConfig), recorded in harness/tests/storage_path.rs.
    assert_eq!(
        c["reason"],
        "name from URI (s3) does not match secret (gs); are you using the right storage config?"
    );
    assert!(!c["reason"].as_str().unwrap().contains("hidden-value"));
    // The missing secret appearing lets the first model load.
    p.create("Secret", json!({"metadata": {"name": "minio-secret", "namespace": NS}, "stringData": {"s3": rclone}}));
    model_ready(&p, NS, "m", "True").await;
    p.create(
        "Model",
        model(NS, "unknown", "gs://models/nothing-here", json!({})),
    );
    let c = model_ready(&p, NS, "unknown", "False").await;
    assert_eq!(c["message"], "ModelFailed");
    // A bucket the store holds but no objects under the path: rclone copies nothing.
    assert_eq!(
        c["reason"],
        "Failed to download from gs://models/nothing-here any files"
    );
    // No such bucket: rclone's /sync/copy fails ("directory not found") and the agent hides why.
    p.create(
        "Model",
        model(NS, "nobucket", "gs://no-such-bucket/credit-risk", json!({})),
    );
    let c = model_ready(&p, NS, "nobucket", "False").await;
    let reason = c["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "failed to sync/copy gs://no-such-bucket/credit-risk to /mnt/agent/rclone/"
        ) && reason.ends_with(": Failed rclone request to host:0.0.0.0 port:5572 path:/sync/copy"),
        "{reason}"
    );
    // No secretName and no preloaded remote named `s3`: rclone finds no such section in its
    // config, /sync/copy fails, and the agent says only that.
    p.create("Model", model(NS, "unsecreted", S3, json!({})));
    let c = model_ready(&p, NS, "unsecreted", "False").await;
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .starts_with("failed to sync/copy s3://models/credit-risk to /mnt/agent/rclone/"),
        "{c}"
    );
}

#[tokio::test]
async fn a_secured_store_accepts_only_its_keys() {
    const S3: &str = "s3://models/credit-risk";
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    artifact(&p, S3);
    *p.state.store_keys.lock().unwrap() = Some(sim::seldon::StoreKeys {
        access_key: "store-key".into(),
        secret_key: "store-secret".into(),
    });
    let remote = |key: &str, secret: &str| {
        format!(
            "type: s3\nname: s3\nparameters:\n  provider: minio\n  access_key_id: {key}\n  secret_access_key: {secret}\n"
        )
    };
    for (name, key, secret) in [
        ("unknown-key", "other-key", "store-secret"),
        ("wrong-secret", "store-key", "planted-wrong-secret"),
    ] {
        p.create("Secret", json!({"metadata": {"name": name, "namespace": NS}, "stringData": {"s3": remote(key, secret)}}));
        p.create("Model", model(NS, name, S3, json!({"secretName": name})));
        let c = model_ready(&p, NS, name, "False").await;
        let reason = c["reason"].as_str().unwrap();
        // S3 answers 403 (InvalidAccessKeyId / SignatureDoesNotMatch); the agent hides it behind
        // the /sync/copy failure, as real rclone showed in harness/tests/storage_path.rs.
        assert!(
            reason.starts_with("failed to sync/copy s3://models/credit-risk to /mnt/agent/rclone/")
                && !reason.contains("planted-wrong-secret"),
            "{name}: {reason}"
        );
    }
    p.create("Secret", json!({"metadata": {"name": "right", "namespace": NS}, "stringData": {"s3": remote("store-key", "store-secret")}}));
    p.create(
        "Model",
        model(NS, "right", S3, json!({"secretName": "right"})),
    );
    model_ready(&p, NS, "right", "True").await;
}

#[tokio::test]
async fn agents_exit_until_their_preloaded_secrets_exist() {
    let p = Platform::start(Faults::default());
    p.namespace(NS);
    p.create("SeldonRuntime", seed_runtime(NS));
    p.create("Server", json!({"metadata": {"name": "mlserver", "namespace": NS}, "spec": {"serverConfig": "mlserver"}}));
    // Without the runtime chart's seldon-rclone-gs-public the agent exits at startup.
    let why = p
        .wait("server pod crash-looping", |p| {
            let pod = p.get("Pod", NS, "mlserver-0")?;
            let c = pod["status"]["containerStatuses"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == "agent")?
                .clone();
            (c["state"]["waiting"]["reason"] == "CrashLoopBackOff").then(|| {
                c["lastState"]["terminated"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        })
        .await;
    assert_eq!(
        why,
        "Failed to initialise rclone config listener: secrets \"seldon-rclone-gs-public\" not found"
    );
    assert!(!is_true(&p.get("Server", NS, "mlserver").unwrap(), "Ready"));
    // Once it exists, the next restart succeeds and the Server becomes Ready.
    gs_public_secret(&p, NS);
    p.wait("server Ready", |p| {
        is_true(&p.get("Server", NS, "mlserver")?, "Ready").then_some(())
    })
    .await;
}

#[tokio::test]
async fn namespaced_controller_ignores_runtimes_elsewhere() {
    let opts = InstallOptions {
        clusterwide: false,
        ..with_kafka()
    };
    for (faults, opts) in [
        (Faults::default(), opts),
        (
            Faults::defect(Defect::ControllerNotClusterWide),
            with_kafka(),
        ),
    ] {
        let p = Platform::start_with(faults, opts);
        p.namespace(NS);
        p.create("SeldonRuntime", seed_runtime(NS));
        team(&p, "seldon-mesh", "mlserver").await;
        assert!(p.get("StatefulSet", NS, "seldon-scheduler").is_none());
        assert!(
            p.get("SeldonRuntime", NS, &format!("{NS}-runtime"))
                .unwrap()["status"]
                .is_null()
        );
    }
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
}

#[tokio::test]
async fn watch_namespaces_limit_a_cluster_wide_controller() {
    let opts = InstallOptions {
        watch_namespaces: vec!["team-a".into()],
        ..with_kafka()
    };
    let p = Platform::start_with(Faults::default(), opts);
    team(&p, "team-a", "mlserver").await;
    p.namespace("team-b");
    p.create("SeldonRuntime", seed_runtime("team-b"));
    p.create(
        "ConfigMap",
        json!({"metadata": {"name": "marker", "namespace": "team-b"}}),
    );
    p.wait("team-a settled", |p| {
        p.get("ConfigMap", "team-a", "seldon-agent")
    })
    .await;
    assert!(p.get("StatefulSet", "team-b", "seldon-scheduler").is_none());
}

/// Issue 13: the scheduler's and a Server's StatefulSets carry `volumeClaimTemplates` as
/// PersistentVolumeClaims (`metadata.name`), as the operator builds them; a top-level `name`
/// there is an unknown field a real API server refuses. Their pods run as the runtime's accounts.
#[tokio::test]
async fn statefulsets_carry_valid_claim_templates_and_run_as_the_runtimes_accounts() {
    let p = Platform::start(Faults::default());
    team(&p, "vct", "mlserver").await;
    for (sts, claim, account) in [
        ("seldon-scheduler", "scheduler-state", "seldon-scheduler"),
        ("mlserver", "mlserver-models", "seldon-server"),
    ] {
        let s = p
            .get("StatefulSet", "vct", sts)
            .expect("StatefulSet exists");
        let t = &s["spec"]["volumeClaimTemplates"][0];
        assert_eq!(t["metadata"]["name"], claim, "{sts}: {t}");
        assert!(t.get("name").is_none(), "{sts}: {t}");
        assert_eq!(t["spec"]["resources"]["requests"]["storage"], "1Gi");
        assert_eq!(s["spec"]["template"]["spec"]["serviceAccountName"], account);
        assert!(p.get("ServiceAccount", "vct", account).is_some());
    }
}
