//! Kubernetes' own controllers as the embedded platform models them: StatefulSets (with their
//! claims), Deployments and ReplicaSets create pods (failures become events, retried on the
//! controllers' backoff), the PV controller and local-path provisioner answer claims, and the
//! "kubelet" (with the scheduler's volume-binding gate) starts pods.
//! The reconcile loop (`reconcile.rs`) runs them in its pass.

mod deployments;
mod kubelet;
mod pods;
mod replicasets;
mod statefulsets;
mod volumes;
mod workloads;

pub use kubelet::LOG_ANNOTATION;
pub(crate) use kubelet::reconcile as kubelet;
pub(crate) use volumes::reconcile as volumes;
pub use volumes::{LOCAL_PATH, install_default_storage_class};
pub(crate) use workloads::{reconcile as workloads, update_status as workload_status};
