//! The unseal loop (`pkg/controller/controller.go` `unseal`, `updateSealedSecretStatus`; the
//! errors of `sealedsecret_expansion.go` `Unseal`): every SealedSecret becomes a Secret it owns,
//! or a `Synced` False condition and an `ErrUnsealFailed` Warning event naming why.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::crypto::{CLUSTER_WIDE, NAMESPACE_WIDE, hybrid_decrypt, label_for};
use super::keys::{ensure_key, private_keys};
use crate::control::context::Ctx;
use crate::control::events::record_event;
use crate::control::objects::{deleting, name, namespace, now, owned_by, res, set_status};
use crate::faults::Defect;

/// The event source component upstream's recorder uses.
const COMPONENT: &str = "sealed-secrets";
/// Secrets annotated like this may be taken over (`sealedsecrets.bitnami.com/managed`).
const MANAGED: &str = "sealedsecrets.bitnami.com/managed";
/// Owner references are skipped with this template annotation.
const SKIP_OWNER: &str = "sealedsecrets.bitnami.com/skip-set-owner-references";

/// One pass over every SealedSecret.
pub(crate) fn reconcile(ctx: &mut Ctx) {
    let Some(rt) = crate::store::ResourceType::by_kind("bitnami.com/v1alpha1", "SealedSecret")
    else {
        return;
    };
    if !ctx.store.serves(rt) {
        return;
    }
    let (sealed, _) = ctx.store.list(rt, None);
    let sealed: Vec<Value> = sealed.into_iter().filter(|s| !deleting(s)).collect();
    if sealed.is_empty() {
        return;
    }
    if let Err(e) = ensure_key(&ctx.store) {
        tracing::warn!("sealed-secrets controller: {e}");
        return;
    }
    let keys = private_keys(&ctx.store);
    for ss in &sealed {
        let labels = candidate_labels(ctx, ss);
        // Upstream: an unseal error is `ErrUnsealFailed` "Failed to unseal: <err>"; a write error is
        // `ErrUpdateFailed` with the API error (or the unmanaged-Secret text); the condition
        // message is the returned error either way.
        let outcome: Result<bool, Failure> = unseal(&keys, ss, &labels)
            .map_err(|e| Failure {
                reason: "ErrUnsealFailed",
                event: format!("Failed to unseal: {e}"),
                condition: e,
            })
            .and_then(|secret| write(ctx, ss, secret));
        let generation = ss["metadata"]["generation"].clone();
        let previous = ss["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Synced"))
            .cloned();
        let (status, message) = match &outcome {
            Ok(_) => ("True", String::new()),
            Err(f) => ("False", f.condition.clone()),
        };
        let unchanged = previous.as_ref().is_some_and(|p| {
            p["status"] == status && p["message"].as_str().unwrap_or_default() == message
        }) && ss["status"]["observedGeneration"] == generation;
        match &outcome {
            Ok(changed) if *changed || !unchanged => record_event(
                &ctx.store,
                ss,
                "Normal",
                "Unsealed",
                "SealedSecret unsealed successfully",
                COMPONENT,
            ),
            Err(f) if !unchanged => {
                record_event(&ctx.store, ss, "Warning", f.reason, &f.event, COMPONENT);
            }
            _ => {}
        }
        if unchanged {
            continue;
        }
        let ts = now();
        let mut cond = json!({"type": "Synced", "status": status, "lastUpdateTime": ts,
            "lastTransitionTime": previous.as_ref().filter(|p| p["status"] == status)
                .map_or(json!(ts), |p| p["lastTransitionTime"].clone())});
        if !message.is_empty() {
            cond["message"] = json!(message);
        }
        set_status(
            &ctx.store,
            rt,
            ss,
            json!({"observedGeneration": generation, "conditions": [cond]}),
        );
    }
}

/// Why a SealedSecret did not become its Secret: the event's reason and message, and the
/// condition's message.
struct Failure {
    reason: &'static str,
    event: String,
    condition: String,
}

/// The labels the controller accepts: the object's own. Defect `sealed-secrets-scope-ignored`
/// also accepts every label the object could have been sealed with anywhere in the cluster.
fn candidate_labels(ctx: &Ctx, ss: &Value) -> Vec<String> {
    let own = label_for(ss);
    let ns = ss["metadata"]["namespace"].as_str().unwrap_or_default();
    let annotated = |a: &str| ss["metadata"]["annotations"][a] == "true";
    let strict = !annotated(CLUSTER_WIDE) && !annotated(NAMESPACE_WIDE);
    // Defects on the label of one scope (docs/seldon-behaviour.md §13): namespace-wide values
    // opened only as strict ones; strict values opened with the namespace alone.
    let own = if ctx.faults.has(Defect::SealedNamespaceWideUnsupported)
        && annotated(NAMESPACE_WIDE)
        && !annotated(CLUSTER_WIDE)
    {
        format!("{ns}/{}", name(ss))
    } else if ctx.faults.has(Defect::SealedStrictLabelWithoutName) && strict {
        ns.to_string()
    } else {
        own
    };
    let mut labels = vec![own];
    if ctx.faults.has(Defect::SealedSecretsScopeIgnored) {
        let (namespaces, _) = ctx.store.list(res("Namespace"), None);
        labels.push(String::new());
        for ns in namespaces.iter().map(name) {
            labels.push(ns.to_string());
            labels.push(format!("{ns}/{}", name(ss)));
        }
    }
    labels
}

/// The Secret a SealedSecret unseals to, or upstream's error text (keys with the same error are
/// grouped as `<error> (<key>, <key>)`; upstream's order is Go map order, here sorted).
fn unseal(keys: &[rsa::RsaPrivateKey], ss: &Value, labels: &[String]) -> Result<Value, String> {
    if !ss["spec"]["data"].is_null() {
        return Err(
            "using deprecated 'data' field, use 'encryptedData' or flip the feature flag".into(),
        );
    }
    let template = &ss["spec"]["template"];
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut data = Map::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    let encrypted = ss["spec"]["encryptedData"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in &encrypted {
        let Some(bytes) = v.as_str().and_then(|s| b64.decode(s).ok()) else {
            errors
                .entry("illegal base64 data".into())
                .or_default()
                .push(k.clone());
            continue;
        };
        match hybrid_decrypt(keys, &bytes, labels) {
            Ok(plain) => {
                data.insert(k.clone(), json!(b64.encode(plain)));
            }
            Err(e) => errors.entry(e.to_string()).or_default().push(k.clone()),
        }
    }
    if let Some(t) = template["data"].as_object() {
        // Go templates over the decrypted values are not modelled: refuse rather than guess.
        for k in t.keys() {
            errors
                .entry("template data is not modelled by the embedded platform".into())
                .or_default()
                .push(k.clone());
        }
    }
    if !errors.is_empty() {
        return Err(errors
            .into_iter()
            .map(|(e, keys)| format!("{e} ({})", keys.join(", ")))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let mut meta = template["metadata"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    meta.insert("name".into(), json!(name(ss)));
    meta.insert("namespace".into(), json!(namespace(ss)));
    if template["metadata"]["annotations"][SKIP_OWNER] != "true" {
        meta.insert(
            "ownerReferences".into(),
            json!([{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": name(ss),
                    "uid": ss["metadata"]["uid"], "controller": true}]),
        );
    }
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data});
    if let Some(t) = template["type"].as_str() {
        secret["type"] = json!(t);
    }
    if let Some(i) = template.get("immutable").filter(|i| i.is_boolean()) {
        secret["immutable"] = i.clone();
    }
    Ok(secret)
}

/// Creates or updates the Secret; `Ok(true)` when something changed. A Secret the SealedSecret
/// does not own (and that is not annotated `managed`) is left alone, as upstream does.
fn write(ctx: &Ctx, ss: &Value, desired: Value) -> Result<bool, Failure> {
    let secrets = res("Secret");
    let api_failure = |e: crate::store::ApiError| {
        // Defect `secret-package-objects-dropped` answers writes as if they succeeded.
        if e.reason == crate::admission::DROPPED_REASON {
            return Ok(true);
        }
        Err(Failure {
            reason: "ErrUpdateFailed",
            event: e.message.clone(),
            condition: e.message,
        })
    };
    let Some(existing) = ctx.store.get(secrets, Some(namespace(ss)), name(ss)) else {
        return ctx
            .store
            .create(secrets, desired)
            .map(|_| true)
            .or_else(api_failure);
    };
    if !owned_by(&existing, &ss["metadata"]["uid"])
        && existing["metadata"]["annotations"][MANAGED] != "true"
    {
        let msg = format!(
            "Resource \"{}\" already exists and is not managed by SealedSecret",
            name(ss)
        );
        return Err(Failure {
            reason: "ErrUpdateFailed",
            event: msg.clone(),
            condition: format!("failed update: {msg}"),
        });
    }
    let mut updated = existing.clone();
    updated["data"] = desired["data"].clone();
    updated["type"] = desired["type"].clone();
    for f in ["labels", "annotations", "ownerReferences"] {
        match desired["metadata"].get(f) {
            Some(v) => updated["metadata"][f] = v.clone(),
            None => {
                updated["metadata"].as_object_mut().map(|m| m.remove(f));
            }
        }
    }
    if updated == existing {
        return Ok(false);
    }
    ctx.store
        .update(secrets, updated)
        .map(|_| true)
        .or_else(api_failure)
}
