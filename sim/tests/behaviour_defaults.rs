//! The platform's embedded Seldon defaults match the rendered v2.10.2 setup chart.
//!
//! Reads `seldon-v2.10.2-components.yaml` from `$SELDON_COMPONENTS_YAML` or
//! `<workspace>/../shared/reference/`; skipped (with a message) when neither exists.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use sim::seldon::defaults::{seldon_config_spec, server_config_spec};

fn reference() -> Option<(PathBuf, Vec<Value>)> {
    let candidates: Vec<PathBuf> = std::env::var_os("SELDON_COMPONENTS_YAML")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/seldon-v2.10.2-components.yaml")])
        .collect();
    let path = candidates.into_iter().find(|p| p.is_file())?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let docs = serde_norway::Deserializer::from_str(&text)
        .map(|d| {
            Value::deserialize(d).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect();
    Some((path, docs))
}

/// (container name, cpu request, memory request, memory limit, has cpu limit) of a pod spec.
fn resources(pod_spec: &Value) -> Vec<(String, String, String, String, bool)> {
    pod_spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let r = &c["resources"];
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&c["name"]),
                s(&r["requests"]["cpu"]),
                s(&r["requests"]["memory"]),
                s(&r["limits"]["memory"]),
                !r["limits"]["cpu"].is_null(),
            )
        })
        .collect()
}

fn env(pod_spec: &Value, container: &str, key: &str) -> Value {
    let c = pod_spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == container)
        .unwrap();
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == key)
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn embedded_defaults_match_the_rendered_setup_chart() {
    let Some((path, docs)) = reference() else {
        println!(
            "skipped: seldon-v2.10.2-components.yaml not found (set SELDON_COMPONENTS_YAML or provide ../shared/reference/)"
        );
        return;
    };
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind} {name} missing from {}", path.display()))
    };
    let ours = seldon_config_spec();
    let theirs = &find("SeldonConfig", "default")["spec"];
    let names = |s: &Value| -> Vec<String> {
        s["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&ours), names(theirs), "component names/order");
    for (o, t) in ours["components"]
        .as_array()
        .unwrap()
        .iter()
        .zip(theirs["components"].as_array().unwrap())
    {
        assert_eq!(
            resources(&o["podSpec"]),
            resources(&t["podSpec"]),
            "resources of {}",
            o["name"]
        );
        assert_eq!(o["replicas"], t["replicas"], "replicas of {}", o["name"]);
        let images = |p: &Value| p["containers"][0]["image"].clone();
        assert_eq!(
            images(&o["podSpec"]),
            images(&t["podSpec"]),
            "image of {}",
            o["name"]
        );
        assert_eq!(
            o["volumeClaimTemplates"].is_null(),
            t["volumeClaimTemplates"].is_null(),
            "volumeClaimTemplates of {}",
            o["name"]
        );
    }
    assert!(
        resources(&ours["components"][0]["podSpec"])
            .iter()
            .all(|r| !r.4),
        "no default has a CPU limit"
    );
    assert_eq!(
        ours["config"]["agentConfig"],
        theirs["config"]["agentConfig"]
    );
    assert_eq!(
        ours["config"]["serviceConfig"]["serviceType"],
        theirs["config"]["serviceConfig"]["serviceType"]
    );
    for server in ["mlserver", "triton"] {
        let o = server_config_spec(server);
        let t = &find("ServerConfig", server)["spec"];
        assert_eq!(
            resources(&o["podSpec"]),
            resources(&t["podSpec"]),
            "containers/resources of ServerConfig {server}"
        );
        for key in [
            "SELDON_SERVER_CAPABILITIES",
            "MEMORY_REQUEST",
            "SELDON_OVERCOMMIT_PERCENTAGE",
        ] {
            assert_eq!(
                env(&o["podSpec"], "agent", key),
                env(&t["podSpec"], "agent", key),
                "agent env {key} of {server}"
            );
        }
    }
    println!("compared with {}", path.display());
}
