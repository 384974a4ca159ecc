//! RBAC evaluation for SubjectAccessReview and SelfSubjectAccessReview, as Kubernetes' RBAC
//! authorizer does it.
//!
//! - ClusterRoleBindings are visited first, then RoleBindings of the request's namespace; the
//!   first rule that allows wins and names its binding in the reason, in Kubernetes' words:
//!   `RBAC: allowed by RoleBinding "<binding>/<ns>" of Role "<role>" to ServiceAccount "<sa>/<ns>"`.
//!   A denial has an empty reason, like Kubernetes.
//! - Subjects: `User` by name, `Group` by membership, `ServiceAccount` by the user name
//!   `system:serviceaccount:<ns>:<name>` (a RoleBinding subject without namespace means the
//!   binding's namespace). A review's groups are exactly those in its spec: Kubernetes adds
//!   none for a SubjectAccessReview, so callers reviewing a service account pass
//!   [`service_account_user`]'s groups.
//! - Rules: `*` in verbs/apiGroups/resources, `<resource>/<subresource>` and `*/<subresource>`,
//!   `resourceNames` (which never match a request without a name), `nonResourceURLs` with a
//!   trailing `*` prefix match. ClusterRoles with an `aggregationRule` also get the rules of
//!   the ClusterRoles their selectors match.
//! - Members of `system:masters` are allowed everything (the privileged-group authorizer).

use crate::network::selector::selects;
use k8s_openapi::api::authorization::v1::{
    SelfSubjectAccessReviewSpec, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde_json::{Value, json};

/// Group whose members bypass RBAC.
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// The RBAC objects of a cluster.
#[derive(Debug, Clone, Default)]
pub struct RbacView {
    /// All Roles.
    pub roles: Vec<Role>,
    /// All ClusterRoles.
    pub cluster_roles: Vec<ClusterRole>,
    /// All RoleBindings.
    pub role_bindings: Vec<RoleBinding>,
    /// All ClusterRoleBindings.
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// User name, e.g. `system:serviceaccount:team-a:default`.
    pub name: String,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
}

/// What is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// An API resource request.
    Resource {
        /// Verb: get, list, watch, create, update, patch, delete, ...
        verb: String,
        /// API group, "" for core.
        group: String,
        /// Resource (plural), e.g. `pods`.
        resource: String,
        /// Subresource, e.g. `log`; "" for none.
        subresource: String,
        /// Namespace; "" for cluster-scoped or all namespaces.
        namespace: String,
        /// Object name; "" for collections.
        name: String,
    },
    /// A request to a non-resource URL such as `/healthz`.
    NonResource {
        /// HTTP verb, lower case.
        verb: String,
        /// URL path.
        path: String,
    },
}

/// The answer to an access review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDecision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Kubernetes-style reason; empty on denial.
    pub reason: String,
}

impl AccessDecision {
    /// The decision as a SubjectAccessReview status.
    pub fn to_status(&self) -> SubjectAccessReviewStatus {
        SubjectAccessReviewStatus {
            allowed: self.allowed,
            reason: (!self.reason.is_empty()).then(|| self.reason.clone()),
            ..SubjectAccessReviewStatus::default()
        }
    }
}

/// The user name and groups Kubernetes gives a service account's token.
pub fn service_account_user(namespace: &str, name: &str) -> UserInfo {
    UserInfo {
        name: format!("system:serviceaccount:{namespace}:{name}"),
        groups: vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
            "system:authenticated".to_string(),
        ],
    }
}

/// Reads the attributes of a review; exactly one of resource/non-resource attributes is needed.
fn attributes_of(
    resource: Option<&k8s_openapi::api::authorization::v1::ResourceAttributes>,
    non_resource: Option<&k8s_openapi::api::authorization::v1::NonResourceAttributes>,
) -> Result<Attributes, String> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    match (resource, non_resource) {
        (Some(r), None) => Ok(Attributes::Resource {
            verb: s(&r.verb),
            group: s(&r.group),
            resource: s(&r.resource),
            subresource: s(&r.subresource),
            namespace: s(&r.namespace),
            name: s(&r.name),
        }),
        (None, Some(n)) => Ok(Attributes::NonResource {
            verb: s(&n.verb),
            path: s(&n.path),
        }),
        // The API server's validation messages for these cases.
        (Some(_), Some(_)) => Err(
            "spec.resourceAttributes: Invalid value: ...: cannot be specified in combination with nonResourceAttributes"
                .to_string(),
        ),
        (None, None) => Err(
            "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
                .to_string(),
        ),
    }
}

/// Evaluates a SubjectAccessReview spec. `Err` is a validation error (HTTP 422).
pub fn review_subject(
    view: &RbacView,
    spec: &SubjectAccessReviewSpec,
    allow_all: bool,
) -> Result<AccessDecision, String> {
    let attrs = attributes_of(
        spec.resource_attributes.as_ref(),
        spec.non_resource_attributes.as_ref(),
    )?;
    let user = UserInfo {
        name: spec.user.clone().unwrap_or_default(),
        groups: spec.groups.clone().unwrap_or_default(),
    };
    if user.name.is_empty() && user.groups.is_empty() {
        return Err(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified"
                .to_string(),
        );
    }
    Ok(review(view, &user, &attrs, allow_all))
}

/// Evaluates a SelfSubjectAccessReview spec for the requesting user.
pub fn review_self(
    view: &RbacView,
    requester: &UserInfo,
    spec: &SelfSubjectAccessReviewSpec,
    allow_all: bool,
) -> Result<AccessDecision, String> {
    let attrs = attributes_of(
        spec.resource_attributes.as_ref(),
        spec.non_resource_attributes.as_ref(),
    )?;
    Ok(review(view, requester, &attrs, allow_all))
}

/// Whether `user` may do `attrs`. `allow_all` is the AccessReviewAllowsAll defect.
pub fn review(
    view: &RbacView,
    user: &UserInfo,
    attrs: &Attributes,
    allow_all: bool,
) -> AccessDecision {
    if allow_all || user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
        return AccessDecision {
            allowed: true,
            reason: String::new(),
        };
    }
    for crb in &view.cluster_role_bindings {
        let Some(subject) = applies_to(user, crb.subjects.as_deref(), "") else {
            continue;
        };
        if crb.role_ref.kind != "ClusterRole" {
            continue;
        }
        if rules_of(view, &crb.role_ref, "")
            .iter()
            .any(|r| rule_allows(r, attrs))
        {
            return allowed(format!(
                "ClusterRoleBinding {:?} of ClusterRole {:?} to {}",
                crb.metadata.name.as_deref().unwrap_or(""),
                crb.role_ref.name,
                describe_subject(subject, "")
            ));
        }
    }
    let Attributes::Resource { namespace, .. } = attrs else {
        return denied();
    };
    if namespace.is_empty() {
        return denied();
    }
    for rb in view
        .role_bindings
        .iter()
        .filter(|rb| rb.metadata.namespace.as_deref() == Some(namespace.as_str()))
    {
        let Some(subject) = applies_to(user, rb.subjects.as_deref(), namespace) else {
            continue;
        };
        if rules_of(view, &rb.role_ref, namespace)
            .iter()
            .any(|r| rule_allows(r, attrs))
        {
            return allowed(format!(
                "RoleBinding {:?} of {} {:?} to {}",
                format!("{}/{namespace}", rb.metadata.name.as_deref().unwrap_or("")),
                rb.role_ref.kind,
                rb.role_ref.name,
                describe_subject(subject, namespace)
            ));
        }
    }
    denied()
}

/// What `user` may do in `namespace`, as the API server's `SelfSubjectRulesReview` lists it
/// (RBAC's `RulesFor`: the rules of every ClusterRoleBinding and of the namespace's RoleBindings
/// that name the user; `system:masters` gets the privileged-group authorizer's `*` rules):
/// `(resourceRules, nonResourceRules)`.
pub fn rules_for(view: &RbacView, user: &UserInfo, namespace: &str) -> (Vec<Value>, Vec<Value>) {
    if user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
        return (
            vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
            vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
        );
    }
    let mut rules: Vec<PolicyRule> = Vec::new();
    for crb in &view.cluster_role_bindings {
        if crb.role_ref.kind == "ClusterRole"
            && applies_to(user, crb.subjects.as_deref(), "").is_some()
        {
            rules.extend(rules_of(view, &crb.role_ref, ""));
        }
    }
    if !namespace.is_empty() {
        for rb in view
            .role_bindings
            .iter()
            .filter(|rb| rb.metadata.namespace.as_deref() == Some(namespace))
        {
            if applies_to(user, rb.subjects.as_deref(), namespace).is_some() {
                rules.extend(rules_of(view, &rb.role_ref, namespace));
            }
        }
    }
    let (mut resource, mut non_resource) = (Vec::new(), Vec::new());
    for r in rules {
        let mut out = json!({"verbs": r.verbs});
        if let Some(urls) = r.non_resource_urls.filter(|u| !u.is_empty()) {
            out["nonResourceURLs"] = json!(urls);
            non_resource.push(out);
            continue;
        }
        out["apiGroups"] = json!(r.api_groups.unwrap_or_default());
        out["resources"] = json!(r.resources.unwrap_or_default());
        if let Some(names) = r.resource_names.filter(|n| !n.is_empty()) {
            out["resourceNames"] = json!(names);
        }
        resource.push(out);
    }
    (resource, non_resource)
}

fn allowed(source: String) -> AccessDecision {
    AccessDecision {
        allowed: true,
        reason: format!("RBAC: allowed by {source}"),
    }
}

fn denied() -> AccessDecision {
    AccessDecision {
        allowed: false,
        reason: String::new(),
    }
}

/// The first subject of a binding that is `user`.
fn applies_to<'s>(
    user: &UserInfo,
    subjects: Option<&'s [Subject]>,
    namespace: &str,
) -> Option<&'s Subject> {
    subjects?.iter().find(|s| match s.kind.as_str() {
        "User" => s.name == user.name,
        "Group" => user.groups.contains(&s.name),
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{}", s.name)
        }
        _ => false,
    })
}

fn describe_subject(s: &Subject, binding_namespace: &str) -> String {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            format!("{} {:?}", s.kind, format!("{}/{ns}", s.name))
        }
        _ => format!("{} {:?}", s.kind, s.name),
    }
}

/// Rules of the role a binding refers to; a missing role grants nothing.
fn rules_of(view: &RbacView, role_ref: &RoleRef, namespace: &str) -> Vec<PolicyRule> {
    match role_ref.kind.as_str() {
        "Role" => view
            .roles
            .iter()
            .find(|r| {
                r.metadata.name.as_deref() == Some(role_ref.name.as_str())
                    && r.metadata.namespace.as_deref() == Some(namespace)
            })
            .and_then(|r| r.rules.clone())
            .unwrap_or_default(),
        "ClusterRole" => view
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(role_ref.name.as_str()))
            .map(|r| cluster_role_rules(view, r))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A ClusterRole's rules plus, with an aggregationRule, those of the ClusterRoles it selects.
fn cluster_role_rules(view: &RbacView, role: &ClusterRole) -> Vec<PolicyRule> {
    let mut rules = role.rules.clone().unwrap_or_default();
    let selectors = role
        .aggregation_rule
        .as_ref()
        .and_then(|a| a.cluster_role_selectors.as_deref())
        .unwrap_or_default();
    if selectors.is_empty() {
        return rules;
    }
    for other in &view.cluster_roles {
        if other.metadata.name == role.metadata.name {
            continue;
        }
        let labels = other.metadata.labels.clone().unwrap_or_default();
        if selectors.iter().any(|s| selects(s, &labels)) {
            rules.extend(other.rules.clone().unwrap_or_default());
        }
    }
    rules
}

fn has(list: Option<&[String]>, want: &str) -> bool {
    list.unwrap_or_default()
        .iter()
        .any(|v| v == "*" || v == want)
}

fn rule_allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    match attrs {
        Attributes::Resource {
            verb,
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            let combined = if subresource.is_empty() {
                resource.clone()
            } else {
                format!("{resource}/{subresource}")
            };
            let resource_ok = rule
                .resources
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|r| {
                    r == "*"
                        || *r == combined
                        || (!subresource.is_empty() && *r == format!("*/{subresource}"))
                });
            let name_ok = match rule.resource_names.as_deref() {
                None | Some([]) => true,
                Some(names) => !name.is_empty() && names.contains(name),
            };
            has(Some(&rule.verbs), verb)
                && has(rule.api_groups.as_deref(), group)
                && resource_ok
                && name_ok
        }
        Attributes::NonResource { verb, path } => {
            has(Some(&rule.verbs), verb)
                && rule
                    .non_resource_urls
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|u| {
                        u == "*"
                            || u == path
                            || u.strip_suffix('*')
                                .is_some_and(|prefix| path.starts_with(prefix))
                    })
        }
    }
}

#[cfg(test)]
mod tests;
