//! The example Alertmanager configuration (examples/alertmanager/) with the real `amtool`:
//! it passes `amtool check-config`, and `amtool config routes test` sends each kind of
//! Tradeplane alert — by severity and by strategy — to the receivers its README promises.
//! (tests/api_examples.rs applies the Secret that carries it to the API server.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use e2e::prometheus::run_tool;
use e2e::repo_root;
use e2e::runtime_process::temp_dir;
use serde_json::Value;

const CONFIG: &str = "alertmanager.yaml";

/// The configuration inside the example Secret.
fn configuration() -> String {
    let path = repo_root().join("examples/alertmanager/alertmanager-secret.yaml");
    let secret: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(secret["kind"], "Secret");
    secret["stringData"][CONFIG].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_example_passes_amtool_check_config() {
    let dir = temp_dir("alertmanager").unwrap();
    std::fs::write(dir.join(CONFIG), configuration()).unwrap();
    let checked = run_tool("amtool", &["check-config", CONFIG], &dir)
        .await
        .unwrap();
    assert!(checked.contains("SUCCESS"), "{checked}");
    assert!(checked.contains("4 receivers"), "{checked}");

    // The check is real: a route naming a receiver that does not exist is refused.
    let broken = configuration().replace("receiver: trading-slack", "receiver: trading-slak");
    std::fs::write(dir.join("broken.yaml"), broken).unwrap();
    let refused = run_tool("amtool", &["check-config", "broken.yaml"], &dir)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("trading-slak"), "{refused}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn alerts_are_routed_by_severity_and_strategy() {
    let dir = temp_dir("alertmanager-routes").unwrap();
    std::fs::write(dir.join(CONFIG), configuration()).unwrap();
    let config_flag = format!("--config.file={CONFIG}");
    for (labels, receivers) in [
        (
            "alertname=TradingStrategyKillSwitch severity=critical namespace=desk strategy=mean-rev",
            "oncall-webhook,desk-email",
        ),
        (
            "alertname=TradingStrategyKillSwitch severity=critical namespace=desk strategy=momentum-fast",
            "oncall-webhook,momentum-desk-slack,desk-email",
        ),
        (
            "alertname=TradingStrategyDrawdown severity=warning namespace=desk strategy=mean-rev",
            "trading-slack",
        ),
        (
            "alertname=TradingStrategyDrawdown severity=warning namespace=desk strategy=momentum-fast",
            "momentum-desk-slack,trading-slack",
        ),
        (
            "alertname=AgentPoolLlmErrors severity=warning namespace=desk pool=research",
            "trading-slack",
        ),
        (
            "alertname=TradeplaneOperatorDown severity=critical",
            "oncall-webhook,desk-email",
        ),
        (
            "alertname=TradingStrategyBackupTooOld severity=info namespace=desk strategy=mean-rev",
            "desk-email",
        ),
    ] {
        let verify = format!("--verify.receivers={receivers}");
        let mut args = vec!["config", "routes", "test", &config_flag, &verify];
        args.extend(labels.split(' '));
        let routed = run_tool("amtool", &args, &dir).await;
        assert!(
            routed.is_ok(),
            "{labels} should go to {receivers}: {routed:?}"
        );
    }
    // --verify.receivers fails on a wrong expectation, so the loop above can fail.
    let wrong = run_tool(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            &config_flag,
            "--verify.receivers=trading-slack",
            "severity=critical",
        ],
        &dir,
    )
    .await;
    assert!(wrong.is_err(), "{wrong:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
