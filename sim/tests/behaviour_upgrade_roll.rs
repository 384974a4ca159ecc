//! The components' half of an in-place upgrade (docs/seldon-behaviour.md §20): the controller on
//! the new version, every component and Server pod recreated by its controller, and the Models
//! placed again once the agents are back.

mod behaviour_support;

use behaviour_support::*;
use serde_json::{Value, json};
use sim::faults::Faults;

const NS: &str = "team-u";
const URI: &str = "gs://models/credit-risk";

fn pod_uids(p: &Platform) -> Vec<(String, String)> {
    p.list("Pod", NS)
        .iter()
        .map(|pod: &Value| {
            (
                pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                pod["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn rolling_the_components_recreates_their_pods_and_serves_the_model_again() {
    let p = Platform::start(Faults::default());
    team(&p, NS, "mlserver").await;
    artifact(&p, URI);
    p.create("Model", model(NS, "credit-risk", URI, json!({})));
    model_ready(&p, NS, "credit-risk", "True").await;
    let before = pod_uids(&p);
    assert!(
        before.iter().any(|(n, _)| n.starts_with("mlserver-")),
        "{before:?}"
    );
    let deleted = sim::seldon::roll_components(&p.store, "seldon-mesh", "2.10.3").unwrap();
    assert!(deleted >= before.len(), "deleted {deleted} of {before:?}");
    let controller = p
        .get("Deployment", "seldon-mesh", "seldon-v2-controller-manager")
        .unwrap();
    assert_eq!(
        controller["spec"]["template"]["spec"]["containers"][0]["image"],
        "docker.io/seldonio/seldonv2-controller:2.10.3"
    );
    // Every pod of the team is replaced (none of the old UIDs is left), and the Model is served
    // again.
    p.wait("the team's pods recreated and Ready", |p| {
        let now = pod_uids(p);
        // StatefulSet pods come back under their names, Deployment pods under new ones.
        let all_new = now.len() >= before.len()
            && before
                .iter()
                .all(|(_, uid)| now.iter().all(|(_, u)| u != uid));
        let ready = p.list("Pod", NS).iter().all(|pod| {
            pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        (all_new && ready).then_some(())
    })
    .await;
    model_ready(&p, NS, "credit-risk", "True").await;
}
