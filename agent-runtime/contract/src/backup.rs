//! Journal backups: where they go, what is kept, how a restore is told what to load, and what
//! the backup and restore processes report in the strategy's status.
//!
//! The operator renders a backup Job's (or CronJob's) container arguments from a
//! [`BackupJob`] and a restore step's from a [`RestoreJob`]; the runtime parses them with the
//! same [`Command`](crate::command::Command), so the flags cannot drift apart (the tests below
//! parse every rendering back).
//!
//! A destination is a directory (the backup volume, mounted at [`BACKUP_DIR`]) or an
//! S3-compatible bucket whose keys come from a Secret mounted as files under
//! [`BACKUP_CREDENTIALS_DIR`] (file names [`S3_ACCESS_KEY_ID`], [`S3_SECRET_ACCESS_KEY`] and,
//! optionally, [`S3_SESSION_TOKEN`]: the Secret's keys). The flags never carry a secret.
//!
//! Results are written by server-side apply on the strategy's status subresource, each under
//! its own field manager ([`BACKUP_FIELD_MANAGER`] into `status.backupReport`,
//! [`RESTORE_FIELD_MANAGER`] into `status.restoreReport`), so neither the operator's nor the
//! trader's writes remove them; the operator turns them into `status.lastBackup`, the
//! `BackupSucceeded` condition and Events. A restore also writes its error to the container's
//! termination message ([`TERMINATION_LOG`]), which the operator can read from the pod.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::layout::CONFIG_PATH;
pub use crate::layout::{BACKUP_CREDENTIALS_DIR, BACKUP_DIR};

/// The field manager of the backup process's status writes (`status.backupReport`).
pub const BACKUP_FIELD_MANAGER: &str = "tradeplane-backup";
/// The field manager of the restore step's status writes (`status.restoreReport`).
pub const RESTORE_FIELD_MANAGER: &str = "tradeplane-restore";
/// The status field a backup reports into (camelCase, as in the CRD).
pub const BACKUP_REPORT_FIELD: &str = "backupReport";
/// The status field a restore reports into.
pub const RESTORE_REPORT_FIELD: &str = "restoreReport";

/// File names under [`BACKUP_CREDENTIALS_DIR`]: the keys of the destination's credentials
/// Secret (`spec.backup.destination.s3.credentialsSecretName`).
pub const S3_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const S3_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// Optional: temporary credentials.
pub const S3_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// Where Kubernetes reads a container's termination message from (its default path).
pub const TERMINATION_LOG: &str = "/dev/termination-log";
/// The region used when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where backups are written and read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A directory: the backup volume's mount ([`BACKUP_DIR`] in a pod).
    Directory { path: PathBuf },
    /// An S3-compatible bucket.
    S3(S3Location),
}

/// A bucket and a key prefix, and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (the API's default is
    /// `<namespace>/<strategy>`; the operator renders it). Empty: the bucket's root.
    pub prefix: String,
    /// e.g. `https://minio.example:9000`; `http://` is allowed (in-cluster services). None:
    /// AWS S3.
    pub endpoint: Option<String>,
    /// None: [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// The directory holding the credentials files ([`BACKUP_CREDENTIALS_DIR`] in a pod).
    pub credentials_dir: PathBuf,
}

impl Destination {
    /// The flags naming this destination, as the runtime's `--dir` / `--s3-*` options.
    pub fn args(&self) -> Vec<String> {
        match self {
            Destination::Directory { path } => {
                vec!["--dir".into(), path.display().to_string()]
            }
            Destination::S3(s3) => {
                let mut args = vec!["--s3-bucket".into(), s3.bucket.clone()];
                if !s3.prefix.is_empty() {
                    args.extend(["--s3-prefix".into(), s3.prefix.clone()]);
                }
                if let Some(endpoint) = &s3.endpoint {
                    args.extend(["--s3-endpoint".into(), endpoint.clone()]);
                }
                if let Some(region) = &s3.region {
                    args.extend(["--s3-region".into(), region.clone()]);
                }
                args.extend([
                    "--s3-credentials-dir".into(),
                    s3.credentials_dir.display().to_string(),
                ]);
                args
            }
        }
    }
}

/// Key prefixes are kept without surrounding slashes, so `a/b/` and `/a/b` name the same place.
pub fn normalize_prefix(prefix: &str) -> String {
    prefix.trim_matches('/').to_string()
}

/// Which backups survive pruning. A backup is kept when it is one of the newest `keep_last`
/// or younger than `keep_within`; with neither set every backup is kept; the newest good
/// backup is never pruned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    pub keep_last: Option<u32>,
    pub keep_within: Option<KeepWithin>,
}

impl Retention {
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(n) = self.keep_last {
            args.extend(["--keep-last".into(), n.to_string()]);
        }
        if let Some(within) = self.keep_within {
            args.extend(["--keep-within".into(), within.to_string()]);
        }
        args
    }
}

/// An age, as the API writes it: a number and `h`, `d` or `w` (`36h`, `7d`, `2w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepWithin {
    pub amount: u32,
    pub unit: AgeUnit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgeUnit {
    Hours,
    Days,
    Weeks,
}

impl KeepWithin {
    /// The age in hours.
    pub fn hours(self) -> u64 {
        let per = match self.unit {
            AgeUnit::Hours => 1,
            AgeUnit::Days => 24,
            AgeUnit::Weeks => 24 * 7,
        };
        u64::from(self.amount) * per
    }
}

impl FromStr for KeepWithin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("keepWithin {s:?}: expected a number and h, d or w, e.g. 7d");
        let (digits, unit) = s.split_at(s.len().saturating_sub(1));
        let unit = match unit {
            "h" => AgeUnit::Hours,
            "d" => AgeUnit::Days,
            "w" => AgeUnit::Weeks,
            _ => return Err(bad()),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let amount = digits.parse().map_err(|_| bad())?;
        Ok(Self { amount, unit })
    }
}

impl fmt::Display for KeepWithin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            AgeUnit::Hours => "h",
            AgeUnit::Days => "d",
            AgeUnit::Weeks => "w",
        };
        write!(f, "{}{unit}", self.amount)
    }
}

/// A backup pod's work: `agent-runtime backup`, reading the strategy's mounted config (its
/// identity and journal) and writing one backup to the destination, then pruning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupJob {
    pub destination: Destination,
    pub retention: Retention,
    /// Write the result to `status.backupReport` (the operator always sets it).
    pub report_status: bool,
}

impl BackupJob {
    /// The container arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["backup".into(), "--config".into(), CONFIG_PATH.into()];
        args.extend(self.destination.args());
        args.extend(self.retention.args());
        if self.report_status {
            args.push("--report-status".into());
        }
        args
    }
}

/// A restore step's work: `agent-runtime restore`, loading a backup into the journal the
/// strategy's mounted config names before the trader starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreJob {
    pub destination: Destination,
    /// The backup's name; None: the newest good one.
    pub backup: Option<String>,
    /// Only consider backups of this strategy (`spec.restore.fromStrategy`); a named backup of
    /// another strategy is refused.
    pub from_strategy: Option<String>,
    /// Replace a journal that is not empty.
    pub force: bool,
    /// Succeed without loading anything when the journal already holds a restore: an init
    /// container that runs again after the trader has journalled must neither fail nor load
    /// twice. The operator sets it for the restore step.
    pub once: bool,
    /// Write the result to `status.restoreReport`.
    pub report_status: bool,
}

impl RestoreJob {
    /// The container arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["restore".into(), "--config".into(), CONFIG_PATH.into()];
        args.extend(self.destination.args());
        if let Some(name) = &self.backup {
            args.extend(["--backup".into(), name.clone()]);
        }
        if let Some(strategy) = &self.from_strategy {
            args.extend(["--from-strategy".into(), strategy.clone()]);
        }
        for (set, flag) in [
            (self.force, "--force"),
            (self.once, "--once"),
            (self.report_status, "--report-status"),
        ] {
            if set {
                args.push(flag.into());
            }
        }
        args
    }
}

/// How a backup or restore ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// What `agent-runtime backup` reports in `status.backupReport` when it ends, replacing the
/// previous report. Times are RFC 3339.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    pub outcome: Outcome,
    /// The backup's name (usable in `spec.restore.backup`); absent when it failed before one
    /// was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub start_time: String,
    pub completion_time: String,
    /// Size of the stored (compressed) data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Rows saved, all tables together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// Rows saved per journal table.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub table_rows: std::collections::BTreeMap<String, i64>,
    /// `sha256:<hex>` of the stored data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The journal's schema version (its newest migration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_schema_version: Option<i64>,
    /// The runtime's version that took it.
    pub runtime_version: String,
    /// The pod that took it (`POD_NAME`), to pair the report with its Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Backups at the destination after pruning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_kept: Option<i32>,
    /// Backups pruned by the retention policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_pruned: Option<i32>,
    /// Why it failed (never a secret), or a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What `agent-runtime restore` reports in `status.restoreReport`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub outcome: Outcome,
    /// The backup loaded (or that was to be loaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    pub completion_time: String,
    /// Rows loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// The pod that ran it (`POD_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Why it failed, naming what differs (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_within_reads_the_apis_units_and_refuses_others() {
        assert_eq!("7d".parse::<KeepWithin>().unwrap().hours(), 168);
        assert_eq!("36h".parse::<KeepWithin>().unwrap().hours(), 36);
        assert_eq!("2w".parse::<KeepWithin>().unwrap().hours(), 336);
        assert_eq!("2w".parse::<KeepWithin>().unwrap().to_string(), "2w");
        for bad in ["", "d", "7", "7m", "-1d", "1.5d", "99999999999d"] {
            let err = bad.parse::<KeepWithin>().unwrap_err();
            assert!(err.contains("keepWithin"), "{bad}: {err}");
        }
    }

    #[test]
    fn prefixes_are_kept_without_surrounding_slashes() {
        assert_eq!(normalize_prefix("/ns/s/"), "ns/s");
        assert_eq!(normalize_prefix(""), "");
    }

    #[test]
    fn a_failed_report_carries_no_empty_fields() {
        let report = BackupReport {
            outcome: Outcome::Failed,
            name: None,
            start_time: "2026-01-01T00:00:00Z".into(),
            completion_time: "2026-01-01T00:00:01Z".into(),
            size_bytes: None,
            rows: None,
            table_rows: Default::default(),
            checksum: None,
            journal_schema_version: None,
            runtime_version: "0.1.0".into(),
            pod: None,
            backups_kept: None,
            backups_pruned: None,
            message: Some("cannot open the journal".into()),
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "outcome": "Failed",
                "startTime": "2026-01-01T00:00:00Z",
                "completionTime": "2026-01-01T00:00:01Z",
                "runtimeVersion": "0.1.0",
                "message": "cannot open the journal",
            })
        );
    }
}
