//! `sealedSecretsUnsealed`: a team's sealed package becomes its Secrets. Each SealedSecret reaches
//! `Synced` True and its Secret exists, is controlled by that SealedSecret (ownerReference with
//! its uid), and holds exactly the sealed keys. Values are never read: only Secret metadata and
//! key names leave the API server.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::context::CheckContext;
use super::verdict::Verdict;
use crate::kube::sealed::{self, SYNCED};
use crate::kube::wait::{self, Deadline};
use crate::kube::{WaitError, condition_true};
use crate::scenario::SecretsApplied;

/// `sealedSecretsUnsealed`: every named SealedSecret is unsealed into a Secret it owns.
pub async fn sealed_secrets_unsealed(
    ctx: &CheckContext<'_>,
    s: &SecretsApplied,
    deadline: Deadline,
) -> Verdict {
    let ns = &s.namespace;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut done = Vec::new();
    for name in &s.secrets {
        let target = sealed::watched(ns, name);
        let sealed_obj = match wait::wait_for(
            &ctx.client,
            &target,
            &condition_true(SYNCED),
            deadline.remaining(),
        )
        .await
        {
            Ok(Some(o)) => o,
            Ok(None) => return Verdict::fail(format!("SealedSecret {ns}/{name} does not exist")),
            Err(WaitError::Timeout(_)) => {
                let why = sealed::controller_verdict(&ctx.client, ns, name).await;
                return Verdict::fail(format!(
                    "SealedSecret {ns}/{name} was not unsealed within {:?}: {why}",
                    deadline.total()
                ));
            }
            Err(e) => return Verdict::fail(format!("watching SealedSecret {ns}/{name}: {e}")),
        };
        let secret = match secrets.get_opt(name).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Verdict::fail(format!(
                    "SealedSecret {ns}/{name} is Synced but Secret {ns}/{name} does not exist"
                ));
            }
            Err(e) => return Verdict::fail(format!("cannot read Secret {ns}/{name}: {e}")),
        };
        let uid = sealed_obj.metadata.uid.clone().unwrap_or_default();
        let controlled = secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "SealedSecret" && o.uid == uid && o.controller == Some(true));
        if !controlled {
            return Verdict::fail(format!(
                "Secret {ns}/{name} exists but is not controlled by SealedSecret {ns}/{name} (uid {uid}): \
                 it did not come from the sealed package"
            ));
        }
        let mut sealed_keys: Vec<String> = sealed_obj.data["spec"]["encryptedData"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        sealed_keys.sort();
        let mut keys: Vec<String> = secret
            .data
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        if keys != sealed_keys {
            return Verdict::fail(format!(
                "Secret {ns}/{name} has keys [{}] but its SealedSecret seals [{}]",
                keys.join(", "),
                sealed_keys.join(", ")
            ));
        }
        done.push(format!("{name} [{}]", keys.join(", ")));
    }
    Verdict::pass(format!(
        "the sealed-secrets controller unsealed {} in namespace {ns} into Secrets they own",
        done.join(", ")
    ))
}
