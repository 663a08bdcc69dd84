//! What a TradingStrategy's status says. The operator owns most of it; the runtime reports
//! its own part (leader, last cycle, decision, equity, positions) under its own field manager.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TradingState;

/// What the operator and the runtime last saw of the strategy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TradingStrategyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Trading`, `BrokerReady`, `UpgradePending`, `BackupSucceeded`,
    /// `AlertsConfigured`, and the kstatus pair `Reconciling` / `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::api::common::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// For display only: `Pending`, `Trading`, `Halted`, `Upgrading`, `Degraded` or `Failed`.
    /// Use conditions in automation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `Paper` or `Live`, from the BrokerAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The trading state in force (the spec's, or stricter if a limit tripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trading_state: Option<TradingState>,
    /// Runtime pods ready (the leader and its standbys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Runtime pods the spec asks for: `spec.replicas`, or 0 for a strategy run by CronJobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// The pod that holds the leader Lease and places orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// When the last cycle completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cycle_time: Option<Time>,
    /// The last decision that was not a hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<DecisionSummary>,
    /// Account equity as the runtime last valued it, decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equity: Option<String>,
    /// Profit and loss since the strategy started, e.g. `+1520.40 (+1.52%)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_and_loss: Option<String>,
    /// Number of symbols with an open position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_positions: Option<i32>,
    /// The newest backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<BackupRecord>,
    /// Hash of the pod template running now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<String>,
    /// Hash of the pod template the spec asks for; differs from currentRevision while an
    /// upgrade is pending or rolling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_revision: Option<String>,
    /// The last spec.restartAt handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restart_at: Option<String>,
    /// The last spec.switchoverAt handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_switchover_at: Option<String>,
    /// The last spec.backup.backupNowAt handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_now_at: Option<String>,
    /// The last spec.upgrade.forceAt handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_forced_upgrade_at: Option<String>,
}

/// A decision in one line, with when it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionSummary {
    /// e.g. `BUY 12 AAPL @ 0.72`.
    pub summary: String,
    /// When it was made.
    pub time: Time,
}

/// A backup that completed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// The backup's name, usable in another strategy's `spec.restore.backup`.
    pub name: String,
    /// When it completed.
    pub completion_time: Time,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

/// Condition types of a TradingStrategy besides the common ones.
pub mod condition_types {
    /// The runtime's leader is cycling and may place orders.
    pub const TRADING: &str = "Trading";
    /// The BrokerAccount is Ready.
    pub const BROKER_READY: &str = "BrokerReady";
    /// A new revision waits for a maintenance window.
    pub const UPGRADE_PENDING: &str = "UpgradePending";
    /// The last backup succeeded.
    pub const BACKUP_SUCCEEDED: &str = "BackupSucceeded";
    /// The PrometheusRule and PodMonitor exist (or alerting is off).
    pub const ALERTS_CONFIGURED: &str = "AlertsConfigured";
}
