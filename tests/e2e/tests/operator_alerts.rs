//! The operator's own alerts, shipped with the chart (`metrics.prometheusRule`), checked
//! with the real `promtool`: the rendered rule file passes `promtool check rules`, and the
//! unit tests in `tests/prometheus/operator-alerts.test.yaml` (synthetic series) show each
//! alert firing when it should and silent when it should not. A chart rendered with a lower
//! error threshold must fail those tests, which shows they test the rules as rendered.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use e2e::prometheus::{chart_rule_file, run_tool};
use e2e::repo_root;
use e2e::runtime_process::temp_dir;

const RULES: &str = "operator-rules.yaml";
const UNIT_TESTS: &str = "operator-alerts.test.yaml";

/// A directory holding the chart's rules rendered with `values` beside the unit tests.
async fn prepared(values: &str) -> std::path::PathBuf {
    let dir = temp_dir("operator-alerts").unwrap();
    std::fs::write(dir.join(RULES), chart_rule_file(values).await.unwrap()).unwrap();
    std::fs::copy(
        repo_root().join("tests/prometheus").join(UNIT_TESTS),
        dir.join(UNIT_TESTS),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn the_charts_operator_alerts_pass_promtool_check_and_their_unit_tests() {
    let dir = prepared("metrics: {prometheusRule: {enabled: true}}\n").await;
    let checked = run_tool("promtool", &["check", "rules", RULES], &dir)
        .await
        .unwrap();
    assert!(checked.contains("SUCCESS: 3 rules found"), "{checked}");
    let tested = run_tool("promtool", &["test", "rules", UNIT_TESTS], &dir)
        .await
        .unwrap();
    assert!(tested.contains("SUCCESS"), "{tested}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_lower_error_threshold_fails_the_unit_tests() {
    // At 0.01 errors a second the AgentPool series (0.05/s), silent at the default 0.1,
    // fires too: the unit tests see it.
    let dir =
        prepared("metrics: {prometheusRule: {enabled: true, reconcileErrorsPerSecond: 0.01}}\n")
            .await;
    let failed = run_tool("promtool", &["test", "rules", UNIT_TESTS], &dir)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        failed.contains("TradeplaneOperatorReconcileErrors") && failed.contains("AgentPool"),
        "{failed}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
