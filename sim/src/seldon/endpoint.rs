//! Inference endpoint wiring: one endpoint per namespace whose runtime is Ready, serving that
//! namespace's Ready models; its address is published in `PlatformState::mesh_addrs`.
//!
//! Stand-in until `dataplane::Mesh` lands: the desired model set is tracked, no port is bound.

use std::collections::{BTreeMap, HashMap};

use super::RuntimeView;
use super::model::Served;
use crate::controllers::Ctx;

/// A namespace's endpoint and the models it was last given.
pub(crate) struct MeshSlot {
    models: Vec<Served>,
}

/// Starts/stops endpoints and keeps their model sets equal to the Ready models.
pub(crate) fn sync(
    ctx: &mut Ctx,
    served: &HashMap<String, Vec<Served>>,
    runtimes: &BTreeMap<String, RuntimeView>,
) {
    let mut meshes = ctx.state.meshes.lock().unwrap_or_else(|e| e.into_inner());
    meshes.retain(|ns, _| runtimes.get(ns).is_some_and(|r| r.mesh_up));
    for (ns, _) in runtimes.iter().filter(|(_, r)| r.mesh_up) {
        let slot = meshes
            .entry(ns.clone())
            .or_insert_with(|| MeshSlot { models: Vec::new() });
        let want = served.get(ns).cloned().unwrap_or_default();
        if slot.models != want {
            slot.models = want;
        }
    }
}
