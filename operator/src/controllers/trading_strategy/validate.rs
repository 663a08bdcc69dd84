//! The validate step of a strategy: what the API server's schema cannot check, decided before
//! anything is rendered. Pure. A spec that fails is a blocker (`Stalled`), never a crash-looping
//! pod: the backup retention must read, and the runtime config must pass the runtime's own
//! validation (see `config::render`).

use tradeplane_contract::config::RuntimeConfig;

use super::{backup, config};
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::Blocker;

/// The runtime config of a strategy whose spec is valid, or what blocks it.
pub fn validate(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
    namespace: &str,
) -> Result<RuntimeConfig, Blocker> {
    backup::validate(strategy)?;
    config::render(strategy, account, namespace)
        .map_err(|problem| Blocker::new("InvalidConfiguration", problem.to_string()))
}
