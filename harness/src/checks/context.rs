//! What a check needs to run: the API client, its scenario, access to `seldon-mesh`, the run id.

use std::sync::Arc;
use std::time::Duration;

use crate::kube::settle::Settling;
use crate::kube::{Applier, RunLabels};
use crate::scenario::Scenario;
use crate::setup::Recorder;
use crate::target::MeshAccess;

/// What a check needs to run.
pub struct CheckContext<'a> {
    /// Client for the target's API server.
    pub client: kube::Client,
    /// The scenario the check belongs to (already set up on the target).
    pub scenario: &'a Scenario,
    /// Access to the namespaces' inference endpoints.
    pub mesh: &'a dyn MeshAccess,
    /// The run's id (labels every object the run creates, probes included).
    pub run_id: &'a str,
    /// Where the target's model store is when it is outside the pod network (kind: the MinIO
    /// container); `None`: the in-cluster Service `minio.harness-model-store`.
    pub model_store: Option<std::net::SocketAddrV4>,
    /// The run's record: every object a check creates is written to it before it is created, so
    /// cleanup (also after Ctrl-C) deletes it. `None` only where nothing cleans up anyway.
    pub recorder: Option<Recorder>,
    /// The target's own settle window (`None`: read it from the platform; `kube::settle`).
    pub settle: Option<Duration>,
    /// Upgrades the install in place for a `helmUpgrade` action (`None`: no `--upgrade-to`).
    pub upgrade: Option<Arc<dyn crate::target::upgrade::InPlaceUpgrade>>,
    /// The version `--upgrade-to` names, for the `helmUpgrade` action.
    pub upgrade_to: Option<String>,
    /// Per-second traffic figures of the continuity checks, by check name (for the report).
    pub figures: crate::v2::traffic::FigureSink,
    /// The target's stall clock, when its platform runs in this process (`kube::clock`).
    pub platform_stall: Option<crate::kube::clock::PlatformStall>,
}

impl CheckContext<'_> {
    /// The SeldonRuntime name the scenario declares for a namespace, if it gives the team one.
    pub fn declared_runtime(&self, namespace: &str) -> Option<&str> {
        self.scenario
            .team(namespace)
            .and_then(|t| t.runtime.as_ref())
            .and_then(|r| r["metadata"]["name"].as_str())
    }

    /// What decides whether a failed Model of this scenario is final: every Server the scenario
    /// declares (anywhere), the target's settle window, the controller's namespace.
    pub fn settling(&self) -> Settling {
        let also = self
            .scenario
            .doc
            .spec
            .teams
            .iter()
            .flat_map(|t| {
                t.servers.iter().filter_map(move |s| {
                    s["metadata"]["name"]
                        .as_str()
                        .map(|n| (t.namespace.clone(), n.to_string()))
                })
            })
            .collect();
        Settling {
            also,
            window: self.settle,
            controller_ns: self.scenario.doc.spec.seldon.controller_namespace.clone(),
        }
    }

    /// The apply path for objects a check creates (probes, canaries), labelled with this run and
    /// recorded in the run's record before each is created.
    pub fn applier(&self) -> Applier {
        let applier = Applier::new(
            self.client.clone(),
            RunLabels::new(self.scenario.name(), self.run_id),
        );
        match &self.recorder {
            Some(r) => {
                let r = r.clone();
                applier.before_apply(Arc::new(move |o| r.record_check_object(o)))
            }
            None => applier,
        }
    }
}
