//! Orders followed to their end against the Alpaca standin, whose orders fill in parts, the
//! rest later or never (expired, or canceled by the strategy's policy): every part filled is
//! journalled as a fill exactly once — across a restart too — and the journal's positions
//! equal the broker's after every cycle. The journal is a real SQLite file; the pipeline is
//! the trader's own (`cycle::build::runner`, `BrokerExecution`, `JournalRecorder`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

mod journal_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::broker::execute::{Executed, execute_order};
use agent_runtime::broker::follow::{FollowRules, Resolution, follow_open_orders};
use agent_runtime::broker::{Broker, connect};
use agent_runtime::config::{BrokerConfig, RuntimeConfig, TimeInForce};
use agent_runtime::cycle::CycleRunner;
use agent_runtime::cycle::adapters::{BrokerExecution, JournalRecorder};
use agent_runtime::cycle::build::runner;
use agent_runtime::cycle::ports::Execution;
use agent_runtime::domain::{OrderStatus, Side};
use agent_runtime::journal::Journal;
use agent_runtime::leadership::AlwaysLeader;
use agent_runtime::market::{MarketData, ReplayFeed, synthetic};
use agent_runtime::metrics::Metrics;
use journal_support::{TempDir, strategy_order};
use standins::alpaca::{AlpacaStandin, FillPlan};

const KEY: &str = "PKTESTKEY";
const SECRET: &str = "test-secret-value";

/// The ways the standin fills orders, in turn: whole at once; 40 % at once and the rest two
/// ticks later; half a tick later and the rest expired two ticks after that; 30 % at once and
/// 30 % a tick later, then nothing until the strategy's policy cancels it.
fn thin_market() -> Vec<FillPlan> {
    vec![
        FillPlan::whole(),
        FillPlan {
            steps: vec![(0, 0.4), (2, 0.6)],
            expire_after: None,
        },
        FillPlan {
            steps: vec![(1, 0.5)],
            expire_after: Some(3),
        },
        FillPlan {
            steps: vec![(0, 0.3), (1, 0.3)],
            expire_after: None,
        },
    ]
}

fn alpaca_config(standin: &AlpacaStandin, dir: &Path) -> BrokerConfig {
    let key_id_file = dir.join("key-id");
    let secret_key_file = dir.join("secret-key");
    std::fs::write(&key_id_file, KEY).unwrap();
    std::fs::write(&secret_key_file, SECRET).unwrap();
    BrokerConfig::Alpaca {
        base_url: standin.base_url().to_string(),
        live: false,
        key_id_file,
        secret_key_file,
        timeout_seconds: 5,
        time_in_force: TimeInForce::Day,
    }
}

/// The journal's positions and the broker's, as symbol → (quantity, average price).
async fn both_books(
    journal: &Journal,
    standin: &AlpacaStandin,
) -> (BTreeMap<String, (f64, f64)>, BTreeMap<String, (f64, f64)>) {
    let journalled = journal
        .positions()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.symbol, (p.quantity, p.average_price)))
        .collect();
    (journalled, standin.positions())
}

fn same_books(a: &BTreeMap<String, (f64, f64)>, b: &BTreeMap<String, (f64, f64)>) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((sa, (qa, pa)), (sb, (qb, pb)))| {
            sa == sb && (qa - qb).abs() < 1e-6 && (pa - pb).abs() <= 1e-6 * pa.abs().max(1.0)
        })
}

/// Every order the broker has: the journal's fills for it add up to what the broker filled,
/// and its journalled status is the broker's.
async fn assert_every_order_settled(journal: &Journal, standin: &AlpacaStandin) {
    let fills = journal.fills().await.unwrap();
    for order in standin.orders() {
        let journalled: f64 = fills
            .iter()
            .filter(|f| f.client_order_id == order.client_order_id)
            .map(|f| f.quantity)
            .sum();
        assert!(
            (journalled - order.filled_qty).abs() < 1e-6,
            "{}: the broker filled {}, the journal holds fills of {journalled}",
            order.client_order_id,
            order.filled_qty
        );
        let record = journal
            .order(&order.client_order_id)
            .await
            .unwrap()
            .unwrap();
        let expected = match order.status.as_str() {
            "filled" => OrderStatus::Filled,
            "partially_filled" => OrderStatus::PartiallyFilled,
            "expired" => OrderStatus::Expired,
            "canceled" => OrderStatus::Canceled,
            _ => OrderStatus::Accepted,
        };
        assert_eq!(record.status, expected, "{}", order.client_order_id);
    }
}

struct Life {
    journal: Journal,
    execution: Arc<BrokerExecution>,
    runner: CycleRunner,
}

/// One life of the trader: the journal opened, the broker client built from the config, the
/// runner assembled as the trader assembles it, and reconciliation done.
async fn start(config: &RuntimeConfig, db: &Path, feed: &Arc<ReplayFeed>) -> Life {
    let journal = Journal::open_sqlite(db).await.unwrap();
    let broker = connect(&config.broker, &journal).await.unwrap();
    let execution =
        Arc::new(BrokerExecution::new(broker, journal.clone()).with_policy(&config.orders));
    execution.reconcile().await.unwrap();
    let runner = runner(
        config,
        feed.clone(),
        execution.clone(),
        Arc::new(JournalRecorder::new(journal.clone())),
        Arc::new(AlwaysLeader),
        Metrics::new().unwrap(),
    )
    .unwrap();
    Life {
        journal,
        execution,
        runner,
    }
}

#[tokio::test]
async fn partial_late_and_expired_fills_keep_the_journal_equal_to_the_broker_every_cycle() {
    let standin = AlpacaStandin::start(KEY, SECRET).await.unwrap();
    standin.set_fill_plans(thin_market());
    let dir = TempDir::new("order-follow-up");
    let mut config = RuntimeConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo.yaml"),
    )
    .unwrap();
    config.broker = alpaca_config(&standin, &dir.0);
    config.orders.cancel_after_seconds = Some(1);
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), 160),
        60,
    ));
    let db = dir.0.join("journal.db");
    let mut life = start(&config, &db, &feed).await;

    for cycle in 0..90 {
        if cycle == 45 {
            // A restart: a new process reopens the journal and reconciles before trading.
            drop(life);
            life = start(&config, &db, &feed).await;
            let (journalled, broker) = both_books(&life.journal, &standin).await;
            assert!(
                same_books(&journalled, &broker),
                "after the restart: journal {journalled:?}, broker {broker:?}"
            );
        }
        let Some(now) = feed.advance(1) else { break };
        for symbol in &config.symbols {
            let bar = feed.latest_bars(symbol, 1).await.unwrap();
            standin.set_price(symbol, bar[0].close);
        }
        life.runner.run(now).await.unwrap();
        let (journalled, broker) = both_books(&life.journal, &standin).await;
        assert!(
            same_books(&journalled, &broker),
            "after cycle {cycle}: journal {journalled:?}, broker {broker:?}"
        );
        // One order works per symbol at a time: none is stacked on a symbol whose order
        // may still fill.
        for symbol in &config.symbols {
            let working = standin
                .orders()
                .into_iter()
                .filter(|o| &o.symbol == symbol && !o.is_final())
                .count();
            assert!(
                working <= 1,
                "after cycle {cycle}: {working} orders working on {symbol}"
            );
        }
        // Time passes between cycles: the parts due now fill, the expiries happen, and an
        // order open past `cancelAfterSeconds` meets the policy at the next cycle.
        standin.advance();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    // The last fills and cancels, as the next cycle would find them.
    life.execution.settle("final").await.unwrap();
    assert_every_order_settled(&life.journal, &standin).await;

    // The scenario really happened: parts filled later, orders expired, and the policy
    // canceled one, and yet no fill was lost or counted twice.
    let orders = standin.orders();
    let count = |status: &str| orders.iter().filter(|o| o.status == status).count();
    let fills = life.journal.fills().await.unwrap();
    let in_parts = orders
        .iter()
        .filter(|o| {
            fills
                .iter()
                .filter(|f| f.client_order_id == o.client_order_id)
                .count()
                >= 2
        })
        .count();
    assert!(count("expired") > 0, "no order expired: {orders:?}");
    assert!(
        count("canceled") > 0,
        "the policy canceled no order: {orders:?}"
    );
    assert!(
        in_parts > 0,
        "no order was journalled as filled in parts: {fills:?}"
    );
    eprintln!(
        "{} orders: {} filled, {} expired, {} canceled by the policy, {} filled in parts; \
         {} fills journalled",
        orders.len(),
        count("filled"),
        count("expired"),
        count("canceled"),
        in_parts,
        fills.len()
    );
    let held_back = life.journal.events(Some("order_working")).await.unwrap();
    assert!(
        !held_back.is_empty(),
        "no decision met a working order: {orders:?}"
    );
    let canceled = life.journal.events(Some("order_canceled")).await.unwrap();
    assert_eq!(canceled.len(), count("canceled"), "{canceled:?}");
}

#[tokio::test]
async fn each_part_of_an_order_is_one_fill_at_its_own_price_and_a_second_look_adds_none() {
    let standin = AlpacaStandin::start(KEY, SECRET).await.unwrap();
    standin.set_price("AAPL", 100.0);
    standin.set_fill_plans(vec![FillPlan {
        steps: vec![(0, 0.4), (1, 0.3), (2, 0.3)],
        expire_after: None,
    }]);
    let dir = TempDir::new("fill-parts");
    let db = dir.0.join("journal.db");
    let journal = Journal::open_sqlite(&db).await.unwrap();
    let config = alpaca_config(&standin, &dir.0);
    let broker: Box<dyn Broker> = connect(&config, &journal).await.unwrap();
    let order = strategy_order("20260105T150000Z", "AAPL", Side::Buy, 10.0, 100.0);
    let executed = execute_order(broker.as_ref(), &journal, Some("c1"), &order)
        .await
        .unwrap();
    let Executed::Placed {
        fill: Some(first), ..
    } = executed
    else {
        panic!("expected a placed order with its first part filled: {executed:?}");
    };
    assert_eq!((first.quantity, first.price), (4.0, 100.0));

    let rules = FollowRules {
        cancel_after: None,
        abandon_unknown_after: chrono::TimeDelta::seconds(60),
    };
    standin.set_price("AAPL", 110.0);
    standin.advance();
    let followed = follow_open_orders(broker.as_ref(), &journal, &rules, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(followed.fills.len(), 1, "{followed:?}");
    assert_eq!(followed.fills[0].quantity, 3.0);
    assert!(
        (followed.fills[0].price - 110.0).abs() < 1e-9,
        "{:?}",
        followed.fills[0]
    );
    assert!(followed.open_symbols.contains("AAPL"));

    // Looked at again, and by a second client over the same journal (a restarted process):
    // the broker reports nothing new, so nothing more is journalled.
    let again = follow_open_orders(broker.as_ref(), &journal, &rules, chrono::Utc::now())
        .await
        .unwrap();
    assert!(again.fills.is_empty(), "{again:?}");
    drop(broker);
    let reopened = Journal::open_sqlite(&db).await.unwrap();
    let broker = connect(&config, &reopened).await.unwrap();
    standin.set_price("AAPL", 120.0);
    standin.advance();
    let last = follow_open_orders(broker.as_ref(), &reopened, &rules, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        last.orders[0].resolution,
        Resolution::Filled {
            fill_recorded: true
        }
    );
    let fills = reopened.fills().await.unwrap();
    let parts: Vec<(f64, f64)> = fills.iter().map(|f| (f.quantity, f.price)).collect();
    assert_eq!(parts.len(), 3, "{fills:?}");
    assert!(
        (parts[2].0 - 3.0).abs() < 1e-9 && (parts[2].1 - 120.0).abs() < 1e-6,
        "{parts:?}"
    );
    let position = &reopened.positions().await.unwrap()[0];
    assert!((position.quantity - 10.0).abs() < 1e-9);
    // (4 × 100 + 3 × 110 + 3 × 120) / 10
    assert!(
        (position.average_price - 109.0).abs() < 1e-6,
        "{position:?}"
    );
    assert_eq!(
        reopened
            .order(&order.client_order_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        OrderStatus::Filled
    );
}

#[tokio::test]
async fn an_order_open_past_the_policy_is_canceled_and_its_filled_part_kept() {
    let standin = AlpacaStandin::start(KEY, SECRET).await.unwrap();
    standin.set_price("MSFT", 400.0);
    standin.set_fill_plans(vec![FillPlan {
        steps: vec![(0, 0.25)],
        expire_after: None,
    }]);
    let dir = TempDir::new("cancel-policy");
    let journal = Journal::open_sqlite(&dir.0.join("journal.db"))
        .await
        .unwrap();
    let broker = connect(&alpaca_config(&standin, &dir.0), &journal)
        .await
        .unwrap();
    let order = strategy_order("20260105T150000Z", "MSFT", Side::Buy, 8.0, 400.0);
    execute_order(broker.as_ref(), &journal, Some("c1"), &order)
        .await
        .unwrap();
    let rules = FollowRules {
        cancel_after: Some(chrono::TimeDelta::seconds(30)),
        abandon_unknown_after: chrono::TimeDelta::seconds(60),
    };
    // Not yet overdue: still open, left working.
    let now = chrono::Utc::now();
    let early = follow_open_orders(broker.as_ref(), &journal, &rules, now)
        .await
        .unwrap();
    assert!(
        matches!(early.orders[0].resolution, Resolution::StillOpen { .. }),
        "{early:?}"
    );
    // 31 s on: canceled at the broker, journalled so, the 2 filled kept.
    let late = follow_open_orders(
        broker.as_ref(),
        &journal,
        &rules,
        now + chrono::TimeDelta::seconds(31),
    )
    .await
    .unwrap();
    assert_eq!(
        late.orders[0].resolution,
        Resolution::CanceledByPolicy {
            status: OrderStatus::Canceled
        }
    );
    assert_eq!(standin.orders()[0].status, "canceled");
    let record = journal
        .order(&order.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, OrderStatus::Canceled);
    let message = record.message.unwrap_or_default();
    assert!(
        message.contains("cancelAfterSeconds") && message.contains("2 of 8"),
        "{message}"
    );
    assert_eq!(journal.positions().await.unwrap()[0].quantity, 2.0);
    assert!(late.open_symbols.is_empty());
}
