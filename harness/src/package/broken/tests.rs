use serde_json::{Value, json};

use super::*;
use crate::package::store::Credentials;

/// A rendered Secret as the storage-failures package renders it (YAML value under stringData).
fn rendered(name: &str, key: &str, remote: &str, access: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "storage-failures",
                     "labels": {"app.kubernetes.io/part-of": "storage-failures-broken"}},
        "type": "Opaque",
        "stringData": {key: format!(
            "type: s3\nname: {remote}\nparameters:\n  provider: Minio\n  env_auth: false\n  \
             access_key_id: {access}\n  secret_access_key: {secret}\n  \
             endpoint: http://minio.harness-model-store:9000\n"
        )},
    })
}

fn kind_store() -> StoreAccess {
    StoreAccess {
        endpoint: "http://172.18.0.5:9000".into(),
        credentials: Credentials::random().unwrap(),
    }
}

fn config(secret: &Value, key: &str) -> Value {
    serde_json::from_str(secret["stringData"][key].as_str().unwrap()).unwrap()
}

const MODELS: &[(&str, &str)] = &[("wrong-credentials", "s3")];

#[test]
fn wrong_keys_get_the_stores_endpoint_and_keep_their_keys() {
    let store = kind_store();
    let secret = rendered("wrong-keys-s3", "s3", "s3", "wrong-ak", "wrong-sk");
    let broken = read_broken(&secret, BrokenPart::Keys, MODELS).unwrap();
    let out = point_at_store(&secret, &broken, &store);
    let c = config(&out, "s3");
    assert_eq!(c["parameters"]["endpoint"], "http://172.18.0.5:9000");
    assert_eq!(c["parameters"]["access_key_id"], "wrong-ak");
    assert_eq!(c["parameters"]["secret_access_key"], "wrong-sk");
    assert_eq!(c["name"], "s3");
    assert_eq!(
        out["metadata"], secret["metadata"],
        "metadata stays the package's"
    );
    // The store's secret key never reaches a Secret that is meant to be refused.
    assert!(!out.to_string().contains(store.credentials.secret_key()));
}

#[test]
fn a_wrong_remote_name_is_kept_with_the_stores_endpoint_and_keys() {
    let store = kind_store();
    let secret = rendered(
        "minio-remote",
        "minio",
        "minio",
        "placeholder-ak",
        "placeholder-sk",
    );
    let broken = read_broken(
        &secret,
        BrokenPart::RemoteName,
        &[("wrong-remote-name", "s3")],
    )
    .unwrap();
    let out = point_at_store(&secret, &broken, &store);
    let c = config(&out, "minio");
    assert_eq!(c["name"], "minio", "the wrong part stays");
    assert_eq!(c["parameters"]["endpoint"], "http://172.18.0.5:9000");
    assert_eq!(
        c["parameters"]["access_key_id"],
        store.credentials.access_key.as_str(),
        "only the remote name is wrong: the keys are the store's"
    );
    assert_eq!(
        c["parameters"]["secret_access_key"],
        store.credentials.secret_key()
    );
    assert_eq!(out["stringData"].as_object().unwrap().len(), 1);
}

#[test]
fn base64_data_is_replaced_not_merged() {
    use base64::Engine as _;
    let store = kind_store();
    let mut secret = rendered("wrong-keys-s3", "s3", "s3", "wrong-ak", "wrong-sk");
    let text = secret["stringData"]["s3"].as_str().unwrap().to_string();
    secret.as_object_mut().unwrap().remove("stringData");
    secret["data"] =
        json!({"s3": base64::engine::general_purpose::STANDARD.encode(text.as_bytes())});
    let broken = read_broken(&secret, BrokenPart::Keys, MODELS).unwrap();
    let out = point_at_store(&secret, &broken, &store);
    assert!(
        out.get("data").is_none(),
        "the server would merge data and stringData"
    );
    assert_eq!(
        config(&out, "s3")["parameters"]["access_key_id"],
        "wrong-ak"
    );
}

#[test]
fn a_declared_part_that_is_not_wrong_is_refused_without_values() {
    let secret = rendered(
        "minio-remote",
        "s3",
        "s3",
        "placeholder-ak",
        "placeholder-sk",
    );
    let e = read_broken(
        &secret,
        BrokenPart::RemoteName,
        &[("wrong-remote-name", "s3")],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Secret storage-failures/minio-remote"), "{e}");
    assert!(e.contains("Model `wrong-remote-name`"), "{e}");
    assert!(e.contains("brokenOnPurpose: remoteName"), "{e}");
    assert!(
        !e.contains("placeholder-sk") && !e.contains("placeholder-ak"),
        "{e}"
    );

    let no_keys = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "wrong-keys-s3", "namespace": "storage-failures"},
        "stringData": {"s3": "{\"name\":\"s3\",\"type\":\"s3\",\"parameters\":{\"endpoint\":\"http://x:9000\"}}"},
    });
    let e = read_broken(&no_keys, BrokenPart::Keys, MODELS)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Secret storage-failures/wrong-keys-s3 key `s3`"),
        "{e}"
    );
    assert!(
        e.contains("lack `access_key_id` or `secret_access_key`"),
        "{e}"
    );
}

#[test]
fn debug_never_shows_the_kept_keys() {
    let secret = rendered("wrong-keys-s3", "s3", "s3", "wrong-ak", "wrong-sk");
    let broken = read_broken(&secret, BrokenPart::Keys, MODELS).unwrap();
    let shown = format!("{broken:?}");
    assert!(
        !shown.contains("wrong-sk") && !shown.contains("wrong-ak"),
        "{shown}"
    );
}
