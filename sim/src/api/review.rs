//! Who is asking, and whether they may: access reviews and impersonated requests.
//!
//! Every request is made as the kubeconfig's user, `system:admin` in `system:masters`, unless it
//! carries `Impersonate-User` / `Impersonate-Group` headers (as `kubectl --as` sends); then it is
//! authorized as that user through RBAC, as the API server does.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::faults::Faults;
use crate::store::{ApiError, ResourceType, Store};

/// The user every unimpersonated request is made as.
pub const ADMIN_USER: &str = "system:admin";
/// Its group, which RBAC always allows.
pub const ADMIN_GROUP: &str = "system:masters";

/// An authenticated user.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// User name, e.g. `system:serviceaccount:team-a:default`.
    pub user: String,
    /// Groups, including `system:authenticated`.
    pub groups: Vec<String>,
}

impl Subject {
    /// The kubeconfig's user.
    pub fn admin() -> Subject {
        Subject {
            user: ADMIN_USER.into(),
            groups: vec![ADMIN_GROUP.into(), "system:authenticated".into()],
        }
    }

    /// The requester: the impersonated user if the request impersonates, else the admin.
    pub fn from_headers(headers: &HeaderMap) -> Subject {
        let Some(user) = headers
            .get("impersonate-user")
            .and_then(|v| v.to_str().ok())
        else {
            return Subject::admin();
        };
        let mut groups: Vec<String> = headers
            .get_all("impersonate-group")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        // Service accounts are in their namespace's group, as the token authenticator puts them.
        if let Some(ns) = user
            .strip_prefix("system:serviceaccount:")
            .and_then(|r| r.split(':').next())
        {
            groups.extend([
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
            ]);
        }
        groups.push("system:authenticated".into());
        Subject {
            user: user.into(),
            groups,
        }
    }

    fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }
}

/// What is being accessed (`resourceAttributes` of a review).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    /// Verb, e.g. `get`, `list`, `create`.
    pub verb: String,
    /// API group; empty for core.
    pub group: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource, e.g. `status`, `log`.
    pub subresource: String,
    /// Namespace; empty for cluster scope.
    pub namespace: String,
    /// Object name; empty for collections.
    pub name: String,
}

impl Attributes {
    fn from_review(a: &Value) -> Attributes {
        let f = |k: &str| a[k].as_str().unwrap_or_default().to_string();
        Attributes {
            verb: f("verb"),
            group: f("group"),
            resource: f("resource"),
            subresource: f("subresource"),
            namespace: f("namespace"),
            name: f("name"),
        }
    }
}

/// The decision and its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Whether the access is allowed.
    pub allowed: bool,
    /// Why (empty when allowed by `system:masters`).
    pub reason: String,
}

/// Decides an access. `system:masters` is always allowed; everyone else goes through RBAC.
pub fn decide(store: &Store, faults: &Faults, subject: &Subject, attrs: &Attributes) -> Decision {
    if subject.is_admin() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    rbac_decide(store, faults, subject, attrs)
}

/// Stand-in until `sim::rbac` (helper `sim-net`) lands: nobody but `system:masters` is allowed.
fn rbac_decide(
    _store: &Store,
    _faults: &Faults,
    _subject: &Subject,
    _attrs: &Attributes,
) -> Decision {
    Decision {
        allowed: false,
        reason: "RBAC evaluation is not available on this platform build".into(),
    }
}

/// Answers a `SubjectAccessReview` or `SelfSubjectAccessReview` (never stored).
pub fn review(
    store: &Store,
    faults: &Faults,
    rt: &ResourceType,
    requester: &Subject,
    mut body: Value,
) -> Result<Value, ApiError> {
    let is_self = rt.kind == "SelfSubjectAccessReview";
    let spec = &body["spec"];
    let invalid = |m: &str| {
        ApiError::invalid(format!(
            "{}.authorization.k8s.io \"\" is invalid: {m}",
            rt.kind
        ))
    };
    let subject = if is_self {
        requester.clone()
    } else {
        let user = spec["user"].as_str().unwrap_or_default().to_string();
        let groups: Vec<String> = spec["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        if user.is_empty() && groups.is_empty() {
            return Err(invalid(
                "spec.user: Invalid value: \"\": at least one of user or group must be specified",
            ));
        }
        Subject { user, groups }
    };
    let decision = match (&spec["resourceAttributes"], &spec["nonResourceAttributes"]) {
        (r, Value::Null) if r.is_object() => {
            decide(store, faults, &subject, &Attributes::from_review(r))
        }
        (Value::Null, n) if n.is_object() => {
            // Discovery-style paths are open to every authenticated user (system:discovery).
            let path = n["path"].as_str().unwrap_or_default();
            let open = [
                "/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi",
            ]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")));
            if subject.is_admin() || (open && n["verb"] == "get") {
                Decision {
                    allowed: true,
                    reason: String::new(),
                }
            } else {
                Decision {
                    allowed: false,
                    reason: "no RBAC rule allows this non-resource URL".into(),
                }
            }
        }
        _ => {
            return Err(invalid(
                "spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
    };
    body["apiVersion"] = json!(rt.api_version());
    body["kind"] = json!(rt.kind);
    body["metadata"] = json!({"creationTimestamp": null});
    body["status"] = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        body["status"]["reason"] = json!(decision.reason);
    }
    Ok(body)
}

/// Authorizes an impersonated request; the admin passes without evaluation.
pub fn authorize(
    store: &Store,
    faults: &Faults,
    subject: &Subject,
    attrs: &Attributes,
) -> Result<(), ApiError> {
    let d = decide(store, faults, subject, attrs);
    if d.allowed {
        return Ok(());
    }
    let target = if attrs.group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.group)
    };
    let named = if attrs.name.is_empty() {
        target
    } else {
        format!("{target} \"{}\"", attrs.name)
    };
    let resource = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let scope = if attrs.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", attrs.namespace)
    };
    Err(ApiError::forbidden(format!(
        "{named} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        subject.user, attrs.verb, attrs.group
    )))
}
