//! The overview's row of a strategy: what its status already says, picked out and given a
//! health colour. Every figure is the status's (the runtime reported it to the operator);
//! nothing here computes one.

use serde::Serialize;
use tradeplane_api::TradingStrategy;
use tradeplane_api::trading_strategy::TradingState;

use crate::cluster::utc;

/// Traffic-light health, as the CloudNativePG plugin shows a cluster's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Trading with every replica ready.
    Ok,
    /// Not trading as asked, but by design or on the way there: suspended, starting,
    /// upgrading, reducing, or short of a replica.
    Warn,
    /// Failed, or halted by a limit rather than by the user.
    Bad,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewRow {
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub observed_generation: i64,
    pub phase: Option<String>,
    /// `Paper` or `Live`, from the BrokerAccount; `None` until the operator has looked.
    pub mode: Option<String>,
    pub live: bool,
    pub suspended: bool,
    pub trading_state: Option<TradingState>,
    pub leader: Option<String>,
    pub ready_replicas: i32,
    pub desired_replicas: i32,
    pub equity: Option<String>,
    pub profit_and_loss: Option<String>,
    pub last_decision: Option<String>,
    pub last_decision_at: Option<chrono::DateTime<chrono::Utc>>,
    pub has_backup: bool,
    pub last_restart_at: Option<String>,
    pub last_switchover_at: Option<String>,
    pub last_backup_now_at: Option<String>,
    pub health: Health,
}

pub fn row(strategy: &TradingStrategy) -> OverviewRow {
    let status = strategy.status.clone().unwrap_or_default();
    let suspended = strategy.spec.suspend.unwrap_or(false);
    let ready = status.ready_replicas.unwrap_or(0);
    let desired = status.desired_replicas.unwrap_or(0);
    let health = health(
        status.phase.as_deref(),
        status.trading_state,
        suspended,
        ready,
        desired,
    );
    OverviewRow {
        namespace: strategy.metadata.namespace.clone().unwrap_or_default(),
        name: strategy.metadata.name.clone().unwrap_or_default(),
        generation: strategy.metadata.generation.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
        live: status.mode.as_deref() == Some("Live"),
        mode: status.mode,
        suspended,
        trading_state: status.trading_state,
        leader: status.leader,
        ready_replicas: ready,
        desired_replicas: desired,
        equity: status.equity,
        profit_and_loss: status.profit_and_loss,
        last_decision: status.last_decision.as_ref().map(|d| d.summary.clone()),
        last_decision_at: status.last_decision.as_ref().and_then(|d| utc(&d.time)),
        has_backup: strategy.spec.backup.is_some(),
        last_restart_at: status.last_restart_at,
        last_switchover_at: status.last_switchover_at,
        last_backup_now_at: status.last_backup_now_at,
        phase: status.phase,
        health,
    }
}

fn health(
    phase: Option<&str>,
    state: Option<TradingState>,
    suspended: bool,
    ready: i32,
    desired: i32,
) -> Health {
    match phase {
        Some("Failed") => Health::Bad,
        // Halted without the user asking: a kill-switch limit tripped.
        Some("Halted") if !suspended => Health::Bad,
        Some("Trading") if state == Some(TradingState::Halted) && !suspended => Health::Bad,
        Some("Trading") if state != Some(TradingState::Reducing) && ready >= desired => Health::Ok,
        _ => Health::Warn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::status::tests_fixtures::strategy;

    #[test]
    fn a_row_carries_the_status_figures_and_says_live() {
        let mut s = strategy();
        if let Some(status) = s.status.as_mut() {
            status.mode = Some("Live".into());
            status.profit_and_loss = Some("+1520.40 (+1.52%)".into());
        }
        let r = row(&s);
        assert!(r.live);
        assert_eq!(r.profit_and_loss.as_deref(), Some("+1520.40 (+1.52%)"));
        assert_eq!(r.name, s.metadata.name.clone().unwrap_or_default());
    }

    #[test]
    fn health_is_a_traffic_light() {
        let active = Some(TradingState::Active);
        assert_eq!(health(Some("Trading"), active, false, 2, 2), Health::Ok);
        assert_eq!(health(Some("Trading"), active, false, 1, 2), Health::Warn);
        assert_eq!(health(Some("Halted"), active, true, 2, 2), Health::Warn);
        assert_eq!(health(Some("Halted"), active, false, 2, 2), Health::Bad);
        assert_eq!(health(Some("Failed"), active, false, 2, 2), Health::Bad);
        assert_eq!(
            health(Some("Trading"), Some(TradingState::Reducing), false, 2, 2),
            Health::Warn
        );
        assert_eq!(health(None, None, false, 0, 0), Health::Warn);
    }
}
