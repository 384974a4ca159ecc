//! The real kubectl against the platform: discovery, server-side apply, tables, wait, errors.
//!
//! Skipped (with a printed reason) when `kubectl` is not on PATH.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::{platform, rt, wait_until};
use serde_json::{Value, json};
use sim::Platform;

const TIMEOUT: Duration = Duration::from_secs(30);

fn kubectl_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

/// kubectl with its own kubeconfig and discovery cache, both in a temporary directory.
struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(p: &Platform) -> Option<Kubectl> {
        let Some(bin) = kubectl_on_path() else {
            eprintln!(
                "SKIPPED: kubectl is not on PATH; install kubectl to run the kubectl compatibility tests"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        p.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
        Some(Kubectl { bin, dir })
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        c.env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("cache").display()
            ))
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(TIMEOUT, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within {TIMEOUT:?}"))
            .expect("kubectl runs")
    }

    /// Runs kubectl and returns stdout, failing the test with stderr when it fails.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team-k
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: team-k
  labels: {a: b}
data: {k: v}
---
apiVersion: mlops.seldon.io/v1alpha1
kind: Model
metadata:
  name: iris
  namespace: team-k
spec:
  storageUri: gs://bucket/iris
  requirements: [sklearn]
"#;

fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn kubectl_applies_gets_lists_and_waits() {
    let p = platform();
    let Some(k) = Kubectl::new(&p) else { return };
    let file = k.file("app.yaml", MANIFEST);

    let applied = k.ok(&["apply", "--server-side", "-f", &file]).await;
    for line in [
        "namespace/team-k serverside-applied",
        "configmap/cfg serverside-applied",
        "model.mlops.seldon.io/iris serverside-applied",
    ] {
        assert!(
            applied.contains(line),
            "apply output lacks {line:?}: {applied}"
        );
    }
    // Applying again changes nothing but still succeeds.
    k.ok(&["apply", "--server-side", "-f", &file]).await;

    let yaml = k
        .ok(&["get", "model", "iris", "-n", "team-k", "-o", "yaml"])
        .await;
    let model: Value = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(model["spec"]["storageUri"], "gs://bucket/iris");
    assert_eq!(model["kind"], "Model");
    assert!(model["metadata"]["uid"].is_string() && model["metadata"]["managedFields"].is_null());

    p.store()
        .create(
            rt("ConfigMap"),
            json!({"metadata": {"name": "unlabelled", "namespace": "team-k"}}),
        )
        .unwrap();
    let cms = rows(&k.ok(&["get", "cm", "-l", "a=b", "-A"]).await);
    assert_eq!(
        cms[0][..2],
        ["NAMESPACE".to_string(), "NAME".to_string()],
        "{cms:?}"
    );
    assert_eq!(cms.len(), 2, "only the labelled ConfigMap: {cms:?}");
    assert_eq!(
        cms[1][..3],
        ["team-k".to_string(), "cfg".to_string(), "1".to_string()]
    );

    p.store()
        .create(
            rt("Event"),
            json!({"metadata": {"name": "iris.1", "namespace": "team-k"}, "type": "Warning", "reason": "FailedScheduling",
                   "message": "no matching servers are available", "involvedObject": {"kind": "Model", "name": "iris", "namespace": "team-k"}}),
        )
        .unwrap();
    let events = k.ok(&["get", "events", "-A"]).await;
    let line = events
        .lines()
        .find(|l| l.contains("FailedScheduling"))
        .unwrap_or_else(|| panic!("no event row: {events}"));
    for part in [
        "team-k",
        "Warning",
        "model/iris",
        "no matching servers are available",
    ] {
        assert!(line.contains(part), "event row lacks {part:?}: {line}");
    }

    // kubectl wait lists then watches; the condition is set once its watch is live.
    let before = p.store().subscriber_count();
    let waiter = k
        .command(&[
            "wait",
            "--for=condition=Ready",
            "model/iris",
            "-n",
            "team-k",
            "--timeout=20s",
        ])
        .output();
    let waiter = tokio::spawn(waiter);
    wait_until("kubectl wait's watch", TIMEOUT, || {
        p.store().subscriber_count() > before
    })
    .await;
    let mut m = p.store().get(rt("Model"), Some("team-k"), "iris").unwrap();
    m["status"] = json!({"conditions": [{"type": "Ready", "status": "True"}]});
    p.store().update_status(rt("Model"), m).unwrap();
    let out = tokio::time::timeout(TIMEOUT, waiter)
        .await
        .expect("kubectl wait returns")
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl wait failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("model.mlops.seldon.io/iris condition met")
    );

    let table = rows(&k.ok(&["get", "mlm", "-n", "team-k"]).await);
    assert_eq!(
        table[0][..2],
        ["NAME".to_string(), "READY".to_string()],
        "CRD printer columns: {table:?}"
    );
    assert_eq!(table[1][..2], ["iris".to_string(), "True".to_string()]);
}

#[tokio::test]
async fn kubectl_reports_server_errors_verbatim() {
    let p = platform();
    let Some(k) = Kubectl::new(&p) else { return };
    let out = k.run(&["get", "model", "missing", "-n", "default"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"Error from server (NotFound): models.mlops.seldon.io "missing" not found"#),
        "{err}"
    );

    let bad = k.file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name, namespace: default}\n",
    );
    let out = k.run(&["apply", "--server-side", "-f", &bad]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Invalid") && err.contains("Bad_Name"), "{err}");

    let out = k.run(&["get", "widgets"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the server doesn't have a resource type \"widgets\"")
    );
}

#[tokio::test]
async fn kubectl_client_side_apply_label_patch_and_delete_work() {
    let p = platform();
    let Some(k) = Kubectl::new(&p) else { return };
    let file = k.file("app.yaml", MANIFEST);
    k.ok(&["apply", "-f", &file]).await;
    k.ok(&["apply", "-f", &file]).await;
    k.ok(&["label", "cm", "cfg", "-n", "team-k", "tier=web"])
        .await;
    k.ok(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "team-k",
        "-p",
        r#"{"data":{"z":"1"}}"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "model",
        "iris",
        "-n",
        "team-k",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ])
    .await;
    let cm = p
        .store()
        .get(rt("ConfigMap"), Some("team-k"), "cfg")
        .unwrap();
    assert_eq!(
        (
            cm["metadata"]["labels"]["tier"].as_str(),
            cm["data"]["z"].as_str()
        ),
        (Some("web"), Some("1"))
    );
    assert_eq!(
        p.store().get(rt("Model"), Some("team-k"), "iris").unwrap()["spec"]["replicas"],
        2
    );
    // kubectl waits until every object, the terminating namespace included, is gone.
    k.ok(&["delete", "-f", &file]).await;
    assert!(p.store().get(rt("Namespace"), None, "team-k").is_none());
    assert!(p.store().get(rt("Model"), Some("team-k"), "iris").is_none());
}

/// Typed kubectl commands send Kubernetes protobuf bodies; `auth can-i` asks through reviews.
#[tokio::test]
async fn kubectl_typed_create_commands_and_auth_can_i_work() {
    let p = platform();
    let Some(k) = Kubectl::new(&p) else { return };
    k.ok(&["create", "namespace", "team-p"]).await;
    k.ok(&[
        "create",
        "configmap",
        "x",
        "-n",
        "team-p",
        "--from-literal=a=b",
    ])
    .await;
    k.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "-n",
        "team-p",
        "--from-literal=k=v",
    ])
    .await;
    k.ok(&["create", "serviceaccount", "bot", "-n", "team-p"])
        .await;
    k.ok(&[
        "create",
        "role",
        "pod-reader",
        "-n",
        "team-p",
        "--verb=get,list",
        "--resource=pods",
    ])
    .await;
    k.ok(&[
        "create",
        "rolebinding",
        "rb",
        "-n",
        "team-p",
        "--role=pod-reader",
        "--user=alice",
        "--serviceaccount=team-p:bot",
    ])
    .await;

    let s = p.store();
    assert_eq!(
        s.get(rt("ConfigMap"), Some("team-p"), "x").unwrap()["data"],
        json!({"a": "b"})
    );
    let secret = s.get(rt("Secret"), Some("team-p"), "s").unwrap();
    assert_eq!(
        (secret["data"]["k"].as_str(), secret["type"].as_str()),
        (Some("dg=="), Some("Opaque"))
    );
    assert_eq!(
        s.get(rt("Role"), Some("team-p"), "pod-reader").unwrap()["rules"][0]["verbs"],
        json!(["get", "list"])
    );
    let rb = s.get(rt("RoleBinding"), Some("team-p"), "rb").unwrap();
    assert_eq!(rb["roleRef"]["name"], "pod-reader");
    assert_eq!(
        rb["subjects"][0],
        json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"})
    );
    assert_eq!(
        rb["subjects"][1],
        json!({"kind": "ServiceAccount", "name": "bot", "namespace": "team-p"})
    );

    let can = |args: &'static [&'static str]| {
        let k = &k;
        async move { k.run(args).await.stdout }
    };
    assert_eq!(
        can(&["auth", "can-i", "delete", "secrets", "-n", "team-p"]).await,
        b"yes\n"
    );
    assert_eq!(
        can(&[
            "auth",
            "can-i",
            "list",
            "pods",
            "-n",
            "team-p",
            "--as=alice"
        ])
        .await,
        b"yes\n"
    );
    assert_eq!(
        can(&[
            "auth",
            "can-i",
            "get",
            "secrets",
            "-n",
            "team-p",
            "--as=alice"
        ])
        .await,
        b"no\n"
    );
    assert_eq!(
        can(&[
            "auth",
            "can-i",
            "get",
            "pods",
            "-n",
            "team-p",
            "--as=system:serviceaccount:team-p:bot"
        ])
        .await,
        b"yes\n"
    );
    // `auth can-i --list` asks a SelfSubjectRulesReview: alice's Role shows with its verbs, and
    // the rules every authenticated user has (system:basic-user) show too.
    let list =
        String::from_utf8(can(&["auth", "can-i", "--list", "-n", "team-p", "--as=alice"]).await)
            .unwrap();
    let pods = list
        .lines()
        .find(|l| l.split_whitespace().next() == Some("pods"))
        .unwrap_or_else(|| panic!("no pods rule in:\n{list}"));
    assert!(pods.contains("[get list]"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("selfsubjectrulesreviews.authorization.k8s.io")),
        "{list}"
    );
    assert!(!list.lines().any(|l| l.starts_with("secrets")), "{list}");
    let out = k
        .run(&["get", "secrets", "-n", "team-p", "--as=alice"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Error from server (Forbidden)"));
}

/// Server-side apply with kubectl's field manager (a conflict named as the apiserver names it,
/// then `--force-conflicts`), `--dry-run=server`, and `kubectl scale` through the scale subresource.
#[tokio::test]
async fn kubectl_server_side_apply_dry_run_and_scale_work() {
    let p = platform();
    let Some(k) = Kubectl::new(&p) else { return };
    k.ok(&["create", "namespace", "team-s"]).await;
    let file = k.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, namespace: team-s}\ndata: {k: v}\n",
    );
    k.ok(&["apply", "--server-side", "-f", &file]).await;
    k.ok(&[
        "patch",
        "cm",
        "cfg",
        "-n",
        "team-s",
        "--field-manager=other",
        "--type=merge",
        "-p",
        r#"{"data":{"k":"v2"}}"#,
    ])
    .await;
    let out = k.run(&["apply", "--server-side", "-f", &file]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the apply conflicts");
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "other" using v1: .data.k"#),
        "{err}"
    );
    k.ok(&["apply", "--server-side", "--force-conflicts", "-f", &file])
        .await;
    let cm = p
        .store()
        .get(rt("ConfigMap"), Some("team-s"), "cfg")
        .unwrap();
    assert_eq!(cm["data"]["k"], "v");

    let dry = k
        .ok(&[
            "create",
            "configmap",
            "dry",
            "-n",
            "team-s",
            "--from-literal=a=b",
            "--dry-run=server",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(dry.trim(), "configmap/dry");
    assert!(
        p.store()
            .get(rt("ConfigMap"), Some("team-s"), "dry")
            .is_none(),
        "a server dry run stores nothing"
    );
    let deployment = k.file(
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team-s}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: registry.invalid/app:1}]}\n",
    );
    k.ok(&["apply", "--dry-run=server", "-f", &deployment])
        .await;
    assert!(
        p.store()
            .get(rt("Deployment"), Some("team-s"), "web")
            .is_none(),
        "a server dry run stores nothing"
    );
    k.ok(&["apply", "-f", &deployment]).await;
    let scaled = k
        .ok(&["scale", "deployment", "web", "-n", "team-s", "--replicas=3"])
        .await;
    assert!(scaled.contains("deployment.apps/web scaled"), "{scaled}");
    assert_eq!(
        p.store()
            .get(rt("Deployment"), Some("team-s"), "web")
            .unwrap()["spec"]["replicas"],
        3
    );
}
