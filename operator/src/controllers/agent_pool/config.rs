//! The runtime configuration an AgentPool's workers read, rendered from the AgentPool. Pure.
//!
//! The same contract a trader reads (`tradeplane_contract::config::RuntimeConfig`), filled for the
//! `worker` mode: analysts and providers, the per-replica in-flight limit, no symbols, no
//! broker of its own. It is checked with the runtime's own validation for
//! [`ConfigPurpose::AgentPool`] before it is rendered, so a config the workers would refuse at
//! start is reported as a condition instead of as crash-looping pods.

use tradeplane_contract::config::{self as runtime, ConfigError, ConfigPurpose};

use crate::api::agent_pool::AgentPool;
use crate::controllers::trading_strategy::config::{ConfigProblem, HTTP_PORT, render_analysts};

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
        analysts,
        providers,
        agent_pool: None,
        decision: runtime::DecisionConfig::default(),
        risk: runtime::RiskConfig::default(),
        broker: runtime::BrokerConfig::default(),
        journal: runtime::JournalConfig::default(),
        leader_election: None,
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

fn describe(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
