//! PersistentVolumeClaims: the PV controller's answer to a claim, the scheduler's volume-binding
//! gate for pods that use claims, and the local-path provisioner kind ships.
//!
//! - No StorageClass (none named, no default): the claim stays `Pending`, Normal `FailedBinding`
//!   `no persistent volumes available for this claim and no storage class is set` from
//!   `persistentvolume-controller` (kubernetes v1.20.2 `pkg/controller/volume/persistentvolume/
//!   pv_controller.go`; seen on a real 1.20.2 controller-manager, docs/real-apiserver-facts.md).
//!   Pre-created PersistentVolumes are not matched: no claim binds without a provisioner.
//! - A named class that does not exist: Warning `ProvisioningFailed`
//!   `storageclass.storage.k8s.io "<name>" not found`.
//! - A `WaitForFirstConsumer` class: Normal `WaitForFirstConsumer` `waiting for first consumer to
//!   be created before binding` until a pod using the claim is scheduled; then its provisioner
//!   (only `rancher.io/local-path`, kind's, is modelled; any other leaves the claim Pending with
//!   `ExternalProvisioning`) creates a bound PersistentVolume `pvc-<claim uid>`.
//! - A pod whose claim is missing or unbound and not `WaitForFirstConsumer` is not scheduled:
//!   `PodScheduled` False `Unschedulable`, Warning `FailedScheduling` from `default-scheduler`,
//!   `0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1
//!   nodes are available: 1 Preemption is not helpful for scheduling.` (the kind node's v1.33
//!   scheduler; the reason is the VolumeBinding plugin's `ErrReasonUnboundImmediatePVC`).

use serde_json::{Value, json};

use crate::control::context::Ctx;
use crate::control::events::record_event;
use crate::control::objects::{deleting, name, namespace, now, res, set_status};
use crate::store::{ApiError, Store};

/// The provisioner of kind's default StorageClass.
pub const LOCAL_PATH: &str = "rancher.io/local-path";
/// The node the scheduler picks (kind's single node).
const NODE: &str = "kind-control-plane";
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Creates StorageClass `standard` as kind ships it: the default class, provisioner
/// `rancher.io/local-path`, `volumeBindingMode: WaitForFirstConsumer`, `reclaimPolicy: Delete`.
pub fn install_default_storage_class(store: &Store) -> Result<(), ApiError> {
    let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard",
                     "annotations": {crate::admission::storage::DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": LOCAL_PATH, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"});
    match store.create(res("StorageClass"), sc) {
        Err(e) if e.reason != "AlreadyExists" => Err(e),
        _ => Ok(()),
    }
}

fn class_of(ctx: &Ctx, pvc: &Value) -> Option<Value> {
    let n = pvc["spec"]["storageClassName"]
        .as_str()
        .filter(|n| !n.is_empty())?;
    ctx.store.get(res("StorageClass"), None, n)
}

fn bound(pvc: &Value) -> bool {
    pvc["status"]["phase"] == "Bound"
}

/// Records `reason` about the claim once (the controller's resyncs would repeat it).
fn once(ctx: &Ctx, pvc: &Value, type_: &str, reason: &str, message: &str, component: &str) {
    let (events, _) = ctx.store.list(res("Event"), Some(namespace(pvc)));
    let seen = events
        .iter()
        .any(|e| e["involvedObject"]["uid"] == pvc["metadata"]["uid"] && e["reason"] == reason);
    if !seen {
        record_event(&ctx.store, pvc, type_, reason, message, component);
    }
}

/// The PV controller's pass: what each unbound claim is waiting for, and provisioning for claims
/// whose node was selected.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    let (claims, _) = ctx.store.list(res("PersistentVolumeClaim"), None);
    for pvc in claims.iter().filter(|c| !bound(c) && !deleting(c)) {
        let class_name = pvc["spec"]["storageClassName"].as_str().unwrap_or_default();
        let component = "persistentvolume-controller";
        if class_name.is_empty() {
            once(
                ctx,
                pvc,
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
                component,
            );
            continue;
        }
        let Some(class) = class_of(ctx, pvc) else {
            once(
                ctx,
                pvc,
                "Warning",
                "ProvisioningFailed",
                &format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
                component,
            );
            continue;
        };
        let wait = class["volumeBindingMode"] == "WaitForFirstConsumer";
        if wait && pvc["metadata"]["annotations"][SELECTED_NODE].is_null() {
            once(
                ctx,
                pvc,
                "Normal",
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
                component,
            );
            continue;
        }
        let provisioner = class["provisioner"].as_str().unwrap_or_default();
        if provisioner != LOCAL_PATH {
            once(
                ctx,
                pvc,
                "Normal",
                "ExternalProvisioning",
                &format!(
                    "waiting for a volume to be created, either by external provisioner \"{provisioner}\" or manually created by system administrator"
                ),
                component,
            );
            continue;
        }
        provision(ctx, pvc, &class);
    }
}

/// What local-path-provisioner does for a claim: a PersistentVolume `pvc-<uid>` on the node,
/// bound to the claim. Whether the claim is bound now.
fn provision(ctx: &Ctx, pvc: &Value, class: &Value) -> bool {
    let uid = pvc["metadata"]["uid"].as_str().unwrap_or_default();
    let pv_name = format!("pvc-{uid}");
    let (ns, claim) = (namespace(pvc), name(pvc));
    let storage = pvc["spec"]["resources"]["requests"]["storage"].clone();
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": LOCAL_PATH}},
        "spec": {"capacity": {"storage": storage}, "accessModes": pvc["spec"]["accessModes"],
                 "persistentVolumeReclaimPolicy": class["reclaimPolicy"].as_str().unwrap_or("Delete"),
                 "storageClassName": class["metadata"]["name"], "volumeMode": "Filesystem",
                 "hostPath": {"path": format!("/var/local-path-provisioner/{pv_name}_{ns}_{claim}"), "type": "DirectoryOrCreate"},
                 "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": claim, "namespace": ns, "uid": uid}}});
    if ctx
        .store
        .get(res("PersistentVolume"), None, &pv_name)
        .is_none()
    {
        match ctx.store.create(res("PersistentVolume"), pv) {
            Ok(created) => set_status(
                &ctx.store,
                res("PersistentVolume"),
                &created,
                json!({"phase": "Bound"}),
            ),
            Err(e) => {
                tracing::debug!(error = %e, "provisioning {pv_name} failed");
                return false;
            }
        }
        record_event(
            &ctx.store,
            pvc,
            "Normal",
            "ProvisioningSucceeded",
            &format!("Successfully provisioned volume {pv_name}"),
            LOCAL_PATH,
        );
    }
    let mut next = pvc.clone();
    next["spec"]["volumeName"] = json!(pv_name);
    for (k, v) in [
        ("pv.kubernetes.io/bind-completed", "yes"),
        ("pv.kubernetes.io/bound-by-controller", "yes"),
        ("volume.kubernetes.io/storage-provisioner", LOCAL_PATH),
    ] {
        next["metadata"]["annotations"][k] = json!(v);
    }
    let Ok(stored) = ctx.store.update(res("PersistentVolumeClaim"), next) else {
        return false;
    };
    set_status(
        &ctx.store,
        res("PersistentVolumeClaim"),
        &stored,
        json!({"phase": "Bound", "accessModes": pvc["spec"]["accessModes"],
               "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]}}),
    );
    true
}

/// The scheduler's VolumeBinding verdict on a pod.
pub(crate) enum Binding {
    /// Every claim is bound (or it uses none): the pod can start.
    Ready,
    /// A `WaitForFirstConsumer` claim has its node selected and waits for its volume.
    Waiting,
    /// Not schedulable, with the scheduler's message.
    Unschedulable(String),
}

/// Whether a pod's claims let it be scheduled; selects the node of its `WaitForFirstConsumer`
/// claims, as the scheduler's VolumeBinding plugin does.
pub(crate) fn binding(ctx: &mut Ctx, pod: &Value) -> Binding {
    let ns = namespace(pod);
    let mut verdict = Binding::Ready;
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() else {
            continue;
        };
        let Some(pvc) = ctx.store.get(res("PersistentVolumeClaim"), Some(ns), claim) else {
            return unschedulable(&format!("persistentvolumeclaim \"{claim}\" not found"));
        };
        if deleting(&pvc) {
            return unschedulable(&format!(
                "persistentvolumeclaim \"{claim}\" is being deleted"
            ));
        }
        if bound(&pvc) {
            continue;
        }
        let Some(class) =
            class_of(ctx, &pvc).filter(|c| c["volumeBindingMode"] == "WaitForFirstConsumer")
        else {
            return unschedulable("pod has unbound immediate PersistentVolumeClaims");
        };
        let mut pvc = pvc;
        if pvc["metadata"]["annotations"][SELECTED_NODE].is_null() {
            let mut next = pvc.clone();
            next["metadata"]["annotations"][SELECTED_NODE] = json!(NODE);
            match ctx.store.update(res("PersistentVolumeClaim"), next) {
                Ok(stored) => pvc = stored,
                Err(_) => return Binding::Waiting,
            }
        }
        // local-path provisions as soon as the node is selected; the pod binds once it has.
        if class["provisioner"] == LOCAL_PATH && provision(ctx, &pvc, &class) {
            continue;
        }
        verdict = Binding::Waiting;
    }
    verdict
}

fn unschedulable(reason: &str) -> Binding {
    Binding::Unschedulable(format!(
        "0/1 nodes are available: {reason}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    ))
}

/// Marks a pod unschedulable with the scheduler's message, once per message.
pub(crate) fn mark_unschedulable(ctx: &Ctx, pod: &Value, message: &str) {
    let current = pod["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
        .and_then(|c| c["message"].as_str());
    if current == Some(message) {
        return;
    }
    let mut status = pod["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    status["phase"] = json!("Pending");
    status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastProbeTime": null, "lastTransitionTime": now()}]);
    set_status(&ctx.store, res("Pod"), pod, status);
    record_event(
        &ctx.store,
        pod,
        "Warning",
        "FailedScheduling",
        message,
        "default-scheduler",
    );
}
