//! The flows a Seldon v2 team runtime needs, and their static evaluation against NetworkPolicies.
//!
//! A platform team's NetworkPolicy can quietly cut a connection Seldon needs (the seed's policy
//! blocks agent → scheduler inside the team namespace, which alone explains its "MLServer
//! registration" problem). This module lists those flows ([`table`]), judges them against the
//! scenario's policies before anything is deployed ([`evaluate`], [`warnings`],
//! [`static_verdict`]), and plans live probes to run after deployment ([`probe_plan`], [`compare`]):
//! a live result that disagrees with the static one is itself a finding.

pub mod policy;
pub mod probe;
pub mod table;
pub mod verdict;
pub mod whatif;

pub use policy::{
    Cluster, Connection, Decision, Direction, Endpoint, Partial, PolicyRef, Protocol,
};
pub use probe::{
    Disagreement, FlowProbe, ProbeOwner, ProbeTarget, compare, probe_plan, probe_plan_at,
};
pub use table::{Context, Destination, Flow, FlowPort, FlowWorkload, Need};
pub use verdict::{
    Cut, FlowVerdict, analyse, evaluate, evaluate_at, evaluate_flows, flows_at, flows_for,
    format_table, static_verdict, table, warnings,
};
pub use whatif::{SERVING_FLOWS, blocked_serving_flows, connectivity_allowed, evaluate_partial};
