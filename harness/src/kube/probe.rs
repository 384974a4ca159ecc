//! Connectivity probes: the one probe-pod builder and the one way to run a probe pod.
//!
//! A probe is a short-lived Pod running `busybox` `nc -z -w <s> <host> <port>`; exit 0 (phase
//! `Succeeded`) means the connection opened. Every probe and listener the harness creates is built
//! here, with the same resources (requests = limits, so quotas that demand limits admit them) and
//! the restricted Pod Security Standard's settings, so a namespace enforcing `restricted` admits
//! all of them alike.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, LogParams};
use serde_json::{Value, json};

use super::apply::Applier;
use super::condition::Condition;
use super::object::Watched;
use super::wait::{Deadline, wait_for};

/// The label every probe pod carries.
pub const PROBE_LABEL: &str = "conformance.harness/probe";
/// The annotation naming a probe's `<host>:<port>`.
pub const PROBE_TARGET_ANNOTATION: &str = "conformance.harness/probe-target";
/// The annotation naming the flow a flow probe tests.
pub const FLOW_ANNOTATION: &str = "conformance.harness/flow";
/// The image probes and listeners run.
pub const PROBE_IMAGE: &str = "busybox:1.36";
/// Seconds a probe waits for a connection (`nc -w`).
pub const PROBE_CONNECT_SECONDS: u32 = 5;

/// The object a probe pod is owned by (a harness-owned object in the probe's namespace), so the
/// controllers whose labels a probe wears never adopt it and garbage collection removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOwner {
    /// e.g. `v1`.
    pub api_version: String,
    /// e.g. `ConfigMap`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its UID.
    pub uid: String,
}

/// A probe pod to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePod {
    /// Namespace the probe runs in.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Labels (to be selected like a given client or component); [`PROBE_LABEL`] is added.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations ([`PROBE_TARGET_ANNOTATION`] is always set).
    pub annotations: BTreeMap<String, String>,
    /// Host name or IP to dial.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `nc -w` seconds.
    pub connect_seconds: u32,
    /// Owner reference with `controller: true`, when the probe wears a controller's labels.
    pub owner: Option<ProbeOwner>,
    /// Keep the pod out of Service endpoints with a readiness gate nobody sets (a probe wearing
    /// envoy's labels must not receive `seldon-mesh` traffic).
    pub never_ready: bool,
}

/// A container with the harness's small resources and restricted security settings.
pub fn small_container(name: &str, command: Vec<String>) -> Value {
    json!({
        "name": name,
        "image": PROBE_IMAGE,
        "command": command,
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "10m", "memory": "16Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        },
    })
}

/// The pod-level security context of the restricted Pod Security Standard.
pub fn pod_security() -> Value {
    json!({"runAsNonRoot": true, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}})
}

impl ProbePod {
    /// A probe dialling `host:port` from `namespace`, with the default connect timeout.
    pub fn new(namespace: &str, name: &str, host: &str, port: u16) -> ProbePod {
        ProbePod {
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            host: host.to_string(),
            port,
            connect_seconds: PROBE_CONNECT_SECONDS,
            owner: None,
            never_ready: false,
        }
    }

    /// The command the probe runs.
    pub fn command(&self) -> Vec<String> {
        vec![
            "nc".into(),
            "-z".into(),
            "-w".into(),
            self.connect_seconds.to_string(),
            self.host.clone(),
            self.port.to_string(),
        ]
    }

    /// The Pod manifest.
    pub fn pod(&self) -> Value {
        let mut labels = self.labels.clone();
        labels.insert(PROBE_LABEL.into(), "true".into());
        let mut annotations = self.annotations.clone();
        annotations.insert(
            PROBE_TARGET_ANNOTATION.into(),
            format!("{}:{}", self.host, self.port),
        );
        let mut pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": annotations,
            },
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": false,
                "securityContext": pod_security(),
                "containers": [small_container("probe", self.command())],
            },
        });
        if self.never_ready {
            pod["spec"]["readinessGates"] =
                json!([{ "conditionType": "conformance.harness/never-ready" }]);
        }
        if let Some(o) = &self.owner {
            pod["metadata"]["ownerReferences"] = json!([{
                "apiVersion": o.api_version,
                "kind": o.kind,
                "name": o.name,
                "uid": o.uid,
                "controller": true,
                "blockOwnerDeletion": false,
            }]);
        }
        pod
    }

    /// Runs the probe to completion, reads its log and deletes it (on every path).
    pub async fn run(&self, applier: &Applier, deadline: Deadline) -> Result<ProbeResult, String> {
        let api: Api<Pod> = Api::namespaced(applier.client().clone(), &self.namespace);
        let result = self.run_inner(applier, &api, deadline).await;
        delete_pod(&api, &self.name).await;
        result
    }

    async fn run_inner(
        &self,
        applier: &Applier,
        api: &Api<Pod>,
        deadline: Deadline,
    ) -> Result<ProbeResult, String> {
        let pod = format!("{}/{}", self.namespace, self.name);
        let command = self.command().join(" ");
        applier
            .apply(&self.pod())
            .await
            .map_err(|e| format!("could not create probe pod {pod}: {e}"))?;
        let done = Condition::new("phase Succeeded or Failed", |o| {
            o.is_some_and(|o| {
                matches!(
                    o.data["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed")
                )
            })
        });
        let target = Watched::of::<Pod>(Some(&self.namespace), &self.name);
        let obj = wait_for(applier.client(), &target, &done, deadline.remaining())
            .await
            .map_err(|e| format!("probe pod {pod} (`{command}`) did not finish\n{e}"))?
            .ok_or_else(|| format!("probe pod {pod} vanished"))?;
        let connected = obj.data["status"]["phase"] == "Succeeded";
        let log = api
            .logs(&self.name, &LogParams::default())
            .await
            .map_err(|e| format!("could not read the log of probe pod {pod}: {e}"))?;
        Ok(ProbeResult {
            pod,
            command,
            connected,
            log,
        })
    }
}

async fn delete_pod(api: &Api<Pod>, name: &str) {
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    if let Err(e) = api.delete(name, &dp).await
        && !matches!(&e, kube::Error::Api(s) if s.code == 404)
    {
        tracing::warn!("could not delete pod {name}: {e}");
    }
}

/// What a probe pod did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// `<namespace>/<pod>`.
    pub pod: String,
    /// The command, as a shell line.
    pub command: String,
    /// Whether the connection opened (phase Succeeded).
    pub connected: bool,
    /// The container log (empty on success).
    pub log: String,
}

/// Why a probe did not connect, from busybox `nc`'s message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No answer within `-w` seconds: dropped, as a NetworkPolicy does.
    TimedOut,
    /// Refused: nothing listens (no ready endpoints), or a CNI that rejects.
    Refused,
    /// The name did not resolve (no such Service, or DNS unreachable).
    BadAddress,
    /// Anything else.
    Other,
}

impl ProbeResult {
    /// Classifies the failure from the log.
    pub fn failure(&self) -> Option<ProbeFailure> {
        if self.connected {
            return None;
        }
        let log = self.log.to_ascii_lowercase();
        Some(if log.contains("timed out") {
            ProbeFailure::TimedOut
        } else if log.contains("refused") {
            ProbeFailure::Refused
        } else if log.contains("bad address") {
            ProbeFailure::BadAddress
        } else {
            ProbeFailure::Other
        })
    }

    /// One line: what was run and what happened.
    pub fn describe(&self) -> String {
        let outcome = if self.connected {
            "connected".to_string()
        } else if self.log.trim().is_empty() {
            "failed without output".to_string()
        } else {
            format!("failed: {}", self.log.trim())
        };
        format!("probe pod {} ran `{}`: {outcome}", self.pod, self.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_is_restricted_and_limited() {
        let mut p = ProbePod::new("team", "probe-x", "seldon-mesh.team", 80);
        p.never_ready = true;
        p.owner = Some(ProbeOwner {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "owner".into(),
            uid: "u-1".into(),
        });
        let pod = p.pod();
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["resources"]["limits"]["cpu"], "10m");
        assert_eq!(
            c["command"],
            json!(["nc", "-z", "-w", "5", "seldon-mesh.team", "80"])
        );
        assert_eq!(pod["metadata"]["labels"][PROBE_LABEL], "true");
        assert_eq!(
            pod["metadata"]["annotations"][PROBE_TARGET_ANNOTATION],
            "seldon-mesh.team:80"
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
        assert!(pod["spec"]["readinessGates"].is_array());
    }

    #[test]
    fn classifies_busybox_nc_failures() {
        let r = |connected: bool, log: &str| ProbeResult {
            pod: "ns/p".into(),
            command: "nc".into(),
            connected,
            log: log.into(),
        };
        assert_eq!(r(true, "").failure(), None);
        assert_eq!(
            r(
                false,
                "nc: seldon-mesh.t (10.96.0.5:80): Connection timed out"
            )
            .failure(),
            Some(ProbeFailure::TimedOut)
        );
        assert_eq!(
            r(
                false,
                "nc: seldon-mesh.t (10.96.0.5:80): Connection refused"
            )
            .failure(),
            Some(ProbeFailure::Refused)
        );
        assert_eq!(
            r(false, "nc: bad address 'x.y'").failure(),
            Some(ProbeFailure::BadAddress)
        );
        assert!(
            r(false, "nc: bad address 'x.y'")
                .describe()
                .contains("failed: nc: bad address")
        );
    }
}
