//! Seldon's own connections, judged by the same connection model as the harness's probes
//! (`network::probe_outcome`: DNS, Service endpoints, NetworkPolicy) from the pod that opens them
//! (docs/seldon-behaviour.md §17):
//! - agent → the API server (`kubernetes.default:443`: its config watch and storage Secrets) and
//!   → `seldon-scheduler:9005` (registration): until both connect the agent is not Ready, so the
//!   Server pod is not Ready and its replica never serves a model;
//! - controller → `seldon-scheduler.<ns>:9004`: cut, `LoadModel` fails with the gRPC dial error;
//! - envoy → `seldon-scheduler:9002` (xDS): cut, envoy never gets its listener, `seldon-mesh`
//!   serves nothing;
//! - envoy → a server pod's agent proxy 9001 (REST) / 9501 (gRPC): cut, inference through
//!   `seldon-mesh` fails (503 / UNAVAILABLE);
//! - rclone → the model store named by the rclone config: cut, the download fails in the agent's
//!   words (`storage`).
//!
//! With the `policy-ignored-for-seldon-traffic` defect (or `networkpolicy-ignored`) none of these
//! look at NetworkPolicy; DNS and endpoints still matter.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::components::NAME_LABEL;
use crate::control::objects::res;
use crate::network::{NetworkView, PROBE_TARGET_ANNOTATION, probe_outcome};
use crate::store::Store;

/// The host and port agents dial for registration (`SELDON_SCHEDULER_HOST`/`_PORT`).
pub const AGENT_SCHEDULER: &str = "seldon-scheduler:9005";
/// The API server as in-cluster clients dial it (`KUBERNETES_SERVICE_HOST` resolves to this Service).
pub const API_SERVER: &str = "kubernetes.default:443";
/// Envoy's xDS source (the bootstrap's `xds_cluster`).
pub const ENVOY_XDS: &str = "seldon-scheduler:9002";
/// The agent's reverse-proxy ports envoy forwards REST and gRPC inference to.
pub const AGENT_PROXY_PORTS: (u16, u16) = (9001, 9501);

/// Opens `target` (`host:port`) from `pod`; `Err` says why it did not connect, in nc's words
/// followed by the connection model's explanation.
pub(crate) fn dial(
    view: &NetworkView,
    pod: &Value,
    target: &str,
    unpoliced: bool,
) -> Result<(), String> {
    let mut probe = pod.clone();
    probe["metadata"]["annotations"][PROBE_TARGET_ANNOTATION] = json!(target);
    let typed =
        serde_json::from_value::<Pod>(probe).map_err(|e| format!("pod not readable: {e}"))?;
    let outcome = probe_outcome(view, &typed, unpoliced);
    if outcome.succeeded {
        Ok(())
    } else {
        Err(format!(
            "{} ({})",
            outcome.log.trim_start_matches("nc: "),
            outcome.explanation
        ))
    }
}

/// A Running, Ready pod of `ns` carrying `key=value`, in name order.
pub(crate) fn ready_pods(store: &Store, ns: &str, key: &str, value: &str) -> Vec<Value> {
    let (pods, _) = store.list(res("Pod"), Some(ns));
    pods.into_iter()
        .filter(|p| {
            p["metadata"]["labels"][key] == value && p["metadata"]["deletionTimestamp"].is_null()
        })
        .filter(|p| p["status"]["phase"] == "Running")
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .collect()
}

/// The running envoy pods of `ns` that get their configuration: those that connect to the
/// scheduler's xDS port (a starting envoy is not Ready until it did, docs/seldon-behaviour.md §26).
pub(crate) fn envoys_configured(
    store: &Store,
    view: &NetworkView,
    ns: &str,
    unpoliced: bool,
) -> Vec<String> {
    let (pods, _) = store.list(res("Pod"), Some(ns));
    pods.iter()
        .filter(|p| {
            p["metadata"]["labels"][NAME_LABEL] == "seldon-envoy"
                && p["metadata"]["deletionTimestamp"].is_null()
                && p["status"]["phase"] == "Running"
        })
        .filter(|p| dial(view, p, ENVOY_XDS, unpoliced).is_ok())
        .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string))
        .collect()
}

/// Whether envoy in `ns` reaches the agent proxies of the given server pods (REST, gRPC).
pub(crate) fn envoy_upstream(
    store: &Store,
    view: &NetworkView,
    ns: &str,
    server_pods: &[Value],
    unpoliced: bool,
) -> crate::dataplane::Upstream {
    let envoys = ready_pods(store, ns, NAME_LABEL, "seldon-envoy");
    let reach = |port: u16| -> Option<String> {
        let mut why = Vec::new();
        for envoy in &envoys {
            for server in server_pods {
                let ip = server["status"]["podIP"].as_str().unwrap_or_default();
                match dial(view, envoy, &format!("{ip}:{port}"), unpoliced) {
                    Ok(()) => return None,
                    Err(e) => why.push(e),
                }
            }
        }
        // No envoy or no server pod: nothing to judge here (the model is not served anyway).
        (!why.is_empty()).then(|| why.join("; "))
    };
    crate::dataplane::Upstream {
        rest: reach(AGENT_PROXY_PORTS.0),
        grpc: reach(AGENT_PROXY_PORTS.1),
    }
}

/// Why a Server pod's agent is not connected (so not Ready), or `None` when it is.
pub(crate) fn agent_unconnected(
    view: &NetworkView,
    pod: &Value,
    unpoliced: bool,
) -> Option<String> {
    if let Err(why) = dial(view, pod, API_SERVER, unpoliced) {
        return Some(format!(
            "agent cannot reach the API server at {API_SERVER} (config watch, storage Secrets): {why}"
        ));
    }
    dial(view, pod, AGENT_SCHEDULER, unpoliced)
        .err()
        .map(|why| format!("agent cannot connect to the scheduler at {AGENT_SCHEDULER}: {why}"))
}

/// The Go error a gRPC dial gets for what `dial` reported (a dropped SYN times out, a missing
/// endpoint is refused, an unresolvable name is not found).
pub(crate) fn grpc_dial_error(host: &str, port: u16, why: &str) -> String {
    let cause = if why.contains("bad address") {
        format!("dial tcp: lookup {host} on 10.96.0.10:53: no such host")
    } else {
        let ip = why
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(':'))
            .map(|(ip, _)| ip.to_string())
            .unwrap_or_else(|| host.to_string());
        if why.contains("refused") {
            format!("dial tcp {ip}:{port}: connect: connection refused")
        } else {
            format!("dial tcp {ip}:{port}: i/o timeout")
        }
    };
    format!(
        "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: {cause}\""
    )
}

/// `host:port` of an rclone endpoint URL (`http://minio.store:9000`, `https://s3.example`).
pub(crate) fn endpoint_address(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let hostport = rest.split('/').next().filter(|h| !h.is_empty())?;
    if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        return Some(hostport.to_string());
    }
    let port = if scheme == "http" { 80 } else { 443 };
    Some(format!("{hostport}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_addresses_and_dial_errors() {
        assert_eq!(
            endpoint_address("http://minio.store:9000").as_deref(),
            Some("minio.store:9000")
        );
        assert_eq!(
            endpoint_address("https://s3.example/x").as_deref(),
            Some("s3.example:443")
        );
        assert_eq!(
            endpoint_address("http://10.0.0.1").as_deref(),
            Some("10.0.0.1:80")
        );
        assert_eq!(endpoint_address("http://"), None);
        let e = grpc_dial_error(
            "seldon-scheduler.t",
            9004,
            "seldon-scheduler.t (10.96.1.2:9004): Connection timed out (denied)",
        );
        assert!(e.ends_with("dial tcp 10.96.1.2:9004: i/o timeout\""), "{e}");
        let e = grpc_dial_error(
            "seldon-scheduler.t",
            9004,
            "bad address 'seldon-scheduler.t' (DNS blocked)",
        );
        assert!(
            e.contains("lookup seldon-scheduler.t on 10.96.0.10:53: no such host"),
            "{e}"
        );
    }
}
