//! The network as reconcilers see it: a [`NetworkView`] of the store, with the platform's facts
//! (addresses outside the cluster) and the CNI's partial-enforcement defects.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

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

/// The objects that decide connectivity, with the pods of `namespaces` only (all when `None`):
/// callers that run every pass narrow it to what can matter.
pub(crate) fn network_view(ctx: &Ctx, namespaces: Option<&[String]>) -> NetworkView {
    let pods = match namespaces {
        None => ctx.store.list(res("Pod"), None).0,
        Some(list) => list
            .iter()
            .flat_map(|ns| ctx.store.list(res("Pod"), Some(ns)).0)
            .collect(),
    };
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
    };
    view
}
