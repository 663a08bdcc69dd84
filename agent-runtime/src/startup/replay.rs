//! The `replay` command: a backtest of the configured strategy over the replay feed.
//!
//! By default fills are instant and in memory (thousands of bars a second), which is what the
//! demo and quick experiments want. With `--journal-db` the same run goes through the
//! journal-backed paper broker into a SQLite journal, so the result can be inspected exactly
//! as a paper-trading strategy would have recorded it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::StartError;
use crate::broker;
use crate::config::{BrokerConfig, RuntimeConfig};
use crate::cycle::CycleError;
use crate::cycle::adapters::{BrokerExecution, JournalRecorder};
use crate::cycle::backtest::BacktestBroker;
use crate::cycle::build::{self, MarketSource};
use crate::cycle::ports::{Execution, MemoryJournal, Recorder};
use crate::journal::Journal;
use crate::leadership::AlwaysLeader;
use crate::metrics::Metrics;

/// Why a replay stopped: it could not start, a cycle failed, or its output could not be
/// written.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("replay needs marketData.source: replay")]
    NotReplayData,
    #[error("no paper settings")]
    NoPaperSettings,
    #[error(transparent)]
    Cycle(#[from] CycleError),
    #[error("{path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

pub struct Options {
    pub max_cycles: Option<usize>,
    /// Write the in-memory journal as JSON lines here.
    pub journal_file: Option<PathBuf>,
    /// Use the journal-backed paper broker and this SQLite journal.
    pub journal_db: Option<PathBuf>,
    pub json: bool,
}

pub async fn command(
    config: RuntimeConfig,
    shutdown: watch::Receiver<bool>,
    options: Options,
) -> ExitCode {
    match run(config, shutdown, options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "replay failed");
            ExitCode::FAILURE
        }
    }
}

/// The paper settings the replay uses: the config's, or defaults for a non-paper broker.
fn paper_config(config: &RuntimeConfig) -> BrokerConfig {
    match &config.broker {
        paper @ BrokerConfig::Paper { .. } => paper.clone(),
        BrokerConfig::Alpaca { .. } => BrokerConfig::default(),
    }
}

async fn run(
    config: RuntimeConfig,
    shutdown: watch::Receiver<bool>,
    options: Options,
) -> Result<(), ReplayError> {
    let source = build::market_source(&config).map_err(StartError::from)?;
    let (feed, bars_per_cycle) = match source {
        MarketSource::Replay {
            feed,
            bars_per_cycle,
        } => (feed, bars_per_cycle),
        MarketSource::Live(_) => return Err(ReplayError::NotReplayData),
    };
    let paper = paper_config(&config);
    let memory = Arc::new(MemoryJournal::default());
    let (execution, recorder): (Arc<dyn Execution>, Arc<dyn Recorder>) = match &options.journal_db {
        Some(path) => {
            let journal = Journal::open_sqlite(path).await.map_err(StartError::from)?;
            let broker = broker::connect(&paper, &journal)
                .await
                .map_err(StartError::from)?;
            (
                Arc::new(BrokerExecution::new(broker, journal.clone())),
                Arc::new(JournalRecorder::new(journal)),
            )
        }
        None => {
            let BrokerConfig::Paper {
                starting_cash,
                commission_bps,
                slippage_bps,
            } = paper
            else {
                return Err(ReplayError::NoPaperSettings);
            };
            (
                Arc::new(BacktestBroker::new(
                    starting_cash,
                    commission_bps,
                    slippage_bps,
                )),
                memory.clone(),
            )
        }
    };
    let metrics = Metrics::new().map_err(StartError::from)?;
    let mut runner = build::runner(
        &config,
        feed.clone(),
        execution,
        recorder,
        Arc::new(AlwaysLeader),
        metrics,
    )
    .map_err(StartError::from)?;
    let summary = crate::replay::run(
        &mut runner,
        &feed,
        bars_per_cycle,
        options.max_cycles,
        Duration::ZERO,
        shutdown,
    )
    .await?;
    if let Some(path) = &options.journal_file {
        write_jsonl(path, &memory).map_err(|source| ReplayError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{summary}");
    }
    Ok(())
}

fn write_jsonl(path: &Path, journal: &MemoryJournal) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for entry in journal.entries() {
        serde_json::to_writer(&mut out, &entry)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
