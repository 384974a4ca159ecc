use super::*;

#[test]
fn validation_catches_the_documented_gotchas() {
    let mut s = InstallSettings::new("2.9.1");
    assert!(validate(&s).unwrap().is_empty());
    s.values = serde_json::json!({"controller": {"skipOperatorClusterRoleCreation": true}});
    let e = validate(&s).unwrap_err().to_string();
    assert!(e.contains("skipClusterRoleCreation instead"), "{e}");
    s.values = serde_json::json!({"controller": {"skipClusterRoleCreation": true}});
    assert!(
        validate(&s).unwrap()[0]
            .0
            .contains("seldon-v2-manager-role")
    );
    s.values = serde_json::json!({"controller": {"clusterwide": false}});
    assert!(validate(&s).is_err());
    let mut s = InstallSettings::new("latest");
    assert!(
        validate(&s)
            .unwrap_err()
            .to_string()
            .contains("chartVersion")
    );
    s.chart_version = "2.9.1".into();
    s.set_strings = vec![SetString {
        key: "a".into(),
        value: Some("x".into()),
        from_env: Some("Y".into()),
    }];
    assert!(
        validate(&s)
            .unwrap_err()
            .to_string()
            .contains("exactly one")
    );
}

#[test]
fn canonical_json_orders_keys_at_every_level() {
    let a = serde_json::json!({"b": {"y": 1, "x": [{"d": 1, "c": 2}]}, "a": 0});
    let s = serde_json::to_string(&canonical_json(&a)).unwrap();
    assert_eq!(s, r#"{"a":0,"b":{"x":[{"c":2,"d":1}],"y":1}}"#);
}

#[test]
fn fingerprint_inputs_exclude_secret_values() {
    let mut s = InstallSettings::new("2.9.1");
    s.set_strings = vec![SetString {
        key: "k".into(),
        value: None,
        from_env: Some("HARNESS_TEST_SECRET".into()),
    }];
    let inputs = fingerprint_inputs(&s).to_string();
    assert!(inputs.contains("HARNESS_TEST_SECRET"));
    assert!(inputs.contains("2.9.1"));
}

#[test]
fn list_entries_expose_the_chart_version() {
    let e = ReleaseListEntry {
        name: "seldon-core-v2-setup".into(),
        namespace: "seldon-mesh".into(),
        revision: "1".into(),
        updated: String::new(),
        status: "deployed".into(),
        chart: "seldon-core-v2-setup-2.9.1".into(),
        app_version: "2.9.1".into(),
    };
    assert_eq!(e.chart_version(), Some("2.9.1"));
}
