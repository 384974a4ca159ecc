//! Pod admission beyond defaults: the `ServiceAccount` plugin (a pod's account must exist) and
//! `LimitRanger`'s validation (`min`/`max` per container), worded as
//! `plugin/pkg/admission/serviceaccount` and `plugin/pkg/admission/limitranger` word it.

use serde_json::{Value, json};

use super::quantity::Quantity;
use crate::names::DEFAULT_SERVICE_ACCOUNT;
use crate::store::{Admission, ApiError, Operation, RESOURCES, Reader, ResourceType};

fn res(kind: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .expect("kind in catalogue")
}

/// `pods "<name>" is forbidden: <why>` with the details `admission.NewForbidden` gives.
fn forbidden(pod: &Value, why: impl std::fmt::Display) -> ApiError {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let mut e = ApiError::forbidden(format!("pods \"{name}\" is forbidden: {why}"));
    e.details = Some(json!({"name": name, "kind": "pods"}));
    e
}

/// `ServiceAccount` admission: a pod without an account gets `default`; the account it names
/// must exist in its namespace. Mirror pods are exempt, as upstream. The token volume the plugin
/// mounts is not modelled (nothing in the platform reads it).
pub(super) struct ServiceAccountAdmission;

impl Admission for ServiceAccountAdmission {
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        pod: &mut Value,
        _: Option<&Value>,
    ) -> Result<(), ApiError> {
        if rt.kind != "Pod" || op != Operation::Create {
            return Ok(());
        }
        if pod["metadata"]["annotations"]
            .get("kubernetes.io/config.mirror")
            .is_some()
        {
            return Ok(());
        }
        let sa = match pod["spec"]["serviceAccountName"].as_str() {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => DEFAULT_SERVICE_ACCOUNT.to_string(),
        };
        pod["spec"]["serviceAccountName"] = json!(sa);
        // The deprecated alias, filled by defaulting on every server.
        pod["spec"]["serviceAccount"] = json!(sa);
        let ns = pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if store.get(res("ServiceAccount"), Some(&ns), &sa).is_none() {
            return Err(forbidden(
                pod,
                format!(
                    "error looking up service account {ns}/{sa}: serviceaccount \"{sa}\" not found"
                ),
            ));
        }
        Ok(())
    }
}

fn quantity(v: &Value) -> Option<Quantity> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.as_i64().map(|i| i.to_string()))
        .and_then(|s| Quantity::parse(&s))
}

/// The form a quantity is printed in by `resource.Quantity.String()` for what the user wrote.
fn shown(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// `LimitRanger` validation for `type: Container`: each container's request and limit within
/// `min` and `max` (after the defaults were applied by the mutating half).
pub(super) struct LimitRangeValidation;

impl Admission for LimitRangeValidation {
    fn admit(
        &self,
        store: &dyn Reader,
        op: Operation,
        rt: &'static ResourceType,
        pod: &mut Value,
        _: Option<&Value>,
    ) -> Result<(), ApiError> {
        if rt.kind != "Pod" || op != Operation::Create {
            return Ok(());
        }
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let mut errors: Vec<String> = Vec::new();
        for lr in store.list(res("LimitRange"), Some(ns)) {
            for l in lr["spec"]["limits"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| l["type"] == "Container")
            {
                for c in ["initContainers", "containers"]
                    .into_iter()
                    .flat_map(|k| pod["spec"][k].as_array().into_iter().flatten())
                {
                    container_errors(l, &c["resources"], &mut errors);
                }
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(forbidden(pod, &errors[0])),
            // `utilerrors.NewAggregate`: `[a, b]`.
            _ => Err(forbidden(pod, format!("[{}]", errors.join(", ")))),
        }
    }
}

/// `minConstraint` and `maxConstraint` for one container.
fn container_errors(limit: &Value, resources: &Value, errors: &mut Vec<String>) {
    let (requests, limits) = (&resources["requests"], &resources["limits"]);
    for (r, min) in limit["min"].as_object().into_iter().flatten() {
        let Some(enforced) = quantity(min) else {
            continue;
        };
        let head = format!("minimum {r} usage per Container is {}", shown(min));
        match quantity(&requests[r]) {
            None => errors.push(format!("{head}.  No request is specified")),
            Some(q) if q < enforced => {
                errors.push(format!("{head}, but request is {}", shown(&requests[r])))
            }
            Some(_) => {
                if quantity(&limits[r]).is_some_and(|q| q < enforced) {
                    errors.push(format!("{head}, but limit is {}", shown(&limits[r])));
                }
            }
        }
    }
    for (r, max) in limit["max"].as_object().into_iter().flatten() {
        let Some(enforced) = quantity(max) else {
            continue;
        };
        let head = format!("maximum {r} usage per Container is {}", shown(max));
        match quantity(&limits[r]) {
            None => errors.push(format!("{head}.  No limit is specified")),
            Some(q) if q > enforced => {
                errors.push(format!("{head}, but limit is {}", shown(&limits[r])))
            }
            Some(_) => {
                if quantity(&requests[r]).is_some_and(|q| q > enforced) {
                    errors.push(format!("{head}, but request is {}", shown(&requests[r])));
                }
            }
        }
    }
}
