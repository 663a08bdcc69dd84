//! `suspend` halts at once: the operator renders it as `tradingState: Halted` into the config
//! file, and a running trader applies it before its very next order — here, between a
//! cycle's decisions and its orders — journals the change and refuses the orders as Halted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agent_runtime::config::{RuntimeConfig, TradingState, TradingStateWatch};
use agent_runtime::cycle::backtest::BacktestBroker;
use agent_runtime::cycle::build;
use agent_runtime::cycle::ports::{JournalEntry, MemoryJournal, PortError, Recorder};
use agent_runtime::cycle::runner::Ports;
use agent_runtime::leadership::AlwaysLeader;
use agent_runtime::market::{ReplayFeed, synthetic};
use agent_runtime::metrics::Metrics;
use agent_runtime::replay;
use agent_runtime::risk::RejectReason;
use futures::future::BoxFuture;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo.yaml");

/// Journals in memory; on the first decision of `cycle` rewrites the config file with
/// `tradingState: Halted`, as kubelet does when the operator updates the Secret.
struct SuspendDuring {
    memory: Arc<MemoryJournal>,
    cycle: Option<String>,
    file: PathBuf,
    done: AtomicBool,
}

impl Recorder for SuspendDuring {
    fn record<'a>(&'a self, entry: &'a JournalEntry) -> BoxFuture<'a, Result<(), PortError>> {
        if let JournalEntry::Decision { cycle_id, .. } = entry
            && self.cycle.as_ref() == Some(cycle_id)
            && !self.done.swap(true, Ordering::SeqCst)
        {
            let text = std::fs::read_to_string(&self.file).unwrap();
            assert!(text.contains("tradingState: Active"));
            let halted = text.replace("tradingState: Active", "tradingState: Halted");
            std::fs::write(&self.file, halted).unwrap();
        }
        self.memory.record(entry)
    }
}

async fn run(file: &Path, suspend_in: Option<String>, watch: bool) -> (Vec<JournalEntry>, Metrics) {
    let config = RuntimeConfig::load(file).unwrap();
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), 252),
        60,
    ));
    let memory = Arc::new(MemoryJournal::default());
    let recorder = SuspendDuring {
        memory: memory.clone(),
        cycle: suspend_in,
        file: file.to_path_buf(),
        done: AtomicBool::new(false),
    };
    let metrics = Metrics::new().unwrap();
    let ports = Ports {
        market: feed.clone(),
        broker: Arc::new(BacktestBroker::new(100_000.0, 0.0, 0.0)),
        journal: Arc::new(recorder),
        leadership: Arc::new(AlwaysLeader),
    };
    let mut builder = build::builder(&config, ports, metrics.clone()).unwrap();
    if watch {
        builder = builder.state_watch(TradingStateWatch::new(file));
    }
    let mut runner = builder.build().unwrap();
    let (_tx, stop) = tokio::sync::watch::channel(false);
    replay::run(&mut runner, &feed, 1, None, Duration::ZERO, stop)
        .await
        .unwrap();
    (memory.entries(), metrics)
}

fn cycle_of(entry: &JournalEntry) -> Option<&str> {
    match entry {
        JournalEntry::Order { cycle_id, .. }
        | JournalEntry::RiskRejected { cycle_id, .. }
        | JournalEntry::TradingState { cycle_id, .. } => Some(cycle_id),
        _ => None,
    }
}

#[tokio::test]
async fn a_halted_config_stops_the_next_order_of_a_running_trader() {
    let dir = std::env::temp_dir().join(format!("tp-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.yaml");
    std::fs::write(&file, std::fs::read_to_string(FIXTURE).unwrap()).unwrap();

    // Unchanged file: the watch finds nothing to apply, and the strategy trades.
    let (control, _) = run(&file, None, true).await;
    let first_order_cycle = control
        .iter()
        .find_map(|e| match e {
            JournalEntry::Order { cycle_id, .. } => Some(cycle_id.clone()),
            _ => None,
        })
        .expect("the demo strategy trades");
    assert!(
        !control
            .iter()
            .any(|e| matches!(e, JournalEntry::TradingState { .. }))
    );

    // The file turns Halted after that cycle's decisions, before its orders.
    let (entries, metrics) = run(&file, Some(first_order_cycle.clone()), true).await;
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e, JournalEntry::Order { .. })),
        "no order after the suspension"
    );
    let change = entries
        .iter()
        .find(|e| matches!(e, JournalEntry::TradingState { .. }))
        .expect("the change is journalled");
    assert!(matches!(
        change,
        JournalEntry::TradingState { from: TradingState::Active, to: TradingState::Halted, cycle_id, .. }
            if *cycle_id == first_order_cycle
    ));
    let halted: Vec<_> = entries
        .iter()
        .filter(|e| {
            matches!(e, JournalEntry::RiskRejected { rejection, .. }
                if rejection.reason == RejectReason::Halted)
        })
        .collect();
    assert_eq!(
        cycle_of(halted[0]),
        Some(first_order_cycle.as_str()),
        "refused in the same cycle"
    );
    assert!(
        metrics.render().contains("tradeplane_trading_state 2"),
        "the gauge shows Halted"
    );
    assert!(
        metrics
            .render()
            .contains(r#"tradeplane_risk_rejections_total{reason="halted"}"#)
    );

    // Without the watch (the file is Halted now, but was read at start as Active) the
    // runner would have traded: the watch is what stopped it.
    std::fs::write(&file, std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let (unwatched, _) = run(&file, Some(first_order_cycle.clone()), false).await;
    assert!(unwatched.iter().any(
        |e| matches!(e, JournalEntry::Order { cycle_id, .. } if *cycle_id == first_order_cycle)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
