//! Builds a [`CycleRunner`]'s parts from a [`RuntimeConfig`]: the analyst seats and the market
//! data source (LLM seats and the debate come from `agents::llm`). Kept apart from the
//! pipeline so the pipeline can be driven by hand in tests; the runner's own rules are
//! checked by its builder (`cycle::runner`), whoever assembles it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::CycleRunner;
use super::ports::{Debate, Execution, Recorder, Routine};
use super::runner::{CycleRunnerBuilder, Ports, RunnerError};
use crate::agents::Analyst;
use crate::agents::llm::{
    self, AnswerBook, LlmBuildError, LlmDebate, LlmMetrics, ProviderPool, RetryPolicy, SpendLedger,
};
use crate::agents::quant::{MIN_HISTORY, history_needed, quant_analyst_with, quiet_quant_analyst};
use crate::config::{AnalystKind, BrokerConfig, MarketDataConfig, RuntimeConfig};
use crate::decision::PortfolioManager;
use crate::leadership::Leadership;
use crate::market::{AlpacaMarketData, MarketData, MarketDataError, ReplayFeed};
use crate::metrics::Metrics;
use crate::risk::RiskManager;
use crate::worker::{PoolClient, PoolError};

/// The market data source, with the replay feed kept typed so its driver can advance it.
pub enum MarketSource {
    Replay {
        feed: Arc<ReplayFeed>,
        bars_per_cycle: usize,
    },
    Live(Arc<dyn MarketData>),
}

impl MarketSource {
    pub fn as_dyn(&self) -> Arc<dyn MarketData> {
        match self {
            Self::Replay { feed, .. } => feed.clone(),
            Self::Live(source) => source.clone(),
        }
    }
}

/// Opens the configured market data source.
pub fn market_source(config: &RuntimeConfig) -> Result<MarketSource, MarketDataError> {
    match &config.market_data {
        MarketDataConfig::Replay {
            path,
            bars_per_cycle,
            warmup_bars,
        } => {
            let warmup = (*warmup_bars as usize).max(1);
            let feed = match path {
                Some(path) => ReplayFeed::from_csv(path, &config.symbols, warmup)?,
                None => ReplayFeed::builtin(&config.symbols, warmup),
            };
            Ok(MarketSource::Replay {
                feed: Arc::new(feed),
                bars_per_cycle: (*bars_per_cycle as usize).max(1),
            })
        }
        MarketDataConfig::Broker {
            base_url,
            timeframe,
            ..
        } => {
            let BrokerConfig::Alpaca {
                key_id_file,
                secret_key_file,
                timeout_seconds,
                ..
            } = &config.broker
            else {
                return Err(MarketDataError::Http(
                    "broker market data needs an alpaca broker".into(),
                ));
            };
            let key_id = read_secret(key_id_file)?;
            let secret = read_secret(secret_key_file)?;
            let client = AlpacaMarketData::new(
                base_url,
                timeframe,
                &key_id,
                &secret,
                Duration::from_secs(*timeout_seconds),
            )?;
            Ok(MarketSource::Live(Arc::new(client)))
        }
    }
}

fn read_secret(path: &Path) -> Result<String, MarketDataError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| MarketDataError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

/// History each analyst sees per cycle: the configured window, or what the seats need if
/// that is more.
pub fn history_window(config: &RuntimeConfig) -> usize {
    let configured = match &config.market_data {
        MarketDataConfig::Replay { warmup_bars, .. } => *warmup_bars,
        MarketDataConfig::Broker { history_bars, .. } => *history_bars,
    };
    (configured as usize).max(history_needed_by(config))
}

/// The longest history a seat of `config` needs: a quant seat's by its method and params;
/// an LLM seat or a pool's, [`MIN_HISTORY`].
pub fn history_needed_by(config: &RuntimeConfig) -> usize {
    let seats = config.analysts.iter().map(|seat| match &seat.kind {
        AnalystKind::Quant { method, params } => history_needed(*method, params),
        AnalystKind::Llm { .. } => MIN_HISTORY,
    });
    let pool = config.agent_pool.as_ref().map(|_| MIN_HISTORY);
    seats.chain(pool).max().unwrap_or(MIN_HISTORY)
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("LLM analysts: {0}")]
    Llm(#[from] LlmBuildError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("agent pool client: {0}")]
    Pool(#[from] PoolError),
    #[error("cycle runner: {0}")]
    Runner(#[from] RunnerError),
}

/// The in-process analyst seats, in config order, and the debate when `debateRounds` > 0 and
/// a seat is an LLM. Providers' key files are read now, so a missing Secret fails the start.
/// Quant seats write out their rationales only when `explain` (the journal keeps them).
pub fn analysts(
    config: &RuntimeConfig,
    metrics: &Metrics,
    ledger: Option<Arc<dyn SpendLedger>>,
    answers: Option<Arc<AnswerBook>>,
    explain: bool,
) -> Result<Seats, BuildError> {
    let needs_llm = config
        .analysts
        .iter()
        .any(|a| matches!(a.kind, AnalystKind::Llm { .. }));
    if !needs_llm {
        let seats = config
            .analysts
            .iter()
            .filter_map(|seat| match &seat.kind {
                AnalystKind::Quant { method, params } if explain => Some(quant_analyst_with(
                    seat.role.clone(),
                    *method,
                    params.clone(),
                )),
                AnalystKind::Quant { method, params } => Some(quiet_quant_analyst(
                    seat.role.clone(),
                    *method,
                    params.clone(),
                )),
                AnalystKind::Llm { .. } => None,
            })
            .collect();
        return Ok((seats, None));
    }
    let pool = ProviderPool::with_ledger(
        &config.providers,
        RetryPolicy::default(),
        ledger,
        config.llm_daily_budget_usd,
    )?;
    let llm_metrics = LlmMetrics::register(metrics.registry())?;
    pool.publish_budgets(&llm_metrics);
    if let Some(book) = &answers {
        pool.attach_answers(book);
    }
    let seats = llm::seats(config, &pool, &llm_metrics, None)?
        .into_iter()
        .map(llm::Seat::into_analyst)
        .collect();
    let debate = LlmDebate::from_config(config, &pool, &llm_metrics)?.map(|debate| {
        (
            Box::new(debate) as Box<dyn Debate>,
            config.decision.debate_rounds,
        )
    });
    Ok((seats, debate))
}

/// Analyst seats and the optional debate with its rounds.
pub type Seats = (Vec<Box<dyn Analyst>>, Option<(Box<dyn Debate>, u32)>);

/// A runner for `config` over the given ports.
pub fn runner(
    config: &RuntimeConfig,
    market: Arc<dyn MarketData>,
    broker: Arc<dyn Execution>,
    journal: Arc<dyn Recorder>,
    leadership: Arc<dyn Leadership>,
    metrics: Metrics,
) -> Result<CycleRunner, BuildError> {
    let ports = Ports {
        market,
        broker,
        journal,
        leadership,
    };
    Ok(builder(config, ports, metrics)?.build()?)
}

/// A runner's parts for `config`, for a caller that adds more (the trader's config watch)
/// before [`CycleRunnerBuilder::build`].
pub fn builder(
    config: &RuntimeConfig,
    ports: Ports,
    metrics: Metrics,
) -> Result<CycleRunnerBuilder, BuildError> {
    // A journal that keeps no decisions reads no rationale: none is written out.
    let explain = ports.journal.keeps(Routine::Decision);
    let (analysts, debate) = analysts(
        config,
        &metrics,
        ports.journal.spend_ledger(),
        ports.journal.answer_book(),
        explain,
    )?;
    let strategy = format!("{}/{}", config.identity.namespace, config.identity.name);
    let mut manager = PortfolioManager::new(&config.decision, &config.analysts);
    if !explain {
        manager = manager.quiet();
    }
    let mut builder = CycleRunner::builder(
        config.identity.clone(),
        config.symbols.clone(),
        manager,
        RiskManager::new(&config.risk, config.trading_state),
        ports,
        metrics,
    )
    .analysts(analysts)
    .history(history_window(config));
    if let Some((debate, rounds)) = debate {
        builder = builder.debate(debate, rounds);
    }
    if let Some(endpoint) = &config.agent_pool {
        builder = builder
            .pool(PoolClient::new(endpoint, strategy)?.with_budget(config.llm_daily_budget_usd));
    }
    Ok(builder)
}
