//! Validation of built-in types as the API server's strategies do it (`pkg/apis/*/validation`,
//! `apimachinery/pkg/util/validation`): 422 `Invalid` with one cause per field error, and Secret
//! `data` that is not base64 refused while decoding (400), before admission.
//!
//! Only the rules the harness's users can trip over are modelled (docs/real-apiserver-facts.md,
//! "Validation"): label keys and values, RBAC rules, NetworkPolicy ports, policy types and label
//! selectors. The wording is Kubernetes' own; where 1.20 and newer servers differ, the newer is
//! used and the differential test normalises it (docs/real-apiserver-facts.md, allowed divergences).

use serde_json::{Value, json};

use crate::store::{Admission, ApiError, Operation, Reader, ResourceType};

/// One field error: `field.Error` of apimachinery.
pub(super) struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`.
    reason: &'static str,
    field: String,
    /// What follows `<field>: ` in the message, e.g. `Required value: ...`.
    detail: String,
}

impl FieldError {
    /// `<field>: Required value`, as CRD schema validation reports a missing property.
    pub(super) fn required_plain(field: String) -> FieldError {
        FieldError {
            reason: "FieldValueRequired",
            field,
            detail: "Required value".into(),
        }
    }
    /// A value of the wrong type, as kube-openapi reports it for a CRD schema.
    pub(super) fn type_invalid(field: String, got: &str, want: &str) -> FieldError {
        FieldError {
            reason: "FieldValueTypeInvalid",
            detail: format!(
                "Invalid value: \"{got}\": {field} in body must be of type {want}: \"{got}\""
            ),
            field,
        }
    }
    fn invalid(field: String, value: &Value, why: &str) -> FieldError {
        FieldError {
            reason: "FieldValueInvalid",
            field,
            detail: format!("Invalid value: {}: {why}", go_value(value)),
        }
    }
    fn required(field: String, why: &str) -> FieldError {
        FieldError {
            reason: "FieldValueRequired",
            field,
            detail: format!("Required value: {why}"),
        }
    }
    fn not_supported(field: String, value: &Value, supported: &[&str]) -> FieldError {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        FieldError {
            reason: "FieldValueNotSupported",
            field,
            detail: format!(
                "Unsupported value: {}: supported values: {}",
                go_value(value),
                list.join(", ")
            ),
        }
    }
}

/// A value as `field.Invalid` prints it: strings quoted, numbers bare.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The 422 for `errors`: `<Kind>[.<group>] "<name>" is invalid: <one>` or `...: [<a>, <b>]`.
pub(super) fn invalid(rt: &ResourceType, name: &str, errors: Vec<FieldError>) -> ApiError {
    let qualified = if rt.group.is_empty() {
        rt.kind.to_string()
    } else {
        format!("{}.{}", rt.kind, rt.group)
    };
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.detail))
        .collect();
    let joined = if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.reason, "message": e.detail, "field": e.field}))
        .collect();
    let mut details = json!({"name": name, "kind": rt.kind, "causes": causes});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    let mut e = ApiError::invalid(format!("{qualified} \"{name}\" is invalid: {joined}"));
    e.details = Some(details);
    e
}

const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MESSAGE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const PREFIX_MESSAGE: &str = "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, the shape of a label value and a key's name part.
fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `ValidateLabels`: keys are qualified names, values valid label values.
fn check_labels(labels: &Value, field: &str, errors: &mut Vec<FieldError>) {
    for (k, v) in labels.as_object().into_iter().flatten() {
        let (prefix, name) = match k.split_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, k.as_str()),
        };
        let key = json!(k);
        if name.is_empty() {
            errors.push(FieldError::invalid(
                field.into(),
                &key,
                "name part must be non-empty",
            ));
        } else if name.len() > 63 {
            errors.push(FieldError::invalid(
                field.into(),
                &key,
                "name part must be no more than 63 characters",
            ));
        } else if !is_qualified_part(name) {
            errors.push(FieldError::invalid(field.into(), &key, NAME_PART_MESSAGE));
        }
        if let Some(p) = prefix
            && !crate::names::is_dns1123_subdomain(p)
        {
            errors.push(FieldError::invalid(field.into(), &key, PREFIX_MESSAGE));
        }
        let value = v.as_str().unwrap_or_default();
        if value.len() > 63 {
            errors.push(FieldError::invalid(
                field.into(),
                v,
                "must be no more than 63 characters",
            ));
        } else if !value.is_empty() && !is_qualified_part(value) {
            errors.push(FieldError::invalid(field.into(), v, LABEL_VALUE_MESSAGE));
        }
    }
}

/// `ValidateLabelSelector`: `matchLabels` as labels.
fn check_selector(sel: &Value, field: &str, errors: &mut Vec<FieldError>) {
    check_labels(&sel["matchLabels"], &format!("{field}.matchLabels"), errors);
}

/// `ValidatePolicyRule` (RBAC): verbs always; resource rules need API groups and resources.
fn check_rules(obj: &Value, errors: &mut Vec<FieldError>) {
    let empty = |v: &Value| v.as_array().is_none_or(|a| a.is_empty());
    for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        let p = format!("rules[{i}]");
        if empty(&rule["verbs"]) {
            errors.push(FieldError::required(
                format!("{p}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        if !empty(&rule["nonResourceURLs"]) {
            continue;
        }
        if empty(&rule["apiGroups"]) {
            errors.push(FieldError::required(
                format!("{p}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if empty(&rule["resources"]) {
            errors.push(FieldError::required(
                format!("{p}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

/// `ValidateNetworkPolicySpec`: selectors, ports (protocol, number range) and policy types.
fn check_network_policy(spec: &Value, errors: &mut Vec<FieldError>) {
    check_selector(&spec["podSelector"], "spec.podSelector", errors);
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in spec[dir].as_array().into_iter().flatten().enumerate() {
            let rp = format!("spec.{dir}[{i}]");
            for (j, port) in rule["ports"].as_array().into_iter().flatten().enumerate() {
                let pp = format!("{rp}.ports[{j}]");
                let protocol = &port["protocol"];
                if !protocol.is_null()
                    && !["TCP", "UDP", "SCTP"].contains(&protocol.as_str().unwrap_or_default())
                {
                    errors.push(FieldError::not_supported(
                        format!("{pp}.protocol"),
                        protocol,
                        &["TCP", "UDP", "SCTP"],
                    ));
                }
                if let Some(n) = port["port"].as_i64()
                    && !(1..=65535).contains(&n)
                {
                    errors.push(FieldError::invalid(
                        format!("{pp}.port"),
                        &port["port"],
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
            for (j, peer) in rule[peers].as_array().into_iter().flatten().enumerate() {
                for sel in ["podSelector", "namespaceSelector"] {
                    if peer[sel].is_object() {
                        check_selector(&peer[sel], &format!("{rp}.{peers}[{j}].{sel}"), errors);
                    }
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
        if !["Ingress", "Egress"].contains(&t.as_str().unwrap_or_default()) {
            errors.push(FieldError::not_supported(
                format!("spec.policyTypes[{i}]"),
                t,
                &["Ingress", "Egress"],
            ));
        }
    }
}

/// Field validation of built-in types, on create and update (after mutating admission).
pub(super) struct FieldValidation;

impl Admission for FieldValidation {
    fn admit(
        &self,
        _: &dyn Reader,
        _: Operation,
        rt: &'static ResourceType,
        obj: &mut Value,
        _: Option<&Value>,
    ) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        check_labels(&obj["metadata"]["labels"], "metadata.labels", &mut errors);
        match rt.kind {
            "Role" | "ClusterRole" => check_rules(obj, &mut errors),
            "NetworkPolicy" => check_network_policy(&obj["spec"], &mut errors),
            _ => {}
        }
        if errors.is_empty() {
            return Ok(());
        }
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        Err(invalid(rt, name, errors))
    }
}

/// Secret `data` must decode as Go's `base64.StdEncoding` (how `[]byte` is read from JSON): the
/// API server refuses it while decoding the body, 400 without details.
pub(super) fn check_secret_data(obj: &Value) -> Result<(), ApiError> {
    for v in obj["data"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, v)| v)
    {
        let Some(s) = v.as_str() else {
            return Err(cannot_handle(format!(
                "v1.Secret.Data: ReadString: expects \" or n, but found {}",
                v.to_string().chars().next().unwrap_or('?')
            )));
        };
        if let Some(at) = base64_error_offset(s) {
            return Err(cannot_handle(format!(
                "v1.Secret.Data: decode base64: illegal base64 data at input byte {at}"
            )));
        }
    }
    Ok(())
}

fn cannot_handle(why: String) -> ApiError {
    ApiError::bad_request(format!(
        "Secret in version \"v1\" cannot be handled as a Secret: {why}"
    ))
}

/// Where Go's `base64.StdEncoding.DecodeString` reports a `CorruptInputError`, or `None` when `s`
/// decodes (`\r` and `\n` are skipped, padding is required).
fn base64_error_offset(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut quantum = 0; // characters of the current 4-character group seen
    let mut quantum_start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\r' || c == b'\n' {
            i += 1;
            continue;
        }
        if quantum == 0 {
            quantum_start = i;
        }
        if c == b'=' {
            // Padding may only complete a group of 2 or 3, and nothing may follow it.
            if quantum < 2 {
                return Some(i);
            }
            let rest: Vec<usize> = (i..b.len())
                .filter(|&k| b[k] != b'\r' && b[k] != b'\n')
                .collect();
            let need = 4 - quantum;
            if need == 2 {
                // Go: a missing second `=` is reported at the end, a wrong one just before it.
                match rest.get(1) {
                    None => return Some(b.len()),
                    Some(&k) if b[k] != b'=' => return Some(k - 1),
                    Some(_) => {}
                }
            }
            return (rest.len() > need).then(|| rest[need]);
        }
        if !alphabet(c) {
            return Some(i);
        }
        quantum = (quantum + 1) % 4;
        i += 1;
    }
    (quantum != 0).then_some(quantum_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_offsets_match_go() {
        assert_eq!(base64_error_offset("aGVsbG8="), None);
        assert_eq!(base64_error_offset("aGVs\nbG8="), None);
        assert_eq!(base64_error_offset(""), None);
        // Go: `illegal base64 data at input byte 3` for "not base64!" (the space).
        assert_eq!(base64_error_offset("not base64!"), Some(3));
        assert_eq!(base64_error_offset("abc"), Some(0));
        assert_eq!(base64_error_offset("abcdabc"), Some(4));
        assert_eq!(base64_error_offset("a==="), Some(1));
        assert_eq!(base64_error_offset("ab="), Some(3));
        assert_eq!(base64_error_offset("ab=x"), Some(2));
        assert_eq!(base64_error_offset("abc=d"), Some(4));
    }

    #[test]
    fn label_values() {
        let mut e = Vec::new();
        check_labels(
            &json!({"team": "data science", "ok": "a.b_c-1", "empty": ""}),
            "metadata.labels",
            &mut e,
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].detail
                .starts_with("Invalid value: \"data science\": a valid label")
        );
    }
}
