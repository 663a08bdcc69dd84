//! `agent-runtime backtest`: the trader's own pipeline over recorded bars, fast.
//!
//! There is no second engine. The runner is built by `cycle::build` from the same config a
//! trader reads — the same analysts, debate, decision, risk and order code — and only the
//! ports differ: bars stream from CSV into a [`WindowFeed`], orders go to the simulated
//! [`BacktestBroker`] under the fill model asked for, and the journal is a [`RunRecorder`]
//! that keeps running totals rather than rows. One cycle runs per bar time, at that bar's
//! time, after the bar closed; nothing a cycle reads is newer than its bar (the look-ahead
//! test in `tests/backtest.rs` holds the engine to that).
//!
//! Memory is bounded by the longest indicator window: the bars are streamed, the analysts
//! keep rolling state, and the statistics are totals (`stats.rs`). What each statistic
//! means is in `docs/backtest.md`.

pub mod artifact;
pub mod feed;
pub mod job;
pub mod recorder;
pub mod results;
pub mod settings;
pub mod sources;
pub mod stats;
mod summary;

use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::agents::llm::{AnswerBook, AnswerStore, LlmMode};
use crate::config::RuntimeConfig;
use crate::cycle::backtest::BacktestBroker;
use crate::cycle::build::{self, BuildError};
use crate::cycle::ports::PortError;
use crate::cycle::{CycleError, CycleReport, CycleRunner};
use crate::domain::{Bar, Fill};
use crate::leadership::AlwaysLeader;
use crate::market::MarketDataError;
use crate::market::stream::BarSteps;
use crate::metrics::Metrics;
pub use feed::WindowFeed;
pub use recorder::RunRecorder;
pub use settings::{Execution, Overrides, SettingsError};
pub use summary::{LlmTotals, Summary};

/// Why a backtest could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("bars: {0}")]
    Bars(#[from] MarketDataError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("broker: {0}")]
    Broker(#[from] PortError),
    #[error("cycle at {time}: {source}")]
    Cycle {
        time: DateTime<Utc>,
        source: CycleError,
    },
    #[error("symbols: no bars for {0:?} in the data")]
    NoBars(Vec<String>),
    #[error("--llm: cannot open the answer store (the config's journal): {0}")]
    AnswerStore(#[source] crate::journal::JournalError),
}

/// The parts of one run, wired: the runner and the typed ends the driver feeds.
struct Rig {
    runner: CycleRunner,
    feed: Arc<WindowFeed>,
    broker: Arc<BacktestBroker>,
    recorder: Arc<RunRecorder>,
}

fn rig(
    config: &RuntimeConfig,
    execution: &Execution,
    answers: Arc<AnswerBook>,
) -> Result<Rig, BacktestError> {
    let feed = Arc::new(WindowFeed::new(build::history_window(config)));
    let broker = Arc::new(
        BacktestBroker::new(
            execution.cash,
            execution.commission_bps,
            execution.slippage_bps,
        )
        .with_fill(execution.fill),
    );
    let recorder = Arc::new(RunRecorder::new(execution.cash).with_answers(answers));
    let runner = build::runner(
        config,
        feed.clone(),
        broker.clone(),
        recorder.clone(),
        Arc::new(AlwaysLeader),
        // Nothing serves a backtest's metrics: its figures are the recorder's.
        Metrics::new()?.unserved(),
    )?;
    Ok(Rig {
        runner,
        feed,
        broker,
        recorder,
    })
}

/// Runs `config` over the bars `overrides` (or the config) names; the summary of the run.
pub async fn run(config: &RuntimeConfig, overrides: &Overrides) -> Result<Summary, BacktestError> {
    run_observed(config, overrides, &mut |_| {}).await
}

/// [`run`], showing `observe` every fill as the run makes it (tests compare them with a
/// reference; a results file could list them).
pub async fn run_observed(
    config: &RuntimeConfig,
    overrides: &Overrides,
    observe: &mut dyn FnMut(&Fill),
) -> Result<Summary, BacktestError> {
    let execution = settings::resolve(config, overrides)?;
    let mut steps = BarSteps::open(&execution.data, &config.symbols, execution.allow_gaps)?;
    let book = answer_book(config, &execution).await?;
    let mut rig = rig(config, &execution, book.clone())?;
    let started = Instant::now();
    let mut closes = BuyAndHold::default();
    let mut bars = Vec::with_capacity(config.symbols.len());
    let mut bar_count = 0u64;
    // Each cycle's report is written over the last one's: the run reads its figures from the
    // recorder, and a fresh report per bar would allocate its buffers again.
    let mut report = CycleReport::default();
    while let Some(time) = steps.next_step(&mut bars)? {
        bar_count += bars.len() as u64;
        closes.observe(&bars);
        rig.recorder.buy_and_hold(closes.multiple());
        rig.broker.open_bars(&bars)?;
        rig.feed.release(time, &bars);
        rig.runner
            .run_into(time, &mut report)
            .await
            .map_err(|source| BacktestError::Cycle { time, source })?;
        // The cycle's report counts the fills it made; most bars make none.
        if report.orders_filled + report.fills_followed_up > 0 {
            collect_fills(&rig, observe)?;
        }
    }
    collect_fills(&rig, observe)?;
    let missing = steps.symbols_without_bars();
    if !missing.is_empty() {
        return Err(BacktestError::NoBars(missing));
    }
    let elapsed = started.elapsed();
    let mut summary = Summary::new(
        &execution,
        &rig.recorder.totals(),
        closes.return_(),
        rig.recorder.llm_cost_usd(),
        bar_count,
        elapsed,
    );
    summary.llm = llm_totals(&execution, &book);
    Ok(summary)
}

/// Hands the broker's fills since the last call to `observe` and the recorder.
fn collect_fills(rig: &Rig, observe: &mut dyn FnMut(&Fill)) -> Result<(), BacktestError> {
    let fills = rig.broker.take_fills()?;
    fills.iter().for_each(&mut *observe);
    rig.recorder.fills(&fills);
    Ok(())
}

/// The run's answer book: the config's journal as the store when recording or replaying,
/// and the `--max-cost-usd` cap on whatever goes out.
async fn answer_book(
    config: &RuntimeConfig,
    execution: &Execution,
) -> Result<Arc<AnswerBook>, BacktestError> {
    let store = match execution.llm {
        LlmMode::Off => None,
        LlmMode::Record | LlmMode::Replay => {
            let journal = crate::journal::Journal::open(&config.journal)
                .await
                .map_err(BacktestError::AnswerStore)?;
            Some(Arc::new(journal) as Arc<dyn AnswerStore>)
        }
    };
    Ok(Arc::new(AnswerBook::new(
        execution.llm,
        store,
        execution.max_cost_usd,
    )))
}

fn llm_totals(execution: &Execution, book: &AnswerBook) -> LlmTotals {
    let counts = book.counts();
    LlmTotals {
        llm_mode: match execution.llm {
            LlmMode::Off => "off",
            LlmMode::Record => "record",
            LlmMode::Replay => "replay",
        },
        max_cost_usd: execution.max_cost_usd,
        llm_calls: counts.calls,
        llm_replayed: counts.replayed,
        llm_replay_misses: counts.replay_misses,
        llm_cap_refusals: counts.cap_refusals,
    }
}

/// Each symbol's first and latest close, and the running sum of latest / first over
/// symbols, so the equity curve's buy-and-hold costs O(1) a bar; the run's buy-and-hold
/// return is the same sum at the end.
#[derive(Default)]
struct BuyAndHold {
    closes: FxHashMap<String, (f64, f64)>,
    multiples: f64,
}

impl BuyAndHold {
    fn observe(&mut self, bars: &[Bar]) {
        for bar in bars {
            match self.closes.get_mut(bar.symbol.as_str()) {
                Some((first, last)) => {
                    self.multiples += (bar.close - *last) / *first;
                    *last = bar.close;
                }
                None => {
                    self.multiples += 1.0;
                    self.closes
                        .insert(bar.symbol.clone(), (bar.close, bar.close));
                }
            }
        }
    }

    /// The mean over the symbols seen so far of latest close / first close (1 before any).
    fn multiple(&self) -> f64 {
        match self.closes.len() {
            0 => 1.0,
            n => self.multiples / n as f64,
        }
    }

    /// The mean over symbols of last close / first close − 1 (an equal-weight holding): the
    /// curve's last buy-and-hold point, so the summary and the artifact say the same.
    fn return_(&self) -> Option<f64> {
        (!self.closes.is_empty()).then(|| self.multiple() - 1.0)
    }
}
