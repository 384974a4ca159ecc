//! The upgrade sequence over the Kubernetes API ([`KubeUpgradeCluster`]) and a target's steps, as
//! the [`InPlaceUpgrade`] every target hands out ([`Upgrader`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::ApiResource;

use super::upgrade::{
    DryRun, InPlaceUpgrade, Rejection, UpgradeCluster, UpgradeSteps, upgrade_sequence,
};
use crate::kube::{Deadline, FIELD_MANAGER, ObjectRef, Watched, condition_true, wait_for};
use crate::kube::{transition, workload};

/// Seldon's API group.
const GROUP: &str = "mlops.seldon.io";

/// The cluster's side of an upgrade, through the API.
pub struct KubeUpgradeCluster {
    client: kube::Client,
}

impl KubeUpgradeCluster {
    /// Upgrade checks with `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    async fn seldon_crds(&self) -> anyhow::Result<Vec<CustomResourceDefinition>> {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        Ok(crds
            .list(&ListParams::default())
            .await
            .map_err(|e| anyhow::anyhow!("listing CustomResourceDefinitions: {e}"))?
            .items
            .into_iter()
            .filter(|c| c.spec.group == GROUP)
            .collect())
    }

    /// Every object of every Seldon kind, with the API to write it.
    async fn seldon_objects(&self) -> anyhow::Result<Vec<(ApiResource, DynamicObject)>> {
        let mut out = Vec::new();
        for crd in self.seldon_crds().await? {
            let Some(version) = crd.spec.versions.iter().find(|v| v.storage) else {
                continue;
            };
            let ar = ApiResource {
                group: GROUP.into(),
                version: version.name.clone(),
                api_version: format!("{GROUP}/{}", version.name),
                kind: crd.spec.names.kind.clone(),
                plural: crd.spec.names.plural.clone(),
            };
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| anyhow::anyhow!("listing {}: {e}", ar.plural))?;
            out.extend(list.items.into_iter().map(|o| (ar.clone(), o)));
        }
        Ok(out)
    }

    /// Dry-runs an update of `obj` as it is stored; `Some(message)` when the server refuses it.
    async fn dry_run(
        &self,
        ar: &ApiResource,
        obj: DynamicObject,
    ) -> anyhow::Result<Option<String>> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> = match obj.metadata.namespace.as_deref() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        };
        let params = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        let mut current = obj;
        // A controller may write the object meanwhile: read it again and retry on a conflict.
        for _ in 0..3 {
            match api.replace(&name, &params, &current).await {
                Ok(_) => return Ok(None),
                Err(kube::Error::Api(e)) if e.code == 409 => match api.get_opt(&name).await? {
                    Some(o) => current = o,
                    None => return Ok(None),
                },
                Err(kube::Error::Api(e)) if e.code == 422 || e.code == 400 => {
                    return Ok(Some(e.message));
                }
                Err(e) => return Err(anyhow::anyhow!("dry-run update of {} {name}: {e}", ar.kind)),
            }
        }
        anyhow::bail!(
            "dry-run update of {} {name}: it kept changing (3 conflicts)",
            ar.kind
        )
    }
}

fn describe(ar: &ApiResource, o: &DynamicObject) -> String {
    let name = o.metadata.name.as_deref().unwrap_or_default();
    match o.metadata.namespace.as_deref() {
        Some(ns) => format!("{} {ns}/{name}", ar.kind),
        None => format!("{} {name}", ar.kind),
    }
}

impl UpgradeCluster for KubeUpgradeCluster {
    async fn crd_generations(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        Ok(self
            .seldon_crds()
            .await?
            .into_iter()
            .map(|c| {
                (
                    c.metadata.name.unwrap_or_default(),
                    c.metadata.generation.unwrap_or(0),
                )
            })
            .collect())
    }

    async fn dry_run_objects(&self) -> anyhow::Result<DryRun> {
        let mut report = DryRun::default();
        for (ar, obj) in self.seldon_objects().await? {
            let what = describe(&ar, &obj);
            if ar.kind == "Server" && obj.data["spec"]["replicas"].as_i64().unwrap_or(1) <= 1 {
                report.single_replica_servers.push(what.clone());
            }
            report.checked += 1;
            if let Some(message) = self.dry_run(&ar, obj).await? {
                report.rejected.push(Rejection {
                    object: what,
                    message,
                });
            }
        }
        Ok(report)
    }

    async fn serving(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for (ar, o) in self.seldon_objects().await? {
            let ready = o.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            if !(ready && (ar.kind == "SeldonRuntime" || ar.kind == "Server")) {
                continue;
            }
            out.push(describe(&ar, &o));
            // Its workloads with every pod Ready: their rollouts are waited for afterwards (one
            // whose pods were refused before, e.g. by a quota, cannot finish one).
            let (Some(ns), Some(uid)) = (o.metadata.namespace.as_deref(), &o.metadata.uid) else {
                continue;
            };
            for w in transition::owned_workloads(&self.client, ns, uid)
                .await
                .map_err(|e| anyhow::anyhow!("before the upgrade: {e}"))?
            {
                let obj = w
                    .target()
                    .api(&self.client)
                    .get_opt(&w.name)
                    .await
                    .map_err(|e| anyhow::anyhow!("reading {w}: {e}"))?;
                if obj.is_some_and(|o| workload::Readiness::of(&o).complete()) {
                    out.push(w.to_string());
                }
            }
        }
        Ok(out)
    }

    async fn wait_serving(&self, serving: &[String], timeout: Duration) -> anyhow::Result<()> {
        let deadline = Deadline::after(timeout);
        let mut rollouts = Vec::new();
        for (ar, obj) in self.seldon_objects().await? {
            let what = describe(&ar, &obj);
            if !serving.contains(&what) {
                continue;
            }
            let object = ObjectRef::new(
                &ar.api_version,
                &ar.kind,
                obj.metadata.namespace.as_deref(),
                obj.metadata.name.as_deref().unwrap_or_default(),
            );
            wait_for(
                &self.client,
                &Watched::new(object, ar.clone()),
                &condition_true("Ready"),
                deadline.remaining(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("after the upgrade, {what}: {e}"))?;
            // The new version's images roll through the object's workloads pod by pod (the
            // operator renders them again).
            let (Some(ns), Some(uid)) = (obj.metadata.namespace.as_deref(), &obj.metadata.uid)
            else {
                continue;
            };
            for w in transition::owned_workloads(&self.client, ns, uid)
                .await
                .map_err(|e| anyhow::anyhow!("after the upgrade: {e}"))?
                .into_iter()
                .filter(|w| serving.contains(&w.to_string()))
            {
                rollouts.push((what.clone(), w));
            }
        }
        // All at once, as the controllers roll them: one stalled rollout must not eat the time
        // of the others.
        let results = futures::future::join_all(
            rollouts
                .iter()
                .map(|(_, w)| transition::wait_rollout_done(&self.client, w, deadline)),
        )
        .await;
        for ((what, w), result) in rollouts.iter().zip(results) {
            let Err(e) = result else { continue };
            // A rollout whose new pods the namespace's quota refuses goes on only when it has
            // room (docs/seldon-behaviour.md §26): said, not fatal; the checks after the upgrade
            // judge what it left.
            let quota = workload::latest_warning(&self.client, w)
                .await
                .is_some_and(|ev| ev.message.contains("quota: "));
            if !quota {
                anyhow::bail!("after the upgrade, {what}: {e}");
            }
            eprintln!(
                "warning: {}; the namespace's ResourceQuota refuses its new pods: give it room for the rollout's extra pod (maxSurge) or the StatefulSet's replacement",
                e.lines().next().unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// A target's [`InPlaceUpgrade`]: its steps in the one sequence, checked over the API.
pub struct Upgrader<S> {
    steps: S,
    cluster: KubeUpgradeCluster,
    timeout: Duration,
}

impl<S: UpgradeSteps + Send> Upgrader<S> {
    /// The upgrade of a target whose API `client` reaches, waiting up to `timeout` for serving.
    pub fn new(steps: S, client: kube::Client, timeout: Duration) -> Self {
        Self {
            steps,
            cluster: KubeUpgradeCluster::new(client),
            timeout,
        }
    }
}

impl<S: UpgradeSteps + Send> InPlaceUpgrade for Upgrader<S> {
    fn upgrade_in_place<'a>(
        &'a self,
        version: &'a str,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<String>>> + Send + 'a>> {
        Box::pin(async move {
            upgrade_sequence(&self.steps, &self.cluster, version, self.timeout)
                .await
                .map(|f| f.lines(version))
        })
    }
}
