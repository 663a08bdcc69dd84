//! The runtime configuration an AgentPool's workers read, rendered from the AgentPool. Pure.
//!
//! The same contract a trader reads (`tradeplane_contract::config::RuntimeConfig`), filled for the
//! `worker` mode: analysts and providers, the per-replica in-flight limit, no symbols, no
//! broker of its own. It is checked with the runtime's own validation for
//! [`ConfigPurpose::AgentPool`] before it is rendered, so a config the workers would refuse at
//! start is reported as a condition instead of as crash-looping pods.

use tradeplane_contract::config::{self as runtime, ConfigPurpose};

use super::scale::Scale;
use crate::api::agent_pool::AgentPool;
use crate::controllers::runtime_config::{ConfigProblem, HTTP_PORT, describe, render_analysts};

/// In-flight analyses per replica when the pool does not say.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 8;

/// Why the worker config cannot be rendered: something in the spec the schema could not
/// rule out. Reported as a condition; fixed by editing the AgentPool.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorkerConfigProblem {
    #[error(transparent)]
    Spec(#[from] ConfigProblem),
    #[error("the worker config is invalid: {details}")]
    Invalid { details: String },
}

/// Seconds between a worker's publications to the pool's spend ledger (and reads of it).
pub const LEDGER_REFRESH_SECONDS: u64 = 10;
/// The share of a provider's daily budget one replica may spend before it must publish:
/// with `R` replicas at most, the unpublished spend of the pool is then at most
/// `R × budget / (LEDGER_SHARE × R)` = 1 % of the budget (see `agent-runtime/src/worker/ledger.rs`).
pub const LEDGER_SHARE: f64 = 100.0;
/// What a replica publishes after when no provider has a budget (status only).
pub const LEDGER_UNBUDGETED_PUBLISH_USD: f64 = 1.0;

/// The pool's spend ledger: a replica publishes after spending `publishEveryUsd` — 1 % of
/// the smallest provider budget divided by the most replicas the pool may run — or every
/// refresh, whichever comes first.
pub fn spend_ledger(pool: &AgentPool) -> runtime::SpendLedgerConfig {
    let spec = &pool.spec;
    let most_replicas = Scale::of(spec).most();
    let smallest_budget = spec
        .providers
        .iter()
        .filter_map(|p| p.daily_budget_usd)
        .filter(|b| b.is_finite() && *b > 0.0)
        .fold(None, |min: Option<f64>, b| {
            Some(min.map_or(b, |m| m.min(b)))
        });
    let publish_every_usd = smallest_budget.map_or(LEDGER_UNBUDGETED_PUBLISH_USD, |budget| {
        budget / (LEDGER_SHARE * f64::from(most_replicas))
    });
    runtime::SpendLedgerConfig {
        config_map: super::names::names(pool.metadata.name.as_deref().unwrap_or_default()).ledger,
        refresh_seconds: LEDGER_REFRESH_SECONDS,
        publish_every_usd,
    }
}

/// Renders and validates the workers' config.
pub fn render(
    pool: &AgentPool,
    namespace: &str,
) -> Result<runtime::RuntimeConfig, WorkerConfigProblem> {
    let spec = &pool.spec;
    let (analysts, providers) = render_analysts(&spec.agents, &spec.providers)?;
    let max_in_flight = spec
        .max_in_flight_per_replica
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT)
        .max(1);
    let config = runtime::RuntimeConfig {
        api_version: runtime::CONFIG_API_VERSION.to_string(),
        identity: runtime::Identity {
            namespace: namespace.to_string(),
            name: pool.metadata.name.clone().unwrap_or_default(),
        },
        symbols: Vec::new(),
        trading_state: runtime::TradingState::default(),
        schedule: runtime::Schedule::default(),
        market_data: runtime::MarketDataConfig::default(),
        spend_ledger: (!providers.is_empty()).then(|| spend_ledger(pool)),
        orders: runtime::OrderPolicy::default(),
        llm_daily_budget_usd: None,
        analysts,
        providers,
        llm: runtime::LlmSettings::default(),
        agent_pool: None,
        decision: runtime::DecisionConfig::default(),
        risk: runtime::RiskConfig::default(),
        broker: runtime::BrokerConfig::default(),
        journal: runtime::JournalConfig::default(),
        leader_election: None,
        shadow: None,
        server: runtime::ServerConfig {
            listen: format!("0.0.0.0:{HTTP_PORT}"),
            max_in_flight,
            ..runtime::ServerConfig::default()
        },
    };
    config
        .validate_for(ConfigPurpose::AgentPool)
        .map_err(|errors| WorkerConfigProblem::Invalid {
            details: describe(&errors),
        })?;
    Ok(config)
}
