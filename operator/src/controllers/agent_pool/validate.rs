//! The validate step of a pool: its spec with every default applied ([`ValidPool`]), and the
//! workers' config checked with the runtime's own validation (see `config::render`), so a
//! config the workers would refuse at start is a blocker (`Stalled`) rather than
//! crash-looping pods. Pure.
//!
//! The later steps read the defaults from here, never from the raw spec's optional fields.

use tradeplane_contract::config::RuntimeConfig;

use super::config;
use super::scale::Scale;
use crate::api::agent_pool::AgentPool;
use crate::controllers::Blocker;

/// A pool whose spec passed validation, with its defaults applied: what the render step
/// builds the children from.
#[derive(Clone, Debug)]
pub struct ValidPool {
    pub scale: Scale,
    /// `spec.image`, or the operator's runtime image.
    pub image: String,
    /// The workers' config, rendered and checked.
    pub runtime_config: RuntimeConfig,
}

/// The validated pool, or what blocks it.
pub fn validate(
    pool: &AgentPool,
    namespace: &str,
    default_image: &str,
) -> Result<ValidPool, Blocker> {
    let runtime_config = config::render(pool, namespace)
        .map_err(|problem| Blocker::new("InvalidConfiguration", problem.to_string()))?;
    Ok(ValidPool {
        scale: Scale::of(&pool.spec),
        image: pool
            .spec
            .image
            .clone()
            .unwrap_or_else(|| default_image.to_string()),
        runtime_config,
    })
}
