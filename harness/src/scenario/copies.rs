//! The namespaces a scenario declares, and copies of a scenario in namespaces of their own, so
//! several copies can run on one platform at the same time.

use serde_json::Value;

use super::format::{Scenario, ScenarioFile};

/// Keys whose values are file paths or storage URIs, never namespace names.
const NOT_NAMES: [&str; 4] = ["path", "samples", "storageUri", "file"];

/// Where a namespace name can sit inside a longer string: `seldon-mesh.<ns>.svc`,
/// `system:serviceaccount:<ns>:<sa>`, `<ns>/<name>`.
const SEPARATORS: [char; 4] = ['.', ':', '/', ','];

impl Scenario {
    /// Every namespace the scenario creates or adopts (`spec.namespaces` and the teams'), in file
    /// order. Two scenarios sharing one must not run at the same time on one cluster.
    pub fn namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .doc
            .spec
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .collect();
        for t in &self.doc.spec.teams {
            if !out.contains(&t.namespace) {
                out.push(t.namespace.clone());
            }
        }
        out
    }

    /// A copy of the scenario in which every namespace it declares, and the scenario's own name,
    /// carry `suffix` (e.g. `-c2`): wherever the name is a whole value or a whole part of one
    /// (`seldon-mesh.financial-ml.svc`, `financial-ml/sa`), in checks, objects, labels and
    /// selectors alike, so the copy is the same scenario in namespaces of its own. Paths and
    /// storage URIs are left alone. Fails when a name would no longer be a namespace name.
    pub fn with_namespace_suffix(&self, suffix: &str) -> Result<Scenario, String> {
        let mut names = self.namespaces();
        names.push(self.name().to_string());
        for n in &names {
            let renamed = format!("{n}{suffix}");
            if !crate::names::is_dns_label(&renamed) {
                return Err(format!(
                    "suffix `{suffix}` makes `{renamed}` (from `{n}`) an invalid namespace name: lowercase letters, digits and '-', at most 63 characters"
                ));
            }
        }
        let mut doc = serde_json::to_value(&self.doc)
            .map_err(|e| format!("copying scenario `{}`: {e}", self.name()))?;
        rename(&mut doc, &names, suffix, None);
        let doc: ScenarioFile = serde_json::from_value(doc)
            .map_err(|e| format!("copying scenario `{}`: {e}", self.name()))?;
        Ok(Scenario {
            file: self.file.clone(),
            doc,
            positions: self.positions.clone(),
            warnings: self.warnings.clone(),
        })
    }
}

fn rename(v: &mut Value, names: &[String], suffix: &str, key: Option<&str>) {
    match v {
        Value::String(s) if !key.is_some_and(|k| NOT_NAMES.contains(&k)) => {
            *s = rename_parts(s, names, suffix);
        }
        Value::Array(items) => {
            for i in items {
                rename(i, names, suffix, key);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                rename(v, names, suffix, Some(k));
            }
        }
        _ => {}
    }
}

/// `text` with every part (between [`SEPARATORS`]) that is one of `names` suffixed.
fn rename_parts(text: &str, names: &[String], suffix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut part = String::new();
    let flush = |part: &mut String, out: &mut String| {
        out.push_str(part);
        if names.iter().any(|n| n == part) {
            out.push_str(suffix);
        }
        part.clear();
    };
    for c in text.chars() {
        if SEPARATORS.contains(&c) {
            flush(&mut part, &mut out);
            out.push(c);
        } else {
            part.push(c);
        }
    }
    flush(&mut part, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_and_parts_are_renamed_prefixes_are_not() {
        let names = vec!["financial-ml".to_string(), "seldon-system".to_string()];
        let r = |s: &str| rename_parts(s, &names, "-c2");
        assert_eq!(r("financial-ml"), "financial-ml-c2");
        assert_eq!(r("financial-mlops-pytorch"), "financial-mlops-pytorch");
        assert_eq!(
            r("seldon-mesh.financial-ml.svc.cluster.local"),
            "seldon-mesh.financial-ml-c2.svc.cluster.local"
        );
        assert_eq!(
            r("system:serviceaccount:financial-ml:default"),
            "system:serviceaccount:financial-ml-c2:default"
        );
        assert_eq!(r("seldon-system/viewer"), "seldon-system-c2/viewer");
        assert_eq!(r("seldon-mesh"), "seldon-mesh");
    }

    #[test]
    fn paths_are_left_alone() {
        let names = vec!["models".to_string()];
        let mut v =
            serde_json::json!({"path": "models/x", "namespace": "models", "list": ["models"]});
        rename(&mut v, &names, "-c2", None);
        assert_eq!(v["path"], "models/x");
        assert_eq!(v["namespace"], "models-c2");
        assert_eq!(v["list"][0], "models-c2");
    }
}
