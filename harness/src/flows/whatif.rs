//! "What if" questions about a scenario's policies: which flows, and which connections, would
//! change if a CNI enforced only part of NetworkPolicy ([`Partial`]). The proof table uses them
//! to know which checks rely on egress enforcement or on `namespaceSelector` being evaluated.

use super::policy::{Cluster, ContainerPort, Endpoint, Partial, Protocol, labels};
use super::verdict::{FlowVerdict, evaluate_flows, flows_for};
use crate::scenario::{Connectivity, Scenario};

/// The flows a Model needs to be served over REST through `seldon-mesh`: the controller hands it
/// to the scheduler, the agent registers (after reaching the API server), rclone downloads it,
/// envoy gets routes and reaches the server pod, every name resolves.
pub const SERVING_FLOWS: [&str; 8] = [
    "controller-to-scheduler",
    "agent-to-scheduler",
    "agent-to-apiserver",
    "dns",
    "model-store",
    "model-store-external",
    "envoy-to-scheduler",
    "envoy-to-server-http",
];

/// The flows of a team judged with only part of NetworkPolicy enforced.
pub fn evaluate_partial(s: &Scenario, namespace: &str, partial: Partial) -> Vec<FlowVerdict> {
    let mut cluster = Cluster::from_scenario(s);
    cluster.partial = partial;
    evaluate_flows(&cluster, &flows_for(s, namespace))
}

/// The required serving flows ([`SERVING_FLOWS`]) a team's policies block under `partial`.
pub fn blocked_serving_flows(s: &Scenario, namespace: &str, partial: Partial) -> Vec<FlowVerdict> {
    evaluate_partial(s, namespace, partial)
        .into_iter()
        .filter(|v| v.required && !v.allowed && SERVING_FLOWS.contains(&v.flow.as_str()))
        .collect()
}

/// Whether a `connectivity` check's connection is allowed under `partial` (`None`: its
/// destination is not a Service whose pods the flow table knows).
pub fn connectivity_allowed(s: &Scenario, c: &Connectivity, partial: Partial) -> Option<bool> {
    let (component, port) = match c.to.service.as_str() {
        "seldon-mesh" if c.to.port == 80 => ("seldon-envoy", ContainerPort::tcp("http", 9000)),
        _ => return None,
    };
    let mut cluster = Cluster::from_scenario(s);
    cluster.partial = partial;
    let from = cluster.pod(&c.from, c.from_labels.clone(), Vec::new());
    let to = cluster.pod(
        &c.to.namespace,
        labels(&[("app.kubernetes.io/name", component)]),
        vec![port.clone()],
    );
    Some(
        cluster
            .connect(
                &Endpoint::Pod(from),
                &Endpoint::Pod(to),
                port.port,
                Protocol::Tcp,
            )
            .allowed(),
    )
}
