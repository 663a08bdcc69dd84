//! The overview's rows of AgentPools and BrokerAccounts: what their statuses say (`kubectl
//! get ap,ba`), picked out and given the same traffic light as a strategy's row.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::Serialize;
use tradeplane_api::{AgentPool, BrokerAccount};

use super::rows::Health;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolRow {
    pub namespace: String,
    pub name: String,
    pub phase: Option<String>,
    pub ready_replicas: i32,
    pub desired_replicas: i32,
    /// `min–max` when a HorizontalPodAutoscaler sizes the pool, else `None`.
    pub autoscaling: Option<String>,
    pub strategies: i32,
    pub spend: Vec<SpendRow>,
    /// The Ready condition's message when the pool is not ready.
    pub reason: Option<String>,
    pub health: Health,
}

/// One provider's spend today against its budget.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendRow {
    pub provider: String,
    pub spent_usd: f64,
    pub budget_usd: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRow {
    pub namespace: String,
    pub name: String,
    pub phase: Option<String>,
    /// `Paper` or `Alpaca`.
    pub broker: String,
    /// `Paper` or `Live`, as the operator put it in force.
    pub environment: Option<String>,
    pub live: bool,
    /// Whether the broker accepted the credentials (the `CredentialsValid` condition); `None`
    /// until the operator has tried, and always for the simulated broker, which has none.
    pub verified: Option<bool>,
    pub last_verified_time: Option<String>,
    pub equity: Option<String>,
    pub strategies: i32,
    pub reason: Option<String>,
    pub health: Health,
}

pub fn pool_row(pool: &AgentPool) -> PoolRow {
    let status = pool.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    let desired = status.desired_replicas.unwrap_or(0);
    let health = match status.phase.as_deref() {
        Some("Ready") if ready >= desired => Health::Ok,
        Some("Degraded") if ready == 0 => Health::Bad,
        _ if stalled(&status.conditions) => Health::Bad,
        _ => Health::Warn,
    };
    PoolRow {
        namespace: pool.metadata.namespace.clone().unwrap_or_default(),
        name: pool.metadata.name.clone().unwrap_or_default(),
        ready_replicas: ready,
        desired_replicas: desired,
        autoscaling: pool
            .spec
            .autoscaling
            .as_ref()
            .map(|a| format!("{}–{}", a.min_replicas.unwrap_or(1), a.max_replicas)),
        strategies: status.bound_strategy_count.unwrap_or(0),
        spend: status
            .provider_spend
            .iter()
            .map(|s| SpendRow {
                provider: s.provider.clone(),
                spent_usd: s.spent_usd,
                budget_usd: s.budget_usd,
            })
            .collect(),
        reason: not_ready_reason(&status.conditions),
        phase: status.phase,
        health,
    }
}

pub fn account_row(account: &BrokerAccount) -> AccountRow {
    let status = account.status.clone().unwrap_or_default();
    let verified = status
        .conditions
        .iter()
        .find(|c| c.type_ == "CredentialsValid")
        .map(|c| c.status == "True");
    let health = match status.phase.as_deref() {
        Some("Ready") => Health::Ok,
        Some("Failed") => Health::Bad,
        _ if verified == Some(false) || stalled(&status.conditions) => Health::Bad,
        _ => Health::Warn,
    };
    AccountRow {
        namespace: account.metadata.namespace.clone().unwrap_or_default(),
        name: account.metadata.name.clone().unwrap_or_default(),
        broker: format!("{:?}", account.spec.broker),
        live: status.environment.as_deref() == Some("Live"),
        environment: status.environment,
        verified,
        last_verified_time: status.last_verified_time.map(|t| t.0.to_string()),
        equity: status.equity,
        strategies: status.bound_strategy_count.unwrap_or(0),
        reason: not_ready_reason(&status.conditions),
        phase: status.phase,
        health,
    }
}

fn stalled(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == "Stalled" && c.status == "True")
}

fn not_ready_reason(conditions: &[Condition]) -> Option<String> {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status != "True")
        .map(|c| format!("{}: {}", c.reason, c.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            observed_generation: None,
        }
    }

    fn pool(status: serde_json::Value) -> AgentPool {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "AgentPool",
            "metadata": {"name": "quant", "namespace": "desk"},
            "spec": {"providers": [{"name": "rules", "kind": "Rules"}],
                     "agents": [{"role": "trend", "providers": ["rules"], "method": "Trend"}],
                     "autoscaling": {"minReplicas": 2, "maxReplicas": 6}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_pool_row_shows_its_workers_autoscaler_and_spend_against_budget() {
        let r = pool_row(&pool(json!({
            "phase": "Ready", "readyReplicas": 3, "desiredReplicas": 3, "boundStrategyCount": 4,
            "providerSpend": [{"provider": "openai", "day": "2026-12-07", "spentUSD": 1.2, "budgetUSD": 10.0}],
        })));
        assert_eq!(
            (r.ready_replicas, r.desired_replicas, r.strategies),
            (3, 3, 4)
        );
        assert_eq!(r.autoscaling.as_deref(), Some("2–6"));
        assert_eq!(r.spend[0].provider, "openai");
        assert_eq!(
            (r.spend[0].spent_usd, r.spend[0].budget_usd),
            (1.2, Some(10.0))
        );
        assert_eq!(r.health, Health::Ok);
        assert_eq!(r.reason, None);
    }

    #[test]
    fn a_pool_without_ready_workers_is_red_and_says_why() {
        let mut p = pool(json!({"phase": "Degraded", "readyReplicas": 0, "desiredReplicas": 2}));
        if let Some(status) = p.status.as_mut() {
            status.conditions = vec![condition(
                "Ready",
                "False",
                "WorkersUnavailable",
                "0 of 2 ready",
            )];
        }
        let r = pool_row(&p);
        assert_eq!(r.health, Health::Bad);
        assert_eq!(
            r.reason.as_deref(),
            Some("WorkersUnavailable: 0 of 2 ready")
        );
        let scaling = pool_row(&pool(
            json!({"phase": "Scaling", "readyReplicas": 1, "desiredReplicas": 2}),
        ));
        assert_eq!(scaling.health, Health::Warn);
    }

    fn account(broker: &str, status: serde_json::Value) -> BrokerAccount {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
            "metadata": {"name": "acct", "namespace": "desk"},
            "spec": {"broker": broker, "paper": {"startingCash": 100000}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn an_account_row_marks_live_money_and_failed_verification() {
        let mut live = account(
            "Alpaca",
            json!({"phase": "Failed", "environment": "Live", "equity": "250000"}),
        );
        if let Some(status) = live.status.as_mut() {
            status.conditions = vec![
                condition(
                    "CredentialsValid",
                    "False",
                    "Unauthorized",
                    "the broker refused the key",
                ),
                condition(
                    "Ready",
                    "False",
                    "CredentialsInvalid",
                    "the broker refused the key",
                ),
            ];
        }
        let r = account_row(&live);
        assert!(r.live);
        assert_eq!(r.broker, "Alpaca");
        assert_eq!(r.verified, Some(false));
        assert_eq!(r.health, Health::Bad);
        assert_eq!(r.equity.as_deref(), Some("250000"));
        let paper = account_row(&account(
            "Paper",
            json!({"phase": "Ready", "environment": "Paper", "boundStrategyCount": 2}),
        ));
        assert!(!paper.live);
        assert_eq!(paper.verified, None);
        assert_eq!((paper.health, paper.strategies), (Health::Ok, 2));
    }
}
