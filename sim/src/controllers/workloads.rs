//! The workload controllers in the order a pass runs them: StatefulSets, Deployments (which
//! manage ReplicaSets), ReplicaSets (which create pods), and then their status.

use super::pods::ByOwner;
use crate::control::context::Ctx;

/// Creates and deletes ReplicaSets, claims and pods so every workload has what its spec asks for.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    super::statefulsets::reconcile(ctx);
    super::deployments::reconcile(ctx);
    super::replicasets::reconcile(ctx);
}

/// Brings workload `status` in line with their pods (ReplicaSets before their Deployments).
pub(crate) fn update_status(ctx: &mut Ctx) {
    // Read once per pass: every status below is derived from these.
    let pods = ByOwner::of(ctx, "Pod");
    super::statefulsets::update_status(ctx, &pods);
    super::replicasets::update_status(ctx, &pods);
    let sets = ByOwner::of(ctx, "ReplicaSet");
    super::deployments::update_status(ctx, &sets, &pods);
}
