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
    fn a_copy_of_financial_ml_lives_in_namespaces_of_its_own() {
        let file =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/financial-ml.yaml");
        let s = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let copy = s
            .with_namespace_suffix("-c2")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(copy.name(), "financial-ml-c2");
        let original = s.namespaces();
        assert!(original.contains(&"seldon-system".to_string()));
        assert_eq!(
            copy.namespaces(),
            original
                .iter()
                .map(|n| format!("{n}-c2"))
                .collect::<Vec<_>>()
        );
        // No value of the copy still names an original namespace, as a whole or as a part.
        fn parts(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.extend(s.split(SEPARATORS).map(str::to_string)),
                Value::Array(a) => a.iter().for_each(|i| parts(i, out)),
                Value::Object(m) => m
                    .iter()
                    .filter(|(k, _)| !NOT_NAMES.contains(&k.as_str()))
                    .for_each(|(_, v)| parts(v, out)),
                _ => {}
            }
        }
        let mut seen = Vec::new();
        parts(&serde_json::to_value(&copy.doc).unwrap(), &mut seen);
        for n in &original {
            assert!(!seen.contains(n), "`{n}` left unrenamed");
            assert!(seen.contains(&format!("{n}-c2")), "`{n}-c2` missing");
        }
        // The same checks, in the copy's namespaces; files and storage URIs unchanged.
        assert_eq!(copy.doc.spec.checks.len(), s.doc.spec.checks.len());
        assert_eq!(
            serde_json::to_value(&copy.doc.spec.artifacts).unwrap(),
            serde_json::to_value(&s.doc.spec.artifacts).unwrap()
        );
        let paths = |s: &Scenario| -> Vec<String> {
            s.doc
                .spec
                .teams
                .iter()
                .flat_map(|t| {
                    t.secret_packages
                        .iter()
                        .map(|p| p.path.display().to_string())
                })
                .collect()
        };
        assert_eq!(paths(&copy), paths(&s));
        assert!(s.with_namespace_suffix(&"-x".repeat(40)).is_err());
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
