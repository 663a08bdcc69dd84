//! Promotion gates for live money (`spec.promotionGates`) against the real control plane: a
//! strategy bound to a Live BrokerAccount (the Alpaca stand-in, live and acknowledged) whose
//! revision must first pass a Backtest. The TradingStrategy and Backtest controllers run
//! in-process; the Backtest's run and the trader are real `agent-runtime` processes (the
//! test plays the kubelet for both, as `operator_backtest` and `operator_backups` do).
//!
//! Until a Backtest of exactly its revision is Complete and meets the gate, the strategy is
//! `Stalled` naming the gate, and nothing is rendered that could reach the live account: no
//! trader Deployment, no credentials Secret, not one request at the broker. Once the run
//! reports, the strategy renders and its trader places an order on the stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::time::{Duration, Instant};

use e2e::backtest_pods::PlayedPod;
use e2e::conditions::{condition, events_about, has_condition};
use e2e::runtime_pods::StrategyPods;
use e2e::runtime_process::temp_dir;
use e2e::{
    InProcessController, TestNamespace, apply_strict, install_crds, shared_client, wait_for,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::ListParams;
use serde_json::json;
use standins::alpaca::AlpacaStandin;
use tradeplane_operator::api::backtest::Backtest;
use tradeplane_operator::api::trading_strategy::TradingStrategy;
use tradeplane_operator::controllers::{backtest, trading_strategy};

const WAIT: Duration = Duration::from_secs(60);
const STRATEGY: &str = "gated";
const SYMBOLS: [&str; 2] = ["AAPL", "MSFT"];

/// Daily bars of both symbols in one long file (a `symbol` column), a price swinging around
/// a slow rise.
fn bars_csv(days: usize) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let mut csv = String::from("symbol,date,open,high,low,close,volume\n");
    for i in 0..days {
        let day = start + chrono::Days::new(i as u64);
        for (n, symbol) in SYMBOLS.iter().enumerate() {
            let close = 100.0 + 20.0 * ((i + 7 * n) as f64 / 15.0).sin() + 0.05 * i as f64;
            csv.push_str(&format!(
                "{symbol},{day},{:.2},{:.2},{:.2},{close:.2},1000\n",
                close - 0.5,
                close + 1.0,
                close - 1.5
            ));
        }
    }
    csv
}

async fn apply(client: &kube::Client, namespace: &str, manifest: serde_json::Value) {
    apply_strict(client, namespace, &manifest)
        .await
        .unwrap()
        .unwrap_or_else(|warnings| panic!("warnings applying {manifest}: {warnings:?}"));
}

/// The Live account on the stand-in, and the gated strategy on it.
async fn create_live_strategy(client: &kube::Client, ns: &str, broker: &AlpacaStandin) {
    let manifests = [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alpaca"},
               "stringData": {"APCA_API_KEY_ID": "key-id", "APCA_API_SECRET_KEY": "secret-key"}}),
        json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
               "metadata": {"name": "alpaca-live"},
               "spec": {"broker": "Alpaca", "environment": "Live", "liveTradingAcknowledged": true,
                        "endpoint": broker.base_url(), "credentialsSecretRef": {"name": "alpaca"}}}),
        json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
               "metadata": {"name": STRATEGY},
               "spec": {"symbols": SYMBOLS, "brokerAccountRef": {"name": "alpaca-live"},
                        "risk": {"positionSizePercent": 5}, "decision": {"minConfidence": 0.2},
                        "schedule": {"intervalSeconds": 1},
                        "marketData": {"source": "Replay", "replay": {"barsPerCycle": 3}},
                        "promotionGates": {"backtest": {"maxDrawdown": 0.5}}}}),
    ];
    for manifest in manifests {
        apply(client, ns, manifest).await;
    }
}

async fn event_reasons(namespace: &TestNamespace, name: &str) -> Vec<String> {
    events_about(namespace.client(), &namespace.name, name)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.reason)
        .collect()
}

/// Runs the Backtest's one run as its pod would, and waits for it to be Complete.
async fn run_backtest(namespace: &TestNamespace) -> Backtest {
    let job = wait_for(
        &namespace.api::<Job>(),
        "gate-check-backtest",
        "the backtest's Job",
        WAIT,
        |job: Option<&Job>| job.is_some(),
    )
    .await
    .unwrap();
    let dir = temp_dir("gates-bt").unwrap();
    let pod = PlayedPod::new(namespace, &job, "bars", &dir).await;
    let (ok, log) = pod.run(&namespace.name, 0).await;
    assert!(ok, "the backtest run failed:\n{log}");
    wait_for(
        &namespace.api::<Backtest>(),
        "gate-check",
        "the backtest Complete",
        WAIT,
        |b: Option<&Backtest>| has_condition(b, "Complete", "True", "RunsSucceeded"),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_live_strategy_stays_stalled_until_a_backtest_of_its_revision_passes_then_trades() {
    let started = Instant::now();
    let client = shared_client().await.unwrap();
    install_crds(&client).await.unwrap();
    let namespace = TestNamespace::create(&client, "gates").await.unwrap();
    let ns = namespace.name.clone();
    let broker = AlpacaStandin::start("key-id", "secret-key").await.unwrap();
    for symbol in SYMBOLS {
        broker.set_price(symbol, 100.0);
        broker.set_bars(symbol, e2e::failover_rig::daily_bars(120, true));
    }
    create_live_strategy(&client, &ns, &broker).await;
    let strategies_controller = InProcessController::start(&client, &ns, |c, ns, s| async move {
        trading_strategy::run(c, Some(&ns), s).await
    })
    .unwrap();
    let backtests_controller = InProcessController::start(&client, &ns, |c, ns, s| async move {
        backtest::run(c, Some(&ns), s).await
    })
    .unwrap();

    // Held: Stalled naming the gate, and nothing of the trader exists.
    let strategies = namespace.api::<TradingStrategy>();
    let held = wait_for(
        &strategies,
        STRATEGY,
        "the strategy Stalled on its backtest gate",
        WAIT,
        |s: Option<&TradingStrategy>| has_condition(s, "Stalled", "True", "BacktestGateNotMet"),
    )
    .await
    .unwrap();
    let message = condition(Some(&held), "Stalled").unwrap().message.clone();
    let status = held.status.clone().unwrap();
    let revision = status
        .gates
        .as_ref()
        .and_then(|g| g.revision.clone())
        .unwrap();
    assert!(
        message.contains(&revision) && message.contains("no Backtest with strategyRef gated"),
        "{message}"
    );
    assert_eq!(status.phase.as_deref(), Some("Gated"));
    assert_eq!(status.mode.as_deref(), Some("Live"));
    let gate = status
        .gates
        .as_ref()
        .and_then(|g| g.backtest.clone())
        .unwrap();
    assert!(!gate.met, "{gate:?}");
    let deployments = namespace.api::<Deployment>();
    let secrets = namespace.api::<Secret>();
    assert!(deployments.get_opt("gated-trader").await.unwrap().is_none());
    assert!(
        secrets
            .get_opt("gated-credentials")
            .await
            .unwrap()
            .is_none()
    );
    // The Events follow the status write, one per condition that changed.
    let deadline = Instant::now() + WAIT;
    loop {
        let reasons = event_reasons(&namespace, STRATEGY).await;
        if reasons.iter().any(|r| r == "BacktestGateNotMet") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no BacktestGateNotMet Event: {reasons:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The Backtest of the strategy as it stands: it records the revision it tested.
    let bars: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "bars"}, "data": {"bars.csv": bars_csv(200)}}),
    )
    .unwrap();
    namespace
        .api::<ConfigMap>()
        .create(&Default::default(), &bars)
        .await
        .unwrap();
    apply(
        &client,
        &ns,
        json!({"apiVersion": "tradeplane.io/v1alpha1", "kind": "Backtest",
               "metadata": {"name": "gate-check"},
               "spec": {"strategyRef": {"name": STRATEGY},
                        "data": {"configMap": {"name": "bars", "key": "bars.csv"}}}}),
    )
    .await;
    let done = run_backtest(&namespace).await;
    let tested = done
        .status
        .as_ref()
        .and_then(|s| s.strategy_revision.clone());
    assert_eq!(
        tested.as_deref(),
        Some(revision.as_str()),
        "the same decision revision"
    );
    assert!(
        broker.requests().is_empty(),
        "nothing reached the live account while gated: {:?}",
        broker.requests()
    );

    // Admitted: rendered, and the trader trades on the live account.
    let admitted = wait_for(
        &strategies,
        STRATEGY,
        "the strategy admitted",
        WAIT,
        |s: Option<&TradingStrategy>| {
            s.and_then(|s| s.status.as_ref())
                .and_then(|s| s.gates.as_ref())
                .is_some_and(|g| g.admitted_revision.as_deref() == Some(revision.as_str()))
        },
    )
    .await
    .unwrap();
    assert!(!has_condition(
        Some(&admitted),
        "Stalled",
        "True",
        "BacktestGateNotMet"
    ));
    let pod = trader_pod(&namespace).await;
    let pods = StrategyPods {
        namespace: ns.clone(),
        strategy: STRATEGY.into(),
        admin_kubeconfig: std::env::var("KUBECONFIG").unwrap().into(),
        binary: e2e::cli::runtime_binary().await.unwrap(),
        root: std::env::temp_dir().join(format!("tp-{ns}")),
    };
    let mut trader = pods.start(&client, &pod).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while !broker
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.client_order_id.is_some())
    {
        assert!(
            Instant::now() < deadline,
            "the admitted trader placed no order within {WAIT:?}:\n{}",
            trader.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "gated → admitted → first live order: {:?}",
        started.elapsed()
    );

    trader.signal("TERM").unwrap();
    trader.wait().await.unwrap();
    strategies_controller.stop().await.unwrap();
    backtests_controller.stop().await.unwrap();
    namespace.delete().await.unwrap();
}

/// The trader pod the Deployment made (kwok runs nothing in it).
async fn trader_pod(namespace: &TestNamespace) -> String {
    let pods = namespace.api::<Pod>();
    let selector = format!("tradeplane.io/strategy={STRATEGY},app.kubernetes.io/component=trader");
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        if let Some(name) = listed.items.into_iter().find_map(|p| p.metadata.name) {
            return name;
        }
        assert!(Instant::now() < deadline, "no trader pod within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
