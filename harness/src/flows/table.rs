//! The flows a Seldon Core v2 team runtime needs: the one place they are defined.
//!
//! Ports are the destination *pod's* ports (what NetworkPolicy sees after a Service's DNAT); the
//! Service a client dials is kept alongside for probes and messages. Pod labels come from Seldon's
//! rendered components (v2.10.2) where they are written there, else from the operator's code
//! (`app.kubernetes.io/name` is set by the operator on every runtime component; server pods get
//! `app.kubernetes.io/name: seldon-server` and `seldon-server-name: <Server>`): that is not in the
//! facts in docs/seldon-behaviour.md, and each workload says where its labels come from.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::policy::{ContainerPort, Labels, Protocol, labels};
use crate::scenario::{Expectation, Scenario};

/// Whether a flow must be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The runtime does not work without it.
    Required,
    /// Needed only when a feature is used; blocked optional flows are reported, never warned about.
    Optional {
        /// When it is needed, e.g. `pipelines (Kafka)`.
        when: String,
    },
}

impl Need {
    /// Whether the flow must be allowed.
    pub fn required(&self) -> bool {
        matches!(self, Need::Required)
    }

    /// `required` or `optional: <when>`.
    pub fn describe(&self) -> String {
        match self {
            Need::Required => "required".into(),
            Need::Optional { when } => format!("optional: {when}"),
        }
    }
}

/// Where a workload's labels are documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelSource {
    /// Written in Seldon's rendered components (`seldon-v2.10.2-components.yaml`).
    SeldonComponents,
    /// Set by the Seldon operator's code (not in the rendered YAML or docs/seldon-behaviour.md).
    SeldonOperatorCode,
    /// The Kubernetes/CoreDNS convention (`k8s-app: kube-dns`).
    KubernetesConvention,
    /// Given by the scenario (client pods, the harness's own pods).
    Scenario,
}

impl LabelSource {
    /// A short note for tables.
    pub fn note(self) -> &'static str {
        match self {
            LabelSource::SeldonComponents => "documented: Seldon components.yaml",
            LabelSource::SeldonOperatorCode => {
                "not documented: set by the Seldon operator's code (not in docs/seldon-behaviour.md)"
            }
            LabelSource::KubernetesConvention => "Kubernetes/CoreDNS convention",
            LabelSource::Scenario => "from the scenario",
        }
    }
}

/// A kind of pod taking part in flows.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowWorkload {
    /// Component name, e.g. `seldon-scheduler`.
    pub component: String,
    /// Its namespace.
    pub namespace: String,
    /// Every label its pods carry (what a probe impersonating it wears).
    pub labels: Labels,
    /// The labels a policy should select it by (suggested rules use these).
    pub selector: Labels,
    /// Where the labels are documented.
    pub label_source: LabelSource,
    /// Its containers' ports.
    pub ports: Vec<ContainerPort>,
}

/// A Service a client dials to reach a flow's destination pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddr {
    /// The Service name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The Service port (the pod port is in the flow).
    pub port: u16,
}

impl ServiceAddr {
    /// `<name>.<namespace>` (resolves through the cluster DNS search path).
    pub fn host(&self) -> String {
        format!("{}.{}", self.name, self.namespace)
    }
}

/// Where a flow goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    /// Pods in the cluster, optionally reached through a Service.
    Pods {
        /// The destination pods.
        workload: FlowWorkload,
        /// The Service dialled, if any (envoy dials server pods directly).
        service: Option<ServiceAddr>,
    },
    /// An address no NetworkPolicy selects: outside the cluster, or the API server.
    Address {
        /// What it is, e.g. `Google Cloud Storage`.
        what: String,
        /// The name clients dial, e.g. `storage.googleapis.com`.
        host: String,
        /// The port clients dial.
        dial_port: u16,
        /// A representative address used for `ipBlock` rules.
        address: Ipv4Addr,
        /// The `ipBlock` CIDR a suggested rule allows.
        allow_cidr: String,
    },
}

impl Destination {
    /// A short human description, e.g. `seldon-scheduler.financial-ml (svc seldon-scheduler:9005)`.
    pub fn describe(&self) -> String {
        match self {
            Destination::Pods {
                workload,
                service: Some(s),
            } => format!("{} pods via {}:{}", workload.component, s.host(), s.port),
            Destination::Pods {
                workload,
                service: None,
            } => format!("{} pods in {}", workload.component, workload.namespace),
            Destination::Address {
                what,
                host,
                dial_port,
                address,
                ..
            } => format!("{what} {host}:{dial_port} (judged as {address})"),
        }
    }
}

/// A port at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPort {
    /// Port number at the destination pod (or address).
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl FlowPort {
    fn tcp(port: u16) -> FlowPort {
        FlowPort {
            port,
            protocol: Protocol::Tcp,
        }
    }
}

/// One connection a Seldon runtime needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Stable kebab-case name (used in `requiredFlows.expectBlocked`).
    pub name: String,
    /// Required or optional.
    pub need: Need,
    /// The pods that open the connection (the flow needs every one of them allowed).
    pub sources: Vec<FlowWorkload>,
    /// Where it goes.
    pub destination: Destination,
    /// Ports at the destination; every one must be allowed.
    pub ports: Vec<FlowPort>,
    /// Why Seldon needs it.
    pub why: String,
    /// Where that is established (docs/seldon-behaviour.md section, rendered components).
    pub source_of_truth: String,
}

/// The in-cluster model store the harness publishes `spec.artifacts` to.
///
/// Stand-in until the provisioning module owns this: the flows module only needs its namespace,
/// Service and port to judge and probe the storage flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStoreAddress {
    /// Namespace of the store.
    pub namespace: String,
    /// Its Service.
    pub service: String,
    /// The S3 API port (pod and Service).
    pub port: u16,
    /// Its pods' labels.
    pub labels: Labels,
}

impl Default for ModelStoreAddress {
    fn default() -> Self {
        ModelStoreAddress {
            namespace: "harness-model-store".into(),
            service: "minio".into(),
            port: 9000,
            labels: labels(&[("app.kubernetes.io/name", "minio")]),
        }
    }
}

/// Addresses assumed for destinations outside the pod network (kind defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// The API server as pods reach it after DNAT (kind: the control-plane node).
    pub api_server: Ipv4Addr,
    /// The API server's port after DNAT (kind: 6443).
    pub api_server_port: u16,
    /// A public address standing for storage outside the cluster (TEST-NET-3: any public address).
    pub public: Ipv4Addr,
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses {
            api_server: Ipv4Addr::new(172, 18, 0, 2),
            api_server_port: 6443,
            public: Ipv4Addr::new(203, 0, 113, 10),
        }
    }
}

/// What the flows of one team depend on.
#[derive(Debug, Clone)]
pub struct Context {
    /// The team namespace (`<ns>` in the generic table).
    pub namespace: String,
    /// The Seldon controller's namespace.
    pub controller_namespace: String,
    /// The Server whose pods stand for "server pods" and their `metadata.labels`.
    pub server: (String, Labels),
    /// Namespaces (with client pod labels) a `connectivity` check expects to reach `seldon-mesh`.
    pub clients: Vec<(String, Labels)>,
    /// Whether a Model uses an artifact the harness publishes (`spec.artifacts`).
    pub uses_model_store: bool,
    /// Whether a Model uses storage outside the cluster (any URI not in `spec.artifacts`).
    pub uses_external_storage: bool,
    /// The in-cluster model store.
    pub model_store: ModelStoreAddress,
    /// Where the target's model store actually is when it is not the in-cluster Service (kind:
    /// the MinIO container on the kind Docker network): the flow then targets it by `ipBlock`.
    pub model_store_at: Option<SocketAddrV4>,
    /// Addresses outside the pod network.
    pub addresses: Addresses,
}

impl Context {
    /// The placeholders of the generic table printed by `harness flows`.
    pub fn generic() -> Context {
        Context {
            namespace: "<ns>".into(),
            controller_namespace: "<controller-ns>".into(),
            server: ("<server>".into(), Labels::new()),
            clients: Vec::new(),
            uses_model_store: false,
            uses_external_storage: false,
            model_store: ModelStoreAddress::default(),
            model_store_at: None,
            addresses: Addresses::default(),
        }
    }

    /// The context of a team in a scenario.
    pub fn for_team(s: &Scenario, namespace: &str) -> Context {
        let team = s.team(namespace);
        let server = team
            .and_then(|t| t.servers.first())
            .map(|srv| {
                let name = srv["metadata"]["name"].as_str().unwrap_or("mlserver");
                let labels: Labels = srv["metadata"]["labels"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                (name.to_string(), labels)
            })
            .unwrap_or_else(|| ("mlserver".into(), Labels::new()));
        let artifacts: Vec<&str> = s
            .doc
            .spec
            .artifacts
            .iter()
            .map(|a| a.storage_uri.as_str())
            .collect();
        let uris: Vec<&str> = team
            .map(|t| {
                t.models
                    .iter()
                    .filter_map(|m| m["spec"]["storageUri"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut clients: Vec<(String, Labels)> = Vec::new();
        for c in &s.doc.spec.checks {
            if let Expectation::Connectivity(c) = &c.expect
                && c.to.namespace == namespace
                && c.to.service == "seldon-mesh"
                && c.from != namespace
                && c.expect == crate::scenario::Outcome::Allowed
                && !clients
                    .iter()
                    .any(|(n, l)| *n == c.from && *l == c.from_labels)
            {
                clients.push((c.from.clone(), c.from_labels.clone()));
            }
        }
        Context {
            namespace: namespace.into(),
            controller_namespace: s.doc.spec.seldon.controller_namespace.clone(),
            server,
            clients,
            uses_model_store: uris.iter().any(|u| artifacts.contains(u)),
            uses_external_storage: uris.iter().any(|u| !artifacts.contains(u)),
            model_store: ModelStoreAddress::default(),
            model_store_at: None,
            addresses: Addresses::default(),
        }
    }
}

fn component(ns: &str, name: &str, ports: Vec<ContainerPort>) -> FlowWorkload {
    let l = labels(&[("app.kubernetes.io/name", name)]);
    FlowWorkload {
        component: name.into(),
        namespace: ns.into(),
        labels: l.clone(),
        selector: l,
        label_source: LabelSource::SeldonOperatorCode,
        ports,
    }
}

fn scheduler(ns: &str) -> FlowWorkload {
    // Container ports of `scheduler` in the default SeldonConfig (components.yaml).
    component(
        ns,
        "seldon-scheduler",
        vec![
            ContainerPort::tcp("xds", 9002),
            ContainerPort::tcp("scheduler", 9004),
            ContainerPort::tcp("scheduler-mtls", 9044),
            ContainerPort::tcp("agent", 9005),
            ContainerPort::tcp("agent-mtls", 9055),
            ContainerPort::tcp("dataflow", 9008),
            ContainerPort::tcp("health", 9999),
        ],
    )
}

fn envoy(ns: &str) -> FlowWorkload {
    component(
        ns,
        "seldon-envoy",
        vec![
            ContainerPort::tcp("http", 9000),
            ContainerPort::tcp("envoy-stats", 9003),
        ],
    )
}

fn server(ctx: &Context) -> FlowWorkload {
    let (name, extra) = &ctx.server;
    let selector = labels(&[("app.kubernetes.io/name", "seldon-server")]);
    let mut all = extra.clone();
    all.extend(selector.clone());
    all.insert("seldon-server-name".into(), name.clone());
    FlowWorkload {
        component: "seldon-server".into(),
        namespace: ctx.namespace.clone(),
        labels: all,
        selector,
        label_source: LabelSource::SeldonOperatorCode,
        // ServerConfig `mlserver` pod: rclone, agent and mlserver containers (components.yaml).
        ports: vec![
            ContainerPort::tcp("rclone", 5572),
            ContainerPort::tcp("grpc", 9501),
            ContainerPort::tcp("http", 9001),
            ContainerPort::tcp("metrics", 9006),
            ContainerPort::tcp("readiness-port", 9008),
            ContainerPort::tcp("server-grpc", 9500),
            ContainerPort::tcp("server-http", 9000),
            ContainerPort::tcp("server-metrics", 8082),
        ],
    }
}

fn controller(ns: &str) -> FlowWorkload {
    let l = labels(&[("control-plane", "v2-controller-manager")]);
    FlowWorkload {
        component: "seldon-v2-controller-manager".into(),
        namespace: ns.into(),
        labels: l.clone(),
        selector: l,
        label_source: LabelSource::SeldonComponents,
        ports: Vec::new(),
    }
}

fn kube_dns() -> FlowWorkload {
    let l = labels(&[("k8s-app", "kube-dns")]);
    FlowWorkload {
        component: "kube-dns".into(),
        namespace: "kube-system".into(),
        labels: l.clone(),
        selector: l,
        label_source: LabelSource::KubernetesConvention,
        ports: vec![
            ContainerPort::udp("dns", 53),
            ContainerPort::tcp("dns-tcp", 53),
            ContainerPort::tcp("metrics", 9153),
        ],
    }
}

fn client(ns: &str, l: Labels) -> FlowWorkload {
    FlowWorkload {
        component: "client".into(),
        namespace: ns.into(),
        labels: l.clone(),
        selector: l,
        label_source: LabelSource::Scenario,
        ports: Vec::new(),
    }
}

fn svc(name: &str, ns: &str, port: u16) -> Option<ServiceAddr> {
    Some(ServiceAddr {
        name: name.into(),
        namespace: ns.into(),
        port,
    })
}

fn optional(when: &str) -> Need {
    Need::Optional { when: when.into() }
}

/// The model store: the in-cluster Service, or the address the target says it is at.
fn model_store_destination(ctx: &Context) -> Destination {
    if let Some(at) = ctx.model_store_at {
        return Destination::Address {
            what: "the harness's model store (outside the pod network)".into(),
            host: at.ip().to_string(),
            dial_port: at.port(),
            address: *at.ip(),
            allow_cidr: format!("{}/32", at.ip()),
        };
    }
    Destination::Pods {
        workload: FlowWorkload {
            component: "model-store".into(),
            namespace: ctx.model_store.namespace.clone(),
            labels: ctx.model_store.labels.clone(),
            selector: ctx.model_store.labels.clone(),
            label_source: LabelSource::Scenario,
            ports: vec![ContainerPort::tcp("s3", ctx.model_store.port)],
        },
        service: svc(
            &ctx.model_store.service,
            &ctx.model_store.namespace,
            ctx.model_store.port,
        ),
    }
}

/// The flows of one team, for a context (see [`Context::generic`] and [`Context::for_team`]).
pub fn build(ctx: &Context) -> Vec<Flow> {
    let ns = ctx.namespace.as_str();
    let sched = || scheduler(ns);
    let to_scheduler = |port: u16| Destination::Pods {
        workload: sched(),
        service: svc("seldon-scheduler", ns, port),
    };
    let to_mesh = || Destination::Pods {
        workload: envoy(ns),
        service: svc("seldon-mesh", ns, 80),
    };
    let to_server = || Destination::Pods {
        workload: server(ctx),
        service: None,
    };
    let pipelines = "pipelines (Kafka configured)";
    let flow = |name: &str,
                need: Need,
                sources: Vec<FlowWorkload>,
                destination: Destination,
                ports: Vec<FlowPort>,
                why: &str,
                truth: &str| Flow {
        name: name.into(),
        need,
        sources,
        destination,
        ports,
        why: why.into(),
        source_of_truth: truth.into(),
    };

    let mut flows = vec![
        flow(
            "controller-to-scheduler",
            Need::Required,
            vec![controller(&ctx.controller_namespace)],
            to_scheduler(9004),
            vec![FlowPort::tcp(9004)],
            "the controller sends Models, Servers and config to each runtime's scheduler at `seldon-scheduler.<ns>` and reads their status back; without it no Model gets a status",
            "docs/seldon-behaviour.md §9 (operator/scheduler/client.go, ports hard-wired 9004/9044)",
        ),
        flow(
            "controller-to-scheduler-mtls",
            optional("control-plane TLS"),
            vec![controller(&ctx.controller_namespace)],
            to_scheduler(9044),
            vec![FlowPort::tcp(9044)],
            "the same connection when control-plane TLS is on",
            "docs/seldon-behaviour.md §9",
        ),
        flow(
            "agent-to-scheduler",
            Need::Required,
            vec![server(ctx)],
            to_scheduler(9005),
            vec![FlowPort::tcp(9005)],
            "each server pod's agent registers its replica with the scheduler; cut, every Model fails with `no matching servers are available` (the seed's open 'MLServer registration' problem)",
            "docs/seldon-behaviour.md §5, §9, §11 (#4699); components.yaml SELDON_SCHEDULER_PORT=9005",
        ),
        flow(
            "agent-to-scheduler-mtls",
            optional("control-plane TLS"),
            vec![server(ctx)],
            to_scheduler(9055),
            vec![FlowPort::tcp(9055)],
            "the agent connection when control-plane TLS is on",
            "docs/seldon-behaviour.md §6 (seldon-scheduler Service ports)",
        ),
        flow(
            "envoy-to-scheduler",
            Need::Required,
            vec![envoy(ns)],
            to_scheduler(9002),
            vec![FlowPort::tcp(9002)],
            "envoy gets its routes and clusters (xDS) from the scheduler; cut, `seldon-mesh` has no route to any model",
            "docs/seldon-behaviour.md §6, §9",
        ),
        flow(
            "envoy-to-server-http",
            Need::Required,
            vec![envoy(ns)],
            to_server(),
            vec![FlowPort::tcp(9001)],
            "envoy forwards REST inference to the agent's reverse proxy on each server pod",
            "docs/seldon-behaviour.md §9 (flows under default-deny); components.yaml agent port `http` 9001",
        ),
        flow(
            "envoy-to-server-grpc",
            Need::Required,
            vec![envoy(ns)],
            to_server(),
            vec![FlowPort::tcp(9501)],
            "envoy forwards gRPC inference to the agent's reverse proxy on each server pod",
            "docs/seldon-behaviour.md §9; components.yaml agent port `grpc` 9501",
        ),
        flow(
            "agent-to-apiserver",
            Need::Required,
            vec![server(ctx)],
            Destination::Address {
                what: "Kubernetes API server".into(),
                host: "kubernetes.default".into(),
                dial_port: 443,
                address: ctx.addresses.api_server,
                allow_cidr: format!("{}/32", ctx.addresses.api_server),
            },
            vec![FlowPort::tcp(ctx.addresses.api_server_port)],
            "the agent reads rclone storage Secrets (the preloaded `seldon-rclone-gs-public`, each Model's `secretName`) through the API server; the API server is not a pod, so only an `ipBlock` (or a rule without `to`) allows it",
            "docs/seldon-behaviour.md §10 (agent k8s/secrets.go, agent Role: secrets get/list/watch)",
        ),
        flow(
            "dns",
            Need::Required,
            vec![
                sched(),
                envoy(ns),
                server(ctx),
                component(ns, "seldon-modelgateway", Vec::new()),
                component(ns, "seldon-pipelinegateway", Vec::new()),
                component(ns, "seldon-dataflow-engine", Vec::new()),
                component(ns, "hodometer", Vec::new()),
            ],
            Destination::Pods {
                workload: kube_dns(),
                service: svc("kube-dns", "kube-system", 53),
            },
            vec![
                FlowPort {
                    port: 53,
                    protocol: Protocol::Udp,
                },
                FlowPort::tcp(53),
            ],
            "every component reaches the others by Service name (`seldon-scheduler`, `seldon-mesh`, the model store); DNS uses UDP 53 and falls back to TCP 53",
            "components.yaml (hosts given as names: SELDON_SCHEDULER_HOST, SELDON_ENVOY_HOST, --scheduler-host)",
        ),
        flow(
            "model-store",
            if ctx.uses_model_store {
                Need::Required
            } else {
                optional("a Model uses an artifact the harness publishes")
            },
            vec![server(ctx)],
            model_store_destination(ctx),
            vec![FlowPort::tcp(
                ctx.model_store_at
                    .map_or(ctx.model_store.port, |a| a.port()),
            )],
            "rclone on each server pod downloads the model artifact from the store before the model loads",
            "docs/seldon-behaviour.md §10 (rclone storage secrets), §9 (rclone → storage egress)",
        ),
        flow(
            "model-store-external",
            if ctx.uses_external_storage {
                Need::Required
            } else {
                optional("a Model's storageUri is outside the cluster (e.g. gs://seldon-models)")
            },
            vec![server(ctx)],
            Destination::Address {
                what: "storage outside the cluster".into(),
                host: "storage.googleapis.com".into(),
                dial_port: 443,
                address: ctx.addresses.public,
                allow_cidr: "0.0.0.0/0".into(),
            },
            vec![FlowPort::tcp(443)],
            "rclone downloads artifacts from object storage outside the cluster (Seldon's samples are on gs://seldon-models, HTTPS)",
            "docs/seldon-behaviour.md §7, §10 (seldon-rclone-gs-public), §9",
        ),
        flow(
            "mesh-from-same-namespace",
            optional("apps in the team namespace call models"),
            vec![client(ns, Labels::new())],
            to_mesh(),
            vec![FlowPort::tcp(9000)],
            "clients in the team namespace call models through `seldon-mesh:80` (envoy `http` 9000)",
            "docs/seldon-behaviour.md §6",
        ),
        flow(
            "modelgateway-to-scheduler",
            optional(pipelines),
            vec![component(ns, "seldon-modelgateway", Vec::new())],
            to_scheduler(9004),
            vec![FlowPort::tcp(9004)],
            "the model gateway subscribes to the scheduler for the models it serves over Kafka",
            "components.yaml (--scheduler-host=seldon-scheduler, SELDON_SCHEDULER_PLAINTXT_PORT=9004)",
        ),
        flow(
            "pipelinegateway-to-scheduler",
            optional(pipelines),
            vec![component(ns, "seldon-pipelinegateway", Vec::new())],
            to_scheduler(9004),
            vec![FlowPort::tcp(9004)],
            "the pipeline gateway subscribes to the scheduler for pipelines",
            "components.yaml (SELDON_SCHEDULER_PLAINTXT_PORT=9004)",
        ),
        flow(
            "dataflow-to-scheduler",
            optional(pipelines),
            vec![component(ns, "seldon-dataflow-engine", Vec::new())],
            to_scheduler(9008),
            vec![FlowPort::tcp(9008)],
            "the dataflow engine gets pipeline definitions from the scheduler",
            "docs/seldon-behaviour.md §9; components.yaml SELDON_UPSTREAM_PORT=9008",
        ),
        flow(
            "gateways-to-mesh",
            optional(pipelines),
            vec![
                component(ns, "seldon-modelgateway", Vec::new()),
                component(ns, "seldon-pipelinegateway", Vec::new()),
            ],
            to_mesh(),
            vec![FlowPort::tcp(9000)],
            "the gateways call models through envoy (`--envoy-host=seldon-mesh --envoy-port=80`)",
            "components.yaml",
        ),
        flow(
            "hodometer-to-scheduler",
            optional("usage metrics (hodometer enabled)"),
            vec![component(ns, "hodometer", Vec::new())],
            to_scheduler(9004),
            vec![FlowPort::tcp(9004)],
            "hodometer reads the runtime's state from the scheduler for usage metrics",
            "components.yaml (SCHEDULER_HOST=seldon-scheduler, SCHEDULER_PORT=9004)",
        ),
    ];
    for (from, l) in &ctx.clients {
        flows.push(flow(
            &format!("mesh-from-{from}"),
            Need::Required,
            vec![client(from, l.clone())],
            to_mesh(),
            vec![FlowPort::tcp(9000)],
            &format!(
                "a `connectivity` check expects clients in `{from}` to reach `seldon-mesh` (envoy `http` 9000)"
            ),
            "docs/seldon-behaviour.md §6; the scenario's connectivity checks",
        ));
    }
    flows
}
