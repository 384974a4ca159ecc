//! Shared by the tests that talk to a real kube-apiserver (issue 13): the two targets, raw
//! requests, normalisation, and the `differential!` macro. See `differential.rs`.
#![allow(dead_code)] // Each test binary uses a different subset.

pub mod crds;

use std::time::{Duration, Instant};

use axum::http::Request;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use sim::Platform;
use sim::faults::Faults;

pub const KUBECONFIG_ENV: &str = "HARNESS_REAL_APISERVER_KUBECONFIG";
pub const REQUIRE_ENV: &str = "HARNESS_REQUIRE_REAL_APISERVER";
/// Bound on every wait for asynchronous work (controllers, namespace deletion takes ~5 s on 1.20).
pub const WAIT: Duration = Duration::from_secs(60);

/// One side of the comparison.
pub struct Target {
    pub name: &'static str,
    pub client: Client,
    /// Setup only: the real server needs a namespace's ServiceAccount token before it admits pods.
    real: bool,
    platform: Option<Platform>,
}

/// The embedded platform and the real apiserver, or `None` (after printing why) when no real
/// apiserver is configured and none is required.
pub async fn targets(test: &str) -> Option<(Target, Target)> {
    let real = real_target(test).await?;
    let p = Platform::start(Faults::default()).expect("embedded platform starts");
    let kc = Kubeconfig::from_yaml(&p.kubeconfig_yaml()).expect("embedded kubeconfig parses");
    let embedded = Target {
        name: "embedded platform",
        client: client_from(kc).await,
        real: false,
        platform: Some(p),
    };
    Some((embedded, real))
}

/// The real apiserver alone (same skip rules as [`targets`]).
pub async fn real_target(test: &str) -> Option<Target> {
    let Some(path) = std::env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) else {
        assert!(
            std::env::var(REQUIRE_ENV).as_deref() != Ok("1"),
            "{REQUIRE_ENV}=1 but {KUBECONFIG_ENV} is not set: start one with `bash ci/kube-apiserver.sh start DIR`"
        );
        eprintln!(
            "skipped {test}: {KUBECONFIG_ENV} is not set (start a real apiserver with `bash ci/kube-apiserver.sh start DIR`)"
        );
        return None;
    };
    let kc = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("reading {KUBECONFIG_ENV}={}: {e}", path.display()));
    Some(Target {
        name: "real kube-apiserver",
        client: client_from(kc).await,
        real: true,
        platform: None,
    })
}

pub async fn client_from(kc: Kubeconfig) -> Client {
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kube config from kubeconfig");
    Client::try_from(config).expect("kube client")
}

impl Target {
    /// A client for the same server acting as `user` (impersonation; the kubeconfig user may).
    pub async fn as_user(&self, user: &str) -> Client {
        let mut config = self.config().await;
        config.auth_info.impersonate = Some(user.to_string());
        Client::try_from(config).expect("impersonating client")
    }

    pub async fn config(&self) -> kube::Config {
        let kc = if self.real {
            Kubeconfig::read_from(std::env::var_os(KUBECONFIG_ENV).unwrap()).unwrap()
        } else {
            Kubeconfig::from_yaml(&self.platform.as_ref().unwrap().kubeconfig_yaml()).unwrap()
        };
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap()
    }

    /// A raw request; returns the status code and the body as JSON (a string if not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call_with(&self.client, method, path, body).await
    }

    pub async fn create(&self, path: &str, body: Value) -> Value {
        let (code, out) = self.call("POST", path, Some(body)).await;
        assert!(
            code == 201 || code == 200,
            "{}: POST {path}: {code} {out}",
            self.name
        );
        out
    }

    pub async fn get(&self, path: &str) -> Option<Value> {
        match self.call("GET", path, None).await {
            (200, v) => Some(v),
            (404, _) => None,
            (code, v) => panic!("{}: GET {path}: {code} {v}", self.name),
        }
    }

    /// Creates namespace `ns` and, on the real server, waits for its `default` ServiceAccount to get
    /// its token secret: 1.20's ServiceAccount admission refuses pods until then.
    pub async fn namespace(&self, ns: &str) {
        self.create("/api/v1/namespaces", json!({"metadata": {"name": ns}}))
            .await;
        if self.real {
            let path = format!("/api/v1/namespaces/{ns}/serviceaccounts/default");
            self.wait(&format!("ServiceAccount {ns}/default with a token"), || {
                let path = path.clone();
                async move {
                    self.get(&path)
                        .await
                        .filter(|sa| sa["secrets"].as_array().is_some_and(|s| !s.is_empty()))
                }
            })
            .await;
        }
    }

    /// Best effort: the real server is shared by the whole run.
    pub async fn cleanup(&self, ns: &str) {
        let _ = self
            .call("DELETE", &format!("/api/v1/namespaces/{ns}"), None)
            .await;
    }

    /// Polls `check` every 200 ms until it returns Some; panics after [`WAIT`].
    pub async fn wait<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out after {WAIT:?} waiting for {what}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates a ResourceQuota and waits until its status carries `hard`: the quota admission
    /// refuses pods while a quota's usage is unknown.
    pub async fn quota(&self, ns: &str, hard: Value) {
        let path = format!("/api/v1/namespaces/{ns}/resourcequotas");
        self.create(
            &path,
            json!({"metadata": {"name": "compute"}, "spec": {"hard": hard}}),
        )
        .await;
        self.wait("quota status", || {
            let path = format!("{path}/compute");
            async move {
                self.get(&path)
                    .await
                    .filter(|q| q["status"]["hard"].is_object())
            }
        })
        .await;
    }
}

pub async fn call_with(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    // PATCH bodies are JSON merge patches.
    let ct = if method == "PATCH" {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    call_as(client, method, path, ct, body).await
}

/// [`call_with`] with an explicit `Content-Type` (e.g. `application/apply-patch+yaml`).
pub async fn call_as(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(
            body.map(|b| serde_json::to_vec(&b).unwrap())
                .unwrap_or_default(),
        )
        .unwrap();
    let resp = client
        .send(req.map(Into::into))
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let code = resp.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), 64 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (code, body)
}

/// A namespace name unique to this run: `diff-<what>-<6 hex digits>`.
pub fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "diff-{what}-{:06x}",
        (nanos ^ std::process::id().rotate_left(12)) & 0xff_ffff
    )
}

/// A Status body without the parts that legitimately vary (apiVersion, metadata).
pub fn status(code: u16, body: &Value) -> Value {
    let mut s = body.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("apiVersion");
        o.remove("metadata");
    }
    json!({"http": code, "status": s})
}

/// [`status`] without `details.causes` (for the checks whose causes differ separately).
pub fn status_without_causes(code: u16, body: &Value) -> Value {
    let mut s = status(code, body);
    if let Some(d) = s["status"]["details"].as_object_mut() {
        d.remove("causes");
    }
    s
}

/// Rewrites, on either side, the wording that changed after 1.20 (the platform models the kind
/// node's v1.33), so only real differences remain. Each is listed with its reason in
/// docs/real-apiserver-facts.md ("Allowed divergences"):
/// - quota `must specify limits.cpu for: c; limits.memory for: c` (1.24+, kubernetes PR #107210)
///   becomes 1.20's `must specify limits.cpu,limits.memory`;
/// - 1.20 qualifies NetworkPolicy errors with the internal group `extensions`
///   (`NetworkPolicy.extensions`), newer servers with `networking.k8s.io`;
/// - the deployment controller's `Scaled up replica set web-x from 0 to 2` (newer) becomes
///   1.20's `Scaled up replica set web-x to 2`.
pub fn allowed_divergences(v: &mut Value) {
    match v {
        Value::String(s) => {
            let mut t = s.replace(
                "NetworkPolicy.extensions ",
                "NetworkPolicy.networking.k8s.io ",
            );
            // `Scaled up replica set web-x from 0 to 2` (newer) is 1.20's `... web-x to 2`.
            if t.starts_with("Scaled ")
                && let Some((head, to)) = t.rsplit_once(" to ")
                && let Some((set, _from)) = head.rsplit_once(" from ")
            {
                t = format!("{set} to {to}");
            }
            if let Some(at) = t.find("must specify ") {
                let (head, rest) = t.split_at(at + "must specify ".len());
                let resources: Vec<&str> = rest
                    .split("; ")
                    .map(|part| part.split_once(" for: ").map_or(part, |(r, _)| r))
                    .collect();
                t = format!("{head}{}", resources.join(","));
            }
            *s = t;
        }
        Value::Object(o) => {
            if o.get("kind") == Some(&json!("NetworkPolicy"))
                && o.get("group") == Some(&json!("extensions"))
            {
                o.insert("group".into(), json!("networking.k8s.io"));
            }
            o.values_mut().for_each(allowed_divergences);
        }
        Value::Array(a) => a.iter_mut().for_each(allowed_divergences),
        _ => {}
    }
}

/// Fails with both sides pretty-printed when the normalised outputs differ.
pub fn assert_same(what: &str, embedded: &Value, real: &Value) {
    assert!(
        embedded == real,
        "{what} differs\n--- embedded platform:\n{}\n--- real kube-apiserver 1.20.2:\n{}",
        serde_json::to_string_pretty(embedded).unwrap(),
        serde_json::to_string_pretty(real).unwrap()
    );
}

pub fn pod(name: &str, resources: Value) -> Value {
    json!({"metadata": {"name": name},
           "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1", "resources": resources}]}})
}

/// Runs `scenario` on both targets (same namespace name) and compares what it returns.
macro_rules! differential {
    ($test:literal, $ns:literal, |$t:ident, $n:ident| $body:expr) => {{
        let Some((embedded, real)) = targets($test).await else {
            return;
        };
        let $n = unique($ns);
        let mut out = Vec::new();
        for $t in [&embedded, &real] {
            let $n: &str = &$n;
            out.push($body);
            $t.cleanup($n).await;
        }
        for o in out.iter_mut() {
            $crate::real_apiserver::allowed_divergences(o);
        }
        assert_same($test, &out[0], &out[1]);
    }};
}
