//! The full replay: two symbols, a year of daily bars, quantitative analysts, a paper broker.
//! The journal must hold every decision and order, the equity curve must add up at every
//! snapshot, and a second run must give the identical journal.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_runtime::config::RuntimeConfig;
use agent_runtime::cycle::backtest::{BacktestBroker, FillModel};
use agent_runtime::cycle::build::runner;
use agent_runtime::cycle::ports::{
    AccountState, Execution, JournalEntry, MemoryJournal, OrderOutcome, PortError, Settlement,
};
use agent_runtime::domain::{OrderRequest, OrderStatus, Side};
use agent_runtime::leadership::AlwaysLeader;
use agent_runtime::market::ReplayFeed;
use agent_runtime::market::synthetic;
use agent_runtime::metrics::Metrics;
use agent_runtime::replay::{self, ReplaySummary};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

const STARTING_CASH: f64 = 100_000.0;
const BARS: usize = 252;
const WARMUP: usize = 60;

fn config() -> RuntimeConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo.yaml");
    RuntimeConfig::load(&path).unwrap()
}

async fn run_once() -> (ReplaySummary, Vec<JournalEntry>, String) {
    let config = config();
    let bars = synthetic::generate(&config.symbols, synthetic::default_start(), BARS);
    let feed = Arc::new(ReplayFeed::new(bars, WARMUP));
    let journal = Arc::new(MemoryJournal::default());
    let metrics = Metrics::new().unwrap();
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BacktestBroker::new(STARTING_CASH, 1.0, 2.0)),
        journal.clone(),
        Arc::new(AlwaysLeader),
        metrics.clone(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let summary = replay::run(&mut runner, &feed, 1, None, Duration::ZERO, stop)
        .await
        .unwrap();
    (summary, journal.entries(), metrics.render())
}

#[tokio::test]
async fn full_replay_is_complete_consistent_and_deterministic() {
    let (summary, entries, metrics) = run_once().await;
    println!("replay summary: {summary}");
    let cycles = BARS - WARMUP + 1;
    assert_eq!(summary.cycles, cycles);

    // Every decision: one per symbol per cycle, each with all four analysts' reports.
    let decisions: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Decision { decision, .. } => Some(decision),
            _ => None,
        })
        .collect();
    assert_eq!(decisions.len(), cycles * 2);
    assert!(decisions.iter().all(|d| d.reports.len() == 4));

    // Every order has its result, in order, and the paper broker filled them all.
    let orders: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Order { order, .. } => Some(order),
            _ => None,
        })
        .collect();
    let results: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::OrderResult {
                client_order_id,
                outcome,
                ..
            } => Some((client_order_id, outcome)),
            _ => None,
        })
        .collect();
    assert!(
        orders.len() >= 4,
        "the demo strategy should trade, got {} orders",
        orders.len()
    );
    assert_eq!(orders.len(), results.len());
    assert_eq!(orders.len(), summary.orders);
    for (order, (id, outcome)) in orders.iter().zip(&results) {
        assert_eq!(&order.client_order_id, *id);
        assert_eq!(outcome.status, OrderStatus::Filled, "{outcome:?}");
    }
    let mut ids: Vec<_> = orders.iter().map(|o| &o.client_order_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), orders.len(), "client order ids are unique");

    // The equity curve adds up at every snapshot: cash + Σ quantity × mark = equity.
    let snapshots: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Equity { account, marks, .. } => Some((account, marks)),
            _ => None,
        })
        .collect();
    assert_eq!(snapshots.len(), cycles);
    for (account, marks) in &snapshots {
        let positions: f64 = account
            .positions
            .iter()
            .map(|p| p.quantity * marks[&p.symbol])
            .sum();
        assert!(
            (account.cash + positions - account.equity).abs() < 1e-6,
            "{account:?}"
        );
        assert!(account.cash >= -1e-6, "long only, no margin: {account:?}");
    }
    // And cash is exactly what the fills say it should be.
    let fills = results.iter().flat_map(|(_, outcome)| &outcome.fills);
    let cash = fills.fold(STARTING_CASH, |cash, f| match f.side {
        Side::Buy => cash - f.quantity * f.price - f.commission,
        Side::Sell => cash + f.quantity * f.price - f.commission,
    });
    let final_cash = snapshots.last().unwrap().0.cash;
    assert!(
        (cash - final_cash).abs() < 1e-6,
        "fills say {cash}, account says {final_cash}"
    );

    // Metrics saw the same run.
    assert!(
        metrics.contains(&format!(
            "tradeplane_cycles_total{{outcome=\"ok\"}} {cycles}"
        )),
        "{metrics}"
    );

    // Determinism: the same data gives the identical journal.
    let (again, entries_again, _) = run_once().await;
    assert_eq!(summary, again);
    assert_eq!(
        serde_json::to_string(&entries).unwrap(),
        serde_json::to_string(&entries_again).unwrap()
    );
}

#[tokio::test]
async fn llm_seats_are_wired_in_and_fall_back_when_the_provider_is_down() {
    let yaml = r#"
apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: demo, name: llm}
symbols: [AAPL]
analysts:
  - {role: trend, kind: quant, method: trend}
  - role: news
    kind: llm
    providers: [local]
    model: test-model
    fallback: {action: quant, method: momentum}
providers:
  - {name: local, baseUrl: "http://127.0.0.1:9/v1", maxRetries: 0, timeoutSeconds: 2}
"#;
    let config = RuntimeConfig::parse(yaml, Path::new("llm.yaml")).unwrap();
    config.validate().unwrap();
    let bars = synthetic::generate(&config.symbols, synthetic::default_start(), 70);
    let feed = Arc::new(ReplayFeed::new(bars, 60));
    let journal = Arc::new(MemoryJournal::default());
    let metrics = Metrics::new().unwrap();
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BacktestBroker::new(STARTING_CASH, 0.0, 0.0)),
        journal.clone(),
        Arc::new(AlwaysLeader),
        metrics.clone(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let summary = replay::run(&mut runner, &feed, 1, Some(3), Duration::ZERO, stop)
        .await
        .unwrap();
    assert_eq!(summary.decisions, 3);
    for entry in journal.entries() {
        if let JournalEntry::Decision { decision, .. } = entry {
            let news = decision
                .reports
                .iter()
                .find(|r| r.role == "news".into())
                .unwrap();
            assert_eq!(news.source, "fallback:quant:momentum".into(), "{news:?}");
        }
    }
    assert!(
        metrics.render().contains("tradeplane_llm_fallbacks_total"),
        "LLM metrics share the registry"
    );
}

#[tokio::test]
async fn a_strategy_with_an_agent_pool_decides_on_the_pool_reports() {
    use agent_runtime::agents::llm::Seat;
    use agent_runtime::agents::quant::quant_analyst;
    use agent_runtime::config::QuantMethod;
    use agent_runtime::worker::{Worker, serve};

    let seats = vec![
        Seat::Plain(quant_analyst("pool-trend", QuantMethod::Trend)),
        Seat::Plain(quant_analyst("pool-momentum", QuantMethod::Momentum)),
    ];
    let worker = Worker::new(seats, 4, prometheus::Registry::new()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, worker, std::future::pending()));

    let yaml = format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1\nidentity: {{namespace: demo, name: pooled}}\n\
         symbols: [AAPL]\nagentPool: {{url: \"{url}\"}}\n"
    );
    let config = RuntimeConfig::parse(&yaml, Path::new("pooled.yaml")).unwrap();
    config.validate().unwrap();
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), 70),
        60,
    ));
    let journal = Arc::new(MemoryJournal::default());
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BacktestBroker::new(STARTING_CASH, 0.0, 0.0)),
        journal.clone(),
        Arc::new(AlwaysLeader),
        Metrics::new().unwrap(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    replay::run(&mut runner, &feed, 1, Some(2), Duration::ZERO, stop)
        .await
        .unwrap();
    let decisions: Vec<_> = journal
        .entries()
        .into_iter()
        .filter_map(|e| match e {
            JournalEntry::Decision { decision, .. } => Some(decision),
            _ => None,
        })
        .collect();
    assert_eq!(decisions.len(), 2);
    for decision in decisions {
        let roles: Vec<_> = decision.reports.iter().map(|r| r.role.as_ref()).collect();
        assert_eq!(roles, ["pool-trend", "pool-momentum"]);
    }
}

/// The simulated broker, counting the cycle's account reads, and saying (or not) that only
/// the cycle's orders move its account.
struct CountingBroker {
    inner: BacktestBroker,
    moves_only_with_orders: bool,
    reads: AtomicUsize,
}

impl Execution for CountingBroker {
    fn account<'a>(
        &'a self,
        marks: &'a BTreeMap<String, f64>,
    ) -> BoxFuture<'a, Result<AccountState, PortError>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.account(marks)
    }

    fn account_into_at_once(
        &self,
        marks: &BTreeMap<String, f64>,
        account: &mut AccountState,
    ) -> Option<Result<(), PortError>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.account_into_at_once(marks, account)
    }

    fn account_moves_only_with_orders(&self) -> bool {
        self.moves_only_with_orders
    }

    fn settle<'a>(&'a self, cycle_id: &'a str) -> BoxFuture<'a, Result<Settlement, PortError>> {
        self.inner.settle(cycle_id)
    }

    fn settle_at_once(
        &self,
        cycle_id: &str,
        into: &mut Settlement,
    ) -> Option<Result<(), PortError>> {
        self.inner.settle_at_once(cycle_id, into)
    }

    fn submit<'a>(
        &'a self,
        cycle_id: &'a str,
        order: &'a OrderRequest,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderOutcome, PortError>> {
        self.inner.submit(cycle_id, order, at)
    }
}

/// Replays the demo with `broker`'s fill model; the journal, and the account reads made.
async fn replay_counting(
    fill: FillModel,
    moves_only_with_orders: bool,
) -> (Vec<JournalEntry>, usize) {
    let config = config();
    let bars = synthetic::generate(&config.symbols, synthetic::default_start(), BARS);
    let feed = Arc::new(ReplayFeed::new(bars, WARMUP));
    let journal = Arc::new(MemoryJournal::default());
    let broker = Arc::new(CountingBroker {
        inner: BacktestBroker::new(STARTING_CASH, 1.0, 2.0).with_fill(fill),
        moves_only_with_orders,
        reads: AtomicUsize::new(0),
    });
    let mut runner = runner(
        &config,
        feed.clone(),
        broker.clone(),
        journal.clone(),
        Arc::new(AlwaysLeader),
        Metrics::new().unwrap(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    replay::run(&mut runner, &feed, 1, None, Duration::ZERO, stop)
        .await
        .unwrap();
    // The replay reads the opening account once before its first cycle.
    let reads = broker.reads.load(Ordering::SeqCst) - 1;
    (journal.entries(), reads)
}

/// A broker whose account only the cycle's orders move is read once in a cycle that placed
/// no order and twice in one that did, and the journal is the same as when it is read twice
/// every cycle: the second read would have said nothing new.
#[tokio::test]
async fn the_account_is_read_again_only_where_the_orders_may_have_moved_it() {
    for fill in [FillModel::Close, FillModel::NextOpen] {
        let (every_cycle, reads_every_cycle) = replay_counting(fill, false).await;
        let (only_after_orders, reads_after_orders) = replay_counting(fill, true).await;
        let cycles = BARS - WARMUP + 1;
        assert_eq!(reads_every_cycle, 2 * cycles, "{fill:?}");
        let cycles_with_orders: BTreeSet<_> = every_cycle
            .iter()
            .filter_map(|e| match e {
                JournalEntry::Order { cycle_id, .. } => Some(cycle_id),
                _ => None,
            })
            .collect();
        // A replay releases no next bar's open to the broker: there a next-open order is
        // placed and then waits, which is enough to read the account again after it.
        assert!(!cycles_with_orders.is_empty(), "{fill:?}: the demo trades");
        assert_eq!(
            reads_after_orders,
            cycles + cycles_with_orders.len(),
            "{fill:?}"
        );
        assert_eq!(
            serde_json::to_string(&every_cycle).unwrap(),
            serde_json::to_string(&only_after_orders).unwrap(),
            "{fill:?}"
        );
    }
}
