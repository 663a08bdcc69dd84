//! What a TradingStrategy's status says. The operator owns most of it; the runtime reports
//! its own part (leader, last cycle, decision, equity, positions) under its own field manager.

use std::collections::BTreeMap;

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
    #[schemars(schema_with = "crate::common::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// For display only: `Pending`, `Trading`, `Halted`, `Upgrading`, `Degraded`, `Gated`
    /// (a promotion gate holds the revision: see `gates` and the `Stalled` condition) or
    /// `Failed`. Use conditions in automation.
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
    /// The newest backup that succeeded, as its backup process reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<BackupRecord>,
    /// When the newest backup Job started, scheduled or on demand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When the next scheduled backup starts, from `spec.backup.schedule` in its time zone.
    /// Absent without a schedule or while `spec.backup.suspend` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// When the newest successful backup completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// The newest backup that failed: its Job, when, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_failure: Option<BackupFailure>,
    /// The newest backup process's own report, written under its field manager
    /// `tradeplane-backup`; the operator derives lastBackup and the condition from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_report: Option<BackupReport>,
    /// The restore step's own report, written under its field manager `tradeplane-restore`
    /// (strategies created with `spec.restore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_report: Option<RestoreReport>,
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
    /// The shadow analysis of a new decision-relevant revision (`spec.rollout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::RolloutStatus>,
    /// The promotion gates of a strategy on a Live account (`spec.promotionGates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<super::GatesStatus>,
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
    /// Size in bytes, as stored (compressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Journal rows in the backup, all tables together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// Checksum of the stored backup, e.g. `sha256:…`; restore refuses a backup that does not
    /// match it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// A backup that failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupFailure {
    /// The Job that ran it.
    pub job: String,
    /// When the failure was seen.
    pub time: Time,
    /// Why: the backup process's own error, or the Job's reason when the process could not say.
    pub message: String,
}

/// How a backup or a restore ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BackupOutcome {
    /// It completed and was verified.
    Succeeded,
    /// It did not; `message` says why.
    Failed,
}

/// What a backup process reported when it ended (the contract's `BackupReport`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    /// `Succeeded` or `Failed`.
    pub outcome: BackupOutcome,
    /// The backup's name; absent when it failed before one was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the backup process started.
    pub start_time: Time,
    /// When it ended.
    pub completion_time: Time,
    /// Size of the stored (compressed) data in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Rows saved, all tables together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// Rows saved per journal table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub table_rows: BTreeMap<String, i64>,
    /// `sha256:<hex>` of the stored data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The journal's schema version (its newest migration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_schema_version: Option<i64>,
    /// The runtime version that took it.
    pub runtime_version: String,
    /// The pod that took it, which names its Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Backups at the destination after pruning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_kept: Option<i32>,
    /// Backups the retention policy pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_pruned: Option<i32>,
    /// Why it failed, or a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the restore step reported when it ended (the contract's `RestoreReport`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// `Succeeded` or `Failed`.
    pub outcome: BackupOutcome,
    /// The backup loaded, or that was to be loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// When it ended.
    pub completion_time: Time,
    /// Rows loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// The pod that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Why it failed, naming what differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
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
    /// A strategy created with `spec.restore`: its journal was loaded from the backup (the
    /// trader starts only then).
    pub const RESTORED: &str = "Restored";
    /// The PrometheusRule and PodMonitor exist (or alerting is off).
    pub const ALERTS_CONFIGURED: &str = "AlertsConfigured";
    /// True while a shadow of a new revision decides beside the live pods.
    pub const SHADOW_RUNNING: &str = "ShadowRunning";
    /// True once the shadow of the revision the spec asks for passed its analysis.
    pub const SHADOW_SUCCEEDED: &str = "ShadowSucceeded";
    /// True when the shadow of the revision the spec asks for failed it: that revision is
    /// refused and the live pods keep theirs.
    pub const SHADOW_FAILED: &str = "ShadowFailed";
}
