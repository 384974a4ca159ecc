//! Documented Seldon Core v2 control-plane behaviour: runtimes, servers, model scheduling.
//!
//! Sources (facts file §1–§6, §10 and the operator code it cites):
//! - The controller (Deployment `seldon-v2-controller-manager`) reads `CLUSTERWIDE` and
//!   `WATCH_NAMESPACES` from its env; not cluster-wide it only sees its own namespace.
//!   SeldonConfig/ServerConfig are always read from the controller's namespace.
//! - Runtime component conditions follow `GetConditions` of the operator's component
//!   reconcilers: `readyReplicas >= status.replicas` — so a component whose pods are all
//!   rejected (0 >= 0) reports Ready. Check the workloads, not only the SeldonRuntime.
//! - Servers get a StatefulSet (`Parallel`, label `seldon-server-name`); `StatefulSetOrDeploymentReady`
//!   uses the same comparison.
//! - Models are scheduled by the namespace's own scheduler onto Servers whose agents connected
//!   (Ready server pods while the scheduler pod is Ready); see [`model`].

pub mod defaults;
mod endpoint;
mod model;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::controllers::{
    Ctx, condition, deleting, ensure, name, namespace, owner_ref, res, set_status,
};
use crate::faults::Defect;
use crate::store::{ApiError, RESOURCES, Store};

pub(crate) use endpoint::MeshSlot;

/// The six runtime components (SeldonConfig component names).
pub const COMPONENT_NAMES: [&str; 6] = [
    "seldon-scheduler",
    "seldon-envoy",
    "seldon-modelgateway",
    "seldon-pipelinegateway",
    "hodometer",
    "seldon-dataflow-engine",
];

/// The controller Deployment's name.
pub const CONTROLLER_DEPLOYMENT: &str = "seldon-v2-controller-manager";

/// The Service in front of envoy, the inference endpoint of a namespace.
pub const MESH_SERVICE: &str = "seldon-mesh";

/// Label Seldon puts on component workloads and pods (`constants.KubernetesNameLabelKey`).
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// Label on Server pods naming their Server (`constants.ServerLabelNameKey`).
pub const SERVER_LABEL: &str = "seldon-server-name";

/// The SeldonRuntime condition of a component (`ConditionNameMap`).
pub fn condition_type(component: &str) -> Option<&'static str> {
    Some(match component {
        "seldon-scheduler" => "SchedulerReady",
        "seldon-envoy" => "EnvoyReady",
        "seldon-modelgateway" => "ModelGatewayReady",
        "seldon-pipelinegateway" => "PipelineGatewayReady",
        "hodometer" => "HodometerReady",
        "seldon-dataflow-engine" => "DataflowEngineReady",
        _ => return None,
    })
}

/// How the controller is installed (the Helm setup chart's settings that matter).
#[derive(Debug, Clone, PartialEq)]
pub struct InstallOptions {
    /// `controller.clusterwide`.
    pub clusterwide: bool,
    /// The namespace of the controller, its SeldonConfig and ServerConfigs.
    pub controller_namespace: String,
    /// `controller.watchNamespaces` (only with clusterwide; empty means all).
    pub watch_namespaces: Vec<String>,
}

impl Default for InstallOptions {
    /// The documented install: cluster-wide, in `seldon-mesh`, all namespaces.
    fn default() -> Self {
        InstallOptions {
            clusterwide: true,
            controller_namespace: "seldon-mesh".into(),
            watch_namespaces: Vec::new(),
        }
    }
}

fn create_or_update(store: &Store, kind: &str, obj: Value) -> Result<Value, ApiError> {
    let rt = res(kind);
    let ns = obj["metadata"]["namespace"].as_str();
    match store.get(rt, ns, name(&obj)) {
        None => store.create(rt, obj),
        Some(existing) => {
            let mut merged = obj.clone();
            merged["metadata"] = existing["metadata"].clone();
            for f in ["labels", "annotations"] {
                if let Some(v) = obj["metadata"].get(f) {
                    merged["metadata"][f] = v.clone();
                }
            }
            store.update(rt, merged)
        }
    }
}

/// Installs the controller: CRDs, controller namespace and Deployment, SeldonConfig `default`, ServerConfigs.
pub fn install(store: &Store, opts: &InstallOptions) -> Result<(), ApiError> {
    let crd_rt = res("CustomResourceDefinition");
    for rt in RESOURCES.iter().filter(|r| r.group == "mlops.seldon.io") {
        let crd_name = format!("{}.{}", rt.plural, rt.group);
        let names = json!({
            "kind": rt.kind, "listKind": format!("{}List", rt.kind), "plural": rt.plural,
            "singular": rt.singular, "shortNames": rt.short_names,
        });
        let mut version = json!({"name": rt.version, "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        if rt.has_status {
            version["subresources"] = json!({"status": {}});
        }
        let crd = json!({
            "metadata": {"name": crd_name},
            "spec": {"group": rt.group, "names": names, "scope": if rt.namespaced { "Namespaced" } else { "Cluster" }, "versions": [version]},
        });
        let stored = create_or_update(store, "CustomResourceDefinition", crd)?;
        let status = json!({
            "acceptedNames": names, "storedVersions": [rt.version],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": crate::controllers::now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": crate::controllers::now()},
            ],
        });
        if stored["status"]["conditions"].is_null() {
            let mut s = stored.clone();
            s["status"] = status;
            store.update_status(crd_rt, s)?;
        }
    }
    let ns = opts.controller_namespace.as_str();
    if store.get(res("Namespace"), None, ns).is_none() {
        store.create(res("Namespace"), json!({"metadata": {"name": ns}}))?;
    }
    create_or_update(
        store,
        "ServiceAccount",
        json!({"metadata": {"name": CONTROLLER_DEPLOYMENT, "namespace": ns}}),
    )?;
    let labels = json!({"control-plane": "v2-controller-manager"});
    let env = json!([
        {"name": "CLUSTERWIDE", "value": opts.clusterwide.to_string()},
        {"name": "WATCH_NAMESPACES", "value": opts.watch_namespaces.join(",")},
        {"name": "USE_DEPLOYMENTS_FOR_SERVERS", "value": "false"},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]);
    create_or_update(
        store,
        "Deployment",
        json!({
            "metadata": {"name": CONTROLLER_DEPLOYMENT, "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1, "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": {"kubectl.kubernetes.io/default-container": "manager"}},
                    "spec": {
                        "serviceAccountName": CONTROLLER_DEPLOYMENT,
                        "containers": [{
                            "name": "manager", "image": format!("docker.io/seldonio/seldonv2-controller:{}", defaults::SELDON_VERSION),
                            "command": ["/manager"],
                            "args": ["--health-probe-bind-address=:8081", "--leader-elect", "--watch-namespaces=$(WATCH_NAMESPACES)",
                                     "--namespace=$(POD_NAMESPACE)", "--clusterwide=$(CLUSTERWIDE)", "--use-deployments-for-servers=$(USE_DEPLOYMENTS_FOR_SERVERS)"],
                            "env": env,
                            "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "64Mi"}},
                        }],
                    },
                },
            },
        }),
    )?;
    create_or_update(
        store,
        "SeldonConfig",
        json!({"metadata": {"name": "default", "namespace": ns}, "spec": defaults::seldon_config_spec()}),
    )?;
    for server_type in ["mlserver", "triton"] {
        create_or_update(
            store,
            "ServerConfig",
            json!({"metadata": {"name": server_type, "namespace": ns}, "spec": defaults::server_config_spec(server_type)}),
        )?;
    }
    Ok(())
}

/// The running controller's scope, read from its Deployment as the operator reads its flags.
pub(crate) struct Controller {
    /// `POD_NAMESPACE`: where SeldonConfigs and ServerConfigs live.
    pub namespace: String,
    clusterwide: bool,
    watch: Vec<String>,
}

impl Controller {
    /// Whether objects in `ns` are reconciled.
    pub fn watches(&self, ns: &str) -> bool {
        ns == self.namespace
            || (self.clusterwide && (self.watch.is_empty() || self.watch.iter().any(|w| w == ns)))
    }
}

fn env_value(container: &Value, key: &str) -> Option<String> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == key)?["value"]
        .as_str()
        .map(str::to_string)
}

/// The installed controller, if its Deployment has an available pod.
fn controller(ctx: &Ctx) -> Option<Controller> {
    let (deps, _) = ctx.store.list(res("Deployment"), None);
    let d = deps
        .into_iter()
        .find(|d| name(d) == CONTROLLER_DEPLOYMENT && !deleting(d))?;
    if d["status"]["availableReplicas"].as_i64().unwrap_or(0) < 1 {
        return None;
    }
    let manager = d["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "manager")?
        .clone();
    let clusterwide = env_value(&manager, "CLUSTERWIDE").as_deref() == Some("true")
        && !ctx.faults.has(Defect::ControllerNotClusterWide);
    let watch = env_value(&manager, "WATCH_NAMESPACES")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Some(Controller {
        namespace: namespace(&d).to_string(),
        clusterwide,
        watch,
    })
}

/// Merges a pod spec override as `MergePodSpecs` does (mergo override + append slices,
/// containers matched by name). Empty/zero override values do not replace.
pub fn merge_pod_spec(base: &Value, over: &Value) -> Value {
    let mut out = base.clone();
    let Some(o) = over.as_object() else {
        return out;
    };
    if !out.is_object() {
        out = json!({});
    }
    for (k, v) in o {
        if k == "containers" || k == "initContainers" {
            let list = out[k.as_str()].as_array().cloned().unwrap_or_default();
            let mut list = list;
            for oc in v.as_array().into_iter().flatten() {
                match list.iter_mut().find(|c| c["name"] == oc["name"]) {
                    Some(c) => merge_value(c, oc),
                    None => list.push(oc.clone()),
                }
            }
            out[k.as_str()] = Value::Array(list);
        } else {
            merge_value(&mut out[k.as_str()], v);
        }
    }
    out
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn merge_value(dst: &mut Value, src: &Value) {
    if dst.is_null() && src.is_object() {
        *dst = src.clone();
        return;
    }
    if let (Some(d), Some(s)) = (dst.as_object_mut(), src.as_object()) {
        for (k, v) in s {
            merge_value(d.entry(k.clone()).or_insert(Value::Null), v);
        }
        return;
    }
    if let (Some(d), Some(s)) = (dst.as_array_mut(), src.as_array()) {
        d.extend(s.iter().cloned());
        return;
    }
    if !is_zero(src) {
        *dst = src.clone();
    }
}

/// Runtime config: runtime values win, the SeldonConfig fills blanks (`AddDefaults`).
fn merge_config(seldon_config: &Value, runtime: &Value) -> Value {
    let mut out = seldon_config.clone();
    if !out.is_object() {
        out = json!({});
    }
    merge_value(&mut out, runtime);
    out
}

/// What the rest of the control plane needs to know about one namespace's runtime.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuntimeView {
    /// The scheduler pod is Ready behind Service `seldon-scheduler` (agents and the controller can connect).
    pub scheduler_up: bool,
    /// Envoy has a Ready pod behind `seldon-mesh` and the SeldonRuntime is Ready.
    pub mesh_up: bool,
}

fn workload_ready_pods(store: &Store, kind: &str, ns: &str, nm: &str) -> i64 {
    store
        .get(res(kind), Some(ns), nm)
        .map(|w| w["status"]["readyReplicas"].as_i64().unwrap_or(0))
        .unwrap_or(0)
}

/// The namespace's scheduler and mesh, observed from its workloads and Services.
fn runtime_view(store: &Store, ns: &str, runtime_ready: bool) -> RuntimeView {
    let svc = |n: &str| store.get(res("Service"), Some(ns), n).is_some();
    RuntimeView {
        scheduler_up: svc("seldon-scheduler")
            && workload_ready_pods(store, "StatefulSet", ns, "seldon-scheduler") > 0,
        mesh_up: runtime_ready
            && svc(MESH_SERVICE)
            && workload_ready_pods(store, "Deployment", ns, "seldon-envoy") > 0,
    }
}

/// One reconcile pass of the Seldon control plane.
pub(crate) async fn reconcile(ctx: &mut Ctx) {
    let Some(ctl) = controller(ctx) else {
        endpoint::sync(ctx, &HashMap::new(), &BTreeMap::new());
        return;
    };
    let mut runtimes: BTreeMap<String, RuntimeView> = BTreeMap::new();
    let (list, _) = ctx.store.list(res("SeldonRuntime"), None);
    for rt in list
        .iter()
        .filter(|r| ctl.watches(namespace(r)) && !deleting(r))
    {
        let ready = reconcile_runtime(ctx, &ctl, rt);
        runtimes.insert(
            namespace(rt).to_string(),
            runtime_view(&ctx.store, namespace(rt), ready),
        );
    }
    let mut servers = Vec::new();
    let (list, _) = ctx.store.list(res("Server"), None);
    for s in list
        .iter()
        .filter(|s| ctl.watches(namespace(s)) && !deleting(s))
    {
        let up = runtimes.get(namespace(s)).is_some_and(|r| r.scheduler_up);
        if let Some(info) = reconcile_server(ctx, &ctl, s, up) {
            servers.push(info);
        }
    }
    let (served, model_statuses) = model::reconcile(ctx, &ctl, &runtimes, &mut servers);
    for s in &servers {
        if let Some(obj) = ctx.store.get(res("Server"), Some(&s.namespace), &s.name) {
            let mut status = obj["status"].clone();
            if status.is_object() {
                status["loadedModels"] = json!(s.loaded_models);
                set_status(&ctx.store, res("Server"), &obj, status);
            }
        }
    }
    endpoint::sync(ctx, &served, &runtimes);
    model::publish(ctx, model_statuses);
}

fn component_labels(component: &str, extra: &Value) -> Value {
    let mut l = json!({NAME_LABEL: component});
    for (k, v) in extra.as_object().into_iter().flatten() {
        l[k] = v.clone();
    }
    l
}

/// Creates the runtime's workloads, Services and ConfigMaps and sets its status; returns `Ready`.
fn reconcile_runtime(ctx: &mut Ctx, ctl: &Controller, rt: &Value) -> bool {
    let ns = namespace(rt).to_string();
    let config_name = rt["spec"]["seldonConfig"].as_str().unwrap_or("default");
    let prev = &rt["status"]["conditions"];
    let Some(sc) = ctx
        .store
        .get(res("SeldonConfig"), Some(&ctl.namespace), config_name)
    else {
        let why = format!("SeldonConfig.mlops.seldon.io \"{config_name}\" not found");
        let status = json!({"observedGeneration": rt["metadata"]["generation"], "conditions": [condition(prev, "Ready", false, &why, "")]});
        set_status(&ctx.store, res("SeldonRuntime"), rt, status);
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
        if ov.is_some_and(|o| o["disable"] == true) {
            // A disabled component gets no reconciler: nothing is created and its condition stays unset.
            let _ = ctx.store.delete(res(kind), Some(&ns), cname);
            continue;
        }
        enabled.push(condition_type(cname).unwrap_or_default());
        // An override entry without replicas forces 1 (facts, addenda).
        let replicas = match ov {
            Some(o) => o["replicas"].as_i64().unwrap_or(1),
            None => comp["replicas"].as_i64().unwrap_or(1),
        };
        let pod_spec = merge_pod_spec(
            &comp["podSpec"],
            ov.map(|o| &o["podSpec"]).unwrap_or(&Value::Null),
        );
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
                spec["volumeClaimTemplates"] = json!(v);
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
    set_status(&ctx.store, res("SeldonRuntime"), rt, status);
    ready
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

/// What the scheduler knows about one Server.
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    pub namespace: String,
    pub name: String,
    /// Replicas whose agent connected to the namespace's scheduler.
    pub connected_replicas: usize,
    /// Capabilities the agents announce.
    pub capabilities: Vec<String>,
    /// Memory per replica in bytes (the server container's `requests.memory`, `MEMORY_REQUEST`).
    pub memory_bytes: i128,
    /// Memory already taken by scheduled models, per replica.
    pub used_bytes: Vec<i128>,
    /// Models scheduled onto it.
    pub loaded_models: usize,
}

/// Creates the Server's StatefulSet and sets its status; returns what the scheduler sees.
fn reconcile_server(
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
        .and_then(crate::admission::quantity::Quantity::parse)
        .map(|q| q.units_ceil())
        .unwrap_or(0);
    let labels = json!({NAME_LABEL: "seldon-server", SERVER_LABEL: sname});
    let mut spec = json!({
        "replicas": server["spec"]["replicas"].as_i64().unwrap_or(1), "serviceName": sname, "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": {SERVER_LABEL: sname}},
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    });
    if let Some(v) = sc["spec"]["volumeClaimTemplates"].as_array() {
        spec["volumeClaimTemplates"] = json!(v);
    }
    if let Some(p) = server["spec"]["statefulSetPersistentVolumeClaimRetentionPolicy"].as_object() {
        spec["persistentVolumeClaimRetentionPolicy"] = json!(p);
    }
    let desired = json!({"metadata": {"name": sname, "namespace": ns, "labels": {NAME_LABEL: "seldon-server"}, "ownerReferences": [owner_ref(server)]}, "spec": spec});
    let sts = ensure(&ctx.store, res("StatefulSet"), desired)?;
    let replicas = sts["status"]["replicas"].as_i64().unwrap_or(0);
    let ready_pods = sts["status"]["readyReplicas"].as_i64().unwrap_or(0);
    // Operator quirk (server StatefulSet reconciler): ready = readyReplicas >= status.replicas.
    let ready = ready_pods >= replicas;
    let reason = if ready {
        "StatefulSet replicas matches desired replicas"
    } else {
        "StatefulSet replicas does not match desired replicas"
    };
    let mut status = json!({
        "observedGeneration": server["metadata"]["generation"], "replicas": replicas, "selector": format!("{SERVER_LABEL}={sname}"),
        "loadedModels": server["status"]["loadedModels"].as_i64().unwrap_or(0),
        "conditions": [condition(prev, "Ready", ready, reason, ""), condition(prev, "StatefulSetOrDeploymentReady", ready, reason, "")],
    });
    if status["replicas"] == 0 {
        status.as_object_mut().expect("object").remove("replicas");
    }
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
        used_bytes: vec![0; connected],
        loaded_models: 0,
    })
}

#[cfg(test)]
mod tests;
