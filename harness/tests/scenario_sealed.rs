//! The sealed-package fields of the scenario format: `seal:` on a package and the checks
//! `sealedSecretsUnsealed` / `sealedSecretScope` are validated against the teams' packages.

use std::path::Path;

use harness::scenario::Scenario;
use rstest::rstest;

fn scenario_file() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/sealed-packages.yaml"
    ))
}

fn load(text: &str) -> Result<Scenario, String> {
    Scenario::parse(scenario_file(), text).map_err(|e| e.to_string())
}

#[test]
fn the_sealed_scenario_is_valid() {
    let text = std::fs::read_to_string(scenario_file()).unwrap();
    load(&text).unwrap();
}

#[rstest]
#[case::unknown_scope("seal: strict", "seal: sideways", "sideways")]
#[case::cluster_wide_scope_check(
    "seal: namespace-wide",
    "seal: cluster-wide",
    "is sealed cluster-wide: it is meant to unseal in any namespace"
)]
#[case::unsealed_package(
    "          seal: strict\n",
    "",
    "no package of team `financial-ml` with `seal:` provides Secret `harness-models-s3`"
)]
#[case::same_namespace(
    "{from: financial-ml, to: financial-mlops-pytorch,",
    "{from: financial-ml, to: financial-ml,",
    "`from` and `to` are the same namespace"
)]
#[case::receiving_team_has_the_secret(
    "provides: [training-data-s3]",
    "provides: [training-data-s3, harness-models-s3]",
    "has its own Secret `harness-models-s3`"
)]
fn sealed_fields_are_checked(#[case] from: &str, #[case] to: &str, #[case] message: &str) {
    let text = std::fs::read_to_string(scenario_file()).unwrap();
    assert!(
        text.contains(from),
        "the scenario no longer contains `{from}`"
    );
    let e = load(&text.replacen(from, to, 1)).expect_err("must be rejected");
    assert!(e.contains(message), "`{e}` lacks `{message}`");
}
