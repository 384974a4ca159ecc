//! Malformed scenario files: each must be rejected with `file:line:column`, the field path and a
//! message saying what is wrong. The valid base must load, so each case fails for its own reason.

use std::path::Path;

use harness::scenario::Scenario;
use rstest::rstest;

const BASE: &str = r#"apiVersion: conformance.harness/v1alpha1
kind: Scenario
metadata:
  name: base
spec:
  seldon:
    chartVersion: "2.10.2"
  namespaces:
    - name: seldon-system
      labels: {name: seldon-system}
  teams:
    - namespace: team-a
      resourceQuotas:
        - apiVersion: v1
          kind: ResourceQuota
          metadata:
            name: q
          spec:
            hard:
              limits.cpu: "4"
      runtime:
        apiVersion: mlops.seldon.io/v1alpha1
        kind: SeldonRuntime
        metadata:
          name: rt
        spec:
          seldonConfig: default
      servers:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Server
          metadata:
            name: mlserver
          spec:
            serverConfig: mlserver
      models:
        - apiVersion: mlops.seldon.io/v1alpha1
          kind: Model
          metadata:
            name: iris
          spec:
            storageUri: gs://seldon-models/mlserver/iris
            requirements: [sklearn]
            memory: 100Ki
  checks:
    - name: iris-ready
      timeout: 2m
      expect:
        modelReady: {namespace: team-a, model: iris}
"#;

fn load(text: &str) -> Result<Scenario, String> {
    Scenario::parse(Path::new("scenarios/base.yaml"), text).map_err(|e| e.to_string())
}

#[test]
fn base_is_valid() {
    let s = load(BASE).expect("the base scenario must be valid");
    assert_eq!(s.name(), "base");
    // The only warning: its full runtime enables the Kafka components with the default `kafka: none`.
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(
        s.warnings[0]
            .to_string()
            .contains("`spec.seldon.kafka` is `none`"),
        "{:?}",
        s.warnings
    );
}

/// (replace this, with this, expected `line:col`, field path, message fragment)
#[rstest]
#[case::unknown_top_level_field(
    "kind: Scenario\n",
    "kind: Scenario\nextra: 1\n",
    "3:1",
    "extra",
    "unknown field `extra`"
)]
#[case::unknown_team_field(
    "    - namespace: team-a\n",
    "    - namespace: team-a\n      quotas: []\n",
    "13:7",
    "spec.teams[0].quotas",
    "unknown field `quotas`"
)]
#[case::wrong_api_version(
    "apiVersion: conformance.harness/v1alpha1",
    "apiVersion: v1",
    "1:13",
    "apiVersion",
    "is not supported"
)]
#[case::bad_yaml("  name: base\n", "  name: [base\n", "5:5", "", "not valid YAML")]
#[case::duplicate_key(
    "  name: base\n",
    "  name: base\n  name: again\n",
    "5:3",
    "",
    "duplicate key `name`"
)]
#[case::invalid_scenario_name(
    "  name: base\n",
    "  name: Base_Scenario\n",
    "4:9",
    "metadata.name",
    "not a valid RFC 1123 label"
)]
#[case::invalid_namespace(
    "    - namespace: team-a\n",
    "    - namespace: Team.A\n",
    "12:18",
    "spec.teams[0].namespace",
    "not a valid RFC 1123 label"
)]
#[case::bad_quantity(
    "              limits.cpu: \"4\"",
    "              limits.cpu: four",
    "20:27",
    "spec.teams[0].resourceQuotas[0].spec.hard.limits.cpu",
    "not a Kubernetes quantity"
)]
#[case::bad_model_memory(
    "            memory: 100Ki",
    "            memory: 100KB",
    "43:21",
    "spec.teams[0].models[0].spec.memory",
    "not a Kubernetes quantity"
)]
#[case::unknown_model_field(
    "            memory: 100Ki",
    "            memory: 100Ki\n            memroy: 1Gi",
    "44:13",
    "spec.teams[0].models[0].spec.memroy",
    "unknown field `memroy`"
)]
#[case::unknown_quota_field(
    "            hard:\n",
    "            hardd: {}\n            hard:\n",
    "19:13",
    "spec.teams[0].resourceQuotas[0].spec.hardd",
    "unknown field `hardd`"
)]
#[case::wrong_kind_in_slot(
    "          kind: ResourceQuota",
    "          kind: LimitRange",
    "15:17",
    "spec.teams[0].resourceQuotas[0].kind",
    "does not belong here"
)]
#[case::duplicate_check(
    "  checks:\n",
    "  checks:\n    - name: iris-ready\n      expect:\n        runtimeReady: {namespace: team-a}\n",
    "48:13",
    "spec.checks[1].name",
    "declared twice"
)]
#[case::dangling_model_in_check(
    "model: iris}",
    "model: irís}",
    "48:48",
    "spec.checks[0].expect.modelReady.model",
    "does not exist in namespace `team-a`"
)]
#[case::dangling_namespace_in_check(
    "{namespace: team-a, model: iris}",
    "{namespace: team-b, model: iris}",
    "48:33",
    "spec.checks[0].expect.modelReady.namespace",
    "not declared in this scenario"
)]
#[case::dangling_secret(
    "            memory: 100Ki",
    "            memory: 100Ki\n            secretName: s3-creds",
    "44:25",
    "spec.teams[0].models[0].spec.secretName",
    "no secret package of team `team-a` provides"
)]
#[case::unservable_requirement(
    "requirements: [sklearn]",
    "requirements: [pytorch]",
    "42:13",
    "spec.teams[0].models[0].spec.requirements",
    "requires [\"pytorch\"] but no Server in this namespace lists all of them"
)]
#[case::bad_timeout(
    "      timeout: 2m",
    "      timeout: soon",
    "46:16",
    "spec.checks[0].timeout",
    "not a duration"
)]
#[case::unknown_check_kind(
    "        modelReady: {namespace: team-a, model: iris}",
    "        modelIsReady: {namespace: team-a, model: iris}",
    "48:9",
    "spec.checks[0].expect.modelIsReady",
    "unknown value `modelIsReady`"
)]
#[case::unknown_override_component(
    "          seldonConfig: default\n",
    "          seldonConfig: default\n          overrides:\n            - name: seldon-sheduler\n",
    "29:21",
    "spec.teams[0].runtime.spec.overrides[0].name",
    "not a runtime component"
)]
#[case::podspec_container_mismatch(
    "          seldonConfig: default\n",
    "          seldonConfig: default\n          overrides:\n            - name: seldon-scheduler\n              podSpec:\n                containers:\n                  - name: seldon-scheduler\n",
    "32:27",
    "spec.teams[0].runtime.spec.overrides[0].podSpec.containers[0].name",
    "does not exist in this component"
)]
#[case::object_in_other_namespace(
    "            name: q\n",
    "            name: q\n            namespace: team-b\n",
    "18:24",
    "spec.teams[0].resourceQuotas[0].metadata.namespace",
    "names namespace `team-b` inside team `team-a`"
)]
#[case::bad_chart_version(
    "    chartVersion: \"2.10.2\"",
    "    chartVersion: latest",
    "7:19",
    "spec.seldon.chartVersion",
    "is not a chart version"
)]
#[case::bad_label_value(
    "      labels: {name: seldon-system}",
    "      labels: {name: \"seldon system\"}",
    "10:22",
    "spec.namespaces[0].labels.name",
    "label value `seldon system`"
)]
#[case::role_rule_without_verbs(
    "      runtime:\n",
    "      rbac:\n        - apiVersion: rbac.authorization.k8s.io/v1\n          kind: Role\n          metadata: {name: r}\n          rules:\n            - {apiGroups: [\"\"], resources: [pods], verbs: []}\n      runtime:\n",
    "26:52",
    "spec.teams[0].rbac[0].rules[0].verbs",
    "verbs must contain at least one value"
)]
#[case::networkpolicy_lowercase_protocol(
    "      runtime:\n",
    "      networkPolicies:\n        - apiVersion: networking.k8s.io/v1\n          kind: NetworkPolicy\n          metadata: {name: np}\n          spec:\n            podSelector: {}\n            ingress:\n              - ports: [{protocol: tcp, port: 80}]\n      runtime:\n",
    "28:36",
    "spec.teams[0].networkPolicies[0].spec.ingress[0].ports[0].protocol",
    "protocol `tcp` is not supported"
)]
#[case::networkpolicy_port_out_of_range(
    "      runtime:\n",
    "      networkPolicies:\n        - apiVersion: networking.k8s.io/v1\n          kind: NetworkPolicy\n          metadata: {name: np}\n          spec:\n            podSelector: {}\n            ingress:\n              - ports: [{protocol: TCP, port: 70000}]\n      runtime:\n",
    "28:47",
    "spec.teams[0].networkPolicies[0].spec.ingress[0].ports[0].port",
    "port 70000 must be between 1 and 65535"
)]
#[case::networkpolicy_selector_label_with_a_space(
    "      runtime:\n",
    "      networkPolicies:\n        - apiVersion: networking.k8s.io/v1\n          kind: NetworkPolicy\n          metadata: {name: np}\n          spec:\n            podSelector: {matchLabels: {team: data science}}\n      runtime:\n",
    "26:47",
    "spec.teams[0].networkPolicies[0].spec.podSelector.matchLabels.team",
    "label value \"data science\" of `team` is not valid"
)]
fn malformed_files_are_rejected_with_position_and_field(
    #[case] from: &str,
    #[case] to: &str,
    #[case] position: &str,
    #[case] path: &str,
    #[case] message: &str,
) {
    assert!(BASE.contains(from), "test bug: `{from}` not in the base");
    let text = BASE.replacen(from, to, 1);
    let err = load(&text).expect_err("the malformed file must be rejected");
    let first = err.lines().next().unwrap_or_default().to_string();
    let expected_prefix = format!("scenarios/base.yaml:{position}: error: ");
    assert!(
        first.starts_with(&expected_prefix),
        "expected `{expected_prefix}…`, got:\n{err}"
    );
    if !path.is_empty() {
        assert!(
            first.contains(&format!("`{path}`")),
            "expected field path `{path}` in:\n{err}"
        );
    }
    assert!(err.contains(message), "expected `{message}` in:\n{err}");
}

#[test]
fn capacity_scope_and_storage_checks_are_validated() {
    let check = "        modelReady: {namespace: team-a, model: iris}\n";
    let with = |expect: &str| BASE.replacen(check, expect, 1);
    // A runtimeIgnored the install cannot show: the controller watches every namespace.
    let err = load(&with(
        "        runtimeIgnored: {namespace: team-a, watched: team-a}\n",
    ))
    .expect_err("an install watching every namespace cannot ignore one");
    assert!(
        err.contains("spec.checks[0].expect.runtimeIgnored") && err.contains("watchNamespaces"),
        "{err}"
    );
    // modelsFit: `fit` must leave some Model out.
    let err = load(&with(
        "        modelsFit: {namespace: team-a, models: [iris], fit: 1, reason: enough suitable replicas}\n",
    ))
    .expect_err("all fitting is not a capacity check");
    assert!(err.contains("spec.checks[0].expect.modelsFit"), "{err}");
    // A Secret nobody delivers is an error, unless a modelLoadFails check expects exactly that.
    let absent = BASE.replacen(
        "            memory: 100Ki\n",
        "            memory: 100Ki\n            secretName: not-delivered\n",
        1,
    );
    let err = load(&absent).expect_err("an undelivered Secret is a mistake");
    assert!(err.contains("no secret package"), "{err}");
    let expected = absent.replacen(
        check,
        "        modelLoadFails: {namespace: team-a, model: iris, reason: 'secrets \"not-delivered\" not found'}\n",
        1,
    );
    load(&expected).expect("a modelLoadFails check may expect a missing Secret");
}

/// `brokenOnPurpose` (scenarios/README.md, "Secrets broken on purpose"): each misuse is an error
/// naming the file, line and field, with what to do.
#[test]
fn broken_on_purpose_declarations_are_validated() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storage-failures.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let load = |t: &str| Scenario::parse(&file, t).map_err(|e| e.to_string());
    load(&text).expect("storage-failures is valid as shipped");
    let declared = "            minio-remote: remoteName   # keeps `name: minio` for s3:// Models (#4947)\n            wrong-keys-s3: keys        # keeps keys the store does not know (#5139)\n";
    assert!(text.contains(declared), "test bug: the declaration moved");
    let with = |to: &str| text.replacen(declared, to, 1);
    let pkg = "spec.teams[0].secretPackages[1]";

    // A Secret the package does not provide.
    let err = load(&with(
        "            minio-remote: remoteName\n            wrong-keys-s3: keys\n            elsewhere: keys\n",
    ))
    .expect_err("a Secret not provided cannot be broken here");
    assert!(err.contains("storage-failures.yaml:"), "{err}");
    assert!(
        err.contains(&format!("`{pkg}.brokenOnPurpose.elsewhere`")),
        "{err}"
    );
    assert!(err.contains("does not list it under `provides`"), "{err}");

    // A package may mix working and broken Secrets: a target with its own store swaps only the
    // working ones (setup's `supply_target_secrets`), so nothing is dropped.
    load(&with("            minio-remote: remoteName\n"))
        .expect("a package may provide working Secrets beside broken ones");

    // A part that does not exist.
    let err = load(&with(
        "            minio-remote: remoteName\n            wrong-keys-s3: endpoint\n",
    ))
    .expect_err("only keys and remoteName can be kept wrong");
    assert!(err.contains("brokenOnPurpose"), "{err}");
    assert!(err.contains("keys") && err.contains("remoteName"), "{err}");

    // A broken Secret no expected failure shows.
    let unshown = text.replacen(
        "          model: wrong-credentials\n",
        "          model: credit-risk\n",
        1,
    );
    let err = load(&unshown).expect_err("a broken Secret must be shown failing");
    assert!(
        err.contains(&format!("`{pkg}.brokenOnPurpose.wrong-keys-s3`")),
        "{err}"
    );
    assert!(
        err.contains(
            "no Model of team `storage-failures` that a `modelLoadFails` check names uses it"
        ),
        "{err}"
    );
}
