//! Named defects and transport faults that make the platform misbehave on purpose.
//!
//! Each defect breaks one documented behaviour so that the harness can prove the check meant to
//! catch it really fails. Names are stable: suites and reports refer to them.

use std::collections::BTreeSet;
use std::time::Duration;

/// One documented behaviour the platform can be told to get wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Defect {
    /// ResourceQuota is not enforced: pods without required limits and pods over quota are admitted.
    QuotaNotEnforced,
    /// LimitRange defaults are not applied to pods.
    LimitRangeIgnored,
    /// NetworkPolicy is ignored: every connection succeeds.
    NetworkPolicyIgnored,
    /// The controller behaves as namespaced (not cluster-wide): runtimes outside its namespace are ignored.
    ControllerNotClusterWide,
    /// The scheduler places models onto Servers of other namespaces.
    CrossNamespaceScheduling,
    /// Runtime components never become Ready.
    RuntimeNeverReady,
    /// Servers never report their capabilities.
    ServerCapabilitiesMissing,
    /// Models are never reported Ready although they could be scheduled.
    ModelNeverReady,
    /// The inference endpoint routes by path only and ignores the `seldon-model` header.
    MeshIgnoresModelHeader,
    /// Inference returns wrong numbers.
    WrongInferenceOutput,
    /// Requests for an unknown model are answered 200.
    UnknownModelAnswered200,
    /// Requests whose inputs do not fit the model (shape, datatype) are answered 200.
    InvalidInputAnswered200,
    /// Objects applied from secret packages are acknowledged but never stored.
    SecretPackageObjectsDropped,
    /// Access reviews allow everything.
    AccessReviewAllowsAll,
    /// Access reviews deny everything (RoleBindings are ignored).
    AccessReviewDeniesAll,
    /// The sealed-secrets controller ignores a SealedSecret's scope: a value sealed for one
    /// namespace/name is unsealed wherever it is applied.
    SealedSecretsScopeIgnored,
    /// The runtime's Kafka components (model gateway, pipeline gateway, dataflow engine) run Ready without a reachable Kafka.
    KafkaComponentsReadyWithoutKafka,
    /// The runtime ignores `overrides[].podSpec` (resources set there never reach the components).
    PodSpecOverridesIgnored,
    /// A SeldonRuntime creates a Server (`mlserver`) by itself; upstream only the servers chart
    /// or a Server object does (docs/seldon-behaviour.md §4).
    RuntimeCreatesServers,
    /// `ScheduleFailed` carries a reason other than the scheduler's text (the pre-PR #5107 filter
    /// dump instead of "Failed to schedule model as no matching servers are available").
    WrongScheduleReason,
    /// The dataflow engine runs Ready without a reachable Kafka (the gateways still need it).
    DataflowEngineReadyWithoutKafka,
    /// The model and pipeline gateways run Ready without a reachable Kafka (their Kafka health
    /// checks pass); the dataflow engine still needs it.
    GatewaysReadyWithoutKafka,
    /// The runtime deploys components its `overrides[].disable: true` turns off.
    DisableOverridesIgnored,
    /// The sealed-secrets controller ignores the namespace-wide annotation and opens such values
    /// only with the strict label, so they never unseal.
    SealedNamespaceWideUnsupported,
    /// The sealed-secrets controller leaves the name out of the strict label, so strict values
    /// never unseal.
    SealedStrictLabelWithoutName,
    /// The CNI enforces NetworkPolicy ingress rules but not egress rules.
    EgressPolicyIgnored,
    /// The CNI does not evaluate a peer's `namespaceSelector`: it matches pods of every namespace.
    NamespaceSelectorIgnored,
    /// Seldon's own traffic (agents, envoy, controller, rclone, Kafka clients) ignores
    /// NetworkPolicy, while other pods (the harness's probes) obey it.
    PolicyIgnoredForSeldonTraffic,
    /// The controller cannot write SeldonRuntime status (its ClusterRole lacks
    /// `seldonruntimes/status`): the runtime's conditions never appear, its components still run.
    RuntimeStatusNotWritten,
    /// The CNI applies a NetworkPolicy only to pods started after it: pods already running when
    /// a policy is created keep their old rules until they restart.
    PolicyOnlyForNewPods,
    /// Edited Experiment weights are appended to the route's earlier ones instead of replacing
    /// them (upstream #5181), so a candidate set to 0 keeps its earlier share of traffic.
    ExperimentWeightsIgnored,
    /// An in-place upgrade makes existing Models invalid: the new Model CRD requires
    /// `status.selector`, which Models written by the old version lack (Seldon 2.8.4, #5985).
    UpgradeBreaksExistingModels,
    /// The scheduler ignores a Model's `memory`: every replica passes the memory filter.
    MemoryNotAccounted,
    /// A cluster-wide controller ignores `--watch-namespaces` and reconciles every namespace.
    WatchNamespacesIgnored,
    /// A failed model download is never reported: the Model stays `ModelProgressing` without a reason.
    StorageErrorsHidden,
    /// The dataflow engine skips a pipeline's later steps: the pipeline answers with its first
    /// step's outputs (docs/seldon-behaviour.md §24).
    PipelineStepSkipped,
    /// A restarted scheduler does not learn the Models its agents no longer report (the controller
    /// does not re-send them on reconnect): they stay Ready, unloaded (upstream #5032).
    SchedulerForgetsModelsOnRestart,
    /// Envoy drops a model's routes while any pod of its Server rolls out, though replicas that
    /// still hold the model are Ready.
    EnvoyDropsDuringRollout,
    /// The installed Model CRD's status schema lacks `availableReplicas` (CRDs not upgraded with
    /// the chart), so the API server prunes it from every status write.
    AvailableReplicasPruned,
    /// Envoy drops its configuration when its xDS server (the scheduler) goes away, instead of
    /// keeping the last one it got: nothing is served while the scheduler restarts.
    EnvoyForgetsConfigWithoutScheduler,
    /// A replacement envoy pod gets its first configuration seconds late, so it goes live on its
    /// `initial_fetch_timeout` without routes (upstream #5157: `UNAVAILABLE` after an envoy restart).
    EnvoyRoutesLateAfterRestart,
    /// A replacement model-gateway pod crash-loops (its Kafka consumer is fenced by the session of
    /// the pod it replaces): the component does not come back after a restart.
    ModelGatewayFailsAfterRestart,
    /// A Server pod that replaced another gets its models back only at the scheduler's next retry,
    /// seconds later, not when its agent re-registers.
    ServerReloadDelayed,
    /// A Model scaled beyond its Server's replicas is unloaded from the replicas it has, so every
    /// request fails until it is scaled back (upstream #5124).
    ScalingBeyondServerUnloads,
}

impl Defect {
    /// Every defect, in a stable order.
    pub const ALL: [Defect; 44] = [
        Defect::QuotaNotEnforced,
        Defect::LimitRangeIgnored,
        Defect::NetworkPolicyIgnored,
        Defect::ControllerNotClusterWide,
        Defect::CrossNamespaceScheduling,
        Defect::RuntimeNeverReady,
        Defect::ServerCapabilitiesMissing,
        Defect::ModelNeverReady,
        Defect::MeshIgnoresModelHeader,
        Defect::WrongInferenceOutput,
        Defect::UnknownModelAnswered200,
        Defect::InvalidInputAnswered200,
        Defect::SecretPackageObjectsDropped,
        Defect::AccessReviewAllowsAll,
        Defect::AccessReviewDeniesAll,
        Defect::SealedSecretsScopeIgnored,
        Defect::KafkaComponentsReadyWithoutKafka,
        Defect::PodSpecOverridesIgnored,
        Defect::RuntimeCreatesServers,
        Defect::WrongScheduleReason,
        Defect::DataflowEngineReadyWithoutKafka,
        Defect::GatewaysReadyWithoutKafka,
        Defect::DisableOverridesIgnored,
        Defect::SealedNamespaceWideUnsupported,
        Defect::SealedStrictLabelWithoutName,
        Defect::EgressPolicyIgnored,
        Defect::NamespaceSelectorIgnored,
        Defect::PolicyIgnoredForSeldonTraffic,
        Defect::RuntimeStatusNotWritten,
        Defect::PolicyOnlyForNewPods,
        Defect::ExperimentWeightsIgnored,
        Defect::UpgradeBreaksExistingModels,
        Defect::MemoryNotAccounted,
        Defect::WatchNamespacesIgnored,
        Defect::StorageErrorsHidden,
        Defect::PipelineStepSkipped,
        Defect::SchedulerForgetsModelsOnRestart,
        Defect::EnvoyDropsDuringRollout,
        Defect::AvailableReplicasPruned,
        Defect::EnvoyForgetsConfigWithoutScheduler,
        Defect::EnvoyRoutesLateAfterRestart,
        Defect::ModelGatewayFailsAfterRestart,
        Defect::ServerReloadDelayed,
        Defect::ScalingBeyondServerUnloads,
    ];

    /// The kebab-case name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Defect::QuotaNotEnforced => "quota-not-enforced",
            Defect::LimitRangeIgnored => "limitrange-ignored",
            Defect::NetworkPolicyIgnored => "networkpolicy-ignored",
            Defect::ControllerNotClusterWide => "controller-not-clusterwide",
            Defect::CrossNamespaceScheduling => "cross-namespace-scheduling",
            Defect::RuntimeNeverReady => "runtime-never-ready",
            Defect::ServerCapabilitiesMissing => "server-capabilities-missing",
            Defect::ModelNeverReady => "model-never-ready",
            Defect::MeshIgnoresModelHeader => "mesh-ignores-model-header",
            Defect::WrongInferenceOutput => "wrong-inference-output",
            Defect::UnknownModelAnswered200 => "unknown-model-answered-200",
            Defect::InvalidInputAnswered200 => "invalid-input-answered-200",
            Defect::SecretPackageObjectsDropped => "secret-package-objects-dropped",
            Defect::AccessReviewAllowsAll => "access-review-allows-all",
            Defect::AccessReviewDeniesAll => "access-review-denies-all",
            Defect::SealedSecretsScopeIgnored => "sealed-secrets-scope-ignored",
            Defect::KafkaComponentsReadyWithoutKafka => "kafka-components-ready-without-kafka",
            Defect::PodSpecOverridesIgnored => "podspec-overrides-ignored",
            Defect::RuntimeCreatesServers => "runtime-creates-servers",
            Defect::WrongScheduleReason => "wrong-schedule-reason",
            Defect::DataflowEngineReadyWithoutKafka => "dataflow-engine-ready-without-kafka",
            Defect::GatewaysReadyWithoutKafka => "gateways-ready-without-kafka",
            Defect::DisableOverridesIgnored => "disable-overrides-ignored",
            Defect::SealedNamespaceWideUnsupported => "sealed-namespace-wide-unsupported",
            Defect::SealedStrictLabelWithoutName => "sealed-strict-label-without-name",
            Defect::EgressPolicyIgnored => "egress-policy-ignored",
            Defect::NamespaceSelectorIgnored => "namespace-selector-ignored",
            Defect::PolicyIgnoredForSeldonTraffic => "policy-ignored-for-seldon-traffic",
            Defect::RuntimeStatusNotWritten => "runtime-status-not-written",
            Defect::PolicyOnlyForNewPods => "policy-only-for-new-pods",
            Defect::ExperimentWeightsIgnored => "experiment-weights-ignored",
            Defect::UpgradeBreaksExistingModels => "upgrade-breaks-existing-models",
            Defect::MemoryNotAccounted => "memory-not-accounted",
            Defect::WatchNamespacesIgnored => "watch-namespaces-ignored",
            Defect::StorageErrorsHidden => "storage-errors-hidden",
            Defect::PipelineStepSkipped => "pipeline-step-skipped",
            Defect::SchedulerForgetsModelsOnRestart => "scheduler-forgets-models-on-restart",
            Defect::EnvoyDropsDuringRollout => "envoy-drops-during-rollout",
            Defect::AvailableReplicasPruned => "available-replicas-pruned",
            Defect::EnvoyForgetsConfigWithoutScheduler => "envoy-forgets-config-without-scheduler",
            Defect::EnvoyRoutesLateAfterRestart => "envoy-routes-late-after-restart",
            Defect::ModelGatewayFailsAfterRestart => "modelgateway-fails-after-restart",
            Defect::ServerReloadDelayed => "server-reload-delayed",
            Defect::ScalingBeyondServerUnloads => "scaling-beyond-server-unloads",
        }
    }

    /// Parses a kebab-case defect name.
    pub fn from_name(name: &str) -> Option<Defect> {
        Defect::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Faults of the API transport itself, to prove verdicts hold under a flaky API server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransportFaults {
    /// Fraction (0.0–1.0) of API requests answered 500 InternalError.
    pub error_rate: f64,
    /// Fraction (0.0–1.0) of API requests answered 429 TooManyRequests with Retry-After.
    pub throttle_rate: f64,
    /// Close every watch stream after this long.
    pub drop_watches_after: Option<Duration>,
    /// Added to every API response.
    pub latency: Duration,
}

/// Everything that is wrong with one platform instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Behavioural defects.
    pub defects: BTreeSet<Defect>,
    /// API transport faults.
    pub transport: TransportFaults,
}

impl Faults {
    /// A platform with exactly one defect.
    pub fn defect(d: Defect) -> Faults {
        Faults {
            defects: BTreeSet::from([d]),
            ..Faults::default()
        }
    }

    /// Whether the defect is active.
    pub fn has(&self, d: Defect) -> bool {
        self.defects.contains(&d)
    }

    /// Whether Seldon's own connections ignore NetworkPolicy (policies ignored altogether, or
    /// only for Seldon's traffic).
    pub fn seldon_traffic_unpoliced(&self) -> bool {
        self.has(Defect::NetworkPolicyIgnored) || self.has(Defect::PolicyIgnoredForSeldonTraffic)
    }
}
