//! The validate step of a pool: the workers' config must pass the runtime's own validation
//! (see `config::render`), so a config the workers would refuse at start is a blocker
//! (`Stalled`) rather than crash-looping pods. Pure.

use tradeplane_contract::config::RuntimeConfig;

use super::config;
use crate::api::agent_pool::AgentPool;
use crate::controllers::Blocker;

/// The workers' config of a pool whose spec is valid, or what blocks it.
pub fn validate(pool: &AgentPool, namespace: &str) -> Result<RuntimeConfig, Blocker> {
    config::render(pool, namespace)
        .map_err(|problem| Blocker::new("InvalidConfiguration", problem.to_string()))
}
