//! Connectivity probes: the pod the harness runs, and the outcome the platform predicts for it.
//!
//! Model of `nc -z -w <s> <host> <port>` in a busybox pod:
//! 1. `<host>` an IP: a Service ClusterIP or a pod IP, no DNS needed.
//! 2. `<host>` a name: the lookup needs egress from the probe to a ready pod labelled
//!    `k8s-app: kube-dns` in `kube-system` on UDP 53 (busybox asks over UDP; TCP 53 alone is
//!    not enough), and that pod's ingress must allow it. If not, or if the name does not exist,
//!    busybox prints `nc: bad address '<host>'`. Names: `svc` (probe's namespace), `svc.ns`,
//!    `svc.ns.svc`, `svc.ns.svc.cluster.local`, trailing dot allowed.
//! 3. A Service maps the probe port to `targetPort` (number, container-port name, or the same
//!    port) on its endpoint pods: pods of its namespace matching its selector that are Running,
//!    not Ready=False and not terminating. No endpoints: `Connection refused` (kube-proxy rejects).
//!    A Service port that does not exist: timeout. Headless Services resolve to the pods directly.
//! 4. The connection succeeds when at least one endpoint pod is reachable under the policies
//!    (TCP); otherwise `nc: <host> (<ip>:<port>): Connection timed out`. On success nc prints
//!    nothing, so the log is empty.
//!
//! 5. A Service without a selector (`default/kubernetes`) uses its `Endpoints` object: each
//!    address is matched to the pod with that IP (the API server's host-network pod).
//! 6. A name outside the cluster resolves (through cluster DNS, so DNS egress is still needed)
//!    when the platform declares it in [`NetworkView::external_hosts`]; the connection then
//!    needs only the source's egress to that address (`ipBlock` rules), nothing answers for
//!    its ingress. Other outside names are NXDOMAIN.
//!
//! A pod IP target is assumed to listen on the port: container ports are informational.

use super::policy::{Protocol, connection_allowed, named_port};
use super::selector::Labels;
use super::view::{NetworkView, object_key};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, Pod, PodSecurityContext, PodSpec, PodStatus,
    ResourceRequirements, SeccompProfile, SecurityContext, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Label marking a probe pod (value `"true"`).
pub const PROBE_LABEL: &str = "conformance.harness/probe";
/// Annotation holding the probe's `<host>:<port>`.
pub const PROBE_TARGET_ANNOTATION: &str = "conformance.harness/probe-target";
/// Image of the probe container.
pub const PROBE_IMAGE: &str = "busybox:1.36";
/// Namespace of the cluster DNS pods.
pub const DNS_NAMESPACE: &str = "kube-system";
/// Label key and value of the cluster DNS pods.
pub const DNS_LABEL: (&str, &str) = ("k8s-app", "kube-dns");

/// What the probe pod would do: its result and its container log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// Whether `nc` exits 0 (pod phase Succeeded) or not (Failed).
    pub succeeded: bool,
    /// What busybox `nc` prints (empty on success).
    pub log: String,
    /// Why, for diagnostics: which policy decision or resolution step decided it.
    pub explanation: String,
}

/// What to probe and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Namespace the probe runs in (its identity for policies).
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Host name or IP to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `nc -w` connect timeout in seconds.
    pub timeout_secs: u32,
    /// Extra labels, e.g. to look like a particular client to pod selectors.
    pub labels: BTreeMap<String, String>,
}

/// Builds the probe pod of the convention (see the `network` module docs).
///
/// It carries small requests and limits so quota-enforcing namespaces admit it, and a
/// restricted security context so restricted Pod Security admits it.
pub fn probe_pod(spec: &ProbeSpec) -> Pod {
    let mut labels = spec.labels.clone();
    labels.insert(PROBE_LABEL.to_string(), "true".to_string());
    let resources: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), Quantity("10m".to_string())),
        ("memory".to_string(), Quantity("16Mi".to_string())),
    ]
    .into();
    Pod {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            namespace: Some(spec.namespace.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                PROBE_TARGET_ANNOTATION.to_string(),
                format!("{}:{}", spec.host, spec.port),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".to_string()),
            termination_grace_period_seconds: Some(0),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(65534),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_string(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![Container {
                name: "probe".to_string(),
                image: Some(PROBE_IMAGE.to_string()),
                command: Some(vec![
                    "nc".to_string(),
                    "-z".to_string(),
                    "-w".to_string(),
                    spec.timeout_secs.to_string(),
                    spec.host.clone(),
                    spec.port.to_string(),
                ]),
                resources: Some(ResourceRequirements {
                    requests: Some(resources.clone()),
                    limits: Some(resources),
                    ..ResourceRequirements::default()
                }),
                security_context: Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    capabilities: Some(Capabilities {
                        drop: Some(vec!["ALL".to_string()]),
                        ..Capabilities::default()
                    }),
                    ..SecurityContext::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// Reads `<host>:<port>` from a probe pod's annotation.
pub fn probe_target(pod: &Pod) -> Result<(String, u16), String> {
    let key = object_key(&pod.metadata);
    let raw = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROBE_TARGET_ANNOTATION))
        .ok_or_else(|| format!("pod {key} has no `{PROBE_TARGET_ANNOTATION}` annotation"))?;
    let (host, port) = raw
        .rsplit_once(':')
        .filter(|(h, _)| !h.is_empty())
        .ok_or_else(|| {
            format!("pod {key}: annotation `{PROBE_TARGET_ANNOTATION}` is `{raw}`, expected `<host>:<port>`")
        })?;
    let port = port.parse::<u16>().map_err(|_| {
        format!(
            "pod {key}: annotation `{PROBE_TARGET_ANNOTATION}` has port `{port}`, expected 1-65535"
        )
    })?;
    Ok((host.to_string(), port))
}

/// A ready CoreDNS pod as kind runs it (`kube-system`, `k8s-app: kube-dns`, UDP/TCP 53), for
/// platforms that must resolve names for probes.
pub fn cluster_dns_pod() -> Pod {
    let port = |name: &str, proto: &str| ContainerPort {
        name: Some(name.to_string()),
        container_port: 53,
        protocol: Some(proto.to_string()),
        ..ContainerPort::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some("coredns-0".to_string()),
            namespace: Some(DNS_NAMESPACE.to_string()),
            labels: Some(BTreeMap::from([(
                DNS_LABEL.0.to_string(),
                DNS_LABEL.1.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "coredns".to_string(),
                image: Some("registry.k8s.io/coredns/coredns:v1.11.3".to_string()),
                ports: Some(vec![port("dns", "UDP"), port("dns-tcp", "TCP")]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".to_string()),
            pod_ip: Some("10.244.0.2".to_string()),
            ..PodStatus::default()
        }),
    }
}

/// Predicts what the probe pod does, under the view's policies, or as if there were none when
/// `policies_ignored` (the NetworkPolicyIgnored defect).
pub fn probe_outcome(view: &NetworkView, probe: &Pod, policies_ignored: bool) -> ProbeOutcome {
    let (host, port) = match probe_target(probe) {
        Ok(t) => t,
        Err(e) => {
            return ProbeOutcome {
                succeeded: false,
                log: format!("nc: {e}"),
                explanation: e,
            };
        }
    };
    Prober {
        view,
        probe,
        policies_ignored,
        host: &host,
        port: i32::from(port),
    }
    .run()
}

struct Prober<'a> {
    view: &'a NetworkView,
    probe: &'a Pod,
    policies_ignored: bool,
    host: &'a str,
    port: i32,
}

/// Where a host resolved to.
enum Resolved<'a> {
    Service(&'a Service),
    Pod(&'a Pod),
    /// An IP nothing answers on.
    Nowhere(IpAddr),
    /// An address outside the cluster that accepts connections.
    External(IpAddr),
}

impl<'a> Prober<'a> {
    fn run(&self) -> ProbeOutcome {
        let resolved = match self.host.parse::<IpAddr>() {
            Ok(ip) => self.by_ip(ip),
            Err(_) => {
                if let Err(why) = self.dns_reachable() {
                    return self.bad_address(why);
                }
                match self.by_name().or_else(|| self.external()) {
                    Some(r) => r,
                    None => {
                        return self
                            .bad_address(format!("`{}` names no Service (NXDOMAIN)", self.host));
                    }
                }
            }
        };
        match resolved {
            Resolved::Nowhere(ip) => {
                self.timed_out(&ip.to_string(), "no Service or pod has this IP".into())
            }
            Resolved::Pod(pod) => self.connect(&[(pod, self.port)], &pod_ip(pod)),
            Resolved::Service(svc) => self.via_service(svc),
            Resolved::External(ip) => {
                let outside = outside_pod(ip);
                self.connect(&[(&outside, self.port)], &ip.to_string())
            }
        }
    }

    /// A name outside the cluster that upstream DNS resolves.
    fn external(&self) -> Option<Resolved<'a>> {
        let name = self.host.trim_end_matches('.');
        self.view
            .external_hosts
            .get(name)
            .map(|ip| Resolved::External(*ip))
    }

    fn probe_namespace(&self) -> &str {
        self.probe
            .metadata
            .namespace
            .as_deref()
            .unwrap_or("default")
    }

    fn allowed(&self, to: &Pod, port: i32, protocol: Protocol) -> Result<String, String> {
        if self.policies_ignored {
            return Ok(format!(
                "{} (policies not enforced)",
                object_key(&to.metadata)
            ));
        }
        let d = connection_allowed(self.view, self.probe, to, port, protocol);
        if d.allowed() {
            Ok(d.explain())
        } else {
            Err(d.explain())
        }
    }

    fn dns_reachable(&self) -> Result<(), String> {
        let dns_pods: Vec<&Pod> = self
            .view
            .pods
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(DNS_NAMESPACE))
            .filter(|p| has_label(p, DNS_LABEL.0, DNS_LABEL.1) && is_ready_endpoint(p))
            .collect();
        if dns_pods.is_empty() {
            return Err(format!(
                "no ready `{}={}` pod in {DNS_NAMESPACE} to resolve `{}`",
                DNS_LABEL.0, DNS_LABEL.1, self.host
            ));
        }
        let mut denials = Vec::new();
        for pod in dns_pods {
            match self.allowed(pod, 53, Protocol::Udp) {
                Ok(_) => return Ok(()),
                Err(why) => denials.push(why),
            }
        }
        Err(format!(
            "DNS lookup of `{}` blocked: {}",
            self.host,
            denials.join(" | ")
        ))
    }

    fn by_ip(&self, ip: IpAddr) -> Resolved<'a> {
        let ip_s = ip.to_string();
        if let Some(svc) = self.view.services.iter().find(|s| {
            s.spec.as_ref().is_some_and(|spec| {
                spec.cluster_ip.as_deref() == Some(ip_s.as_str())
                    || spec.cluster_ips.iter().flatten().any(|c| *c == ip_s)
            })
        }) {
            return Resolved::Service(svc);
        }
        match self.view.pods.iter().find(|p| pod_ip(p) == ip_s) {
            Some(pod) => Resolved::Pod(pod),
            None if self.view.external_hosts.values().any(|a| *a == ip) => Resolved::External(ip),
            None => Resolved::Nowhere(ip),
        }
    }

    fn by_name(&self) -> Option<Resolved<'a>> {
        let name = self.host.trim_end_matches('.');
        let name = name.strip_suffix(".cluster.local").unwrap_or(name);
        let name = name.strip_suffix(".svc").unwrap_or(name);
        let (svc_name, ns) = match name.split_once('.') {
            None => (name, self.probe_namespace()),
            Some((svc, ns)) if !ns.contains('.') => (svc, ns),
            Some(_) => return None,
        };
        let svc = self.view.services.iter().find(|s| {
            s.metadata.name.as_deref() == Some(svc_name)
                && s.metadata.namespace.as_deref() == Some(ns)
        })?;
        let spec = svc.spec.as_ref()?;
        if spec.type_.as_deref() == Some("ExternalName") {
            return None;
        }
        if spec.cluster_ip.as_deref() == Some("None") && self.endpoints(svc).is_empty() {
            // A headless Service without endpoints has no A records.
            return None;
        }
        Some(Resolved::Service(svc))
    }

    /// Endpoint pods of a Service and the pod port each would receive the probe port on.
    fn endpoints(&self, svc: &'a Service) -> Vec<(&'a Pod, i32)> {
        let Some(spec) = svc.spec.as_ref() else {
            return Vec::new();
        };
        let selector: &Labels = match spec.selector.as_ref() {
            Some(s) if !s.is_empty() => s,
            _ => return self.manual_endpoints(svc),
        };
        let headless = spec.cluster_ip.as_deref() == Some("None");
        let svc_port = spec
            .ports
            .iter()
            .flatten()
            .find(|p| p.port == self.port && p.protocol.as_deref().unwrap_or("TCP") == "TCP");
        let target = match (svc_port, headless) {
            (Some(p), _) => p.target_port.clone().unwrap_or(IntOrString::Int(p.port)),
            // Headless: clients connect to the pod IPs on whatever port they ask for.
            (None, true) => IntOrString::Int(self.port),
            (None, false) => return Vec::new(),
        };
        self.view
            .pods
            .iter()
            .filter(|p| p.metadata.namespace == svc.metadata.namespace)
            .filter(|p| {
                let labels = p.metadata.labels.as_ref();
                selector
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
            .filter(|p| is_ready_endpoint(p))
            .filter_map(|p| match &target {
                IntOrString::Int(n) => Some((p, *n)),
                IntOrString::String(name) => named_port(p, name, Protocol::Tcp).map(|n| (p, n)),
            })
            .collect()
    }

    /// Endpoints of a Service without a selector: its `Endpoints` object's addresses, matched
    /// to the pods holding those IPs, on the endpoint port of the probed Service port's name.
    fn manual_endpoints(&self, svc: &'a Service) -> Vec<(&'a Pod, i32)> {
        let Some(port_name) = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .and_then(|ports| ports.iter().find(|p| p.port == self.port))
            .map(|p| p.name.clone().unwrap_or_default())
        else {
            return Vec::new();
        };
        let Some(ep) = self.view.endpoints.iter().find(|e| {
            e.metadata.name == svc.metadata.name && e.metadata.namespace == svc.metadata.namespace
        }) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for subset in ep.subsets.iter().flatten() {
            let Some(port) = subset
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.clone().unwrap_or_default() == port_name)
            else {
                continue;
            };
            for addr in subset.addresses.iter().flatten() {
                if let Some(pod) = self.view.pods.iter().find(|p| pod_ip(p) == addr.ip) {
                    out.push((pod, port.port));
                }
            }
        }
        out
    }

    fn via_service(&self, svc: &'a Service) -> ProbeOutcome {
        let spec = svc.spec.as_ref();
        let headless = spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None");
        let has_port = spec.and_then(|s| s.ports.as_ref()).is_some_and(|ports| {
            ports
                .iter()
                .any(|p| p.port == self.port && p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        });
        let svc_key = object_key(&svc.metadata);
        let endpoints = self.endpoints(svc);
        if headless {
            let ip = endpoints
                .first()
                .map(|(p, _)| pod_ip(p))
                .unwrap_or_default();
            return self.connect(&endpoints, &ip);
        }
        let ip = spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default();
        if !has_port {
            return self.timed_out(
                &ip,
                format!("Service {svc_key} has no TCP port {}", self.port),
            );
        }
        if endpoints.is_empty() {
            return ProbeOutcome {
                succeeded: false,
                log: format!("nc: {} ({ip}:{}): Connection refused", self.host, self.port),
                explanation: format!("Service {svc_key} has no ready endpoints"),
            };
        }
        self.connect(&endpoints, &ip)
    }

    fn connect(&self, endpoints: &[(&Pod, i32)], ip: &str) -> ProbeOutcome {
        let mut denials = Vec::new();
        for (pod, port) in endpoints {
            match self.allowed(pod, *port, Protocol::Tcp) {
                Ok(why) => {
                    return ProbeOutcome {
                        succeeded: true,
                        log: String::new(),
                        explanation: why,
                    };
                }
                Err(why) => denials.push(why),
            }
        }
        self.timed_out(ip, denials.join(" | "))
    }

    fn timed_out(&self, ip: &str, explanation: String) -> ProbeOutcome {
        ProbeOutcome {
            succeeded: false,
            log: format!(
                "nc: {} ({ip}:{}): Connection timed out",
                self.host, self.port
            ),
            explanation,
        }
    }

    fn bad_address(&self, explanation: String) -> ProbeOutcome {
        ProbeOutcome {
            succeeded: false,
            log: format!("nc: bad address '{}'", self.host),
            explanation,
        }
    }
}

/// An address outside the cluster as policies see it: no namespace a policy lives in, matched
/// by `ipBlock` only (host network).
fn outside_pod(ip: IpAddr) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(ip.to_string()),
            namespace: Some("(outside the cluster)".to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            host_network: Some(true),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            pod_ip: Some(ip.to_string()),
            ..PodStatus::default()
        }),
    }
}

fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

fn has_label(pod: &Pod, key: &str, value: &str) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .is_some_and(|v| v == value)
}

/// Running, not marked unready, and not being deleted: what EndpointSlices would list.
fn is_ready_endpoint(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    pod.metadata.deletion_timestamp.is_none()
        && status.phase.as_deref() == Some("Running")
        && !status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status != "True")
}
