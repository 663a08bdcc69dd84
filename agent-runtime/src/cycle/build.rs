//! Builds a [`CycleRunner`]'s parts from a [`RuntimeConfig`]: the analyst seats and the market
//! data source. Kept apart from the pipeline so the pipeline can be driven by hand in tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::CycleRunner;
use super::ports::{Execution, Recorder};
use crate::agents::Analyst;
use crate::agents::quant::{MIN_HISTORY, quant_analyst};
use crate::config::{AnalystKind, BrokerConfig, LlmFallback, MarketDataConfig, RuntimeConfig};
use crate::decision::PortfolioManager;
use crate::domain::{AnalystReport, Signal};
use crate::leadership::Leadership;
use crate::market::{AlpacaMarketData, MarketData, MarketDataError, ReplayFeed};
use crate::metrics::Metrics;
use crate::risk::RiskManager;

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

/// History each analyst sees per cycle.
pub fn history_window(config: &RuntimeConfig) -> usize {
    let configured = match &config.market_data {
        MarketDataConfig::Replay { warmup_bars, .. } => *warmup_bars,
        MarketDataConfig::Broker { history_bars, .. } => *history_bars,
    };
    (configured as usize).max(MIN_HISTORY)
}

/// The in-process analyst seats. LLM seats are served by their configured fallback until the
/// LLM analysts are wired in here.
pub fn analysts(config: &RuntimeConfig) -> Vec<Box<dyn Analyst>> {
    config
        .analysts
        .iter()
        .map(|seat| match &seat.kind {
            AnalystKind::Quant { method } => quant_analyst(seat.role.clone(), *method),
            AnalystKind::Llm {
                fallback: LlmFallback::Quant { method },
                ..
            } => {
                tracing::warn!(
                    role = seat.role,
                    "LLM analysts are not wired in yet: using the quant fallback"
                );
                quant_analyst(seat.role.clone(), *method)
            }
            AnalystKind::Llm {
                fallback: LlmFallback::Hold,
                ..
            } => {
                tracing::warn!(
                    role = seat.role,
                    "LLM analysts are not wired in yet: the seat holds"
                );
                Box::new(HoldAnalyst {
                    role: seat.role.clone(),
                }) as Box<dyn Analyst>
            }
        })
        .collect()
}

struct HoldAnalyst {
    role: String,
}

impl Analyst for HoldAnalyst {
    fn role(&self) -> &str {
        &self.role
    }

    fn analyze<'a>(
        &'a self,
        _snapshot: &'a crate::agents::Snapshot,
    ) -> futures::future::BoxFuture<'a, AnalystReport> {
        let report = AnalystReport {
            role: self.role.clone(),
            source: "fallback:hold".into(),
            signal: Signal::Neutral,
            confidence: 0.0,
            rationale: "no analysis available: holding".into(),
        };
        Box::pin(futures::future::ready(report))
    }
}

/// A runner for `config` over the given ports.
pub fn runner(
    config: &RuntimeConfig,
    market: Arc<dyn MarketData>,
    broker: Arc<dyn Execution>,
    journal: Arc<dyn Recorder>,
    leadership: Arc<dyn Leadership>,
    metrics: Metrics,
) -> CycleRunner {
    CycleRunner {
        strategy: format!("{}/{}", config.identity.namespace, config.identity.name),
        symbols: config.symbols.clone(),
        analysts: analysts(config),
        debate: None,
        manager: PortfolioManager::new(&config.decision, &config.analysts),
        risk: RiskManager::new(&config.risk, config.trading_state),
        market,
        broker,
        journal,
        leadership,
        metrics,
        history: history_window(config),
    }
}
