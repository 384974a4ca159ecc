//! The static answer: each flow of a namespace evaluated against the scenario's NetworkPolicies,
//! the table printed by `harness flows`, the fix for a blocked flow, and the flow analysis of a
//! loaded scenario (`analyse`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddrV4;

use super::policy::{self, Cluster, Decision, Direction, Endpoint, PolicyRef};
use super::table::{self, Context, Destination, Flow, FlowPort, FlowWorkload, Need};

use crate::scenario::{
    Diagnostic, Expectation, RequiredFlows, Scenario, ScenarioErrors, Severity, Team,
};

/// The generic flow table (`<ns>` stands for the team namespace), as `harness flows` prints it.
pub fn table() -> Vec<Flow> {
    table::build(&Context::generic())
}

/// The flows of one team in a scenario (server name, clients and storage filled in).
pub fn flows_for(s: &Scenario, namespace: &str) -> Vec<Flow> {
    flows_at(s, namespace, None)
}

/// [`flows_for`] on a target whose model store is at `model_store` (outside the pod network)
/// rather than the in-cluster Service.
pub fn flows_at(s: &Scenario, namespace: &str, model_store: Option<SocketAddrV4>) -> Vec<Flow> {
    let mut ctx = Context::for_team(s, namespace);
    ctx.model_store_at = model_store;
    table::build(&ctx)
}

/// A plain aligned text table of flows, then why each is needed and where pod labels come from.
pub fn format_table(flows: &[Flow]) -> String {
    let header = ["FLOW", "NEED", "FROM", "TO", "PORTS"];
    let rows: Vec<[String; 5]> = flows
        .iter()
        .map(|f| {
            let from = describe_sources(&f.sources);
            let ports: Vec<String> = f
                .ports
                .iter()
                .map(|p| format!("{}/{}", p.port, p.protocol))
                .collect();
            [
                f.name.clone(),
                if f.need.required() {
                    "required"
                } else {
                    "optional"
                }
                .to_string(),
                from,
                f.destination.describe(),
                ports.join(" "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    for r in &rows {
        line(&mut out, &r.each_ref().map(String::as_str));
    }
    out.push_str("\nWhy\n");
    for f in flows {
        let when = match &f.need {
            Need::Required => String::new(),
            Need::Optional { when } => format!(" Needed when: {when}."),
        };
        let _ = writeln!(
            out,
            "  {}: {}.{when} [{}]",
            f.name, f.why, f.source_of_truth
        );
    }
    out.push_str("\nPod labels (ports are the destination pod's, after the Service)\n");
    let mut seen = BTreeSet::new();
    for f in flows {
        let dest = match &f.destination {
            Destination::Pods { workload, .. } => Some(workload),
            Destination::Address { .. } => None,
        };
        for w in f.sources.iter().chain(dest) {
            if !seen.insert(w.component.clone()) {
                continue;
            }
            let l: Vec<String> = w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let l = if l.is_empty() {
                "(any pod)".to_string()
            } else {
                l.join(", ")
            };
            let _ = writeln!(out, "  {}: {} ({})", w.component, l, w.label_source.note());
        }
    }
    out
}

/// `a@ns`, or `a, b, +5 more@ns` for many sources of one namespace.
fn describe_sources(sources: &[FlowWorkload]) -> String {
    let same_ns = sources.windows(2).all(|w| w[0].namespace == w[1].namespace);
    match sources {
        [] => String::new(),
        [one] => format!("{}@{}", one.component, one.namespace),
        [a, b, rest @ ..] if same_ns && !rest.is_empty() => format!(
            "{}, {}, +{} more@{}",
            a.component,
            b.component,
            rest.len(),
            a.namespace
        ),
        many => many
            .iter()
            .map(|w| format!("{}@{}", w.component, w.namespace))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A group of identical cuts: the same policies deny the same side for some sources and ports.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    /// Egress of the source, or ingress of the destination.
    pub direction: Direction,
    /// The policies isolating that pod in that direction, none of which has a matching rule.
    pub policies: Vec<PolicyRef>,
    /// Source components affected.
    pub sources: Vec<String>,
    /// Destination ports affected.
    pub ports: Vec<FlowPort>,
    /// A rule that would allow it, as YAML to add under `spec.<direction>` of the first policy.
    pub fix: String,
}

/// The static answer for one flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowVerdict {
    /// Flow name.
    pub flow: String,
    /// Whether the scenario needs it (required, or optional but in use).
    pub required: bool,
    /// Whether every source reaches the destination on every port.
    pub allowed: bool,
    /// Why it is blocked (empty when allowed).
    pub cuts: Vec<Cut>,
    /// Policies that allow it where pods are isolated (empty: nothing isolates them).
    pub allowed_by: Vec<PolicyRef>,
    /// One line describing the flow (source → destination, ports).
    pub summary: String,
    /// Whether its live probe dials a name from pods whose DNS the `dns` flow covers (a failed
    /// `dns` probe then explains a failed probe of this flow).
    pub resolves_name: bool,
}

impl FlowVerdict {
    /// `blocked by <policy> (egress of seldon-server)`, for messages.
    pub fn blocked_by(&self) -> String {
        let parts: Vec<String> = self
            .cuts
            .iter()
            .map(|c| {
                let names: Vec<String> = c.policies.iter().map(|p| format!("`{p}`")).collect();
                format!(
                    "{} ({} of {})",
                    names.join(", "),
                    c.direction.key(),
                    match c.direction {
                        Direction::Egress => c.sources.join(", "),
                        Direction::Ingress => "the destination".into(),
                    }
                )
            })
            .collect();
        parts.join("; ")
    }
}

fn endpoint_for(cluster: &Cluster, w: &FlowWorkload) -> Endpoint {
    Endpoint::Pod(cluster.pod(&w.namespace, w.labels.clone(), w.ports.clone()))
}

fn summary(f: &Flow) -> String {
    let from: Vec<&str> = f.sources.iter().map(|w| w.component.as_str()).collect();
    let ports: Vec<String> = f
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.port, p.protocol))
        .collect();
    format!(
        "{} → {}, {}",
        from.join(", "),
        f.destination.describe(),
        ports.join(" ")
    )
}

/// Judges every flow of a team against a cluster model.
pub fn evaluate_flows(cluster: &Cluster, flows: &[Flow]) -> Vec<FlowVerdict> {
    let dns_namespaces: BTreeSet<&str> = flows
        .iter()
        .filter(|f| f.name == "dns")
        .flat_map(|f| f.sources.iter().map(|w| w.namespace.as_str()))
        .collect();
    flows
        .iter()
        .map(|f| {
            let mut v = evaluate_flow(cluster, f);
            let dials_name = !matches!(f.destination, Destination::Pods { service: None, .. });
            v.resolves_name = f.name != "dns"
                && dials_name
                && f.sources
                    .iter()
                    .all(|w| dns_namespaces.contains(w.namespace.as_str()));
            v
        })
        .collect()
}

/// Indexes of the sources and the ports one (direction, policies) pair cuts.
type CutGroup = (Vec<usize>, Vec<FlowPort>);

fn evaluate_flow(cluster: &Cluster, f: &Flow) -> FlowVerdict {
    let dest = match &f.destination {
        Destination::Pods { workload, .. } => endpoint_for(cluster, workload),
        Destination::Address { address, .. } => Endpoint::Address(*address),
    };
    // (direction, policies) → (sources, ports)
    let mut groups: BTreeMap<(Direction, Vec<PolicyRef>), CutGroup> = BTreeMap::new();
    let mut allowed_by = BTreeSet::new();
    for (si, src) in f.sources.iter().enumerate() {
        let from = endpoint_for(cluster, src);
        for port in &f.ports {
            let c = cluster.connect(&from, &dest, port.port, port.protocol);
            for (d, decision) in [
                (Direction::Egress, &c.egress),
                (Direction::Ingress, &c.ingress),
            ] {
                match decision {
                    Decision::Denied { by } => {
                        let g = groups.entry((d, by.clone())).or_default();
                        if !g.0.contains(&si) {
                            g.0.push(si);
                        }
                        if !g.1.contains(port) {
                            g.1.push(*port);
                        }
                    }
                    Decision::Allowed { by } => {
                        allowed_by.insert(by.clone());
                    }
                    Decision::NotIsolated => {}
                }
            }
        }
    }
    let cuts: Vec<Cut> = groups
        .into_iter()
        .map(|((direction, policies), (srcs, ports))| {
            let sources: Vec<&FlowWorkload> = srcs.iter().map(|i| &f.sources[*i]).collect();
            let fix = fix_rule(cluster, f, direction, &policies[0], &sources, &ports);
            Cut {
                direction,
                policies,
                sources: sources.iter().map(|w| w.component.clone()).collect(),
                ports,
                fix,
            }
        })
        .collect();
    FlowVerdict {
        flow: f.name.clone(),
        required: f.need.required(),
        allowed: cuts.is_empty(),
        cuts,
        allowed_by: allowed_by.into_iter().collect(),
        summary: summary(f),
        resolves_name: false,
    }
}

type Y = serde_norway::Value;

/// A YAML mapping keeping the given key order (suggested rules read `to` before `ports`).
fn ymap(pairs: Vec<(&str, Y)>) -> Y {
    Y::Mapping(pairs.into_iter().map(|(k, v)| (Y::from(k), v)).collect())
}

fn match_labels(l: &policy::Labels) -> Y {
    if l.is_empty() {
        return Y::Mapping(Default::default());
    }
    let labels = l
        .iter()
        .map(|(k, v)| (Y::from(k.as_str()), Y::from(v.as_str())))
        .collect();
    ymap(vec![("matchLabels", Y::Mapping(labels))])
}

/// A peer selecting a workload, written as seen from a policy in `policy_ns`.
fn peer(w: &FlowWorkload, policy_ns: &str) -> Y {
    let pods = match_labels(&w.selector);
    if w.namespace == policy_ns {
        ymap(vec![("podSelector", pods)])
    } else {
        let ns = policy::labels(&[(policy::NAMESPACE_NAME_LABEL, &w.namespace)]);
        ymap(vec![
            ("namespaceSelector", match_labels(&ns)),
            ("podSelector", pods),
        ])
    }
}

fn fix_rule(
    cluster: &Cluster,
    f: &Flow,
    d: Direction,
    policy: &PolicyRef,
    sources: &[&FlowWorkload],
    ports: &[FlowPort],
) -> String {
    let ports: Vec<Y> = ports
        .iter()
        .map(|p| {
            ymap(vec![
                ("protocol", Y::from(p.protocol.name())),
                ("port", Y::from(p.port)),
            ])
        })
        .collect();
    let rule = match d {
        Direction::Egress => {
            let to = match &f.destination {
                Destination::Pods { workload, .. } => peer(workload, &policy.namespace),
                Destination::Address { allow_cidr, .. } => {
                    let mut block = vec![("cidr", Y::from(allow_cidr.as_str()))];
                    if allow_cidr == "0.0.0.0/0" {
                        block.push((
                            "except",
                            Y::Sequence(vec![
                                Y::from(cluster.pod_cidr.to_string()),
                                Y::from(cluster.service_cidr.to_string()),
                            ]),
                        ));
                    }
                    ymap(vec![("ipBlock", ymap(block))])
                }
            };
            ymap(vec![
                ("to", Y::Sequence(vec![to])),
                ("ports", Y::Sequence(ports)),
            ])
        }
        Direction::Ingress => {
            let from: Vec<Y> = sources.iter().map(|w| peer(w, &policy.namespace)).collect();
            ymap(vec![
                ("from", Y::Sequence(from)),
                ("ports", Y::Sequence(ports)),
            ])
        }
    };
    let yaml = serde_norway::to_string(&Y::Sequence(vec![rule])).unwrap_or_default();
    format!(
        "# add to spec.{} of NetworkPolicy {policy}\n{yaml}",
        d.key()
    )
}

/// Judges every flow of a team namespace against the scenario's NetworkPolicies.
pub fn evaluate(s: &Scenario, namespace: &str) -> Vec<FlowVerdict> {
    evaluate_at(s, namespace, None)
}

/// [`evaluate`] with the target's model store address (see [`flows_at`]).
pub fn evaluate_at(
    s: &Scenario,
    namespace: &str,
    model_store: Option<SocketAddrV4>,
) -> Vec<FlowVerdict> {
    evaluate_flows(
        &Cluster::from_scenario(s),
        &flows_at(s, namespace, model_store),
    )
}

/// Flow names `requiredFlows` checks of this namespace expect blocked.
fn expected_blocked(s: &Scenario, namespace: &str) -> BTreeSet<String> {
    s.doc
        .spec
        .checks
        .iter()
        .filter_map(|c| match &c.expect {
            Expectation::RequiredFlows(r) if r.namespace == namespace => Some(r),
            _ => None,
        })
        .flat_map(|r| r.expect_blocked.iter().cloned())
        .collect()
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Warnings for required flows the scenario's policies block and no `requiredFlows` check expects
/// blocked; each points at the policy that cuts the flow. Teams without a runtime need no flows.
pub fn warnings(s: &Scenario) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for team in s
        .doc
        .spec
        .teams
        .iter()
        .filter(|t: &&Team| t.runtime.is_some())
    {
        let expected = expected_blocked(s, &team.namespace);
        for v in evaluate(s, &team.namespace) {
            if v.allowed || !v.required || expected.contains(&v.flow) {
                continue;
            }
            for cut in &v.cuts {
                let policy = &cut.policies[0];
                let path = policy.path.clone().unwrap_or_default();
                let others = if cut.policies.len() > 1 {
                    let rest: Vec<String> =
                        cut.policies[1..].iter().map(|p| format!("`{p}`")).collect();
                    format!(" (with {})", rest.join(", "))
                } else {
                    String::new()
                };
                let side = match cut.direction {
                    Direction::Egress => format!("the egress of {}", cut.sources.join(", ")),
                    Direction::Ingress => "the destination's ingress".to_string(),
                };
                out.push(Diagnostic {
                    severity: Severity::Warning,
                    file: s.file.clone(),
                    position: s.positions.find(&path),
                    path,
                    message: format!(
                        "NetworkPolicy `{policy}`{others} blocks required flow `{}` at {side} ({})",
                        v.flow, v.summary
                    ),
                    hint: Some(format!(
                        "allow it with this rule, or list `{}` under a `requiredFlows` check's `expectBlocked` if the block is intended:\n{}",
                        v.flow,
                        indent(cut.fix.trim_end(), "    ")
                    )),
                });
            }
        }
    }
    out
}

/// The `requiredFlows` check, statically: blocked required flows must be exactly those expected.
pub fn static_verdict(s: &Scenario, check: &RequiredFlows) -> Result<(), String> {
    let verdicts = evaluate(s, &check.namespace);
    let known: BTreeSet<&str> = verdicts.iter().map(|v| v.flow.as_str()).collect();
    let mut problems = Vec::new();
    for name in &check.expect_blocked {
        if !known.contains(name.as_str()) {
            let list: Vec<&str> = known.iter().copied().collect();
            problems.push(format!(
                "`expectBlocked` names flow `{name}`, which does not exist; flows: {}",
                list.join(", ")
            ));
        }
    }
    let expected: BTreeSet<&str> = check.expect_blocked.iter().map(String::as_str).collect();
    for v in &verdicts {
        let listed = expected.contains(v.flow.as_str());
        if !v.allowed && v.required && !listed {
            problems.push(format!(
                "flow `{}` ({}) is blocked by {}, but the scenario does not expect it blocked",
                v.flow,
                v.summary,
                v.blocked_by()
            ));
        } else if v.allowed && listed {
            let why = if v.allowed_by.is_empty() {
                "no NetworkPolicy isolates its pods".to_string()
            } else {
                let names: Vec<String> = v.allowed_by.iter().map(|p| format!("`{p}`")).collect();
                format!("allowed by {}", names.join(", "))
            };
            problems.push(format!(
                "flow `{}` ({}) is expected blocked, but the policies allow it: {why}",
                v.flow, v.summary
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "required flows in namespace `{}` differ from the expectation:\n- {}",
            check.namespace,
            problems.join("\n- ")
        ))
    }
}

/// The flow analysis of a loaded scenario: flow names in `requiredFlows` must exist (errors), and
/// required flows its NetworkPolicies block become warnings.
pub fn analyse(mut scenario: Scenario) -> Result<Scenario, ScenarioErrors> {
    let mut errors = Vec::new();
    for (i, c) in scenario.doc.spec.checks.iter().enumerate() {
        if let Expectation::RequiredFlows(f) = &c.expect {
            let known: Vec<String> = flows_for(&scenario, &f.namespace)
                .into_iter()
                .map(|fl| fl.name)
                .collect();
            for (k, name) in f.expect_blocked.iter().enumerate() {
                if !known.contains(name) {
                    let path = format!("spec.checks[{i}].expect.requiredFlows.expectBlocked[{k}]");
                    errors.push(Diagnostic {
                        severity: Severity::Error,
                        file: scenario.file.clone(),
                        position: scenario.positions.find(&path),
                        path,
                        message: format!("`{name}` is not a flow of namespace `{}`", f.namespace),
                        hint: Some(format!("flows: {} (see `harness flows`)", known.join(", "))),
                    });
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(ScenarioErrors(errors));
    }
    let flow_warnings = warnings(&scenario);
    scenario.warnings.extend(flow_warnings);
    Ok(scenario)
}
