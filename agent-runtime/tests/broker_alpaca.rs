//! The Alpaca REST client against the Alpaca standin: client order ids, duplicates treated as
//! placed, unknown outcomes resolved by lookup without a second order, and restart
//! reconciliation. The journal is a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

mod journal_support;

use std::time::Duration;

use agent_runtime::broker::execute::{ExecuteError, Executed, execute_order};
use agent_runtime::broker::reconcile::{Resolution, reconcile};
use agent_runtime::broker::{Broker, BrokerError, connect};
use agent_runtime::config::BrokerConfig;
use agent_runtime::domain::{OrderStatus, Side};
use agent_runtime::journal::Journal;
use journal_support::{TempDir, strategy_order};
use standins::alpaca::AlpacaStandin;

const KEY: &str = "PKTESTKEY";
const SECRET: &str = "test-secret-value";

struct Setup {
    standin: AlpacaStandin,
    dir: TempDir,
    journal: Journal,
}

impl Setup {
    async fn new(tag: &str) -> Self {
        let standin = AlpacaStandin::start(KEY, SECRET).await.unwrap();
        let dir = TempDir::new(tag);
        let journal = Journal::open_sqlite(&dir.0.join("journal.db"))
            .await
            .unwrap();
        Self {
            standin,
            dir,
            journal,
        }
    }

    /// A client built from config, keys read from files, as the trader does at start.
    async fn broker(&self, key: &str, timeout_seconds: u64) -> Box<dyn Broker> {
        let key_id_file = self.dir.0.join("key-id");
        let secret_key_file = self.dir.0.join("secret-key");
        std::fs::write(&key_id_file, format!("{key}\n")).unwrap();
        std::fs::write(&secret_key_file, SECRET).unwrap();
        let config = BrokerConfig::Alpaca {
            base_url: format!("{}/", self.standin.base_url()),
            live: false,
            key_id_file,
            secret_key_file,
            timeout_seconds,
            time_in_force: Default::default(),
        };
        connect(&config, &self.journal).await.unwrap()
    }
}

fn posts(standin: &AlpacaStandin) -> usize {
    standin
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/orders")
        .count()
}

#[tokio::test]
async fn reads_account_positions_clock_and_places_orders_with_client_order_ids() {
    let s = Setup::new("alpaca-basics").await;
    let broker = s.broker(KEY, 5).await;
    s.standin.set_price("AAPL", 200.0);
    s.standin.set_clock_open(false);

    let account = broker.account().await.unwrap();
    assert_eq!((account.cash, account.equity), (100_000.0, 100_000.0));
    assert!(broker.positions().await.unwrap().is_empty());
    assert!(!broker.clock().await.unwrap().unwrap().is_open);

    let order = strategy_order("c1", "AAPL", Side::Buy, 10.0, 199.0);
    let placed = broker.submit_order(&order).await.unwrap();
    assert_eq!(placed.client_order_id, order.client_order_id);
    assert_eq!(placed.status, OrderStatus::Filled);
    assert_eq!(
        (placed.filled_quantity, placed.filled_average_price),
        (10.0, Some(200.0))
    );
    let sent = s.standin.requests();
    let post = sent.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(
        post.client_order_id.as_deref(),
        Some(order.client_order_id.as_str())
    );

    let positions = broker.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(
        (positions[0].quantity, positions[0].average_price),
        (10.0, 200.0)
    );
    assert_eq!(broker.account().await.unwrap().cash, 98_000.0);
    let found = broker
        .order_by_client_id(&order.client_order_id)
        .await
        .unwrap();
    assert_eq!(found.map(|o| o.id), Some(placed.id));
    assert!(
        broker
            .order_by_client_id("tp1-never-sent")
            .await
            .unwrap()
            .is_none()
    );

    // An order for a symbol without a price stays open.
    let open = broker
        .submit_order(&strategy_order("c1", "MSFT", Side::Buy, 1.0, 300.0))
        .await
        .unwrap();
    assert_eq!(open.status, OrderStatus::Accepted);
    let open_orders = broker.open_orders().await.unwrap();
    assert_eq!(open_orders.len(), 1);
    assert_eq!(open_orders[0].client_order_id, open.client_order_id);

    // A sell beyond the position: definitely rejected.
    let err = broker
        .submit_order(&strategy_order("c2", "AAPL", Side::Sell, 50.0, 200.0))
        .await
        .unwrap_err();
    assert!(err.is_definitely_rejected(), "{err}");

    // Wrong keys: 401, reported as such, and the keys never appear in errors or Debug.
    let wrong = s.broker("PKWRONG", 5).await;
    let err = wrong.account().await.unwrap_err();
    assert!(matches!(err, BrokerError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains(SECRET));
    s.standin.stop().await;
}

#[tokio::test]
async fn a_duplicate_client_order_id_is_treated_as_already_placed() {
    let s = Setup::new("alpaca-duplicate").await;
    let broker = s.broker(KEY, 5).await;
    s.standin.set_price("AAPL", 100.0);
    let order = strategy_order("c1", "AAPL", Side::Buy, 5.0, 100.0);
    let first = broker.submit_order(&order).await.unwrap();
    // A second leader computing the same decision sends the same id: the broker refuses it
    // with 422, and the client returns the existing order.
    let second = broker.submit_order(&order).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(s.standin.orders().len(), 1);
    assert_eq!(posts(&s.standin), 2);
    assert!(
        s.standin
            .requests()
            .iter()
            .any(|r| r.path == "/v2/orders:by_client_order_id"),
        "the duplicate must be looked up"
    );
    assert_eq!(broker.positions().await.unwrap()[0].quantity, 5.0);
}

#[tokio::test]
async fn a_timed_out_order_is_looked_up_and_never_placed_twice() {
    let s = Setup::new("alpaca-timeout").await;
    let broker = s.broker(KEY, 1).await;
    s.standin.set_price("AAPL", 100.0);
    // The standin places the order but answers after the client gave up.
    s.standin.delay_next(1, Duration::from_secs(3));
    let order = strategy_order("c1", "AAPL", Side::Buy, 3.0, 100.0);
    let executed = execute_order(broker.as_ref(), &s.journal, Some("c1"), &order)
        .await
        .unwrap();
    let Executed::Placed { order: placed, .. } = executed else {
        panic!("expected the order placed, got {executed:?}");
    };
    assert_eq!(placed.status, OrderStatus::Filled);
    assert_eq!(
        s.standin.orders().len(),
        1,
        "exactly one order at the broker"
    );
    assert_eq!(posts(&s.standin), 1, "no resubmit once the lookup found it");
    let record = s
        .journal
        .order(&order.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, OrderStatus::Filled);
    assert_eq!(s.journal.fills().await.unwrap().len(), 1);
    assert_eq!(s.journal.positions().await.unwrap()[0].quantity, 3.0);

    // Executing the same decision again sends nothing.
    let again = execute_order(broker.as_ref(), &s.journal, Some("c1"), &order)
        .await
        .unwrap();
    assert!(matches!(again, Executed::AlreadyFinal(_)), "{again:?}");
    assert_eq!(posts(&s.standin), 1);
}

#[tokio::test]
async fn a_failed_submit_is_looked_up_then_resent_once_with_the_same_id() {
    let s = Setup::new("alpaca-5xx").await;
    let broker = s.broker(KEY, 5).await;
    s.standin.set_price("AAPL", 100.0);
    // 500 on the submit (not acted on): lookup says not found, so it is sent again.
    s.standin.fail_next(1, 500);
    let order = strategy_order("c1", "AAPL", Side::Buy, 2.0, 100.0);
    let executed = execute_order(broker.as_ref(), &s.journal, Some("c1"), &order)
        .await
        .unwrap();
    assert!(matches!(executed, Executed::Placed { .. }), "{executed:?}");
    assert_eq!(s.standin.orders().len(), 1);
    let sequence: Vec<String> = s
        .standin
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        sequence,
        ["/v2/orders", "/v2/orders:by_client_order_id", "/v2/orders"]
    );

    // 429 on everything: the outcome stays unknown and the order Pending in the journal.
    s.standin.fail_next(4, 429); // the submit and the three lookups
    let order = strategy_order("c2", "AAPL", Side::Buy, 1.0, 100.0);
    let err = execute_order(broker.as_ref(), &s.journal, Some("c2"), &order)
        .await
        .unwrap_err();
    assert!(matches!(err, ExecuteError::OutcomeUnknown { .. }), "{err}");
    let record = s
        .journal
        .order(&order.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, OrderStatus::Pending);
    assert_eq!(s.standin.orders().len(), 1);

    // A definite rejection is journalled as such.
    let order = strategy_order("c3", "AAPL", Side::Sell, 100.0, 100.0);
    let executed = execute_order(broker.as_ref(), &s.journal, Some("c3"), &order)
        .await
        .unwrap();
    assert!(
        matches!(executed, Executed::Rejected { .. }),
        "{executed:?}"
    );
    let record = s
        .journal
        .order(&order.client_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, OrderStatus::Rejected);
}

#[tokio::test]
async fn restart_reconciliation_resolves_pending_orders_and_corrects_positions() {
    let s = Setup::new("alpaca-reconcile").await;
    s.standin.set_price("AAPL", 100.0);
    let before_crash = s.broker(KEY, 1).await;

    // A: sent, placed and filled at the broker, but the answer was lost (timeout), then "crash".
    let placed = strategy_order("c1", "AAPL", Side::Buy, 4.0, 100.0);
    s.journal
        .record_order(Some("c1"), &placed, chrono::Utc::now())
        .await
        .unwrap();
    s.standin.delay_next(1, Duration::from_secs(3));
    let err = before_crash.submit_order(&placed).await.unwrap_err();
    assert!(matches!(err, BrokerError::OutcomeUnknown { .. }), "{err}");
    // B: journalled, never sent.
    let never_sent = strategy_order("c1", "TSLA", Side::Buy, 1.0, 250.0);
    s.journal
        .record_order(Some("c1"), &never_sent, chrono::Utc::now())
        .await
        .unwrap();
    // C: sent and still open at the broker (no price for MSFT).
    let open = strategy_order("c1", "MSFT", Side::Buy, 1.0, 300.0);
    s.journal
        .record_order(Some("c1"), &open, chrono::Utc::now())
        .await
        .unwrap();
    before_crash.submit_order(&open).await.unwrap();
    // D: a position changed outside the runtime; and one the journal has but the broker not.
    s.standin.set_position("NVDA", 7.0, 50.0);
    s.journal
        .set_position(
            &agent_runtime::domain::Position {
                symbol: "GONE".into(),
                quantity: 3.0,
                average_price: 10.0,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    drop(before_crash);

    // Restart: a new client; the trader may not trade until this is Ok.
    let broker = s.broker(KEY, 5).await;
    let report = reconcile(broker.as_ref(), &s.journal, None).await.unwrap();
    let resolution = |id: &str| {
        report
            .orders
            .iter()
            .find(|o| o.client_order_id == id)
            .map(|o| o.resolution)
    };
    assert_eq!(
        resolution(&placed.client_order_id),
        Some(Resolution::Filled {
            fill_recorded: true
        })
    );
    assert_eq!(
        resolution(&never_sent.client_order_id),
        Some(Resolution::Abandoned)
    );
    assert_eq!(
        resolution(&open.client_order_id),
        Some(Resolution::StillOpen {
            status: OrderStatus::Accepted
        })
    );
    let status = |id: String| {
        let journal = s.journal.clone();
        async move { journal.order(&id).await.unwrap().unwrap().status }
    };
    assert_eq!(
        status(placed.client_order_id.clone()).await,
        OrderStatus::Filled
    );
    assert_eq!(
        status(never_sent.client_order_id.clone()).await,
        OrderStatus::Rejected
    );
    assert_eq!(
        status(open.client_order_id.clone()).await,
        OrderStatus::Accepted
    );

    // The journal's positions are now the broker's, and each correction is journalled.
    let mut journal_positions = s.journal.positions().await.unwrap();
    let mut broker_positions = broker.positions().await.unwrap();
    journal_positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    broker_positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    assert_eq!(journal_positions, broker_positions);
    let corrected: Vec<&str> = report
        .corrections
        .iter()
        .map(|c| c.symbol.as_str())
        .collect();
    assert_eq!(corrected, ["GONE", "NVDA"]);
    assert_eq!(
        s.journal
            .events(Some("position_corrected"))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.standin.orders().len(),
        2,
        "reconciliation never places orders"
    );

    // Reconciling again changes nothing but re-checks the still-open order.
    let again = reconcile(broker.as_ref(), &s.journal, None).await.unwrap();
    assert!(again.corrections.is_empty());
    assert_eq!(again.orders.len(), 1);

    // A broker that cannot be reached: reconciliation fails, so the trader stays not ready.
    s.standin.fail_next(10, 503);
    assert!(reconcile(broker.as_ref(), &s.journal, None).await.is_err());
}
