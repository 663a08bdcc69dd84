//! The strategy's alert rules as rendered from specs; `promtool` then checks what they mean
//! (tests/e2e/tests/alert_rules.rs).

use serde_json::json;

use super::{backup_gap_seconds, render};
use crate::api::trading_strategy::TradingStrategy;

fn strategy(spec: serde_json::Value) -> TradingStrategy {
    let mut full = json!({"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}});
    if let (Some(full), Some(extra)) = (full.as_object_mut(), spec.as_object()) {
        full.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1",
        "kind": "TradingStrategy",
        "metadata": {"name": "momo", "namespace": "desk", "uid": "uid-1", "labels": {"team": "quant"}},
        "spec": full,
    }))
    .unwrap()
}

fn alerts(spec: serde_json::Value) -> Vec<(String, String, String)> {
    let rendered = render(&strategy(spec)).expect("alerting on");
    rendered.file["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_string(),
                r["expr"].as_str().unwrap().to_string(),
                r["for"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn names(rules: &[(String, String, String)]) -> Vec<&str> {
    rules.iter().map(|(a, _, _)| a.as_str()).collect()
}

#[test]
fn alerting_is_off_by_default_and_when_not_enabled() {
    assert!(render(&strategy(json!({}))).is_none());
    assert!(render(&strategy(json!({"alerting": {"labels": {"release": "p"}}}))).is_none());
    assert!(render(&strategy(json!({"alerting": {"enabled": false}}))).is_none());
}

#[test]
fn enabled_alone_renders_every_alert_that_applies_with_the_defaults() {
    let rules = alerts(json!({"alerting": {"enabled": true}}));
    assert_eq!(
        names(&rules),
        [
            "TradingStrategyDrawdown",
            "TradingStrategyDailyLoss",
            "TradingStrategyOrderRejections",
            "TradingStrategyNoCycle",
            "TradingStrategyBrokerUnreachable",
            "TradingStrategyLLMErrors",
            "TradingStrategyKillSwitch",
            "TradingStrategyNoLeader",
        ]
    );
    let sel = r#"namespace="desk",strategy="momo""#;
    assert_eq!(
        rules[0].1,
        format!("max by (namespace, strategy) (tradeplane_drawdown_ratio{{{sel}}}) * 100 > 5")
    );
    // Three default intervals of 60 s.
    assert_eq!(
        rules[3].1,
        format!(
            "sum by (namespace, strategy) (increase(tradeplane_cycles_total{{{sel},outcome=~\"ok|skipped\"}}[180s])) == 0"
        )
    );
    assert!(
        rules[6].1.contains("tradeplane_kill_switch_tripped"),
        "{}",
        rules[6].1
    );
}

#[test]
fn thresholds_follow_the_spec_and_the_cycle_interval() {
    let rules = alerts(json!({
        "schedule": {"intervalSeconds": 300},
        "llmDailyBudgetUSD": 10.0,
        "alerting": {"enabled": true,
            "drawdown": {"threshold": 2.5, "for": "30s", "severity": "Critical"},
            "noCycle": {"threshold": 2, "for": "1m"},
            "llmSpend": {"threshold": 50},
            "orderRejections": {"enabled": false}},
    }));
    let find = |name: &str| rules.iter().find(|(a, _, _)| a == name).unwrap();
    assert!(find("TradingStrategyDrawdown").1.ends_with("* 100 > 2.5"));
    assert_eq!(find("TradingStrategyDrawdown").2, "30s");
    assert!(!names(&rules).contains(&"TradingStrategyOrderRejections"));
    assert!(
        find("TradingStrategyNoCycle").1.contains("[600s]"),
        "two intervals of 300 s"
    );
    assert_eq!(find("TradingStrategyNoCycle").2, "1m");
    assert!(find("TradingStrategyLLMSpend").1.ends_with(">= 5"));
}

#[test]
fn alerts_that_cannot_mean_anything_for_the_spec_are_left_out() {
    let cron =
        alerts(json!({"schedule": {"cron": "30 9-16 * * 1-5"}, "alerting": {"enabled": true}}));
    assert!(!names(&cron).contains(&"TradingStrategyNoCycle"));
    assert!(!names(&cron).contains(&"TradingStrategyNoLeader"));
    let short = alerts(json!({"schedule": {"intervalSeconds": 5}, "alerting": {"enabled": true}}));
    let no_cycle = short
        .iter()
        .find(|(a, _, _)| a == "TradingStrategyNoCycle")
        .unwrap();
    assert!(
        no_cycle.1.contains("[120s]"),
        "never shorter than two minutes: {}",
        no_cycle.1
    );
    let no_budget = alerts(json!({"alerting": {"enabled": true}}));
    assert!(!names(&no_budget).contains(&"TradingStrategyLLMSpend"));
    assert!(!names(&no_budget).contains(&"TradingStrategyBackupTooOld"));
    let paused = alerts(json!({"backup": {"schedule": "0 22 * * *", "suspend": true,
        "destination": {"volume": {}}}, "alerting": {"enabled": true}}));
    assert!(!names(&paused).contains(&"TradingStrategyBackupTooOld"));
}

#[test]
fn the_backup_alert_allows_the_longest_gap_of_the_schedule_per_missed_backup() {
    let weekdays =
        strategy(json!({"backup": {"schedule": "0 22 * * 1-5", "destination": {"volume": {}}}}));
    // Friday 22:00 to Monday 22:00, plus an hour for daylight saving.
    assert_eq!(backup_gap_seconds(&weekdays), Some(3 * 86400 + 3600));
    let rules = alerts(
        json!({"backup": {"schedule": "0 * * * *", "destination": {"volume": {}}},
        "alerting": {"enabled": true, "backupTooOld": {"threshold": 2}}}),
    );
    let backup = rules
        .iter()
        .find(|(a, _, _)| a == "TradingStrategyBackupTooOld")
        .unwrap();
    assert!(
        backup.1.ends_with(&format!("> {}", 3 * (3600 + 3600))),
        "{}",
        backup.1
    );
}

#[test]
fn the_objects_are_owned_labelled_for_the_rule_selector_and_select_the_runtime_pods() {
    let rendered = render(&strategy(json!({"alerting": {"enabled": true,
        "labels": {"release": "prometheus"}, "alertLabels": {"team": "desk"}}})))
    .unwrap();
    for object in [&rendered.rule, &rendered.monitor] {
        let owner = &object.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("TradingStrategy", "uid-1")
        );
        let labels = object.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["release"], "prometheus");
        assert_eq!(labels["tradeplane.io/strategy"], "momo");
        assert_eq!(labels["team"], "quant", "inherited from the strategy");
        assert_eq!(object.metadata.namespace.as_deref(), Some("desk"));
    }
    assert_eq!(rendered.rule.metadata.name.as_deref(), Some("momo-alerts"));
    assert_eq!(
        rendered.monitor.metadata.name.as_deref(),
        Some("momo-metrics")
    );
    let selector = &rendered.monitor.data["spec"]["selector"]["matchLabels"];
    assert_eq!(
        selector,
        &json!({"app.kubernetes.io/name": "agent-runtime", "tradeplane.io/strategy": "momo"})
    );
    let first = &rendered.rule.data["spec"]["groups"][0]["rules"][0];
    assert_eq!(first["labels"]["team"], "desk");
    assert_eq!(first["labels"]["severity"], "warning");
}
