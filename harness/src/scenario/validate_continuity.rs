//! Validation of a `continuity` check: the names it uses exist in its team, the numbers make sense.

use std::path::Path;

use super::continuity::{Action, Continuity};
use super::format::Team;

/// One problem: the field under the check's `expect.continuity`, what is wrong, what to do.
pub(super) type Problem = (String, String, &'static str);

/// Every problem of a continuity check whose team (if it is one) is `team`.
pub(super) fn problems(c: &Continuity, team: Option<&Team>, base: &Path) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    let Some(team) = team else {
        out.push((
            "namespace".into(),
            format!("namespace `{}` is not a team of this scenario", c.namespace),
            "name the team whose seldon-mesh carries the traffic",
        ));
        return out;
    };
    let has = |list: &[serde_json::Value], n: &str| list.iter().any(|o| o["metadata"]["name"] == n);
    if c.models.is_empty() {
        out.push((
            "models".into(),
            "no model to send traffic to".into(),
            "list at least one `{model, samples}`",
        ));
    }
    for (i, m) in c.models.iter().enumerate() {
        if !has(&team.models, &m.model) {
            out.push((
                format!("models[{i}].model"),
                format!(
                    "model `{}` is not a Model of team `{}`",
                    m.model, c.namespace
                ),
                "add the Model to the team's `models`, or fix the name",
            ));
        }
        if !base.join(&m.samples).is_file() {
            out.push((
                format!("models[{i}].samples"),
                format!("samples file `{}` does not exist", m.samples.display()),
                "paths are relative to the scenario file",
            ));
        }
    }
    if !(1..=1000).contains(&c.traffic.rate) {
        out.push((
            "traffic.rate".into(),
            format!("rate {} is not 1-1000 requests/s", c.traffic.rate),
            "the default is 20 per protocol and model",
        ));
    }
    if c.traffic.duration.is_zero() || c.traffic.protocols.is_empty() {
        out.push((
            "traffic".into(),
            "traffic needs a non-zero `duration` and at least one protocol".into(),
            "e.g. `duration: 2s`, `protocols: [rest, grpc]`",
        ));
    }
    if !(0.0..=1.0).contains(&c.budget.success_ratio) {
        out.push((
            "budget.successRatio".into(),
            format!("{} is not a share between 0 and 1", c.budget.success_ratio),
            "e.g. `0.99` for 99 %",
        ));
    }
    let server = |out: &mut Vec<Problem>, field: &str, s: &str| {
        if !has(&team.servers, s) {
            out.push((
                format!("action.{field}"),
                format!("server `{s}` is not a Server of team `{}`", c.namespace),
                "add the Server to the team's `servers`, or fix the name",
            ));
        }
    };
    match &c.action {
        Action::Restart(r) => match (&r.component, &r.server) {
            (Some(_), None) => {}
            (None, Some(s)) => server(&mut out, "restart.server", s),
            _ => out.push((
                "action.restart".into(),
                "`restart` needs exactly one of `component` or `server`".into(),
                "e.g. `restart: {component: scheduler}` or `restart: {server: mlserver}`",
            )),
        },
        Action::DeleteTogether(s) => server(&mut out, "deleteTogether.server", &s.server),
        Action::Rollout(s) => server(&mut out, "rollout.server", &s.server),
        Action::ScaleModel(s) => {
            if !has(&team.models, &s.model) {
                out.push((
                    "action.scaleModel.model".into(),
                    format!(
                        "model `{}` is not a Model of team `{}`",
                        s.model, c.namespace
                    ),
                    "name a Model of the team",
                ));
            }
            if s.replicas.is_empty() || s.replicas.contains(&0) {
                out.push((
                    "action.scaleModel.replicas".into(),
                    "`replicas` needs at least one count, each at least 1".into(),
                    "e.g. `replicas: [2, 3, 1]`",
                ));
            }
        }
        Action::KillAgentDuringLoad(k) => {
            if !has(&team.models, &k.copy_of) {
                out.push((
                    "action.killAgentDuringLoad.copyOf".into(),
                    format!(
                        "model `{}` is not a Model of team `{}`",
                        k.copy_of, c.namespace
                    ),
                    "name a Model of the team to copy",
                ));
            }
            if has(&team.models, &k.model) || !crate::names::is_dns_label(&k.model) {
                out.push((
                    "action.killAgentDuringLoad.model".into(),
                    format!(
                        "`{}` must be a new RFC 1123 name, not a Model of the team",
                        k.model
                    ),
                    "e.g. `credit-risk-late`",
                ));
            }
        }
        Action::HelmUpgrade(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Team {
        serde_json::from_value(serde_json::json!({
            "namespace": "t",
            "servers": [{"metadata": {"name": "mlserver"}}],
            "models": [{"metadata": {"name": "m"}}],
        }))
        .unwrap()
    }

    fn fields(c: serde_json::Value) -> Vec<String> {
        let c: Continuity = serde_json::from_value(c).unwrap();
        problems(&c, Some(&team()), Path::new("/nonexistent"))
            .into_iter()
            .map(|(f, _, _)| f)
            .collect()
    }

    #[test]
    fn names_every_wrong_field() {
        let got = fields(serde_json::json!({
            "namespace": "t",
            "models": [{"model": "nope", "samples": "s.json"}],
            "traffic": {"rate": 0},
            "action": {"restart": {"component": "scheduler", "server": "mlserver"}},
            "budget": {"successRatio": 1.5},
        }));
        assert_eq!(
            got,
            [
                "models[0].model",
                "models[0].samples",
                "traffic.rate",
                "budget.successRatio",
                "action.restart"
            ]
        );
        let got = fields(serde_json::json!({
            "namespace": "t", "models": [],
            "action": {"killAgentDuringLoad": {"copyOf": "x", "model": "m"}},
        }));
        assert_eq!(
            got,
            [
                "models",
                "action.killAgentDuringLoad.copyOf",
                "action.killAgentDuringLoad.model"
            ]
        );
    }
}
