//! The runtime components and the names, labels and conditions Seldon gives them.

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
