//! A real Prometheus (Debian's `prometheus`) on loopback scrapes a running trader and the
//! operator, with the rules the operator renders for that strategy and the chart's operator
//! rules loaded, and raises `TradingStrategyKillSwitch` when a replay run trips the kill
//! switch — and not before.
//!
//! The trader replays the built-in history against the paper broker with a `maxDrawdown` so
//! small that the commission and slippage of its first purchase trip it. It starts with
//! `tradingState: Halted` in its config: trading is halted, but by the config, not by a kill
//! switch, and the alert must stay silent. Then the test sets the state to Active in the
//! config file (the trader re-reads it before each cycle), the trader buys, the drawdown
//! latches the kill switch, and Prometheus's `/api/v1/alerts` shows the alert firing with
//! the strategy's labels. The operator's alerts stay silent throughout (it is up and leads).
//!
//! The scrape uses static configs, adding the labels a PodMonitor (and prometheus-operator)
//! would: `namespace`, `strategy` and `pod` on the trader, and for the operator the job and
//! namespace its ServiceMonitor gives it (release `tp` in namespace `tradeplane`, as the
//! chart's rules are rendered).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::Duration;

use e2e::prometheus::{PrometheusServer, chart_rule_file};
use e2e::runtime_process::RuntimeProcess;
use e2e::{OperatorProcess, TestNamespace, install_crds, shared_client};
use serde_json::{Value, json};
use tradeplane_operator::controllers::monitoring_files::render_manifest;

const WAIT: Duration = Duration::from_secs(90);
const STRATEGY: &str = "replay";
const POD: &str = "replay-trader-0";
const ALERT: &str = "TradingStrategyKillSwitch";

fn trader_config(namespace: &str, state: &str) -> String {
    format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1\n\
         identity: {{namespace: {namespace}, name: {STRATEGY}}}\n\
         symbols: [AAPL, MSFT]\n\
         tradingState: {state}\n\
         schedule: {{intervalSeconds: 1}}\n\
         marketData: {{source: replay, barsPerCycle: 1, warmupBars: 60}}\n\
         analysts: [{{role: trend, kind: quant, method: trend}}, {{role: momentum, kind: quant, method: momentum}}]\n\
         decision: {{minConfidence: 0.01, targetPositionFraction: 0.9}}\n\
         risk: {{maxDrawdown: 0.0005}}\n\
         broker: {{kind: paper, startingCash: 100000, commissionBps: 20, slippageBps: 20}}\n\
         journal: {{backend: sqlite, path: \"{{dir}}/journal.db\"}}\n\
         server: {{listen: \"127.0.0.1:{{port}}\"}}\n"
    )
}

/// The rule file the operator renders for the strategy the trader plays.
fn strategy_rules(namespace: &str) -> (String, String) {
    let manifest = format!(
        "apiVersion: tradeplane.io/v1alpha1\nkind: TradingStrategy\n\
         metadata: {{name: {STRATEGY}, namespace: {namespace}}}\n\
         spec: {{symbols: [AAPL, MSFT], brokerAccountRef: {{name: paper}},\n\
         schedule: {{intervalSeconds: 1}}, alerting: {{enabled: true}}}}\n"
    );
    let mut files = render_manifest(&manifest, namespace).unwrap();
    assert_eq!(files.len(), 1);
    let file = files.remove(0);
    assert!(file.yaml.contains(ALERT), "{}", file.yaml);
    (file.name, file.yaml)
}

/// The value of an instant query that returns one series.
async fn scalar(prometheus: &PrometheusServer, query: &str) -> Option<f64> {
    let encoded: String = url_encode(query);
    let data = prometheus
        .api(&format!("query?query={encoded}"))
        .await
        .ok()?;
    data["result"].as_array()?.first()?["value"][1]
        .as_str()?
        .parse()
        .ok()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn named<'a>(alerts: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| {
            a["labels"]["alertname"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect()
}

#[tokio::test]
async fn prometheus_fires_the_kill_switch_alert_when_a_replay_trips_it() {
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "prometheus-alerts")
        .await
        .unwrap();
    let operator = OperatorProcess::start(
        &e2e::cli::operator_binary().await.unwrap(),
        None,
        &namespace.name,
        "prometheus-alerts",
    )
    .unwrap();
    operator
        .wait_metric("tradeplane_operator_leader", WAIT, |v| v == 1.0)
        .await
        .unwrap();
    let mut trader = RuntimeProcess::start(
        "trader",
        "prometheus-trader",
        &trader_config(&namespace.name, "Halted"),
        &[],
    )
    .await
    .unwrap();
    trader
        .wait_metrics("a cycle, halted", WAIT, |t| {
            t.contains("tradeplane_cycles_total{outcome=\"ok\"} ")
                && t.contains("tradeplane_trading_state 2")
        })
        .await
        .unwrap();

    let rules = vec![
        strategy_rules(&namespace.name),
        (
            "operator.rules.yaml".to_string(),
            chart_rule_file("metrics: {prometheusRule: {enabled: true}}\n")
                .await
                .unwrap(),
        ),
    ];
    let scrape = json!([
        {"job_name": "trader",
         "static_configs": [{"targets": [format!("127.0.0.1:{}", trader.port)],
                             "labels": {"namespace": namespace.name, "strategy": STRATEGY, "pod": POD}}]},
        {"job_name": "tp-tradeplane-metrics",
         "static_configs": [{"targets": [operator.metrics_address()],
                             "labels": {"namespace": "tradeplane", "pod": "tp-tradeplane-0"}}]},
    ]);
    let prometheus = PrometheusServer::start(scrape, &rules).await.unwrap();

    // Halted by the config, with both targets up: silent. The alerts are read only from an
    // evaluation that started after the queries saw both targets up and no kill switch
    // tripped — an earlier one may predate the operator's first scrape, and then its
    // `absent(up …)` is rightly pending.
    let tripped = format!("max(tradeplane_kill_switch_tripped{{strategy=\"{STRATEGY}\"}})");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut settled_at: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        match settled_at {
            None => {
                let up = scalar(&prometheus, "sum(up)").await;
                let halted = scalar(&prometheus, "max(tradeplane_trading_state)").await;
                let switch = scalar(&prometheus, &tripped).await;
                if up == Some(2.0) && halted == Some(2.0) && switch == Some(0.0) {
                    settled_at = Some(chrono::Utc::now());
                    continue;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never scraped halted and untripped: up {up:?}, state {halted:?}, \
                     switch {switch:?}\n{}\n{}",
                    trader.log(),
                    prometheus.log()
                );
            }
            Some(settled) => {
                if evaluated_since(&prometheus, settled).await {
                    let alerts = prometheus.alerts().await.unwrap();
                    assert!(named(&alerts, ALERT).is_empty(), "{alerts:#?}");
                    assert!(
                        named(&alerts, "TradeplaneOperator").is_empty(),
                        "{alerts:#?}"
                    );
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the rules were not evaluated again after {settled}\n{}",
                    prometheus.log()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Active: the first purchase costs more than the 0.05% drawdown allowed.
    std::fs::write(
        trader.dir.join("config.yaml"),
        trader_config(&namespace.name, "Active")
            .replace("{port}", &trader.port.to_string())
            .replace("{dir}", &trader.dir.to_string_lossy()),
    )
    .unwrap();
    trader
        .wait_metrics("the drawdown kill switch", WAIT, |t| {
            t.contains("tradeplane_kill_switch_tripped{switch=\"max_drawdown\"} 1")
        })
        .await
        .unwrap();
    let alert = prometheus
        .wait_alert(ALERT, "firing", WAIT, |_| true)
        .await
        .unwrap();
    let labels = &alert["labels"];
    assert_eq!(labels["severity"], "critical", "{alert:#}");
    assert_eq!(labels["namespace"], namespace.name.as_str(), "{alert:#}");
    assert_eq!(labels["strategy"], STRATEGY, "{alert:#}");
    assert_eq!(labels["switch"], "max_drawdown", "{alert:#}");
    assert!(
        trader.log().contains("kill switch tripped"),
        "{}",
        trader.log()
    );
    let alerts = prometheus.alerts().await.unwrap();
    assert!(
        named(&alerts, "TradeplaneOperator").is_empty(),
        "{alerts:#?}"
    );
    println!(
        "{ALERT} firing: {}",
        serde_json::to_string(&alert).unwrap_or_default()
    );

    drop(prometheus);
    trader.stop().await;
    operator.kill_hard().await.unwrap();
    namespace.delete().await.unwrap();
}

/// Whether every rule group has finished an evaluation that started after `since`.
async fn evaluated_since(
    prometheus: &PrometheusServer,
    since: chrono::DateTime<chrono::Utc>,
) -> bool {
    let rules = prometheus.api("rules").await.unwrap();
    rules["groups"].as_array().is_some_and(|groups| {
        !groups.is_empty()
            && groups.iter().all(|group| {
                group["lastEvaluation"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.with_timezone(&chrono::Utc) > since)
            })
    })
}
