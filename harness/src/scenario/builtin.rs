//! The API server's field rules for the built-in kinds a scenario embeds, checked before a run so a
//! typo fails `harness validate` instead of SETUP on the cluster (422 there; the rules and
//! messages are in docs/real-apiserver-facts.md, "Validation").

use serde_json::Value;

use super::diagnostic::Ctx;
use crate::names::{is_label_key, is_label_value};

/// Checks the field rules of `kind` on `obj`, reporting under path `p`.
pub(super) fn check_builtin(ctx: &mut Ctx<'_>, p: &str, kind: &str, obj: &Value) {
    match kind {
        "Role" => check_rules(ctx, p, obj),
        "NetworkPolicy" => check_network_policy(ctx, &format!("{p}.spec"), &obj["spec"]),
        _ => {}
    }
}

fn empty(v: &Value) -> bool {
    v.as_array().is_none_or(|a| a.is_empty())
}

/// RBAC `ValidatePolicyRule`: verbs always, API groups and resources for resource rules.
fn check_rules(ctx: &mut Ctx<'_>, p: &str, obj: &Value) {
    for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        let rp = format!("{p}.rules[{i}]");
        if empty(&rule["verbs"]) {
            ctx.error_hint(
                &format!("{rp}.verbs"),
                "verbs must contain at least one value (Kubernetes rejects the Role with 422)",
                "e.g. `verbs: [get, list, watch]`; `[\"*\"]` grants every verb",
            );
        }
        if !empty(&rule["nonResourceURLs"]) {
            continue;
        }
        if empty(&rule["apiGroups"]) {
            ctx.error_hint(
                &format!("{rp}.apiGroups"),
                "resource rules must supply at least one api group (Kubernetes rejects the Role with 422)",
                "`apiGroups: [\"\"]` is the core group (pods, secrets, configmaps)",
            );
        }
        if empty(&rule["resources"]) {
            ctx.error_hint(
                &format!("{rp}.resources"),
                "resource rules must supply at least one resource (Kubernetes rejects the Role with 422)",
                "e.g. `resources: [pods]`",
            );
        }
    }
}

/// `ValidateNetworkPolicySpec`: selector labels, port protocols and numbers, policy types.
fn check_network_policy(ctx: &mut Ctx<'_>, p: &str, spec: &Value) {
    check_selector(ctx, &format!("{p}.podSelector"), &spec["podSelector"]);
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in spec[dir].as_array().into_iter().flatten().enumerate() {
            let rp = format!("{p}.{dir}[{i}]");
            for (j, port) in rule["ports"].as_array().into_iter().flatten().enumerate() {
                let pp = format!("{rp}.ports[{j}]");
                if let Some(proto) = port["protocol"].as_str()
                    && !["TCP", "UDP", "SCTP"].contains(&proto)
                {
                    ctx.error_hint(
                        &format!("{pp}.protocol"),
                        format!("protocol `{proto}` is not supported (Kubernetes rejects the NetworkPolicy with 422)"),
                        "use TCP, UDP or SCTP (upper case)",
                    );
                }
                if let Some(n) = port["port"].as_i64()
                    && !(1..=65535).contains(&n)
                {
                    ctx.error_hint(
                        &format!("{pp}.port"),
                        format!("port {n} must be between 1 and 65535, inclusive (Kubernetes rejects the NetworkPolicy with 422)"),
                        "for a range of ports use `port` with `endPort`",
                    );
                }
            }
            for (j, peer) in rule[peers].as_array().into_iter().flatten().enumerate() {
                for sel in ["podSelector", "namespaceSelector"] {
                    check_selector(ctx, &format!("{rp}.{peers}[{j}].{sel}"), &peer[sel]);
                }
            }
        }
    }
    for (i, t) in spec["policyTypes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let t = t.as_str().unwrap_or_default();
        if !["Ingress", "Egress"].contains(&t) {
            ctx.error_hint(
                &format!("{p}.policyTypes[{i}]"),
                format!("policy type `{t}` is not supported (Kubernetes rejects the NetworkPolicy with 422)"),
                "use `Ingress` or `Egress` (capitalised)",
            );
        }
    }
}

/// `matchLabels` keys and values follow the label rules.
fn check_selector(ctx: &mut Ctx<'_>, p: &str, sel: &Value) {
    for (k, v) in sel["matchLabels"].as_object().into_iter().flatten() {
        let path = format!("{p}.matchLabels.{k}");
        if !is_label_key(k) {
            ctx.error_hint(
                &path,
                format!("label key `{k}` is not valid (Kubernetes rejects the object with 422)"),
                "use `[prefix/]name`, name up to 63 characters of letters, digits, '-', '_', '.'",
            );
        }
        match v.as_str() {
            Some(s) if is_label_value(s) => {}
            _ => ctx.error_hint(
                &path,
                format!("label value {v} of `{k}` is not valid (Kubernetes rejects the object with 422)"),
                "label values are strings of up to 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit (quote numbers and booleans)",
            ),
        }
    }
}
