//! `secretsApplied`: the Secrets a team's packages provide exist in its namespace. A Secret that
//! comes from a SealedSecret appears only once the sealed-secrets controller unsealed it: the
//! check waits for it and, if it never appears, names the controller's failure.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::sealed;
use crate::kube::wait::{self, Deadline};
use crate::kube::{Watched, exists};
use crate::scenario::{Scenario, SecretsApplied};

/// `secretsApplied`: every named Secret exists in the namespace. Only metadata is read: values
/// never leave the API server.
pub async fn secrets_applied(
    ctx: &CheckContext<'_>,
    s: &SecretsApplied,
    deadline: Deadline,
) -> Verdict {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &s.namespace);
    let sealed_api = sealed::api(&ctx.client, &s.namespace);
    let mut present = Vec::new();
    let mut missing = Vec::new();
    let mut unsealing = Vec::new();
    for name in &s.secrets {
        match api.get_metadata_opt(name).await {
            Ok(Some(_)) => present.push(name.as_str()),
            // A SealedSecret of that name: the controller has yet to unseal it (404 without the CRD).
            Ok(None) if matches!(sealed_api.get_metadata_opt(name).await, Ok(Some(_))) => {
                let target = Watched::of::<Secret>(Some(&s.namespace), name);
                match wait::wait_for(&ctx.client, &target, &exists(), deadline.remaining()).await {
                    Ok(_) => present.push(name.as_str()),
                    Err(_) => {
                        let why = sealed::controller_verdict(&ctx.client, &s.namespace, name).await;
                        unsealing.push(format!("{name} (SealedSecret not unsealed: {why})"));
                    }
                }
            }
            Ok(None) => missing.push(name.as_str()),
            Err(e) => {
                return Verdict::fail(format!("could not read Secret {}/{name}: {e}", s.namespace));
            }
        }
    }
    if !unsealing.is_empty() {
        return Verdict::fail(format!(
            "Secrets do not exist in namespace {} because the sealed-secrets controller did not unseal them: {}; present: [{}]",
            s.namespace,
            unsealing.join("; "),
            present.join(", ")
        ));
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
