//! The network as reconcilers see it: a [`NetworkView`] of the store, with the platform's facts
//! (addresses outside the cluster) and the CNI's partial-enforcement defects.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde_json::Value;

use super::context::Ctx;
use super::objects::res;
use crate::faults::Defect;
use crate::network::{Enforcement, NetworkView};

/// Object-storage hosts outside the cluster that the platform's upstream DNS resolves, all at one
/// public address (TEST-NET-3): Seldon's public samples (`gs://`) and S3 without an endpoint.
pub const EXTERNAL_STORAGE_HOSTS: [&str; 2] = ["storage.googleapis.com", "s3.amazonaws.com"];
/// The address [`EXTERNAL_STORAGE_HOSTS`] resolve to.
pub const EXTERNAL_STORAGE_ADDRESS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

fn typed<T: serde::de::DeserializeOwned>(objs: Vec<Value>) -> Vec<T> {
    objs.into_iter()
        .filter_map(|o| serde_json::from_value(o).ok())
        .collect()
}

/// The objects that decide connectivity as the store holds them now. Built at most once per
/// store revision (reconcilers ask for it several times a pass; building it converts every pod).
pub(crate) fn network_view(ctx: &Ctx) -> Arc<NetworkView> {
    let rv = ctx.store.resource_version();
    let mut cache = ctx.view_cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, view)) = cache.as_ref()
        && *at == rv
    {
        return view.clone();
    }
    let view = Arc::new(build(ctx));
    *cache = Some((rv, view.clone()));
    view
}

fn build(ctx: &Ctx) -> NetworkView {
    let pods = ctx.store.list(res("Pod"), None).0;
    let mut view = NetworkView::new(
        typed(ctx.store.list(res("Namespace"), None).0),
        typed(pods),
        typed(ctx.store.list(res("Service"), None).0),
        typed(ctx.store.list(res("NetworkPolicy"), None).0),
    );
    view.endpoints = typed(ctx.store.list(res("Endpoints"), None).0);
    view.external_hosts = EXTERNAL_STORAGE_HOSTS
        .iter()
        .map(|h| (h.to_string(), IpAddr::V4(EXTERNAL_STORAGE_ADDRESS)))
        .collect::<BTreeMap<_, _>>();
    view.enforcement = Enforcement {
        egress_ignored: ctx.faults.has(Defect::EgressPolicyIgnored),
        namespace_selector_ignored: ctx.faults.has(Defect::NamespaceSelectorIgnored),
        only_new_pods: ctx.faults.has(Defect::PolicyOnlyForNewPods),
    };
    view
}
