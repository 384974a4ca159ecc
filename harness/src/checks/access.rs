//! `access`: a SubjectAccessReview for a ServiceAccount answers as RBAC should (team isolation
//! on the API side).

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::scenario::{Access, Outcome};

/// `access`: a SubjectAccessReview for the ServiceAccount answers as expected.
pub async fn access(ctx: &CheckContext<'_>, a: &Access) -> Verdict {
    let Some((sa_ns, sa_name)) = a.service_account.split_once('/') else {
        return Verdict::fail(format!(
            "serviceAccount `{}` is not `<namespace>/<name>`",
            a.service_account
        ));
    };
    let user = format!("system:serviceaccount:{sa_ns}:{sa_name}");
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.clone()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{sa_ns}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(a.namespace.clone()),
                verb: Some(a.verb.clone()),
                group: Some(a.group.clone()),
                resource: Some(a.resource.clone()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(ctx.client.clone());
    let answer = match api.create(&PostParams::default(), &review).await {
        Ok(r) => r,
        Err(e) => return Verdict::fail(format!("the SubjectAccessReview for {user} failed: {e}")),
    };
    let Some(status) = answer.status else {
        return Verdict::fail(format!(
            "the SubjectAccessReview for {user} came back without status"
        ));
    };
    let resource = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let mut why = status.reason.clone().unwrap_or_default();
    if let Some(e) = status.evaluation_error.as_deref().filter(|e| !e.is_empty()) {
        why.push_str(&format!(" (evaluation error: {e})"));
    }
    if why.is_empty() {
        why = "no reason given".into();
    }
    let asked = format!(
        "can {user} {} {resource} in namespace {}",
        a.verb, a.namespace
    );
    let allowed = status.allowed;
    let said = if allowed { "allowed" } else { "denied" };
    match (a.expect, allowed) {
        (Outcome::Allowed, true) | (Outcome::Denied, false) => {
            Verdict::pass(format!("{asked}? {said}: {why}"))
        }
        (Outcome::Denied, true) => {
            Verdict::fail(format!("{asked}? allowed, but it must be denied: {why}"))
        }
        (Outcome::Allowed, false) => {
            Verdict::fail(format!("{asked}? denied, but it must be allowed: {why}"))
        }
    }
}
