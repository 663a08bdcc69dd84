//! The full replay through the real paper broker and SQLite journal: two symbols, a year of
//! daily bars, quantitative analysts. The journal must hold every decision and order with its
//! fill, the equity curve must add up at every snapshot, and a second run must journal the
//! same decisions, orders, fills and equity (only wall-clock bookkeeping times may differ).

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::broker;
use agent_runtime::config::RuntimeConfig;
use agent_runtime::cycle::adapters::{BrokerExecution, JournalRecorder};
use agent_runtime::cycle::build::runner;
use agent_runtime::cycle::cycle_id;
use agent_runtime::cycle::ports::{JournalEntry, MemoryJournal, PortError, Recorder};
use agent_runtime::domain::OrderStatus;
use agent_runtime::journal::Journal;
use agent_runtime::leadership::AlwaysLeader;
use agent_runtime::market::{ReplayFeed, synthetic};
use agent_runtime::metrics::Metrics;
use agent_runtime::replay::{self, ReplaySummary};
use futures::FutureExt;
use futures::future::BoxFuture;

const BARS: usize = 252;
const WARMUP: usize = 60;

/// Records to both the journal database and memory, so the test can walk what was sent.
struct Tee(JournalRecorder, Arc<MemoryJournal>);

impl Recorder for Tee {
    fn record<'a>(&'a self, entry: &'a JournalEntry) -> BoxFuture<'a, Result<(), PortError>> {
        async move {
            self.0.record(entry).await?;
            self.1.record(entry).await
        }
        .boxed()
    }
}

/// On a RAM disk where there is one: the test is about what is journalled, and each of the
/// run's ~1,500 commits would otherwise wait for an fsync (the benches measure that cost).
fn db_path(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("tp-replay-{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

async fn run_once(name: &str) -> (ReplaySummary, Vec<JournalEntry>, Journal) {
    let config = RuntimeConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo.yaml"),
    )
    .unwrap();
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), BARS),
        WARMUP,
    ));
    let journal = Journal::open_sqlite(&db_path(name)).await.unwrap();
    let paper = broker::connect(&config.broker, &journal).await.unwrap();
    let memory = Arc::new(MemoryJournal::default());
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BrokerExecution::new(paper, journal.clone())),
        Arc::new(Tee(JournalRecorder::new(journal.clone()), memory.clone())),
        Arc::new(AlwaysLeader),
        Metrics::new().unwrap(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let summary = replay::run(&mut runner, &feed, 1, None, Duration::ZERO, stop)
        .await
        .unwrap();
    (summary, memory.entries(), journal)
}

/// What must be identical between runs: everything but wall-clock bookkeeping times.
async fn content(journal: &Journal, cycles: &[String], order_ids: &[String]) -> String {
    let mut out = Vec::new();
    for id in order_ids {
        let order = journal.order(id).await.unwrap().unwrap();
        out.push(format!(
            "{:?} {:?} {:?} {:?}",
            order.cycle_id, order.request, order.status, order.message
        ));
    }
    for rejection in journal.rejections(None).await.unwrap() {
        out.push(format!(
            "{} {} {} {} {}",
            rejection.cycle_id,
            rejection.symbol,
            rejection.reason,
            rejection.detail,
            rejection.rejected_at
        ));
    }
    for event in journal.events(None).await.unwrap() {
        out.push(format!(
            "{:?} {} {} {}",
            event.cycle_id, event.kind, event.message, event.created_at
        ));
    }
    for id in cycles {
        for record in journal.decisions(id).await.unwrap() {
            out.push(format!(
                "{} {} {:?}",
                record.cycle_id, record.decided_at, record.decision
            ));
        }
    }
    let mut fills: Vec<String> = journal
        .fills()
        .await
        .unwrap()
        .into_iter()
        .map(|f| {
            format!(
                "{} {} {:?} {} {} {}",
                f.client_order_id, f.symbol, f.side, f.quantity, f.price, f.commission
            )
        })
        .collect();
    fills.sort();
    out.extend(fills);
    for snapshot in journal.equity_curve(None).await.unwrap() {
        out.push(format!(
            "{} {} {}",
            snapshot.taken_at, snapshot.cash, snapshot.equity
        ));
    }
    out.join("\n")
}

#[tokio::test]
async fn full_replay_through_the_paper_broker_and_journal() {
    let (summary, entries, journal) = run_once("a").await;
    println!("replay summary (paper broker, SQLite journal): {summary}");
    let cycles = BARS - WARMUP + 1;
    assert_eq!(summary.cycles, cycles);

    // Every decision is in the journal, two per cycle, with the analysts' reports.
    let cycle_ids: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Equity { time, .. } => Some(cycle_id(*time)),
            _ => None,
        })
        .collect();
    assert_eq!(cycle_ids.len(), cycles);
    for id in &cycle_ids {
        let decisions = journal.decisions(id).await.unwrap();
        assert_eq!(decisions.len(), 2, "cycle {id}");
        assert!(decisions.iter().all(|d| d.decision.reports.len() == 4));
        assert_eq!(
            journal.cycle(id).await.unwrap().unwrap().status,
            agent_runtime::journal::CycleStatus::Completed
        );
    }

    // Every order sent is journalled, filled, with its fill.
    let orders: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::Order { order, .. } => Some(order),
            _ => None,
        })
        .collect();
    assert!(orders.len() >= 4, "the demo strategy should trade");
    let fills = journal.fills().await.unwrap();
    assert_eq!(fills.len(), orders.len());
    for order in &orders {
        let record = journal
            .order(&order.client_order_id)
            .await
            .unwrap()
            .expect("order journalled");
        assert_eq!(record.status, OrderStatus::Filled);
        assert_eq!(&record.request, *order);
        assert!(
            fills
                .iter()
                .any(|f| f.client_order_id == order.client_order_id)
        );
    }
    assert!(journal.unresolved_orders().await.unwrap().is_empty());

    // The equity curve adds up at every snapshot, and the journal's curve is the same one.
    let curve = journal.equity_curve(None).await.unwrap();
    assert_eq!(curve.len(), cycles);
    let snapshots = entries.iter().filter_map(|e| match e {
        JournalEntry::Equity { account, marks, .. } => Some((account, marks)),
        _ => None,
    });
    for ((account, marks), journalled) in snapshots.zip(&curve) {
        let held: f64 = account
            .positions
            .iter()
            .map(|p| p.quantity * marks[&p.symbol])
            .sum();
        assert!(
            (account.cash + held - account.equity).abs() < 1e-6,
            "{account:?} at {marks:?}"
        );
        assert_eq!(
            (journalled.cash, journalled.equity),
            (account.cash, account.equity)
        );
    }

    // Determinism: a second run journals the same content.
    let (again, _, journal_again) = run_once("b").await;
    assert_eq!(summary, again);
    let order_ids: Vec<String> = orders.iter().map(|o| o.client_order_id.clone()).collect();
    let first = content(&journal, &cycle_ids, &order_ids).await;
    assert_eq!(first, content(&journal_again, &cycle_ids, &order_ids).await);
    assert!(first.lines().count() > 2 * cycle_ids.len() + order_ids.len());
    journal.close().await;
    journal_again.close().await;
    for name in ["a", "b"] {
        db_path(name); // removes the files
    }
}
