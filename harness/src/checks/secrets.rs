//! `secretsApplied`: the Secrets a team's packages provide exist in its namespace.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::scenario::{Scenario, SecretsApplied};

/// `secretsApplied`: every named Secret exists in the namespace. Only metadata is read: values
/// never leave the API server.
pub async fn secrets_applied(ctx: &CheckContext<'_>, s: &SecretsApplied) -> Verdict {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &s.namespace);
    let mut present = Vec::new();
    let mut missing = Vec::new();
    for name in &s.secrets {
        match api.get_metadata_opt(name).await {
            Ok(Some(_)) => present.push(name.as_str()),
            Ok(None) => missing.push(name.as_str()),
            Err(e) => {
                return Verdict::fail(format!("could not read Secret {}/{name}: {e}", s.namespace));
            }
        }
    }
    if missing.is_empty() {
        Verdict::pass(format!(
            "Secrets [{}] exist in namespace {}",
            present.join(", "),
            s.namespace
        ))
    } else {
        let providers = package_providers(ctx.scenario, &s.namespace, &missing);
        Verdict::fail(format!(
            "Secrets [{}] do not exist in namespace {} although setup applied {providers}; present: [{}]",
            missing.join(", "),
            s.namespace,
            present.join(", ")
        ))
    }
}

/// Names the secret packages of a namespace that provide any of `secrets`, for messages.
fn package_providers(scenario: &Scenario, namespace: &str, secrets: &[&str]) -> String {
    let packages: Vec<String> = scenario
        .team(namespace)
        .map(|t| {
            t.secret_packages
                .iter()
                .filter(|p| p.provides.iter().any(|n| secrets.contains(&n.as_str())))
                .map(|p| format!("{} (overlay {})", p.path.display(), p.overlay))
                .collect()
        })
        .unwrap_or_default();
    if packages.is_empty() {
        "the team's objects (no secret package of this namespace declares them in `provides`)"
            .to_string()
    } else {
        format!("the secret package {}", packages.join(", "))
    }
}
