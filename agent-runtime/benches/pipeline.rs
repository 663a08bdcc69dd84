//! Runtime overhead, excluding LLM time: `cargo bench -p tradeplane-agent-runtime`.
//!
//! Prints (1) the cost of one symbol-cycle through the whole pipeline — market data, the four
//! quant analysts, decision, risk, backtest broker, in-memory journal, metrics — against the
//! 5 ms goal, (2) the same through what a paper trader really runs: the journal-backed paper
//! broker and the SQLite journal, every write committed to disk, (3) replay throughput in
//! bars per second, and (4) where the time goes, stage by stage. Each figure is the median
//! of [`RUNS`] runs. Synthetic data, so it runs anywhere without keys. Figures are printed,
//! not asserted: a shared CI machine is too noisy to gate on.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_runtime::agents::Snapshot;
use agent_runtime::agents::quant;
use agent_runtime::broker;
use agent_runtime::config::{QuantMethod, RuntimeConfig};
use agent_runtime::cycle::adapters::{BrokerExecution, JournalRecorder};
use agent_runtime::cycle::backtest::BacktestBroker;
use agent_runtime::cycle::build::runner;
use agent_runtime::cycle::ports::MemoryJournal;
use agent_runtime::decision::{DecisionInput, PortfolioManager};
use agent_runtime::journal::Journal;
use agent_runtime::leadership::AlwaysLeader;
use agent_runtime::market::{ReplayFeed, synthetic};
use agent_runtime::metrics::Metrics;
use agent_runtime::replay;

const GOAL: Duration = Duration::from_millis(5);
/// Runs per figure; the median is printed.
const RUNS: usize = 5;

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn config(symbols: usize) -> Result<RuntimeConfig, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo.yaml");
    let mut config = RuntimeConfig::load(std::path::Path::new(path))?;
    config.symbols = (0..symbols).map(|i| format!("SYM{i:02}")).collect();
    Ok(config)
}

/// Replays `bars` daily bars of `symbols` symbols; returns (symbol-cycles, elapsed).
fn replay_run(
    symbols: usize,
    bars: usize,
) -> Result<(usize, Duration), Box<dyn std::error::Error>> {
    let config = config(symbols)?;
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), bars),
        60,
    ));
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BacktestBroker::new(100_000.0, 1.0, 2.0)),
        Arc::new(MemoryJournal::default()),
        Arc::new(AlwaysLeader),
        Metrics::new()?,
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let summary = runtime.block_on(replay::run(
        &mut runner,
        &feed,
        1,
        None,
        Duration::ZERO,
        stop,
    ))?;
    Ok((summary.decisions, started.elapsed()))
}

fn per_call<T>(iterations: u32, mut f: impl FnMut() -> T) -> Duration {
    let started = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    started.elapsed() / iterations
}

/// The same replay through the journal-backed paper broker and a SQLite journal on disk.
fn journalled_run(
    symbols: usize,
    bars: usize,
) -> Result<(usize, Duration), Box<dyn std::error::Error>> {
    let config = config(symbols)?;
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), bars),
        60,
    ));
    let path = std::env::temp_dir().join(format!("tp-bench-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let (decisions, elapsed) = runtime.block_on(async {
        let journal = Journal::open_sqlite(&path).await?;
        let paper = broker::connect(&config.broker, &journal).await?;
        let mut runner = runner(
            &config,
            feed.clone(),
            Arc::new(BrokerExecution::new(paper, journal.clone())),
            Arc::new(JournalRecorder::new(journal.clone())),
            Arc::new(AlwaysLeader),
            Metrics::new()?,
        )?;
        let started = Instant::now();
        let summary = replay::run(&mut runner, &feed, 1, None, Duration::ZERO, stop).await?;
        let elapsed = started.elapsed();
        journal.close().await;
        Ok::<_, Box<dyn std::error::Error>>((summary.decisions, elapsed))
    })?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok((decisions, elapsed))
}

/// Median over [`RUNS`] of `run`'s time per symbol-cycle, and the symbol-cycles per run.
fn per_symbol_cycle(
    run: impl Fn() -> Result<(usize, Duration), Box<dyn std::error::Error>>,
) -> Result<(Duration, usize), Box<dyn std::error::Error>> {
    let mut times = Vec::with_capacity(RUNS);
    let mut count = 0;
    for _ in 0..RUNS {
        let (symbol_cycles, elapsed) = run()?;
        count = symbol_cycles.max(1);
        times.push(elapsed / count as u32);
    }
    Ok((median(times), count))
}

fn print_row(symbols: usize, symbol_cycles: usize, per: Duration) {
    let verdict = if per <= GOAL { "within" } else { "OVER" };
    println!(
        "{symbols:>3} symbols × {:>5} cycles: {per:>10.2?} per symbol-cycle ({verdict} the {GOAL:?} goal), {:>9.0} bars/s",
        symbol_cycles / symbols,
        1.0 / per.as_secs_f64(),
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Warm up allocator and caches.
    replay_run(2, 200)?;
    println!("(medians of {RUNS} runs)");

    println!("== whole pipeline (quant analysts, backtest broker, in-memory journal) ==");
    for (symbols, bars) in [(2, 2_520), (10, 1_260), (50, 504)] {
        let (per, symbol_cycles) = per_symbol_cycle(|| replay_run(symbols, bars))?;
        print_row(symbols, symbol_cycles, per);
    }

    println!("== as a paper trader runs it (paper broker and SQLite journal on disk) ==");
    for (symbols, bars) in [(2, 312), (10, 160)] {
        let (per, symbol_cycles) = per_symbol_cycle(|| journalled_run(symbols, bars))?;
        print_row(symbols, symbol_cycles, per);
    }

    println!("== stages, per symbol (history window 60 bars) ==");
    let symbols = vec!["AAPL".to_string()];
    let bars = synthetic::generate(&symbols, synthetic::default_start(), 60)
        .remove("AAPL")
        .unwrap_or_default();
    let snapshot = Snapshot {
        symbol: "AAPL".into(),
        bars: bars.into(),
        position: None,
    };
    let iterations = 20_000;
    let stage =
        |f: &mut dyn FnMut()| median((0..RUNS).map(|_| per_call(iterations, &mut *f)).collect());
    let mut reports = Vec::new();
    for method in [
        QuantMethod::Trend,
        QuantMethod::Momentum,
        QuantMethod::MeanReversion,
        QuantMethod::Volatility,
    ] {
        let took = stage(&mut || {
            black_box(quant::analyze("seat", method, &snapshot));
        });
        println!("analyst {:<20} {took:>10.2?}", quant::source_of(method));
        reports.push(quant::analyze("seat", method, &snapshot));
    }
    let config = config(1)?;
    let manager = PortfolioManager::new(&config.decision, &config.analysts);
    let input = DecisionInput {
        symbol: "AAPL",
        price: snapshot.last_price().unwrap_or(100.0),
        equity: 100_000.0,
        position_quantity: 0.0,
        reports: &reports,
        debate: None,
    };
    println!(
        "decision                     {:>10.2?}",
        stage(&mut || {
            black_box(manager.decide(&input));
        })
    );
    Ok(())
}
