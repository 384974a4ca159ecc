//! Inference endpoint wiring: one `dataplane::Mesh` per namespace whose envoy has a Ready pod
//! behind `seldon-mesh` and got its configuration from the scheduler (xDS, docs/seldon-behaviour.md
//! §17), serving that namespace's Ready models, Experiment routes and pipelines; its address is published in
//! `PlatformState::mesh_addrs` and removed when the runtime goes.

use std::collections::{BTreeMap, HashMap};

use super::experiment::Routes;
use super::runtime::RuntimeView;
use crate::control::context::{Ctx, MeshSlot, Served};
use crate::dataplane::{Mesh, MeshFlags, ServedModel, ServedPipeline};

/// Starts/stops endpoints and keeps their model sets equal to the Ready models.
pub(crate) fn sync(
    ctx: &mut Ctx,
    served: &HashMap<String, Vec<Served>>,
    routes: &Routes,
    pipelines: &HashMap<String, Vec<ServedPipeline>>,
    runtimes: &BTreeMap<String, RuntimeView>,
) {
    let mut meshes = ctx.state.meshes.lock().unwrap_or_else(|e| e.into_inner());
    let mut addrs = ctx
        .state
        .mesh_addrs
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let before = meshes.len();
    let mut changed = false;
    // Dropping a Mesh stops it.
    meshes.retain(|ns, _| runtimes.get(ns).is_some_and(|r| r.mesh_up));
    changed |= meshes.len() != before;
    addrs.retain(|ns, _| meshes.contains_key(ns));
    for (ns, _) in runtimes.iter().filter(|(_, r)| r.mesh_up) {
        if !meshes.contains_key(ns) {
            match Mesh::start(ns, MeshFlags::from_faults(&ctx.faults)) {
                Ok(mesh) => {
                    addrs.insert(ns.clone(), mesh.addr());
                    changed = true;
                    meshes.insert(
                        ns.clone(),
                        MeshSlot {
                            mesh,
                            models: Vec::new(),
                            routes: BTreeMap::new(),
                            pipelines: Vec::new(),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(namespace = %ns, error = %e, "inference endpoint not started");
                    continue;
                }
            }
        }
        let slot = meshes.get_mut(ns).expect("inserted above");
        let want = served.get(ns).cloned().unwrap_or_default();
        if slot.models != want {
            slot.mesh.set_models(
                want.iter()
                    .map(|s| ServedModel {
                        name: s.name.clone(),
                        version: s.version.clone(),
                        predictor: s.predictor.clone(),
                        upstream: s.upstream.clone(),
                    })
                    .collect(),
            );
            slot.models = want;
            changed = true;
        }
        let want = routes.get(ns).cloned().unwrap_or_default();
        if slot.routes != want {
            slot.mesh.set_routes(want.clone());
            slot.routes = want;
            changed = true;
        }
        let want = pipelines.get(ns).cloned().unwrap_or_default();
        if slot.pipelines != want {
            slot.mesh.set_pipelines(want.clone());
            slot.pipelines = want;
            changed = true;
        }
    }
    if changed {
        ctx.state.mesh_changes.send_modify(|g| *g += 1);
    }
}
