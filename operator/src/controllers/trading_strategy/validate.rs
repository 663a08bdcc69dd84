//! The validate step of a strategy: its spec with the defaults the children need applied
//! ([`ValidStrategy`]), and what the API server's schema cannot check, decided before anything
//! is rendered. Pure. A spec that fails is a blocker (`Stalled`), never a crash-looping pod:
//! the backup retention must read, and the runtime config must pass the runtime's own
//! validation (see `config::render`, which is where the defaults of the runtime's settings are
//! applied, once).

use tradeplane_contract::config::RuntimeConfig;

use super::shadow::analysis::Thresholds;
use super::{backup, config};
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::{
    OnSuccess, RolloutSpec, RolloutStrategy, ShadowGate, TradingStrategy,
};
use crate::controllers::Blocker;

/// Trader pods when `spec.replicas` is unset: one, without a standby.
pub const DEFAULT_REPLICAS: i32 = 1;

/// A strategy whose spec passed validation, with its defaults applied: what the render step
/// builds the children from.
#[derive(Clone, Debug)]
pub struct ValidStrategy {
    /// Trader pods: the leader and its standbys.
    pub replicas: i32,
    /// `spec.image`, or the operator's runtime image.
    pub image: String,
    /// The runtime config, rendered and checked.
    pub runtime_config: RuntimeConfig,
    /// `spec.rollout` with its defaults applied: `None` for `Direct`.
    pub shadow: Option<ShadowPolicy>,
}

/// How a Shadow strategy analyses a new revision, its defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowPolicy {
    pub thresholds: Thresholds,
    pub on_success: OnSuccess,
}

/// `spec.rollout` as the pipeline reads it: the analysis' defaults are applied here only.
pub fn shadow_policy(rollout: Option<&RolloutSpec>) -> Option<ShadowPolicy> {
    let rollout = rollout.filter(|r| r.strategy == Some(RolloutStrategy::Shadow))?;
    let analysis = rollout.analysis.clone().unwrap_or_default();
    Some(ShadowPolicy {
        thresholds: Thresholds {
            min_cycles: analysis
                .min_cycles
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(10)
                .max(1),
            min_agreement: analysis.min_agreement.unwrap_or(0.9),
            max_drawdown: analysis.max_drawdown.unwrap_or(0.1),
            max_error_rate: analysis.max_error_rate.unwrap_or(0.1),
            max_llm_spend_usd: analysis.max_llm_spend_usd,
        },
        on_success: analysis.on_success.unwrap_or_default(),
    })
}

/// The validated strategy, or what blocks it.
pub fn validate(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
    namespace: &str,
    default_image: &str,
) -> Result<ValidStrategy, Blocker> {
    backup::validate(strategy)?;
    let runtime_config = config::render(strategy, account, namespace)
        .map_err(|problem| Blocker::new("InvalidConfiguration", problem.to_string()))?;
    let spec = &strategy.spec;
    Ok(ValidStrategy {
        replicas: spec.replicas.unwrap_or(DEFAULT_REPLICAS),
        image: spec
            .image
            .clone()
            .unwrap_or_else(|| default_image.to_string()),
        runtime_config,
        shadow: shadow_policy(spec.rollout.as_ref()).map(|policy| {
            let gate = spec
                .promotion_gates
                .as_ref()
                .and_then(|g| g.shadow.as_ref());
            match gate.filter(|_| crate::controllers::runtime_config::is_live(account)) {
                Some(gate) => raised(policy, gate),
                None => policy,
            }
        }),
    })
}

/// `policy` with its thresholds raised to a live strategy's shadow gate, where that is
/// stricter: an analysis that passes then also meets the gate.
pub fn raised(mut policy: ShadowPolicy, gate: &ShadowGate) -> ShadowPolicy {
    let (cycles, agreement) = super::gates::shadow_thresholds(gate, Some(&policy.thresholds));
    policy.thresholds.min_cycles = policy.thresholds.min_cycles.max(cycles);
    policy.thresholds.min_agreement = policy.thresholds.min_agreement.max(agreement);
    policy
}
