//! `sealedSecretScope`: a team's SealedSecrets copied into another team's namespace (as a team
//! could copy another's package) are refused by the controller: `Synced` False with
//! `no key could decrypt secret`, and no Secret appears. The originals must first be unsealed in
//! their own namespace, so the refusal is the scope's doing and not a broken controller's.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use serde_json::json;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::sealed::{self, NO_KEY, SYNCED};
use crate::kube::wait::{self, Deadline};
use crate::kube::{Condition, condition_true, current_condition};
use crate::scenario::SealedSecretScope;

/// The scope annotations a copy keeps (the scope is part of what the controller checks).
const SCOPE_ANNOTATIONS: &[&str] = &[
    "sealedsecrets.bitnami.com/namespace-wide",
    "sealedsecrets.bitnami.com/cluster-wide",
];

/// `sealedSecretScope`: see the module docs.
pub async fn sealed_secret_scope(
    ctx: &CheckContext<'_>,
    s: &SealedSecretScope,
    deadline: Deadline,
) -> Verdict {
    let mut observed = Vec::new();
    for name in &s.secrets {
        match one(ctx, s, name, &deadline).await {
            Ok(o) => observed.push(o),
            Err(reason) => return Verdict::fail(reason),
        }
    }
    Verdict::pass(observed.join("; "))
}

async fn one(
    ctx: &CheckContext<'_>,
    s: &SealedSecretScope,
    name: &str,
    deadline: &Deadline,
) -> Result<String, String> {
    let (from, to) = (&s.from, &s.to);
    let original = wait::wait_for(
        &ctx.client,
        &sealed::watched(from, name),
        &condition_true(SYNCED),
        deadline.remaining(),
    )
    .await
    .map_err(|_| name.to_string());
    let original = match original {
        Ok(Some(o)) => o,
        _ => {
            let why = sealed::controller_verdict(&ctx.client, from, name).await;
            return Err(format!(
                "cannot judge the scope: SealedSecret {from}/{name} is not unsealed in its own namespace ({why})"
            ));
        }
    };
    let annotations: BTreeMap<String, String> = original
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| SCOPE_ANNOTATIONS.contains(&k.as_str()))
        .collect();
    if annotations
        .get(SCOPE_ANNOTATIONS[1])
        .is_some_and(|v| v == "true")
    {
        return Err(format!(
            "SealedSecret {from}/{name} is sealed cluster-wide: it is meant to unseal anywhere"
        ));
    }
    let scope = if annotations.is_empty() {
        "strict"
    } else {
        "namespace-wide"
    };
    let copy = json!({
        "apiVersion": sealed::API_VERSION, "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": to, "annotations": annotations},
        "spec": original.data["spec"].clone(),
    });
    let applier = ctx.applier();
    applier
        .apply(&copy)
        .await
        .map_err(|e| format!("applying a copy of SealedSecret {from}/{name} in {to}: {e}"))?;
    let result = judge(ctx, from, to, name, scope, deadline).await;
    // The copy (and any Secret it produced, by ownerReference) goes again.
    let _ = sealed::api(&ctx.client, to)
        .delete(name, &DeleteParams::default())
        .await;
    result
}

async fn judge(
    ctx: &CheckContext<'_>,
    from: &str,
    to: &str,
    name: &str,
    scope: &str,
    deadline: &Deadline,
) -> Result<String, String> {
    let processed = Condition::new("the controller set Synced (True or False)", |o| {
        o.and_then(|o| current_condition(o, SYNCED))
            .is_some_and(|c| !c.stale)
    });
    let seen = wait::wait_for(
        &ctx.client,
        &sealed::watched(to, name),
        &processed,
        deadline.remaining(),
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), to);
    let secret = secrets
        .get_metadata_opt(name)
        .await
        .map_err(|e| format!("cannot read Secret {to}/{name}: {e}"))?;
    let copy = match seen {
        Ok(Some(o)) => o,
        _ => {
            let why = sealed::controller_verdict(&ctx.client, to, name).await;
            return Err(format!(
                "the controller never processed the copy of SealedSecret {from}/{name} in {to} within {:?}: {why}",
                deadline.total()
            ));
        }
    };
    let cond = current_condition(&copy, SYNCED).expect("waited for it");
    if cond.status == "True" || secret.is_some() {
        return Err(format!(
            "SealedSecret {from}/{name} ({scope} scope) was unsealed in namespace {to}: Secret {to}/{name} {} \
             and the copy is Synced {}; the sealed-secrets controller ignores the scope, so any team can open \
             another team's package",
            if secret.is_some() {
                "exists"
            } else {
                "was reported"
            },
            cond.status
        ));
    }
    if !cond.message.contains(NO_KEY) {
        return Err(format!(
            "the copy of SealedSecret {from}/{name} in {to} failed for another reason than its scope: {}",
            cond.message
        ));
    }
    let event = wait::wait_for_event(
        &ctx.client,
        &sealed::watched(to, name).object,
        NO_KEY,
        deadline.remaining(),
    )
    .await
    .map(|e| format!("; event {} {}: {}", e.type_, e.reason, e.message))
    .unwrap_or_default();
    Ok(format!(
        "SealedSecret {from}/{name} ({scope}) copied to {to} was refused: Synced False `{}`{event}; no Secret {to}/{name}",
        cond.message
    ))
}
