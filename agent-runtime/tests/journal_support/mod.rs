//! Scenarios every journal backend must pass, and a throwaway PostgreSQL for the ones that
//! need it. Shared by `journal_sqlite.rs`, `journal_postgres.rs` and the broker tests.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: a failure should stop the test loudly

use std::path::{Path, PathBuf};
use std::process::Command;

use agent_runtime::agents::llm::LlmCall;
use agent_runtime::broker::paper::{PaperBroker, PaperSettings};
use agent_runtime::broker::{Broker, BrokerOrder};
use agent_runtime::config::JournalConfig;
use agent_runtime::domain::{
    Action, AnalystReport, Decision, Fill, OrderRequest, OrderStatus, Position, ReportUsage, Side,
    Signal,
};
use agent_runtime::journal::portable::{
    DumpSource, ImportOptions, Item, PortableError, RestoreMarker,
};
use agent_runtime::journal::{
    CycleRecord, CycleStatus, EventRecord, Journal, OrderRecord, RejectionRecord,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("tp-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A PostgreSQL server for one test binary: the one `TRADEPLANE_TEST_POSTGRES_URL` names, or
/// a private one started with `tests/postgres/up.sh` and stopped (with `down.sh`) on drop.
pub struct Postgres {
    url: String,
    started: Option<TempDir>,
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/postgres")
}

impl Postgres {
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("TRADEPLANE_TEST_POSTGRES_URL") {
            return Self { url, started: None };
        }
        let dir = TempDir::new("pg");
        let status = Command::new("bash")
            .arg(scripts().join("up.sh"))
            .arg(&dir.0)
            .status()
            .expect("run tests/postgres/up.sh");
        let mut started = Self {
            url: String::new(),
            started: Some(dir),
        };
        assert!(status.success(), "tests/postgres/up.sh failed");
        let path = started.started.as_ref().unwrap().0.join("url");
        started.url = std::fs::read_to_string(path).unwrap().trim().to_string();
        started
    }

    /// A new, empty database on the server; its URL.
    pub async fn fresh_database(&self, name: &str) -> String {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let unique = format!(
            "tp_{name}_{}",
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        sqlx::query(&format!("CREATE DATABASE {unique}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let (base, query) = match self.url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (self.url.as_str(), String::new()),
        };
        let (server, _) = base.rsplit_once('/').unwrap();
        format!("{server}/{unique}{query}")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(dir) = &self.started {
            let _ = Command::new("bash")
                .arg(scripts().join("down.sh"))
                .arg(&dir.0)
                .status();
        }
    }
}

/// A `JournalConfig::Postgres` for `url` (written to a file, as the operator mounts it).
pub fn postgres_config(url: &str, dir: &TempDir) -> JournalConfig {
    let url_file = dir.0.join(format!(
        "url-{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    JournalConfig::Postgres { url_file }
}

pub fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 14, 30, 0).unwrap() + Duration::seconds(seconds)
}

pub fn order(id: &str, symbol: &str, side: Side, quantity: f64, price: f64) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        symbol: symbol.into(),
        side,
        quantity,
        reference_price: price,
        lease_epoch: None,
    }
}

/// An order of the strategy `trading/momentum`, its client order id derived as the cycle
/// derives it.
pub fn strategy_order(
    cycle: &str,
    symbol: &str,
    side: Side,
    quantity: f64,
    price: f64,
) -> OrderRequest {
    let strategy = agent_runtime::config::Identity {
        namespace: "trading".into(),
        name: "momentum".into(),
    };
    OrderRequest {
        client_order_id: agent_runtime::broker::order_id::client_order_id(
            &strategy, cycle, symbol, side,
        ),
        symbol: symbol.into(),
        side,
        quantity,
        reference_price: price,
        lease_epoch: None,
    }
}

pub fn fill(id: &str, symbol: &str, side: Side, quantity: f64, price: f64, at: i64) -> Fill {
    Fill {
        fill_id: format!("{id}@{quantity}"),
        client_order_id: id.into(),
        symbol: symbol.into(),
        side,
        quantity,
        price,
        commission: 0.5,
        time: t(at),
    }
}

/// A dump's items, in order: a restore's source without the download.
pub struct Items(pub std::collections::VecDeque<Item>);

impl DumpSource for Items {
    type Error = PortableError;
    async fn next(&mut self) -> Result<Option<Item>, PortableError> {
        Ok(self.0.pop_front())
    }
}

/// A backup taken before fills had their own id loads into today's schema: each of its fills
/// (an order's whole fill) keyed by its order, as the migration keys the fills it finds.
pub async fn an_older_dump_loads(journal: &Journal) {
    let columns = [
        "id",
        "client_order_id",
        "symbol",
        "side",
        "quantity",
        "price",
        "commission",
        "filled_at",
    ];
    let row = |id: i64, order: &str| {
        Item::Row(vec![
            serde_json::json!(id),
            serde_json::json!(order),
            serde_json::json!("AAPL"),
            serde_json::json!("buy"),
            serde_json::json!(5.0),
            serde_json::json!(101.5),
            serde_json::json!(0.25),
            serde_json::json!("2025-01-02T15:00:00.000000Z"),
        ])
    };
    let mut items = Items(
        [
            Item::Table {
                name: "fills".into(),
                columns: columns.map(String::from).to_vec(),
            },
            row(1, "o-1"),
            row(2, "o-2"),
            // Decisions from before their data window was journalled (migration 7).
            Item::Table {
                name: "decisions".into(),
                columns: [
                    "id",
                    "cycle_id",
                    "symbol",
                    "action",
                    "target_quantity",
                    "confidence",
                    "rationale",
                    "reports",
                    "decided_at",
                ]
                .map(String::from)
                .to_vec(),
            },
            Item::Row(vec![
                serde_json::json!(1),
                serde_json::json!("c-1"),
                serde_json::json!("AAPL"),
                serde_json::json!("hold"),
                serde_json::json!(0.0),
                serde_json::json!(0.5),
                serde_json::json!("nothing to do"),
                serde_json::json!("[]"),
                serde_json::json!("2025-01-02T15:00:00.000000Z"),
            ]),
        ]
        .into(),
    );
    let options = ImportOptions {
        force: false,
        marker: RestoreMarker {
            backup: "older".into(),
            source_strategy: "desk/momo".into(),
            checksum: "sha256:0".into(),
        },
    };
    journal.import(&mut items, &options).await.unwrap();
    let ids: Vec<(String, String)> = journal
        .fills()
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.fill_id, f.client_order_id))
        .collect();
    assert_eq!(
        ids,
        [("o-1".into(), "o-1".into()), ("o-2".into(), "o-2".into())]
    );
    let decisions = journal.decisions("c-1").await.unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        decisions[0].window, None,
        "an older decision has no data window"
    );
}

/// Every journal call, with its results read back.
pub async fn exercise(journal: &Journal) {
    let tables = journal.table_names().await.unwrap();
    for table in [
        "cycles",
        "decisions",
        "orders",
        "fills",
        "positions",
        "equity_snapshots",
        "risk_rejections",
        "events",
    ] {
        assert!(
            tables.contains(&table.to_string()),
            "{table} missing: {tables:?}"
        );
    }

    // Cycles: inserted, then updated in place.
    let mut cycle = CycleRecord {
        cycle_id: "c1".into(),
        started_at: t(0),
        finished_at: None,
        status: CycleStatus::Running,
        summary: None,
    };
    journal.record_cycle(&cycle).await.unwrap();
    cycle.finished_at = Some(t(5));
    cycle.status = CycleStatus::Completed;
    cycle.summary = Some("1 decision, 1 order".into());
    journal.record_cycle(&cycle).await.unwrap();
    assert_eq!(journal.cycle("c1").await.unwrap(), Some(cycle));
    assert_eq!(journal.cycle("nope").await.unwrap(), None);

    // Decisions keep every analyst report.
    let decision = Decision {
        symbol: "AAPL".into(),
        action: Action::Buy,
        target_quantity: 10.0,
        confidence: 0.7,
        rationale: "trend up, momentum up".into(),
        reports: vec![
            AnalystReport {
                role: "technical".into(),
                source: "quant:trend".into(),
                signal: Signal::Bullish,
                confidence: 0.8,
                rationale: "SMA20 > SMA50".into(),
                usage: None,
            },
            // Billed malformed answers before the fallback: the usage is kept with the report.
            AnalystReport {
                role: "news".into(),
                source: "fallback:hold".into(),
                signal: Signal::Neutral,
                confidence: 0.0,
                rationale: "LLM budget exhausted — \"fell back\"".into(),
                usage: Some(ReportUsage {
                    prompt_tokens: 120,
                    completion_tokens: 40,
                    cost_usd: 0.0009,
                }),
            },
        ],
    };
    let id = journal
        .record_decision("c1", t(1), &decision)
        .await
        .unwrap();
    let stored = journal.decisions("c1").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].id, &stored[0].decision), (id, &decision));
    assert_eq!(stored[0].decided_at, t(1));

    // Orders: journalled pending once; a second record_order is a no-op returning the first.
    let buy = order("o-buy", "AAPL", Side::Buy, 10.0, 100.0);
    let first = journal.record_order(Some("c1"), &buy, t(2)).await.unwrap();
    assert_eq!((first.status, &first.request), (OrderStatus::Pending, &buy));
    journal
        .update_order_status("o-buy", OrderStatus::Accepted, Some("b-1"), None, t(3))
        .await
        .unwrap();
    let mut changed = buy.clone();
    changed.quantity = 99.0;
    let again = journal
        .record_order(Some("c2"), &changed, t(4))
        .await
        .unwrap();
    assert_eq!(
        again.request.quantity, 10.0,
        "record_order must not overwrite"
    );
    assert_eq!(
        (again.status, again.broker_order_id.as_deref()),
        (OrderStatus::Accepted, Some("b-1"))
    );
    assert_eq!(again.cycle_id.as_deref(), Some("c1"));
    let lost = order("o-lost", "MSFT", Side::Buy, 1.0, 300.0);
    journal.record_order(Some("c1"), &lost, t(3)).await.unwrap();
    let unresolved: Vec<String> = journal
        .unresolved_orders()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.request.client_order_id)
        .collect();
    assert_eq!(unresolved, ["o-buy", "o-lost"]);

    // An abandon takes effect only on the status the order was looked up with: o-buy was
    // accepted since, so an abandon decided on `pending` leaves it alone.
    assert!(
        !journal
            .abandon_order("o-buy", OrderStatus::Pending, "abandoned", t(3))
            .await
            .unwrap()
    );
    assert!(
        journal
            .abandon_order("o-lost", OrderStatus::Pending, "abandoned: gone", t(3))
            .await
            .unwrap()
    );
    let status = |o: OrderRecord| (o.status, o.message);
    assert_eq!(
        status(journal.order("o-lost").await.unwrap().unwrap()),
        (OrderStatus::Rejected, Some("abandoned: gone".to_string()))
    );
    assert_eq!(
        status(journal.order("o-buy").await.unwrap().unwrap()),
        (OrderStatus::Accepted, None)
    );

    // Fills move positions once, however often they are recorded.
    assert!(
        journal
            .record_fill(&fill("o-buy", "AAPL", Side::Buy, 10.0, 100.0, 5))
            .await
            .unwrap()
    );
    assert!(
        !journal
            .record_fill(&fill("o-buy", "AAPL", Side::Buy, 10.0, 100.0, 5))
            .await
            .unwrap()
    );
    journal
        .update_order_status("o-buy", OrderStatus::Filled, None, None, t(5))
        .await
        .unwrap();
    journal
        .record_order(
            Some("c2"),
            &order("o-add", "AAPL", Side::Buy, 10.0, 110.0),
            t(6),
        )
        .await
        .unwrap();
    assert!(
        journal
            .record_fill(&fill("o-add", "AAPL", Side::Buy, 10.0, 110.0, 7))
            .await
            .unwrap()
    );
    assert!(
        journal
            .record_fill(&fill("o-cut", "AAPL", Side::Sell, 5.0, 120.0, 8))
            .await
            .unwrap()
    );
    let positions = journal.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(
        (positions[0].quantity, positions[0].average_price),
        (15.0, 105.0)
    );
    let fills = journal.fills().await.unwrap();
    assert_eq!(fills.len(), 3);
    assert_eq!(fills[0], fill("o-buy", "AAPL", Side::Buy, 10.0, 100.0, 5));
    assert!(
        journal
            .record_fill(&fill("o-out", "AAPL", Side::Sell, 15.0, 90.0, 9))
            .await
            .unwrap()
    );
    assert!(
        journal.positions().await.unwrap().is_empty(),
        "a flat position is removed"
    );

    // An order the broker fills in parts: each part becomes one fill at its own price, once,
    // however often the broker's (cumulative) answer is recorded.
    journal
        .record_order(
            Some("c3"),
            &order("o-parts", "MSFT", Side::Buy, 10.0, 400.0),
            t(10),
        )
        .await
        .unwrap();
    let mut reported = BrokerOrder {
        id: "broker-7".into(),
        client_order_id: "o-parts".into(),
        symbol: "MSFT".into(),
        side: Side::Buy,
        quantity: 10.0,
        filled_quantity: 4.0,
        filled_average_price: Some(400.0),
        commission: 0.4,
        status: OrderStatus::PartiallyFilled,
        submitted_at: Some(t(10)),
        filled_at: Some(t(11)),
    };
    let first = journal.record_broker_order(&reported, t(11)).await.unwrap();
    assert_eq!(
        first.map(|f| (f.fill_id, f.quantity, f.price)),
        Some(("broker-7@4".into(), 4.0, 400.0))
    );
    assert_eq!(
        journal.record_broker_order(&reported, t(12)).await.unwrap(),
        None
    );
    reported.filled_quantity = 10.0;
    reported.filled_average_price = Some(406.0); // the other 6 at 410
    reported.commission = 1.0;
    reported.status = OrderStatus::Filled;
    let second = journal
        .record_broker_order(&reported, t(13))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.fill_id.as_str(), second.quantity),
        ("broker-7@10", 6.0)
    );
    assert!((second.price - 410.0).abs() < 1e-9, "{second:?}");
    assert!((second.commission - 0.6).abs() < 1e-9, "{second:?}");
    assert_eq!(
        journal.record_broker_order(&reported, t(14)).await.unwrap(),
        None
    );
    let parts: Vec<f64> = journal
        .fills()
        .await
        .unwrap()
        .iter()
        .filter(|f| f.client_order_id == "o-parts")
        .map(|f| f.quantity)
        .collect();
    assert_eq!(parts, [4.0, 6.0]);
    let msft = journal.positions().await.unwrap();
    assert_eq!(msft.len(), 1);
    assert!((msft[0].quantity - 10.0).abs() < 1e-9 && (msft[0].average_price - 406.0).abs() < 1e-9);
    assert_eq!(
        status(journal.order("o-parts").await.unwrap().unwrap()).0,
        OrderStatus::Filled
    );
    journal
        .set_position(
            &Position {
                symbol: "MSFT".into(),
                quantity: 0.0,
                average_price: 0.0,
            },
            t(15),
        )
        .await
        .unwrap();

    // Equity curve: ordered by time whatever the insertion order; `since` filters.
    for (at, equity) in [(30, 1_030.0), (10, 1_010.0), (20, 1_020.0)] {
        journal.record_equity(t(at), 500.0, equity).await.unwrap();
    }
    let curve: Vec<f64> = journal
        .equity_curve(None)
        .await
        .unwrap()
        .iter()
        .map(|s| s.equity)
        .collect();
    assert_eq!(curve, [1_010.0, 1_020.0, 1_030.0]);
    let recent = journal.equity_curve(Some(t(20))).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].taken_at, t(20));

    // Risk rejections and events.
    let rejection = RejectionRecord {
        cycle_id: "c1".into(),
        symbol: "TSLA".into(),
        reason: "max_order_notional".into(),
        detail: "order 12000 > limit 10000".into(),
        rejected_at: t(3),
    };
    journal.record_rejection(&rejection).await.unwrap();
    assert_eq!(
        journal.rejections(Some("c1")).await.unwrap(),
        std::slice::from_ref(&rejection)
    );
    assert!(journal.rejections(Some("c2")).await.unwrap().is_empty());
    assert_eq!(journal.rejections(None).await.unwrap().len(), 1);
    let event = EventRecord {
        cycle_id: Some("c1".into()),
        kind: "llm_budget_exhausted".into(),
        message: "LLM budget exhausted, fell back to hold".into(),
        details: Some(serde_json::json!({"provider": "openai", "spent_usd": 5.0})),
        created_at: t(2),
    };
    journal.record_event(&event).await.unwrap();
    assert_eq!(
        journal.events(Some("llm_budget_exhausted")).await.unwrap(),
        [event]
    );
    assert!(journal.events(Some("other")).await.unwrap().is_empty());
    llm_spend_is_summed_per_provider_and_day(journal).await;
    provider_holds_keep_the_latest_end_until_it_passes(journal).await;
}

/// The LLM spend ledger a restarted trader restores its budgets from: billed calls summed per
/// provider for one UTC day, calls of other days left out.
async fn llm_spend_is_summed_per_provider_and_day(journal: &Journal) {
    let call = |provider: &str, at: i64, cost_usd: f64| LlmCall {
        provider: provider.into(),
        role: "analyst".into(),
        at: t(at),
        prompt_tokens: 1_000,
        completion_tokens: 200,
        cost_usd,
    };
    let day = t(0).date_naive();
    assert!(journal.llm_spend_on(day).await.unwrap().is_empty());
    for recorded in [
        call("openai", 10, 0.25),
        call("openai", 20, 0.5),
        call("anthropic", 30, 1.25),
        // The next UTC day: not part of `day`'s spend.
        call("openai", 86_400 + 10, 4.0),
    ] {
        journal.record_llm_call(&recorded).await.unwrap();
    }
    let spend = journal.llm_spend_on(day).await.unwrap();
    assert_eq!(spend.len(), 2, "{spend:?}");
    assert!((spend["openai"] - 0.75).abs() < 1e-9, "{spend:?}");
    assert!((spend["anthropic"] - 1.25).abs() < 1e-9, "{spend:?}");
    let usage = journal.llm_usage_on(day).await.unwrap();
    assert_eq!(usage["openai"], (2, 2_000, 400));
    let next_day = journal.llm_spend_on(t(86_400).date_naive()).await.unwrap();
    assert_eq!(next_day.len(), 1);
}

/// The provider holds a restarted trader restores: the latest end per provider, never
/// shortened by an earlier one, to the millisecond (rounded up), and only until it passes.
async fn provider_holds_keep_the_latest_end_until_it_passes(journal: &Journal) {
    let now = t(0);
    assert!(journal.provider_holds(now).await.unwrap().is_empty());
    let openai = now + Duration::milliseconds(3_000) + Duration::microseconds(400);
    journal
        .record_provider_hold("openai", openai)
        .await
        .unwrap();
    journal
        .record_provider_hold("openai", now + Duration::seconds(1))
        .await
        .unwrap();
    journal
        .record_provider_hold("anthropic", now + Duration::seconds(2))
        .await
        .unwrap();
    journal
        .record_provider_hold("anthropic", now + Duration::seconds(20))
        .await
        .unwrap();
    journal
        .record_provider_hold("local", now - Duration::seconds(1))
        .await
        .unwrap();
    let holds = journal.provider_holds(now).await.unwrap();
    let rounded_up = now + Duration::milliseconds(3_001);
    assert_eq!(
        holds.into_iter().collect::<Vec<_>>(),
        [
            ("anthropic".to_string(), now + Duration::seconds(20)),
            ("openai".to_string(), rounded_up),
        ],
        "an earlier end never shortens a hold; an ended one is not returned"
    );
    let later = journal.provider_holds(rounded_up).await.unwrap();
    assert_eq!(later.keys().collect::<Vec<_>>(), ["anthropic"], "{later:?}");
    // Through the trait the providers use.
    use agent_runtime::agents::llm::SpendLedger;
    journal
        .record_hold("local", now + Duration::seconds(5))
        .await
        .unwrap();
    let holds = journal.holds(now).await.unwrap();
    assert_eq!(holds.get("local"), Some(&(now + Duration::seconds(5))));
}

/// The paper broker keeps its books across a restart (a new process opening the journal).
pub async fn paper_survives_restart(config: &JournalConfig) {
    let settings = PaperSettings {
        starting_cash: 10_000.0,
        commission_bps: 10.0,
        slippage_bps: 20.0,
        allow_short: false,
    };
    let journal = Journal::open(config).await.unwrap();
    let broker = PaperBroker::open(journal.clone(), settings).await.unwrap();
    let placed = broker
        .submit_order(&order("p1", "AAPL", Side::Buy, 10.0, 100.0))
        .await
        .unwrap();
    assert_eq!(placed.status, OrderStatus::Filled);
    assert!((placed.filled_average_price.unwrap() - 100.2).abs() < 1e-9);
    // The same client order id again: the existing order, nothing new.
    let again = broker
        .submit_order(&order("p1", "AAPL", Side::Buy, 10.0, 100.0))
        .await
        .unwrap();
    assert_eq!(again, placed);
    let err = broker
        .submit_order(&order("p2", "AAPL", Side::Sell, 11.0, 100.0))
        .await
        .unwrap_err();
    assert!(err.is_definitely_rejected(), "{err}");
    assert!(broker.order_by_client_id("p2").await.unwrap().is_none());
    let account = broker.account().await.unwrap();
    journal.close().await;
    drop(broker);

    // "Restart": the starting cash does not reset, the position and marks are still there.
    let journal = Journal::open(config).await.unwrap();
    let broker = PaperBroker::open(
        journal.clone(),
        PaperSettings {
            starting_cash: 1.0,
            ..settings
        },
    )
    .await
    .unwrap();
    assert_eq!(broker.account().await.unwrap(), account);
    let expected_cash = 10_000.0 - 1_002.0 - 1.002;
    assert!((account.cash - expected_cash).abs() < 1e-9, "{account:?}");
    assert!(
        (account.equity - (expected_cash + 1_000.0)).abs() < 1e-9,
        "{account:?}"
    );
    let positions = broker.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].quantity, 10.0);
    assert_eq!(broker.order_by_client_id("p1").await.unwrap(), Some(placed));
    broker.mark("AAPL", 110.0).await.unwrap();
    let marked = broker.account().await.unwrap();
    assert!((marked.equity - (expected_cash + 1_100.0)).abs() < 1e-9);
    broker
        .submit_order(&order("p3", "AAPL", Side::Sell, 10.0, 110.0))
        .await
        .unwrap();
    assert!(broker.positions().await.unwrap().is_empty());
    assert!(broker.clock().await.unwrap().is_none());
    journal.close().await;
}

/// A shadow's paper account opens holding the live book it was seeded with, values it at
/// the seed's prices, and trades from it (it may sell what the live pods hold); reopened, it
/// is its own book: the seed is never applied twice.
pub async fn paper_opens_seeded_once(config: &JournalConfig) {
    let settings = PaperSettings {
        starting_cash: 5_000.0,
        commission_bps: 0.0,
        slippage_bps: 0.0,
        allow_short: false,
    };
    let seed = [Position {
        symbol: "AAPL".into(),
        quantity: 20.0,
        average_price: 150.0,
    }];
    let journal = Journal::open(config).await.unwrap();
    let broker = PaperBroker::open_seeded(journal.clone(), settings, &seed)
        .await
        .unwrap();
    assert_eq!(broker.positions().await.unwrap(), seed.to_vec());
    let account = broker.account().await.unwrap();
    assert!(
        (account.equity - (5_000.0 + 20.0 * 150.0)).abs() < 1e-9,
        "{account:?}"
    );
    // Long-only, yet it may sell the seeded shares: they are the paper account's own.
    broker
        .submit_order(&order("s1", "AAPL", Side::Sell, 5.0, 160.0))
        .await
        .unwrap();
    journal.close().await;
    drop(broker);

    let journal = Journal::open(config).await.unwrap();
    let broker = PaperBroker::open_seeded(journal.clone(), settings, &seed)
        .await
        .unwrap();
    let positions = broker.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    assert_eq!(
        positions[0].quantity, 15.0,
        "the seed applied again: {positions:?}"
    );
    let cash = broker.account().await.unwrap().cash;
    assert!((cash - (5_000.0 + 5.0 * 160.0)).abs() < 1e-9, "{cash}");
    journal.close().await;
}
