//! The `continuity` check's file format: traffic, the action that disrupts the platform, the
//! budget (a leaf below `format`, which re-exports it).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::protocol::Protocol;

/// Traffic through `seldon-mesh` while an action runs, judged against a budget, then the
/// after-action assertions (UIDs kept, same answers, no Model stuck, Ready means served, per-Server
/// model counts restored).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Continuity {
    /// The team whose `seldon-mesh` carries the traffic.
    pub namespace: String,
    /// The models under traffic, each with its samples (relative to the scenario file).
    pub models: Vec<TrafficModel>,
    /// Rate, duration and protocols.
    #[serde(default)]
    pub traffic: Traffic,
    /// What disrupts the platform meanwhile.
    pub action: Action,
    /// What the traffic must achieve.
    #[serde(default)]
    pub budget: Budget,
    /// How long Models may stay `ScheduleFailed`/`ModelProgressing` after the action, e.g. `30s`.
    #[serde(default = "default_settle", with = "duration_req")]
    pub settle: Duration,
}

/// A model under traffic.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficModel {
    /// The Model's name (the `seldon-model` header).
    pub model: String,
    /// Its samples file; every answer is compared with it.
    pub samples: PathBuf,
}

/// The traffic generator's settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Traffic {
    /// Requests per second per protocol and model.
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Minimum traffic window; the action starts after a quarter of it, and traffic goes on until
    /// a quarter of it after the action ended.
    #[serde(default = "default_traffic_duration", with = "duration_req")]
    pub duration: Duration,
    /// Protocols to send over (both by default).
    #[serde(default = "default_protocols")]
    pub protocols: Vec<Protocol>,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            rate: default_rate(),
            duration: default_traffic_duration(),
            protocols: default_protocols(),
        }
    }
}

impl Traffic {
    /// The traffic window not counting the action itself (lead-in and tail included).
    pub fn window(&self) -> Duration {
        self.duration + self.duration / 4
    }
}

/// The success budget of a continuity check.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Budget {
    /// Minimum share of requests answered correctly (0..=1).
    #[serde(default = "default_success")]
    pub success_ratio: f64,
    /// Maximum 95th-percentile latency of successful requests, e.g. `500ms`.
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub p95_latency: Option<Duration>,
    /// Maximum continuous outage (first failure to next success), e.g. `2s`.
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_outage: Option<Duration>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            success_ratio: default_success(),
            p95_latency: None,
            max_outage: None,
        }
    }
}

/// A runtime component a `restart` action deletes the pods of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuntimeComponent {
    /// `StatefulSet/seldon-scheduler`.
    Scheduler,
    /// `Deployment/seldon-envoy`.
    Envoy,
    /// `Deployment/seldon-modelgateway`.
    ModelGateway,
}

/// What disrupts the platform while traffic runs. Exactly one key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Action {
    /// Deletes every pod of a runtime component (`component`) or of a Server (`server`), then
    /// waits for their controllers to bring them back Ready.
    Restart(Restart),
    /// Deletes the scheduler's and a Server's pods at the same instant (upstream #5032).
    DeleteTogether(ServerName),
    /// Changes a Server's podSpec (an env var on its agent), so its StatefulSet replaces the
    /// pods one at a time.
    Rollout(ServerName),
    /// Sets a Model's `spec.replicas` to each value in turn, waiting for each (a value above the
    /// Server's replicas must leave the Model served on the replicas it has).
    ScaleModel(ScaleModel),
    /// Applies a new Model and deletes the pods of the Server it is loading on while it loads
    /// (upstream #4614); the Model must still become Ready.
    KillAgentDuringLoad(KillAgentDuringLoad),
    /// Upgrades Seldon in place to `harness run --upgrade-to VERSION`.
    HelmUpgrade(HelmUpgrade),
}

/// The pods a `restart` deletes: a runtime component or a Server's.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Restart {
    /// A runtime component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<RuntimeComponent>,
    /// A Server of the team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// A Server of the check's team.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerName {
    /// The Server's name.
    pub server: String,
}

/// A Model scaled to each of `replicas` in turn.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleModel {
    /// The Model (of the team).
    pub model: String,
    /// The replica counts, in order; the scenario's own count is restored at the end.
    pub replicas: Vec<u32>,
}

/// A Model created during the check whose Server's agent is killed while it loads.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KillAgentDuringLoad {
    /// An existing Model of the team to copy (spec and samples) under the new name.
    pub copy_of: String,
    /// The new Model's name (deleted at the end of the check).
    pub model: String,
}

/// `helmUpgrade`: what to do when the run has no `--upgrade-to`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmUpgrade {
    /// `true`: without `--upgrade-to` the check is skipped with that reason instead of failed.
    #[serde(default)]
    pub skip_without_upgrade: bool,
}

fn default_rate() -> u32 {
    20
}
fn default_traffic_duration() -> Duration {
    Duration::from_secs(10)
}
fn default_protocols() -> Vec<Protocol> {
    vec![Protocol::Rest, Protocol::Grpc]
}
fn default_success() -> f64 {
    0.99
}
fn default_settle() -> Duration {
    Duration::from_secs(60)
}

mod duration_req {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like `500ms` or `10s`: {e}"
            ))
        })
    }
}

mod duration_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like `500ms` or `10s`: {e}"
            ))
        })
    }
}
