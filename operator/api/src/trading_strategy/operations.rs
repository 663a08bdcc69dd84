//! The operational parts of a TradingStrategy's spec: journal, upgrades, backups and restore
//! (alerting lives in `api::alerting`, shared with AgentPool).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{
    CRON_PATTERN, NAME_PATTERN, SecretKeyReference, TIME_ZONE_MESSAGE, TIME_ZONE_PATTERN,
    TIME_ZONE_RULE,
};

/// Where the journal lives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.backend != 'Postgres' || has(self.postgres)").message("postgres is required when backend is Postgres").reason(Reason::FieldValueRequired).field_path(".postgres"),
    validation = Rule::new("self.backend != 'Sqlite' || !has(self.postgres)").message("postgres settings apply only to backend Postgres").reason(Reason::FieldValueForbidden).field_path(".postgres"),
)]
pub struct JournalSpec {
    /// `Sqlite` (default): a file on a PersistentVolumeClaim the operator creates.
    /// `Postgres`: a PostgreSQL database, required for more than one replica. Immutable
    /// (omitting `journal` counts as `Sqlite`): switching would leave the history behind;
    /// restore a backup into a new strategy instead.
    pub backend: JournalBackend,
    /// Settings of the SQLite volume. Default: 1Gi in the default StorageClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqlite: Option<SqliteJournal>,
    /// Settings of the PostgreSQL connection. Required when `backend` is `Postgres`, forbidden
    /// otherwise; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresJournal>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum JournalBackend {
    /// A SQLite file on a volume of the strategy's own.
    #[default]
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// The SQLite journal's volume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SqliteJournal {
    /// Size of the PersistentVolumeClaim. Default `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::common::quantity_schema")]
    pub storage_size: Option<Quantity>,
    /// StorageClass of the claim. Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
}

/// The PostgreSQL journal's connection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresJournal {
    /// The Secret key holding the connection URL,
    /// `postgres://user:password@host:5432/database`. Mounted as a file, never logged.
    pub url_secret_ref: SecretKeyReference,
}

/// The Lease timings of the replicas' leader election. A standby takes over once the
/// leader has not renewed for `leaseDurationSeconds`; the leader stops placing orders
/// `renewDeadlineSeconds` after its last renewal, so it has stopped before anyone takes over;
/// the leader renews every `retryPeriodSeconds` (standbys only watch the Lease). Unset, the
/// deadline and the retry period follow the lease duration (two thirds and a third of it), so
/// `leaseDurationSeconds: 15` alone means a renewal every 5 s.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.retryPeriodSeconds) ? self.retryPeriodSeconds : 1) < (has(self.renewDeadlineSeconds) ? self.renewDeadlineSeconds : 3)").message("failover.retryPeriodSeconds must be less than renewDeadlineSeconds (defaults 1 and 3)").reason(Reason::FieldValueInvalid).field_path(".retryPeriodSeconds"),
    validation = Rule::new("(has(self.renewDeadlineSeconds) ? self.renewDeadlineSeconds : 3) < (has(self.leaseDurationSeconds) ? self.leaseDurationSeconds : 4)").message("failover.renewDeadlineSeconds must be less than leaseDurationSeconds (defaults 3 and 4)").reason(Reason::FieldValueInvalid).field_path(".renewDeadlineSeconds"),
)]
pub struct FailoverSpec {
    /// Seconds without a renewal after which a standby takes the Lease, 2–120. Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 120))]
    pub lease_duration_seconds: Option<i32>,
    /// Seconds after its last renewal at which a leader stops trading and steps down, 1–119;
    /// less than `leaseDurationSeconds`. Default: two thirds of `leaseDurationSeconds`, at
    /// least 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 119))]
    pub renew_deadline_seconds: Option<i32>,
    /// Seconds between the leader's renewals, 1–60; less than `renewDeadlineSeconds`.
    /// Default: a third of `leaseDurationSeconds`, at least 1 (and less than the deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60))]
    pub retry_period_seconds: Option<i32>,
}

/// How new revisions of the runtime reach running pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.policy) || self.policy != 'Supervised' || (has(self.maintenanceWindows) && size(self.maintenanceWindows) > 0)").message("maintenanceWindows must not be empty when policy is Supervised").reason(Reason::FieldValueRequired).field_path(".maintenanceWindows"),
    validation = Rule::new("!has(self.maintenanceWindows) || size(self.maintenanceWindows) == 0 || has(self.timeZone)").message("timeZone is required when maintenanceWindows are set").reason(Reason::FieldValueRequired).field_path(".timeZone"),
)]
pub struct UpgradeSpec {
    /// `Unsupervised` (default): a new revision rolls out at once. `Supervised`: it waits
    /// for a maintenance window (status shows `UpgradePending`), or for `forceAt`.
    /// Restarts the operator starts on its own obey the same windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<UpgradePolicy>,
    /// When Supervised rollouts may happen, in `timeZone`. Required (non-empty) when `policy`
    /// is `Supervised`. Default: empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 14))]
    #[x_kube(merge_strategy = ListMerge::Atomic)]
    pub maintenance_windows: Vec<MaintenanceWindow>,
    /// IANA time zone of the maintenance windows, e.g. `America/New_York`. Required when
    /// `maintenanceWindows` is set; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern(TIME_ZONE_PATTERN))]
    #[x_kube(validation = Rule::new(TIME_ZONE_RULE).message(TIME_ZONE_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub time_zone: Option<String>,
    /// A new value (e.g. an RFC 3339 time) rolls out the pending revision now, outside any
    /// window. status.lastForcedUpgradeAt records the last one handled. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub force_at: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UpgradePolicy {
    /// Roll out at once.
    #[default]
    Unsupervised,
    /// Roll out only within maintenance windows.
    Supervised,
}

/// A weekly window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// Days the window opens, e.g. `[Sat, Sun]`.
    #[schemars(length(min = 1, max = 7))]
    pub days: Vec<Weekday>,
    /// Opening time, `HH:MM` (24-hour).
    #[schemars(pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    /// Length of the window in minutes, 1–1440.
    #[schemars(range(min = 1, max = 1440))]
    pub duration_minutes: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// Scheduled and on-demand journal backups. Scheduled ones run as a CronJob (one at a time: a
/// backup still running when the next is due makes that one skip), on-demand ones as a Job per
/// `backupNowAt` value; each backup process reports its result into status.lastBackup.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.timeZone) || has(self.schedule)").message("backup.timeZone applies only to backup.schedule: set a schedule or remove the time zone").reason(Reason::FieldValueForbidden).field_path(".timeZone"),
)]
pub struct BackupSpec {
    /// Five-field cron schedule, e.g. `0 22 * * 1-5`, in `timeZone`. Default: none, no
    /// scheduled backups (on-demand ones through `backupNowAt` still run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 128), pattern(CRON_PATTERN))]
    pub schedule: Option<String>,
    /// IANA time zone of `schedule`, e.g. `America/New_York`; only with `schedule`. Default
    /// `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern(TIME_ZONE_PATTERN))]
    #[x_kube(validation = Rule::new(TIME_ZONE_RULE).message(TIME_ZONE_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub time_zone: Option<String>,
    /// Pauses scheduled backups (the CronJob is suspended and status.nextScheduleTime is
    /// cleared); on-demand ones still run. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Which backups to keep. Default: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<BackupRetention>,
    /// Where backups go.
    pub destination: BackupDestination,
    /// A new value (e.g. an RFC 3339 time) takes a backup now, in a Job of its own beside the
    /// schedule. status.lastBackupNowAt records the last one handled; setting the value that
    /// is already there again does nothing. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub backup_now_at: Option<String>,
}

/// Backups older than both limits are deleted; with neither set, all are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRetention {
    /// Keep at least the newest N backups. Default: no count limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_last: Option<i32>,
    /// Keep every backup younger than this: a number and `h` (hours), `d` (days) or `w`
    /// (weeks), e.g. `7d`, `36h`. Default: no age limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(h|d|w)$"))]
    pub keep_within: Option<String>,
}

/// Exactly one of `volume` or `s3`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.volume) != has(self.s3)").message("exactly one of volume or s3 must be set").reason(Reason::FieldValueInvalid),
)]
pub struct BackupDestination {
    /// A PersistentVolumeClaim the operator creates for backups. Exactly one of `volume` and
    /// `s3` is set; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeDestination>,
    /// An S3-compatible bucket. Exactly one of `volume` and `s3` is set; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
}

/// A PersistentVolumeClaim `<strategy>-backups` the operator creates. It carries no owner
/// reference, so deleting the strategy keeps its backups (delete the claim to drop them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VolumeDestination {
    /// Size of the backup claim. Default `5Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::common::quantity_schema")]
    pub storage_size: Option<Quantity>,
    /// StorageClass of the claim. Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63), pattern(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"))]
    pub bucket: String,
    /// Key prefix inside the bucket. Default `<namespace>/<strategy>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub prefix: Option<String>,
    /// Endpoint of an S3-compatible service (MinIO, Ceph, R2...). Default: AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(crate::common::URL_PATTERN))]
    pub endpoint: Option<String>,
    /// Region. Default `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// Secret with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub credentials_secret_name: String,
}

/// Which backup to restore from. A restore Job loads it into the new strategy's empty journal
/// before the trader exists; the trader starts only once the restore reported success
/// (condition `Restored`). A failed restore leaves the strategy `Stalled` with the reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// The strategy whose backups to read (it may since have been deleted; its backups stay).
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub from_strategy: String,
    /// The backup's name as listed in that strategy's status.lastBackup or destination.
    /// Default: the newest backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub backup: Option<String>,
    /// Where the backups are, as in `spec.backup.destination` of the source strategy: with
    /// `volume`, the claim `<fromStrategy>-backups` in this namespace (its size settings are
    /// ignored); with `s3`, the bucket, and the prefix defaulting to
    /// `<namespace>/<fromStrategy>/`.
    pub source: BackupDestination,
}
