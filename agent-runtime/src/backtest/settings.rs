//! A backtest's execution settings — data, cash, commission, slippage, fill model — from the
//! config's paper broker and the command line, checked before anything runs.
//!
//! Money safety lives here: a backtest runs only against the simulated broker, so a config
//! whose broker is anything else (a real account, even a broker's own paper environment) is
//! refused outright rather than quietly swapped, and the rest of the backtest never builds
//! any other broker.

use std::path::PathBuf;

use crate::agents::llm::LlmMode;
use crate::config::{BrokerConfig, MarketDataConfig, RuntimeConfig};
pub use crate::cycle::backtest::FillModel;

/// What the simulated broker and the bar stream are set up with.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    pub data: PathBuf,
    pub cash: f64,
    pub commission_bps: f64,
    pub slippage_bps: f64,
    pub fill: FillModel,
    pub allow_gaps: bool,
    pub llm: LlmMode,
    pub max_cost_usd: Option<f64>,
}

/// The command line's part: each `None` takes the config's value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub cash: Option<f64>,
    pub commission_bps: Option<f64>,
    pub slippage_bps: Option<f64>,
    pub fill: FillModel,
    pub allow_gaps: bool,
    /// What the LLM seats do: call out, record, or replay (`--llm`).
    pub llm: LlmMode,
    /// The most the run's LLM calls may spend (`--max-cost-usd`); required to record.
    pub max_cost_usd: Option<f64>,
}

/// A setting that cannot run, naming the field (config path or flag).
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "broker.kind: a backtest runs only against the simulated broker (paper), not {kind}; \
         it never reaches a real broker"
    )]
    NotSimulated { kind: &'static str },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("--data: no bars to test on (pass --data, or set marketData.path)")]
    NoData,
}

/// The settings for `config` with `overrides`, or the first field that cannot run.
pub fn resolve(config: &RuntimeConfig, overrides: &Overrides) -> Result<Execution, SettingsError> {
    let BrokerConfig::Paper {
        starting_cash,
        commission_bps,
        slippage_bps,
    } = &config.broker
    else {
        return Err(SettingsError::NotSimulated { kind: "alpaca" });
    };
    let data = match (&overrides.data, &config.market_data) {
        (Some(path), _) => path.clone(),
        (
            None,
            MarketDataConfig::Replay {
                path: Some(path), ..
            },
        ) => path.clone(),
        _ => return Err(SettingsError::NoData),
    };
    let execution = Execution {
        data,
        cash: overrides.cash.unwrap_or(*starting_cash),
        commission_bps: overrides.commission_bps.unwrap_or(*commission_bps),
        slippage_bps: overrides.slippage_bps.unwrap_or(*slippage_bps),
        fill: overrides.fill,
        allow_gaps: overrides.allow_gaps,
        llm: overrides.llm,
        max_cost_usd: overrides.max_cost_usd,
    };
    check(&execution, overrides)?;
    Ok(execution)
}

fn check(execution: &Execution, overrides: &Overrides) -> Result<(), SettingsError> {
    let field =
        |flag: &'static str, set: bool, config: &'static str| if set { flag } else { config };
    if !(execution.cash.is_finite() && execution.cash > 0.0) {
        return Err(SettingsError::Invalid {
            field: field("--cash", overrides.cash.is_some(), "broker.startingCash"),
            message: format!("must be above 0, got {}", execution.cash),
        });
    }
    let bps = [
        (
            field(
                "--commission-bps",
                overrides.commission_bps.is_some(),
                "broker.commissionBps",
            ),
            execution.commission_bps,
        ),
        (
            field(
                "--slippage-bps",
                overrides.slippage_bps.is_some(),
                "broker.slippageBps",
            ),
            execution.slippage_bps,
        ),
    ];
    for (field, value) in bps {
        if !(value.is_finite() && (0.0..=1_000.0).contains(&value)) {
            return Err(SettingsError::Invalid {
                field,
                message: format!("must be 0 to 1000 basis points, got {value}"),
            });
        }
    }
    check_llm(execution)
}

/// A backtest never spends without a cap: recording calls the providers, so it needs one.
fn check_llm(execution: &Execution) -> Result<(), SettingsError> {
    match execution.max_cost_usd {
        Some(cap) if !(cap.is_finite() && cap >= 0.0) => Err(SettingsError::Invalid {
            field: "--max-cost-usd",
            message: format!("must be a number of US dollars, 0 or more, got {cap}"),
        }),
        None if execution.llm == LlmMode::Record => Err(SettingsError::Invalid {
            field: "--max-cost-usd",
            message: "--llm record calls the LLM providers and spends money; give the most \
                      the run may spend (e.g. --max-cost-usd 5)"
                .into(),
        }),
        _ => Ok(()),
    }
}
