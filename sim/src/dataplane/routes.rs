//! Experiment routes as Seldon's scheduler gives them to envoy (docs/seldon-behaviour.md §19): a
//! route name (`<experiment>.experiment`, or the default model's own name) leading to weighted
//! clusters of models, optionally mirrored; and the `x-seldon-route` header naming the model that
//! served a request.

/// Response header envoy adds naming the model version that served (`:<model>_<version>:`);
/// clients send it back for sticky sessions (`scheduler/pkg/util/constants.go` `SeldonRouteHeader`).
pub const ROUTE_HEADER: &str = "x-seldon-route";

/// A weighted route over models, as envoy gets it for an active Experiment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExperimentRoute {
    /// `(model, weight)` in order. A model may appear more than once (the #5181 defect appends
    /// edited weights to the earlier ones); its weights then add up, as repeated clusters do.
    pub clusters: Vec<(String, u32)>,
    /// The mirror model and the percent of requests copied to it (responses discarded).
    pub mirror: Option<(String, u32)>,
}

impl ExperimentRoute {
    /// Sum of the weights (envoy picks a cluster with a uniform number below it).
    pub fn total(&self) -> u64 {
        self.clusters.iter().map(|(_, w)| u64::from(*w)).sum()
    }

    /// The model a uniform `r` in `[0, total)` falls on; `None` when every weight is 0.
    pub fn pick(&self, r: u64) -> Option<&str> {
        let mut acc = 0u64;
        for (model, w) in &self.clusters {
            acc += u64::from(*w);
            if r < acc {
                return Some(model);
            }
        }
        None
    }
}

/// The `x-seldon-route` value for a model version: `:<model>_<version>:`.
pub fn route_value(model: &str, version: &str) -> String {
    format!(":{model}_{version}:")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(c: &[(&str, u32)]) -> ExperimentRoute {
        ExperimentRoute {
            clusters: c.iter().map(|(m, w)| (m.to_string(), *w)).collect(),
            mirror: None,
        }
    }

    #[test]
    fn picks_by_cumulative_weight_and_never_a_zero_weight() {
        let r = route(&[("a", 30), ("b", 0), ("c", 70)]);
        assert_eq!(r.total(), 100);
        assert_eq!(r.pick(0), Some("a"));
        assert_eq!(r.pick(29), Some("a"));
        assert_eq!(r.pick(30), Some("c"));
        assert_eq!(r.pick(99), Some("c"));
        assert_eq!(r.pick(100), None);
        assert!((0..100).all(|x| r.pick(x) != Some("b")));
        assert_eq!(route(&[("a", 0)]).pick(0), None);
    }
}
