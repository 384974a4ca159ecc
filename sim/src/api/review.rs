//! Who is asking, and whether they may: access reviews and impersonated requests, through
//! [`crate::rbac`].
//!
//! Every request is made as the kubeconfig's user, `system:admin` in `system:masters`, unless it
//! carries `Impersonate-User` / `Impersonate-Group` headers (as `kubectl --as` sends); then it is
//! authorized as that user through RBAC, as the API server does.

use axum::http::HeaderMap;
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReviewSpec, SubjectAccessReviewSpec};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::faults::{Defect, Faults};
use crate::rbac::{self, Attributes, RbacView, UserInfo};
use crate::store::{ApiError, ResourceType, Store};

/// The user every unimpersonated request is made as.
pub const ADMIN_USER: &str = "system:admin";

/// The kubeconfig's user: `system:admin` in `system:masters`.
pub fn admin() -> UserInfo {
    UserInfo {
        name: ADMIN_USER.into(),
        groups: vec![rbac::PRIVILEGED_GROUP.into(), "system:authenticated".into()],
    }
}

/// The requester: the impersonated user if the request impersonates, else the admin.
pub fn requester(headers: &HeaderMap) -> UserInfo {
    let Some(user) = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
    else {
        return admin();
    };
    let mut groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    // Impersonating a service account gives it its token's groups, as the API server does.
    if let Some(ns) = user
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split(':').next())
    {
        groups.extend([
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{ns}"),
        ]);
    }
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    UserInfo {
        name: user.into(),
        groups,
    }
}

fn typed<T: DeserializeOwned>(store: &Store, group: &str, plural: &str) -> Vec<T> {
    let rt = ResourceType::by_plural(group, plural).expect("RBAC types are in the catalogue");
    store
        .list(rt, None)
        .0
        .into_iter()
        .filter_map(|o| match serde_json::from_value(o) {
            Ok(t) => Some(t),
            Err(e) => {
                // A malformed object grants nothing, as an unparseable rule would on a cluster.
                tracing::warn!("ignoring a malformed {plural} object in RBAC evaluation: {e}");
                None
            }
        })
        .collect()
}

/// The cluster's RBAC objects now.
pub fn rbac_view(store: &Store) -> RbacView {
    const G: &str = "rbac.authorization.k8s.io";
    RbacView {
        roles: typed(store, G, "roles"),
        cluster_roles: typed(store, G, "clusterroles"),
        role_bindings: typed(store, G, "rolebindings"),
        cluster_role_bindings: typed(store, G, "clusterrolebindings"),
    }
}

/// Answers a `SubjectAccessReview` or `SelfSubjectAccessReview` (never stored).
pub fn review(
    store: &Store,
    faults: &Faults,
    rt: &ResourceType,
    requester: &UserInfo,
    mut body: Value,
) -> Result<Value, ApiError> {
    let allow_all = faults.has(Defect::AccessReviewAllowsAll);
    let invalid = |m: String| {
        ApiError::invalid(format!(
            "{}.authorization.k8s.io \"\" is invalid: {m}",
            rt.kind
        ))
    };
    let bad_spec = |e: serde_json::Error| {
        ApiError::bad_request(format!("{}: spec is malformed: {e}", rt.kind))
    };
    let view = rbac_view(store);
    if rt.kind == "SelfSubjectRulesReview" {
        // kubectl auth can-i --list: the requester's rules in spec.namespace.
        let ns = body["spec"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (resource, non_resource) = rbac::rules_for(&view, requester, &ns);
        body["apiVersion"] = json!(rt.api_version());
        body["kind"] = json!(rt.kind);
        body["metadata"] = json!({"creationTimestamp": null});
        body["status"] = json!({"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": false});
        return Ok(body);
    }
    let decision = if rt.kind == "SelfSubjectAccessReview" {
        let spec: SelfSubjectAccessReviewSpec =
            serde_json::from_value(body["spec"].clone()).map_err(bad_spec)?;
        rbac::review_self(&view, requester, &spec, allow_all).map_err(invalid)?
    } else {
        let spec: SubjectAccessReviewSpec =
            serde_json::from_value(body["spec"].clone()).map_err(bad_spec)?;
        rbac::review_subject(&view, &spec, allow_all).map_err(invalid)?
    };
    // Defect AccessReviewDeniesAll: bindings count for nothing, every review says no.
    let decision = if faults.has(Defect::AccessReviewDeniesAll) {
        rbac::AccessDecision {
            allowed: false,
            reason: String::new(),
        }
    } else {
        decision
    };
    body["apiVersion"] = json!(rt.api_version());
    body["kind"] = json!(rt.kind);
    body["metadata"] = json!({"creationTimestamp": null});
    body["status"] = serde_json::to_value(decision.to_status()).expect("status serializes");
    Ok(body)
}

/// Authorizes an impersonated request as the API server's RBAC authorizer would.
pub fn authorize(store: &Store, user: &UserInfo, attrs: &Attributes) -> Result<(), ApiError> {
    if rbac::review(&rbac_view(store), user, attrs, false).allowed {
        return Ok(());
    }
    let Attributes::Resource {
        verb,
        group,
        resource,
        subresource,
        namespace,
        name,
    } = attrs
    else {
        return Err(ApiError::forbidden(format!(
            "User \"{}\" cannot access this URL",
            user.name
        )));
    };
    let target = if group.is_empty() {
        resource.clone()
    } else {
        format!("{resource}.{group}")
    };
    let named = if name.is_empty() {
        target
    } else {
        format!("{target} \"{name}\"")
    };
    let resource = if subresource.is_empty() {
        resource.clone()
    } else {
        format!("{resource}/{subresource}")
    };
    let scope = if namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{namespace}\"")
    };
    Err(ApiError::forbidden(format!(
        "{named} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}",
        user.name
    )))
}
