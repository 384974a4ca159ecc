//! Server reconciliation: the Server's StatefulSet and status, and what the scheduler learns from it.

use serde_json::{Value, json};

use super::components::{NAME_LABEL, SERVER_LABEL};
use super::podspec::{claim_templates, merge_pod_spec};
use super::scope::Controller;
use crate::admission::quantity::Quantity;
use crate::control::context::Ctx;
use crate::control::objects::{condition, ensure, name, namespace, owner_ref, res, set_status};
use crate::faults::Defect;

/// What the scheduler knows about one Server.
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    /// The Server's namespace.
    pub namespace: String,
    /// The Server's name.
    pub name: String,
    /// Replicas whose agent connected to the namespace's scheduler.
    pub connected_replicas: usize,
    /// Capabilities the agents announce.
    pub capabilities: Vec<String>,
    /// Memory per replica in bytes (the server container's `requests.memory`, `MEMORY_REQUEST`).
    pub memory_bytes: i128,
    /// The agent's `SELDON_OVERCOMMIT_PERCENTAGE` (0 when unset, as its flag default): it
    /// announces `memory_bytes` plus that share of it as available (docs/seldon-behaviour.md §15).
    pub overcommit_percent: i128,
    /// Memory already taken by scheduled models, per replica.
    pub used_bytes: Vec<i128>,
    /// Models scheduled onto it.
    pub loaded_models: usize,
}

/// Creates the Server's StatefulSet and sets its status; returns what the scheduler sees.
pub(super) fn reconcile_server(
    ctx: &mut Ctx,
    ctl: &Controller,
    server: &Value,
    scheduler_up: bool,
) -> Option<ServerInfo> {
    let (ns, sname) = (namespace(server).to_string(), name(server).to_string());
    let prev = &server["status"]["conditions"];
    let sc_name = server["spec"]["serverConfig"].as_str().unwrap_or_default();
    let Some(sc) = ctx
        .store
        .get(res("ServerConfig"), Some(&ctl.namespace), sc_name)
    else {
        let why = format!("ServerConfig.mlops.seldon.io \"{sc_name}\" not found");
        let status = json!({"observedGeneration": server["metadata"]["generation"], "conditions": [condition(prev, "Ready", false, &why, "")]});
        set_status(&ctx.store, res("Server"), server, status);
        return None;
    };
    let mut pod_spec = merge_pod_spec(&sc["spec"]["podSpec"], &server["spec"]["podSpec"]);
    let caps_override: Option<Vec<String>> = server["spec"]["capabilities"].as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    let extra: Vec<String> = server["spec"]["extraCapabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut capabilities = Vec::new();
    let mut memory_container = String::new();
    let mut overcommit: i128 = 0;
    for c in pod_spec["containers"].as_array_mut().into_iter().flatten() {
        if let Some(img) =
            server["spec"]["imageOverrides"][c["name"].as_str().unwrap_or_default()].as_str()
        {
            c["image"] = json!(img);
        }
        if c["name"] != "agent" {
            continue;
        }
        for e in c["env"].as_array_mut().into_iter().flatten() {
            if e["name"] == "SELDON_SERVER_CAPABILITIES" {
                let mut caps: Vec<String> = match &caps_override {
                    Some(o) => o.clone(),
                    None => e["value"]
                        .as_str()
                        .unwrap_or_default()
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                };
                caps.extend(extra.iter().cloned());
                e["value"] = json!(caps.join(","));
                capabilities = caps;
            }
            if e["name"] == "SELDON_OVERCOMMIT_PERCENTAGE" {
                overcommit = e["value"]
                    .as_str()
                    .and_then(|v| v.trim().parse::<u32>().ok())
                    .unwrap_or(0)
                    .into();
            }
            if e["name"] == "MEMORY_REQUEST" {
                memory_container = e["valueFrom"]["resourceFieldRef"]["containerName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
        }
    }
    let memory = pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == memory_container.as_str())
        .and_then(|c| c["resources"]["requests"]["memory"].as_str())
        .and_then(Quantity::parse)
        .map(|q| q.units_ceil())
        .unwrap_or(0);
    let labels = json!({NAME_LABEL: "seldon-server", SERVER_LABEL: sname});
    let mut spec = json!({
        "replicas": server["spec"]["replicas"].as_i64().unwrap_or(1), "serviceName": sname, "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": {SERVER_LABEL: sname}},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    });
    if let Some(v) = sc["spec"]["volumeClaimTemplates"].as_array() {
        spec["volumeClaimTemplates"] = claim_templates(v);
    }
    if let Some(p) = server["spec"]["statefulSetPersistentVolumeClaimRetentionPolicy"].as_object() {
        spec["persistentVolumeClaimRetentionPolicy"] = json!(p);
    }
    let desired = json!({"metadata": {"name": sname, "namespace": ns, "labels": {NAME_LABEL: "seldon-server"}, "ownerReferences": [owner_ref(server)]}, "spec": spec});
    let sts = ensure(&ctx.store, res("StatefulSet"), desired)?;
    let replicas = sts["status"]["replicas"].as_i64().unwrap_or(0);
    let ready_pods = sts["status"]["readyReplicas"].as_i64().unwrap_or(0);
    // The server StatefulSet reconciler compares with the desired count: readyReplicas >=
    // spec.replicas (docs/seldon-behaviour.md §14), so pods rejected by admission keep it not Ready.
    let desired = sts["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = ready_pods >= desired;
    let reason = if ready {
        "StatefulSet replicas matches desired replicas"
    } else {
        "StatefulSet replicas does not match desired replicas"
    };
    // Every field `ServerStatus` marks without omitempty is written (operator/apis/mlops/v1alpha1/server_types.go).
    let status = json!({
        "observedGeneration": server["metadata"]["generation"], "replicas": replicas, "selector": format!("{SERVER_LABEL}={sname}"),
        "loadedModels": server["status"]["loadedModels"].as_i64().unwrap_or(0),
        "conditions": [condition(prev, "Ready", ready, reason, ""), condition(prev, "StatefulSetOrDeploymentReady", ready, reason, "")],
    });
    set_status(&ctx.store, res("Server"), server, status);
    let connected = if scheduler_up {
        ready_pods.max(0) as usize
    } else {
        0
    };
    let capabilities = if ctx.faults.has(Defect::ServerCapabilitiesMissing) {
        Vec::new()
    } else {
        capabilities
    };
    Some(ServerInfo {
        namespace: ns,
        name: sname,
        connected_replicas: connected,
        capabilities,
        memory_bytes: memory,
        overcommit_percent: overcommit,
        used_bytes: vec![0; connected],
        loaded_models: 0,
    })
}
