//! The documented defaults of the `seldon-core-v2-setup` chart v2.10.2 (docs/seldon-behaviour.md §3), as data:
//! SeldonConfig `default` and ServerConfigs `mlserver` and `triton`.
//!
//! Only what the platform's behaviour depends on is modelled: component and container names,
//! images, replicas, ports, resources (CPU request + memory request/limit, never a CPU limit),
//! server capabilities and the agent's `MEMORY_REQUEST`. A test compares them with the rendered
//! chart (`seldon-v2.10.2-components.yaml`) when it is available.

use serde_json::{Value, json};

/// The Seldon release these defaults describe.
pub const SELDON_VERSION: &str = "2.10.2";

fn image(name: &str) -> String {
    format!("docker.io/seldonio/{name}:{SELDON_VERSION}")
}

/// Resources as the chart renders them: memory limit = request, CPU request only.
fn resources(cpu: &str, memory: &str) -> Value {
    json!({"limits": {"memory": memory}, "requests": {"cpu": cpu, "memory": memory}})
}

fn ports(list: &[(&str, u16)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"}))
            .collect(),
    )
}

fn component(
    name: &str,
    container: &str,
    img: &str,
    cpu: &str,
    memory: &str,
    port_list: &[(&str, u16)],
    service_account: Option<&str>,
) -> Value {
    let mut c = json!({"name": container, "image": image(img), "imagePullPolicy": "IfNotPresent", "resources": resources(cpu, memory)});
    if !port_list.is_empty() {
        c["ports"] = ports(port_list);
    }
    let mut pod = json!({"containers": [c], "securityContext": {"fsGroup": 1000, "runAsGroup": 1000, "runAsNonRoot": true, "runAsUser": 1000}});
    if let Some(sa) = service_account {
        pod["serviceAccountName"] = json!(sa);
    }
    json!({"name": name, "replicas": 1, "podSpec": pod})
}

/// `SeldonConfig default` spec.
pub fn seldon_config_spec() -> Value {
    let mut scheduler = component(
        "seldon-scheduler",
        "scheduler",
        "seldon-scheduler",
        "100m",
        "1Gi",
        &[
            ("xds", 9002),
            ("scheduler", 9004),
            ("scheduler-mtls", 9044),
            ("agent", 9005),
            ("agent-mtls", 9055),
            ("dataflow", 9008),
            ("health", 9999),
        ],
        Some("seldon-scheduler"),
    );
    scheduler["volumeClaimTemplates"] = json!([{
        "name": "scheduler-state",
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }]);
    json!({
        "components": [
            scheduler,
            component("seldon-pipelinegateway", "pipelinegateway", "seldon-pipelinegateway", "100m", "1G",
                &[("http", 9010), ("grpc", 9011), ("metrics", 9006), ("health", 9999)], Some("seldon-scheduler")),
            component("seldon-modelgateway", "modelgateway", "seldon-modelgateway", "100m", "1G", &[("health", 9999)], Some("seldon-scheduler")),
            component("hodometer", "hodometer", "seldon-hodometer", "1m", "32Mi", &[], Some("hodometer")),
            component("seldon-envoy", "envoy", "seldon-envoy", "100m", "128Mi", &[("http", 9000), ("envoy-stats", 9003)], None),
            component("seldon-dataflow-engine", "dataflow-engine", "seldon-dataflow-engine", "100m", "3G", &[("health", 8000)], Some("seldon-scheduler")),
        ],
        "config": {
            "agentConfig": {"rclone": {"config_secrets": ["seldon-rclone-gs-public"]}},
            "kafkaConfig": {"bootstrap.servers": "seldon-kafka-bootstrap.seldon-mesh:9092", "topicPrefix": "seldon", "consumerGroupIdPrefix": ""},
            "serviceConfig": {"grpcServicePrefix": "", "serviceType": "LoadBalancer"},
            "tracingConfig": {"disable": false, "otelExporterEndpoint": "seldon-collector.seldon-mesh:4317", "otelExporterProtocol": "grpc", "ratio": "1"},
            "scalingConfig": {"models": {"enabled": false}, "servers": {"enabled": true, "scaleDownPackingEnabled": false, "scaleDownPackingPercentage": 0}, "pipelines": {"maxShardCountMultiplier": 1}},
        },
    })
}

/// Capabilities the `mlserver` ServerConfig announces (`SELDON_SERVER_CAPABILITIES`).
pub const MLSERVER_CAPABILITIES: &str = "mlserver,alibi-detect,alibi-explain,huggingface,lightgbm,mlflow,python,sklearn,spark-mlib,xgboost";
/// Capabilities the `triton` ServerConfig announces.
pub const TRITON_CAPABILITIES: &str =
    "triton,dali,fil,onnx,openvino,python,pytorch,tensorflow,tensorrt";

/// `ServerConfig <server_type>` spec for `mlserver` or `triton`.
pub fn server_config_spec(server_type: &str) -> Value {
    let (capabilities, server_image) = match server_type {
        "triton" => (
            TRITON_CAPABILITIES,
            "nvcr.io/nvidia/tritonserver:23.03-py3".to_string(),
        ),
        _ => (
            MLSERVER_CAPABILITIES,
            "docker.io/seldonio/mlserver:1.7.1".to_string(),
        ),
    };
    let models_volume = format!("{server_type}-models");
    let env = |pairs: &[(&str, &str)]| {
        Value::Array(
            pairs
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        )
    };
    let mut agent_env = env(&[
        ("SELDON_SERVER_CAPABILITIES", capabilities),
        ("SELDON_OVERCOMMIT_PERCENTAGE", "10"),
        ("SELDON_SERVER_HTTP_PORT", "9000"),
        ("SELDON_SERVER_GRPC_PORT", "9500"),
        ("SELDON_REVERSE_PROXY_HTTP_PORT", "9001"),
        ("SELDON_REVERSE_PROXY_GRPC_PORT", "9501"),
        ("SELDON_SCHEDULER_HOST", "seldon-scheduler"),
        ("SELDON_SCHEDULER_PORT", "9005"),
        ("SELDON_SERVER_TYPE", server_type),
        ("SELDON_ENVOY_HOST", "seldon-mesh"),
        ("SELDON_ENVOY_PORT", "80"),
    ]);
    agent_env.as_array_mut().expect("array").push(json!({
        "name": "MEMORY_REQUEST",
        "valueFrom": {"resourceFieldRef": {"containerName": server_type, "resource": "requests.memory"}},
    }));
    json!({
        "podSpec": {
            "containers": [
                {"name": "rclone", "image": image("seldon-rclone"), "imagePullPolicy": "IfNotPresent",
                 "ports": ports(&[("rclone", 5572)]),
                 "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m", "memory": "128Mi"}},
                 "volumeMounts": [{"mountPath": "/mnt/agent", "name": models_volume}]},
                {"name": "agent", "image": image("seldon-agent"), "imagePullPolicy": "IfNotPresent", "env": agent_env,
                 "ports": ports(&[("grpc", 9501), ("http", 9001), ("metrics", 9006), ("readiness-port", 9008)]),
                 "resources": resources("200m", "1Gi"),
                 "volumeMounts": [{"mountPath": "/mnt/agent", "name": models_volume}, {"mountPath": "/mnt/config", "name": "config-volume"}]},
                {"name": server_type, "image": server_image, "imagePullPolicy": "IfNotPresent",
                 "ports": ports(&[("server-grpc", 9500), ("server-http", 9000), ("server-metrics", 8082)]),
                 "resources": resources("100m", "1Gi"),
                 "volumeMounts": [{"mountPath": "/mnt/agent", "name": models_volume, "readOnly": true}]},
            ],
            "securityContext": {"fsGroup": 1000, "runAsGroup": 1000, "runAsNonRoot": true, "runAsUser": 1000},
            "serviceAccountName": "seldon-server",
            "terminationGracePeriodSeconds": 120,
            "volumes": [{"name": "config-volume", "configMap": {"name": "seldon-agent"}}],
        },
        "volumeClaimTemplates": [{
            "name": models_volume,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }],
    })
}
