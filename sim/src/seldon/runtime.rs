//! SeldonRuntime reconciliation: component workloads, Services, ConfigMaps and conditions.

use serde_json::{Value, json};

use super::components::{COMPONENT_NAMES, MESH_SERVICE, NAME_LABEL, condition_type};
use super::podspec::{claim_templates, merge_config, merge_pod_spec};
use super::scope::Controller;
use crate::control::context::Ctx;
use crate::control::objects::{condition, ensure, name, namespace, owner_ref, res, set_status};
use crate::faults::Defect;
use crate::store::Store;

/// What the rest of the control plane needs to know about one namespace's runtime.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuntimeView {
    /// The scheduler pod is Ready behind Service `seldon-scheduler` (agents and the controller can connect).
    pub scheduler_up: bool,
    /// Envoy has a Ready pod behind `seldon-mesh` and its configuration from the scheduler (xDS).
    /// The runtime's aggregate condition does not matter: with a component disabled it is never
    /// True, and envoy serves all the same.
    pub mesh_up: bool,
}

fn workload_ready_pods(store: &Store, kind: &str, ns: &str, nm: &str) -> i64 {
    store
        .get(res(kind), Some(ns), nm)
        .map(|w| w["status"]["readyReplicas"].as_i64().unwrap_or(0))
        .unwrap_or(0)
}

/// The namespace's scheduler and mesh, observed from its workloads and Services; `xds` says
/// whether envoy reached the scheduler for its configuration.
pub(super) fn runtime_view(store: &Store, ns: &str, xds: bool) -> RuntimeView {
    let svc = |n: &str| store.get(res("Service"), Some(ns), n).is_some();
    RuntimeView {
        scheduler_up: svc("seldon-scheduler")
            && workload_ready_pods(store, "StatefulSet", ns, "seldon-scheduler") > 0,
        mesh_up: xds
            && svc(MESH_SERVICE)
            && workload_ready_pods(store, "Deployment", ns, "seldon-envoy") > 0,
    }
}

fn component_labels(component: &str, extra: &Value) -> Value {
    let mut l = json!({NAME_LABEL: component});
    for (k, v) in extra.as_object().into_iter().flatten() {
        l[k] = v.clone();
    }
    l
}

/// Creates the runtime's workloads, Services and ConfigMaps and sets its status; returns `Ready`.
pub(super) fn reconcile_runtime(ctx: &mut Ctx, ctl: &Controller, rt: &Value) -> bool {
    let ns = namespace(rt).to_string();
    let config_name = rt["spec"]["seldonConfig"].as_str().unwrap_or("default");
    let prev = &rt["status"]["conditions"];
    let Some(sc) = ctx
        .store
        .get(res("SeldonConfig"), Some(&ctl.namespace), config_name)
    else {
        let why = format!("SeldonConfig.mlops.seldon.io \"{config_name}\" not found");
        let status = json!({"observedGeneration": rt["metadata"]["generation"], "conditions": [condition(prev, "Ready", false, &why, "")]});
        write_status(ctx, rt, status);
        return false;
    };
    let owner = owner_ref(rt);
    let overrides: Vec<Value> = rt["spec"]["overrides"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let config = merge_config(&sc["spec"]["config"], &rt["spec"]["config"]);
    let mut conditions = Vec::new();
    let mut enabled: Vec<&str> = Vec::new();
    for comp in sc["spec"]["components"].as_array().into_iter().flatten() {
        let cname = comp["name"].as_str().unwrap_or_default();
        let ov = overrides.iter().find(|o| o["name"] == cname);
        let kind = if cname == "seldon-scheduler" {
            "StatefulSet"
        } else {
            "Deployment"
        };
        // Defect DisableOverridesIgnored: the disabled component is deployed all the same.
        if ov.is_some_and(|o| o["disable"] == true)
            && !ctx.faults.has(Defect::DisableOverridesIgnored)
        {
            // A disabled component gets no reconciler: nothing is created and its condition stays unset.
            let _ = ctx.store.delete(res(kind), Some(&ns), cname);
            continue;
        }
        enabled.push(condition_type(cname).unwrap_or_default());
        // An override entry without replicas forces 1 (docs/seldon-behaviour.md §2).
        let replicas = match ov {
            Some(o) => o["replicas"].as_i64().unwrap_or(1),
            None => comp["replicas"].as_i64().unwrap_or(1),
        };
        // Defect PodSpecOverridesIgnored: the runtime drops `overrides[].podSpec` (before v2.8.0's PR #5296).
        let ov_spec = ov
            .filter(|_| !ctx.faults.has(Defect::PodSpecOverridesIgnored))
            .map(|o| &o["podSpec"])
            .unwrap_or(&Value::Null);
        let pod_spec = merge_pod_spec(&comp["podSpec"], ov_spec);
        let labels = component_labels(cname, &comp["labels"]);
        let mut template_meta = json!({"labels": labels});
        if let Some(a) = comp["annotations"].as_object().filter(|a| !a.is_empty()) {
            template_meta["annotations"] = json!(a);
        }
        let mut spec = json!({
            "replicas": replicas, "selector": {"matchLabels": {NAME_LABEL: cname}},
            "template": {"metadata": template_meta, "spec": pod_spec},
        });
        if kind == "StatefulSet" {
            spec["serviceName"] = json!(cname);
            spec["podManagementPolicy"] = json!("Parallel");
            if let Some(v) = comp["volumeClaimTemplates"].as_array() {
                spec["volumeClaimTemplates"] = claim_templates(v);
            }
        }
        let desired = json!({"metadata": {"name": cname, "namespace": ns, "labels": labels, "ownerReferences": [owner]}, "spec": spec});
        if let Some(w) = ensure(&ctx.store, res(kind), desired)
            && let Some(ct) = condition_type(cname)
        {
            // Operator quirk (component reconcilers' GetConditions): ready = readyReplicas >= status.replicas.
            let ready = w["status"]["readyReplicas"].as_i64().unwrap_or(0)
                >= w["status"]["replicas"].as_i64().unwrap_or(0);
            let reason = match (kind, ready) {
                ("StatefulSet", true) => "StatefulSet replicas matches desired replicas",
                ("StatefulSet", false) => "StatefulSet replicas does not match desired replicas",
                (_, true) => "Deployment replicas matches desired replicas",
                (_, false) => "Deployment replicas does not match desired replicas",
            };
            conditions.push(condition(prev, ct, ready, reason, ""));
        }
    }
    reconcile_runtime_rbac(ctx, rt);
    if ctx.faults.has(Defect::RuntimeCreatesServers) {
        create_own_server(ctx, rt);
    }
    reconcile_runtime_services(ctx, rt, &overrides, &config, &enabled);
    reconcile_runtime_configmaps(ctx, rt, &config);
    let missing: Vec<&str> = COMPONENT_NAMES
        .iter()
        .filter_map(|c| condition_type(c))
        .filter(|t| !conditions.iter().any(|c| c["type"] == *t))
        .collect();
    let not_ready: Vec<String> = conditions
        .iter()
        .filter(|c| c["status"] != "True")
        .map(|c| c["type"].as_str().unwrap_or_default().to_string())
        .collect();
    let ready = missing.is_empty() && not_ready.is_empty();
    let ready_cond = if !missing.is_empty() {
        // Knative's condition set: an unset dependent leaves Ready Unknown.
        let mut c = condition(
            prev,
            "Ready",
            false,
            "",
            &format!("{} not set", missing.join(", ")),
        );
        c["status"] = json!("Unknown");
        c
    } else if ready {
        condition(prev, "Ready", true, "", "")
    } else {
        condition(
            prev,
            "Ready",
            false,
            &format!("{} not ready", not_ready.join(", ")),
            "",
        )
    };
    conditions.push(ready_cond);
    conditions.sort_by(|a, b| a["type"].as_str().cmp(&b["type"].as_str()));
    let status =
        json!({"observedGeneration": rt["metadata"]["generation"], "conditions": conditions});
    write_status(ctx, rt, status);
    ready
}

/// Writes the runtime's status, as the controller's `Status().Update` does; under defect
/// RuntimeStatusNotWritten the update is forbidden (no `seldonruntimes/status` in its role), so
/// the status stays as it was (docs/seldon-behaviour.md §2).
fn write_status(ctx: &Ctx, rt: &Value, status: Value) {
    if ctx.faults.has(Defect::RuntimeStatusNotWritten) {
        return;
    }
    set_status(&ctx.store, res("SeldonRuntime"), rt, status);
}

/// Defect RuntimeCreatesServers: the runtime deploys an MLServer Server of its own, as the
/// `seldon-core-v2-servers` chart would (upstream a runtime never does; docs/seldon-behaviour.md §4).
/// An existing Server of that name is left alone.
fn create_own_server(ctx: &mut Ctx, rt: &Value) {
    let ns = namespace(rt);
    if ctx.store.get(res("Server"), Some(ns), "mlserver").is_some() {
        return;
    }
    ensure(
        &ctx.store,
        res("Server"),
        json!({"apiVersion": "mlops.seldon.io/v1alpha1", "kind": "Server",
               "metadata": {"name": "mlserver", "namespace": ns, "ownerReferences": [owner_ref(rt)]},
               "spec": {"serverConfig": "mlserver", "replicas": 1}}),
    );
}

/// The accounts the components' pods run as, with their Roles and RoleBindings, as the
/// operator's `ComponentRBACReconciler` creates them in the runtime's namespace (v2.10.2
/// `operator/controllers/reconcilers/seldon/rbac_reconciler.go`; docs/seldon-behaviour.md §2).
/// Without them the ServiceAccount admission refuses the scheduler's, hodometer's and Servers' pods.
fn reconcile_runtime_rbac(ctx: &mut Ctx, rt: &Value) {
    let ns = namespace(rt);
    let owner = owner_ref(rt);
    let read =
        |r: &str| json!({"apiGroups": [""], "resources": [r], "verbs": ["get", "list", "watch"]});
    let bindings = [
        (
            "agent-role",
            "agent-rolebinding",
            "seldon-server",
            json!([read("configmaps"), read("secrets")]),
        ),
        (
            "hodometer-role",
            "hodometer-rolebinding",
            "hodometer",
            json!([read("secrets")]),
        ),
        (
            "seldon-scheduler-role",
            "seldon-scheduler-rolebinding",
            "seldon-scheduler",
            json!([read("configmaps"), read("secrets")]),
        ),
    ];
    for (role, binding, account, rules) in bindings {
        let meta = |n: &str| json!({"name": n, "namespace": ns, "ownerReferences": [owner]});
        ensure(
            &ctx.store,
            res("ServiceAccount"),
            json!({"metadata": meta(account)}),
        );
        ensure(
            &ctx.store,
            res("Role"),
            json!({"metadata": meta(role), "rules": rules}),
        );
        ensure(
            &ctx.store,
            res("RoleBinding"),
            json!({"metadata": meta(binding),
                   "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}],
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}}),
        );
    }
}

/// `getServiceType`: LoadBalancer, then `serviceConfig.serviceType`, then the override's (even empty → ClusterIP).
fn service_type(config: &Value, ov: Option<&Value>) -> String {
    let mut t = "LoadBalancer".to_string();
    if let Some(s) = config["serviceConfig"]["serviceType"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        t = s.to_string();
    }
    if let Some(o) = ov {
        t = o["serviceType"].as_str().unwrap_or_default().to_string();
    }
    if t.is_empty() {
        "ClusterIP".to_string()
    } else {
        t
    }
}

fn reconcile_runtime_services(
    ctx: &mut Ctx,
    rt: &Value,
    overrides: &[Value],
    config: &Value,
    enabled: &[&str],
) {
    let ns = namespace(rt);
    let owner = owner_ref(rt);
    let port = |n: &str, p: u16, target: Value| json!({"name": n, "port": p, "protocol": "TCP", "targetPort": target});
    let prefix = config["serviceConfig"]["grpcServicePrefix"]
        .as_str()
        .unwrap_or_default();
    let services = [
        (
            "seldon-scheduler",
            "SchedulerReady",
            "seldon-scheduler",
            json!([
                port("xds", 9002, json!("xds")),
                port("scheduler", 9004, json!("scheduler")),
                port("scheduler-mtls", 9044, json!("scheduler-mtls")),
                port("agent", 9005, json!("agent")),
                port("agent-mtls", 9055, json!("agent-mtls")),
                port("dataflow", 9008, json!("dataflow")),
            ]),
        ),
        (
            MESH_SERVICE,
            "EnvoyReady",
            "seldon-envoy",
            json!([
                port(&format!("{prefix}data"), 80, json!("http")),
                port("stats", 9003, json!("envoy-stats"))
            ]),
        ),
        (
            "seldon-pipelinegateway",
            "PipelineGatewayReady",
            "seldon-pipelinegateway",
            json!([
                port("http", 9010, json!("http")),
                port("grpc", 9011, json!("grpc"))
            ]),
        ),
    ];
    for (svc, cond, component, ports) in services {
        if !enabled.contains(&cond) {
            let _ = ctx.store.delete(res("Service"), Some(ns), svc);
            continue;
        }
        let ov = overrides.iter().find(|o| o["name"] == component);
        let type_ = if svc == "seldon-pipelinegateway" {
            "ClusterIP".to_string()
        } else {
            service_type(config, ov)
        };
        let desired = json!({
            "metadata": {"name": svc, "namespace": ns, "labels": {NAME_LABEL: svc}, "ownerReferences": [owner]},
            "spec": {"type": type_, "selector": {NAME_LABEL: component}, "ports": ports},
        });
        ensure_service(&ctx.store, desired);
    }
}

/// Services keep their allocated cluster IP; only type, selector and ports are reconciled.
fn ensure_service(store: &Store, mut desired: Value) {
    if let Some(existing) = store.get(
        res("Service"),
        desired["metadata"]["namespace"].as_str(),
        name(&desired),
    ) {
        let mut spec = existing["spec"].clone();
        for f in ["type", "selector", "ports"] {
            spec[f] = desired["spec"][f].clone();
        }
        desired["spec"] = spec;
    }
    ensure(store, res("Service"), desired);
}

fn reconcile_runtime_configmaps(ctx: &mut Ctx, rt: &Value, config: &Value) {
    let ns = namespace(rt);
    let owner = owner_ref(rt);
    let rclone = &config["agentConfig"]["rclone"];
    let agent = json!({"rclone": {
        "config_secrets": rclone["config_secrets"].as_array().cloned().unwrap_or_default(),
        "config": rclone["config"].as_array().cloned().unwrap_or_default(),
    }});
    let maps = [
        ("seldon-agent", json!({"agent.json": agent.to_string()})),
        (
            "seldon-kafka",
            json!({"kafka.json": config["kafkaConfig"].to_string()}),
        ),
        (
            "seldon-tracing",
            json!({"tracing.json": config["tracingConfig"].to_string(), "OTEL_JAVAAGENT_ENABLED": (config["tracingConfig"]["disable"] != true).to_string(),
            "OTEL_EXPORTER_OTLP_ENDPOINT": config["tracingConfig"]["otelExporterEndpoint"].as_str().unwrap_or_default(),
            "OTEL_EXPORTER_OTLP_PROTOCOL": config["tracingConfig"]["otelExporterProtocol"].as_str().unwrap_or_default()}),
        ),
        (
            "seldon-scaling",
            json!({"scaling.yaml": config["scalingConfig"].to_string()}),
        ),
    ];
    for (cm, data) in maps {
        ensure(
            &ctx.store,
            res("ConfigMap"),
            json!({"metadata": {"name": cm, "namespace": ns, "ownerReferences": [owner]}, "data": data}),
        );
    }
}
