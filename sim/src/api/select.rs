//! Label and field selectors, parsed and matched as the API server does.

use serde_json::Value;

use crate::names::is_selector_key;
use crate::store::{ApiError, ResourceType};

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// Splits on commas that are not inside parentheses (`a in (x,y),b`).
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn bad_label(s: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to parse requirement: {why}: found '{s}' in label selector"
    ))
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(s: &str) -> Result<LabelSelector, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top(s)
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            reqs.push(Self::parse_req(part)?);
        }
        Ok(LabelSelector(reqs))
    }

    fn parse_req(part: &str) -> Result<LabelReq, ApiError> {
        if let Some(k) = part.strip_prefix('!') {
            let k = k.trim();
            return if is_selector_key(k) {
                Ok(LabelReq::NotExists(k.into()))
            } else {
                Err(bad_label(part, "invalid key"))
            };
        }
        for (op, neg) in [(" notin ", true), (" in ", false)] {
            if let Some((k, set)) = part.split_once(op) {
                let set = set.trim();
                let inner = set
                    .strip_prefix('(')
                    .and_then(|s| s.strip_suffix(')'))
                    .ok_or_else(|| bad_label(part, "expected a parenthesised set of values"))?;
                let values: Vec<String> = inner
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect();
                let k = k.trim().to_string();
                if !is_selector_key(&k) {
                    return Err(bad_label(part, "invalid key"));
                }
                return Ok(if neg {
                    LabelReq::NotIn(k, values)
                } else {
                    LabelReq::In(k, values)
                });
            }
        }
        let parsed = if let Some((k, v)) = part.split_once("!=") {
            LabelReq::NotEq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once("==") {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once('=') {
            LabelReq::Eq(k.trim().into(), v.trim().into())
        } else if part.contains(['<', '>', '(', ')', ' ']) {
            return Err(bad_label(part, "unsupported operator"));
        } else {
            LabelReq::Exists(part.into())
        };
        let key = match &parsed {
            LabelReq::Eq(k, _) | LabelReq::NotEq(k, _) | LabelReq::Exists(k) => k,
            _ => unreachable!("set operators returned above"),
        };
        if !is_selector_key(key) {
            return Err(bad_label(part, "invalid key"));
        }
        Ok(parsed)
    }

    /// Whether the object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector: `field=value`, `field==value`, `field!=value`, comma-separated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// The fields the API server lets clients select on, per kind (besides `metadata.name|namespace`).
fn selectable(kind: &str) -> &'static [&'static str] {
    match kind {
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses a selector, rejecting fields the API server does not index for the kind.
    pub fn parse(s: &str, rt: &ResourceType) -> Result<FieldSelector, ApiError> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if !(field == "metadata.name"
                || field == "metadata.namespace"
                || selectable(rt.kind).contains(&field))
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field} (for {}: metadata.name, metadata.namespace{})",
                    rt.kind,
                    selectable(rt.kind)
                        .iter()
                        .map(|f| format!(", {f}"))
                        .collect::<String>()
                )));
            }
            reqs.push((field.to_string(), neg, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// The name the selector pins with `metadata.name=`, if any.
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, neg, _)| f == "metadata.name" && !neg)
            .map(|(_, _, v)| v.as_str())
    }

    /// Adds `metadata.name=<name>` (for single-object watch paths).
    pub fn pin_name(&mut self, name: &str) {
        self.0.push(("metadata.name".into(), false, name.into()));
    }

    /// Whether the object's fields satisfy every requirement (a missing field is the empty string).
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, neg, value)| {
            let mut v = obj;
            for seg in field.split('.') {
                v = &v[seg];
            }
            let actual = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                // `source` on events is an object; the API server selects on its component.
                Value::Object(o) => o
                    .get("component")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                other => other.to_string(),
            };
            (actual == *value) != *neg
        })
    }
}

/// The selectors of one list or watch request.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

impl Selectors {
    /// Whether the object is selected.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "n", "namespace": "ns", "labels": labels}})
    }

    #[test]
    fn label_operators_match_like_the_api_server() {
        let o = obj(json!({"a": "b", "tier": "web"}));
        let yes = [
            "a=b",
            "a==b",
            "a!=c",
            "tier in (web, db)",
            "tier notin (db)",
            "a",
            "!missing",
            "a=b,tier",
            "x!=y",
        ];
        for s in yes {
            assert!(
                LabelSelector::parse(s).unwrap().matches(&o),
                "{s} should match"
            );
        }
        let no = [
            "a=c",
            "a!=b",
            "tier in (db)",
            "tier notin (web,db)",
            "missing",
            "!a",
            "missing in (x)",
        ];
        for s in no {
            assert!(
                !LabelSelector::parse(s).unwrap().matches(&o),
                "{s} should not match"
            );
        }
        assert!(LabelSelector::parse("").unwrap().matches(&o));
        assert!(
            LabelSelector::parse("missing notin (x)")
                .unwrap()
                .matches(&o)
        );
    }

    #[test]
    fn bad_label_selectors_are_rejected() {
        for s in ["a in b", "a>1", "a b"] {
            let e = LabelSelector::parse(s).unwrap_err();
            assert_eq!((e.code, e.reason), (400, "BadRequest"), "{s}");
        }
    }

    #[test]
    fn field_selectors_are_checked_against_the_kind() {
        let ev = crate::store::ResourceType::by_plural("", "events").unwrap();
        let cm = crate::store::ResourceType::by_plural("", "configmaps").unwrap();
        let e = json!({"metadata": {"name": "e1", "namespace": "ns"}, "involvedObject": {"kind": "Pod", "name": "p"}});
        assert!(
            FieldSelector::parse("involvedObject.kind=Pod,involvedObject.name=p", ev)
                .unwrap()
                .matches(&e)
        );
        assert!(
            !FieldSelector::parse("involvedObject.name!=p", ev)
                .unwrap()
                .matches(&e)
        );
        assert!(
            FieldSelector::parse("metadata.namespace==ns", ev)
                .unwrap()
                .matches(&e)
        );
        let err = FieldSelector::parse("data.x=y", cm).unwrap_err();
        assert!(
            err.message.contains("field label not supported: data.x"),
            "{}",
            err.message
        );
    }
}
