//! Label selector matching (`matchLabels` AND `matchExpressions`), as the API server does it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use std::collections::BTreeMap;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// Whether `selector` selects an object with `labels`. An empty selector selects everything.
///
/// An operator other than In, NotIn, Exists, DoesNotExist makes the selector select nothing:
/// the API server would have rejected it, so nothing can be selected by it.
pub fn selects(selector: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_labels
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|req| requirement_holds(req, labels))
}

fn requirement_holds(req: &LabelSelectorRequirement, labels: &Labels) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    let value = labels.get(&req.key);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        // NotIn also matches objects that lack the key.
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|s| s.to_string()).collect()),
            }]),
            match_labels: None,
        }
    }

    #[test]
    fn operators() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(selects(&LabelSelector::default(), &l));
        assert!(selects(&expr("app", "In", &["web", "api"]), &l));
        assert!(!selects(&expr("app", "In", &["api"]), &l));
        assert!(selects(&expr("app", "NotIn", &["api"]), &l));
        assert!(!selects(&expr("app", "NotIn", &["web"]), &l));
        assert!(selects(&expr("missing", "NotIn", &["x"]), &l));
        assert!(selects(&expr("tier", "Exists", &[]), &l));
        assert!(!selects(&expr("tier", "DoesNotExist", &[]), &l));
        assert!(selects(&expr("zone", "DoesNotExist", &[]), &l));
        assert!(!selects(&expr("app", "Bogus", &["web"]), &l));
        let both = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            ..expr("tier", "In", &["back"])
        };
        assert!(
            !selects(&both, &l),
            "matchLabels and matchExpressions are ANDed"
        );
    }
}
