//! Kubernetes' own controllers as the embedded platform models them: StatefulSets and
//! Deployments create pods (failures become events) and the "kubelet" starts them.
//! The reconcile loop (`reconcile.rs`) runs them in its pass.

mod kubelet;
mod workloads;

pub use kubelet::LOG_ANNOTATION;
pub(crate) use kubelet::reconcile as kubelet;
pub(crate) use workloads::{reconcile as workloads, update_status as workload_status};
