//! Scenarios that share one cluster need the same Seldon install: a scenario declares one
//! controller (`spec.seldon`: clusterwide, watchNamespaces, chart, values), so `harness run` on a
//! cluster runs scenarios in groups of equal install, one install per group, instead of letting a
//! scenario silently run under another's controller (e.g. `controller-scope`'s watchNamespaces)
//! or where another scenario installed the Kafka it needs absent (`kafka-missing`).

use crate::scenario::Scenario;
use crate::target::TargetOptions;
use crate::target::kind::helm::fingerprint_inputs;

/// The scenarios in groups of equal install (what the kind fingerprint compares, and the Kafka
/// the platform has: kind gives each a cluster of its own, `kind::fingerprint::cluster_for_install`),
/// groups in order of first appearance, scenarios in their order.
pub fn install_groups<'a>(
    opts: &TargetOptions,
    scenarios: &[&'a Scenario],
) -> Vec<Vec<&'a Scenario>> {
    let mut groups: Vec<(serde_json::Value, Vec<&'a Scenario>)> = Vec::new();
    for s in scenarios {
        let install = opts.install_settings(s);
        let key = serde_json::json!({
            "install": fingerprint_inputs(&install),
            "kafka": install.kafka,
        });
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(s),
            None => groups.push((key, vec![s])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

#[cfg(test)]
mod tests {
    use super::install_groups;
    use crate::target::TargetOptions;

    #[test]
    fn a_scenario_with_its_own_controller_scope_gets_its_own_install() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let load = |f: &str| crate::run::load(&dir.join(f)).expect(f);
        let (capacity, scope, financial, missing) = (
            load("capacity.yaml"),
            load("controller-scope.yaml"),
            load("financial-ml.yaml"),
            load("missing-servers.yaml"),
        );
        let all = [&capacity, &scope, &financial, &missing];
        let names = |opts: &TargetOptions| -> Vec<Vec<&str>> {
            install_groups(opts, &all)
                .iter()
                .map(|g| g.iter().map(|s| s.name()).collect())
                .collect()
        };
        // Kafka `installed` (financial-ml) and `none` never share an install, nor do two
        // controller scopes.
        assert_eq!(
            names(&TargetOptions::default()),
            vec![
                vec!["capacity", "missing-servers"],
                vec!["controller-scope"],
                vec!["financial-ml"]
            ]
        );
        // --chart-version overrides every scenario's chart, not their controller scope.
        let opts = TargetOptions {
            chart_version: Some("2.10.1".into()),
            ..Default::default()
        };
        assert_eq!(names(&opts).len(), 3);
    }
}
