//! A diagnostics bundle taken at the moment of failure, on any target: the objects of the
//! namespaces involved with their status and conditions, the Events of those namespaces, the logs
//! of their pods (current and previous container), and the versions the cluster shows (server,
//! nodes, images, CNI). Every text is redacted with the values of every Secret of those
//! namespaces (and any value the caller knows) before it leaves this module.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery;
use serde_json::Value;

use super::observe::EventSummary;
use super::redact::{encode_base64, redact, secret_values};

/// The kinds dumped per namespace: Seldon's objects, the workloads behind them, and what
/// constrains them (quota, limits, policies). Secrets are listed by name and keys only.
const KINDS: &[(&str, &str, &str)] = &[
    ("mlops.seldon.io", "v1alpha1", "SeldonRuntime"),
    ("mlops.seldon.io", "v1alpha1", "Server"),
    ("mlops.seldon.io", "v1alpha1", "Model"),
    ("mlops.seldon.io", "v1alpha1", "Pipeline"),
    ("mlops.seldon.io", "v1alpha1", "Experiment"),
    ("mlops.seldon.io", "v1alpha1", "SeldonConfig"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("", "v1", "Pod"),
    ("", "v1", "Service"),
    ("", "v1", "ResourceQuota"),
    ("", "v1", "LimitRange"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("bitnami.com", "v1alpha1", "SealedSecret"),
    ("", "v1", "Secret"),
];

/// Log lines kept per container (the end of the log).
const LOG_TAIL_LINES: i64 = 400;

/// CNI plugins recognised by the names of their pods in `kube-system`.
const CNI_PODS: &[&str] = &[
    "kindnet",
    "calico",
    "cilium",
    "flannel",
    "weave",
    "antrea",
    "kube-router",
    "canal",
];

/// What to collect: the namespaces involved and the controller's namespace.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Namespaces whose objects, Events and pod logs are collected.
    pub namespaces: BTreeSet<String>,
    /// The Seldon controller's namespace (its Events, objects and logs too).
    pub controller_namespace: Option<String>,
    /// Facts the target knows and the cluster may not show (node image, CNI, chart version).
    pub facts: Vec<(String, String)>,
    /// Values to redact besides those of the Secrets found (e.g. a run's package values).
    pub secrets: Vec<String>,
}

/// A collected bundle: relative file path → redacted text.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    /// The files, by path relative to the bundle's folder.
    pub files: BTreeMap<String, String>,
    /// Every value redacted from the files (to redact texts the caller adds, too).
    pub secrets: Vec<String>,
}

impl Bundle {
    /// Adds a file, redacting it with the bundle's secret values.
    pub fn add(&mut self, path: impl Into<String>, text: &str) {
        self.files.insert(path.into(), redact(text, &self.secrets));
    }
}

/// Every value to redact for a set of Secret objects: their values, decoded and encoded.
pub fn redaction_values(secrets: &[Value], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = extra.to_vec();
    for s in secrets {
        out.extend(secret_values(s));
    }
    let encoded: Vec<String> = out.iter().map(|v| encode_base64(v.as_bytes())).collect();
    out.extend(encoded);
    // Parts of config-file values (`env_auth: false`) that are plain YAML scalars identify nothing
    // and would blank out every `false` in the bundle.
    out.retain(|s| {
        s.len() >= 4
            && !matches!(s.as_str(), "true" | "false" | "null" | "True" | "False")
            && s.parse::<f64>().is_err()
    });
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Collects the bundle for `scope`; each request is bounded by `per_request`, and what could not
/// be read is written down as such (a bundle is never refused for a partial failure).
pub async fn collect(client: &Client, scope: &Scope, per_request: Duration) -> Bundle {
    let mut namespaces = scope.namespaces.clone();
    if let Some(c) = &scope.controller_namespace {
        namespaces.insert(c.clone());
    }
    // Secrets first: every other text is redacted with their values.
    let mut secret_objects = Vec::new();
    for ns in &namespaces {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        );
        if let Ok(Ok(list)) =
            tokio::time::timeout(per_request, api.list(&ListParams::default())).await
        {
            secret_objects.extend(
                list.items
                    .iter()
                    .filter_map(|o| serde_json::to_value(o).ok()),
            );
        }
    }
    let mut bundle = Bundle {
        files: BTreeMap::new(),
        secrets: redaction_values(&secret_objects, &scope.secrets),
    };
    let mut images: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ns in &namespaces {
        let mut objects_text = String::new();
        for (group, version, kind) in KINDS {
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let resource =
                match tokio::time::timeout(per_request, discovery::pinned_kind(client, &gvk)).await
                {
                    Ok(Ok((r, _))) => r,
                    // Not served here (CRD not installed): nothing to list.
                    _ => continue,
                };
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
            match tokio::time::timeout(per_request, api.list(&ListParams::default())).await {
                Ok(Ok(list)) => {
                    for o in &list.items {
                        objects_text.push_str(&describe(kind, o));
                        if *kind == "Pod" {
                            for image in pod_images(o) {
                                images
                                    .entry(image)
                                    .or_default()
                                    .insert(format!("{ns}/{}", name(o)));
                            }
                        }
                    }
                }
                Ok(Err(e)) => objects_text.push_str(&format!("--- {kind}: cannot list: {e}\n")),
                Err(_) => objects_text.push_str(&format!(
                    "--- {kind}: listing took longer than {per_request:?}\n"
                )),
            }
        }
        bundle.add(format!("objects/{ns}.yaml"), &objects_text);
        bundle.add(
            format!("events/{ns}.txt"),
            &namespace_events(client, ns, per_request).await,
        );
        for (path, text) in pod_logs(client, ns, per_request).await {
            bundle.add(path, &text);
        }
    }
    let versions = versions(client, scope, &images, per_request).await;
    bundle.add("versions.txt", &versions);
    bundle
}

fn name(o: &DynamicObject) -> &str {
    o.metadata.name.as_deref().unwrap_or_default()
}

/// One object as YAML: metadata without managed fields (and, for Secrets, only names and keys:
/// their annotations may hold a last-applied copy of the data), spec and status.
fn describe(kind: &str, o: &DynamicObject) -> String {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(meta) = v["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    if kind == "Secret" {
        let keys = |f: &str| -> Vec<String> {
            v[f].as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut k = keys("data");
        k.extend(keys("stringData"));
        v = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name(o), "namespace": o.metadata.namespace},
            "type": v["type"],
            "keys (values never shown)": k,
        });
    } else if kind == "SealedSecret" {
        // Ciphertext only, but there is nothing to learn from it here.
        if let Some(spec) = v["spec"].as_object_mut() {
            spec.remove("encryptedData");
        }
    }
    if let Some(meta) = v["metadata"].as_object_mut()
        && let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut)
    {
        ann.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    format!(
        "--- # {kind} {}/{}\n{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        name(o),
        serde_norway::to_string(&v).unwrap_or_default()
    )
}

fn pod_images(o: &DynamicObject) -> Vec<String> {
    ["containers", "initContainers"]
        .iter()
        .flat_map(|f| o.data["spec"][f].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["image"].as_str().map(str::to_string))
        .collect()
}

/// Every Event of a namespace, oldest first, with the object each is about.
async fn namespace_events(client: &Client, ns: &str, per_request: Duration) -> String {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
    );
    let list = match tokio::time::timeout(per_request, api.list(&ListParams::default())).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return format!("cannot list the Events of {ns}: {e}\n"),
        Err(_) => return format!("listing the Events of {ns} took longer than {per_request:?}\n"),
    };
    let mut lines: Vec<(String, String)> = list
        .items
        .iter()
        .map(|e| {
            let s = EventSummary::of(e);
            let about = &e.data["involvedObject"];
            (
                s.last_seen.clone(),
                format!(
                    "{s} [{} {}]",
                    about["kind"].as_str().unwrap_or_default(),
                    about["name"].as_str().unwrap_or_default()
                ),
            )
        })
        .collect();
    lines.sort();
    if lines.is_empty() {
        return format!("no Events in {ns}\n");
    }
    lines.into_iter().map(|(_, l)| l + "\n").collect()
}

/// The logs of every container of every pod of a namespace, and of its previous instance when
/// it restarted.
async fn pod_logs(client: &Client, ns: &str, per_request: Duration) -> Vec<(String, String)> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pods = match tokio::time::timeout(per_request, api.list(&ListParams::default())).await {
        Ok(Ok(l)) => l.items,
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for pod in pods {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let restarted = |c: &str| {
            status
                .container_statuses
                .iter()
                .flatten()
                .chain(status.init_container_statuses.iter().flatten())
                .any(|s| s.name == c && s.restart_count > 0)
        };
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
            .map(|c| c.name.clone());
        for c in containers {
            for previous in [false, true] {
                if previous && !restarted(&c) {
                    continue;
                }
                let lp = LogParams {
                    container: Some(c.clone()),
                    previous,
                    tail_lines: Some(LOG_TAIL_LINES),
                    ..LogParams::default()
                };
                let text = match tokio::time::timeout(per_request, api.logs(&pod_name, &lp)).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => format!("cannot read the log: {e}\n"),
                    Err(_) => format!("reading the log took longer than {per_request:?}\n"),
                };
                let suffix = if previous { ".previous" } else { "" };
                out.push((format!("logs/{ns}/{pod_name}/{c}{suffix}.log"), text));
            }
        }
    }
    out
}

/// The versions the cluster shows, and the facts the target knows.
async fn versions(
    client: &Client,
    scope: &Scope,
    images: &BTreeMap<String, BTreeSet<String>>,
    per_request: Duration,
) -> String {
    let mut out = String::new();
    match tokio::time::timeout(per_request, client.apiserver_version()).await {
        Ok(Ok(v)) => out.push_str(&format!(
            "kubernetes server: {} (platform {})\n",
            v.git_version, v.platform
        )),
        Ok(Err(e)) => out.push_str(&format!("kubernetes server: unknown ({e})\n")),
        Err(_) => out.push_str("kubernetes server: unknown (no answer)\n"),
    }
    for (k, v) in &scope.facts {
        out.push_str(&format!("{k}: {v}\n"));
    }
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    match tokio::time::timeout(per_request, nodes.list(&ListParams::default())).await {
        Ok(Ok(list)) if !list.items.is_empty() => {
            for n in list.items {
                let info = n.status.and_then(|s| s.node_info);
                match info {
                    Some(i) => out.push_str(&format!(
                        "node {}: kubelet {}, os image {}, container runtime {}, kernel {}\n",
                        n.metadata.name.unwrap_or_default(),
                        i.kubelet_version,
                        i.os_image,
                        i.container_runtime_version,
                        i.kernel_version
                    )),
                    None => out.push_str(&format!(
                        "node {}: no nodeInfo\n",
                        n.metadata.name.unwrap_or_default()
                    )),
                }
            }
        }
        Ok(Ok(_)) => out.push_str("nodes: none listed\n"),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
            out.push_str("nodes: not served by this API server\n")
        }
        Ok(Err(e)) => out.push_str(&format!("nodes: cannot list ({e})\n")),
        Err(_) => out.push_str("nodes: no answer\n"),
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let cni: Vec<&str> =
        match tokio::time::timeout(per_request, pods.list(&ListParams::default())).await {
            Ok(Ok(list)) => CNI_PODS
                .iter()
                .copied()
                .filter(|c| {
                    list.items
                        .iter()
                        .any(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with(c)))
                })
                .collect(),
            _ => Vec::new(),
        };
    if !cni.is_empty() {
        out.push_str(&format!("CNI (pods in kube-system): {}\n", cni.join(", ")));
    }
    out.push_str("images (pod containers of the namespaces involved):\n");
    for (image, pods) in images {
        let shown: Vec<&str> = pods.iter().map(String::as_str).take(3).collect();
        let more = pods.len().saturating_sub(shown.len());
        out.push_str(&format!(
            "  {image}: {}{}\n",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_described_by_keys_only() {
        let s: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"k\":\"c2VjcmV0LXZhbHVl\"}}"}},
            "data": {"k": "c2VjcmV0LXZhbHVl"}
        }))
        .unwrap();
        let text = describe("Secret", &s);
        assert!(text.contains("- k"), "{text}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
    }

    #[test]
    fn redaction_values_cover_plain_and_base64_forms() {
        let s = json!({"kind": "Secret", "stringData": {"x": "planted-value-1"}});
        let values = redaction_values(&[s], &["another-planted".into()]);
        for v in [
            "planted-value-1",
            "another-planted",
            &encode_base64(b"planted-value-1"),
            &encode_base64(b"another-planted"),
        ] {
            assert!(values.iter().any(|x| x == v), "{v} missing from {values:?}");
        }
        let mut b = Bundle {
            secrets: values,
            ..Bundle::default()
        };
        b.add("f", &format!("x {} y", encode_base64(b"planted-value-1")));
        assert_eq!(b.files["f"], "x <redacted> y");
    }
}
