//! `backup NAME`: asks for a backup through the spec's on-demand nonce
//! (`spec.backup.backupNowAt`) and waits until the status shows the backup it took; then
//! prints its name, size, rows and checksum.
//!
//! "The backup it took": `status.lastBackupNowAt` is the value written (the operator started
//! the Job) and the backup process's report (`status.backupReport`) started at or after the
//! request. A scheduled backup starting in the same seconds would be taken for it; either is
//! a backup newer than the request, which is what the user asked for.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use tradeplane_api::TradingStrategy;
use tradeplane_api::trading_strategy::{BackupOutcome, BackupReport};

use crate::actions::{FIELD_MANAGER, POLL_EVERY};
use crate::cli::ActionArgs;
use crate::cluster::{Target, utc};
use crate::error::Error;

/// Refuses a strategy without backups before writing anything.
pub fn precheck(strategy: &TradingStrategy) -> Result<(), Error> {
    if strategy.spec.backup.is_some() {
        return Ok(());
    }
    let name = strategy.metadata.name.clone().unwrap_or_default();
    Err(Error::NotApplicable(format!(
        "'{name}' has no spec.backup, so there is nowhere to put a backup; set \
         spec.backup.destination first (docs/backups.md)"
    )))
}

/// The merge patch asking for a backup now.
pub fn patch(stamp: &str) -> Value {
    json!({"spec": {"backup": {"backupNowAt": stamp}}})
}

/// Where the requested backup stands.
#[derive(Debug, PartialEq)]
pub enum Progress {
    /// The operator has not started it, or it has not ended.
    Waiting(String),
    Succeeded(Box<BackupReport>),
    Failed(String),
}

/// Reads the status for the backup asked for with `stamp` at `requested` (whole seconds).
pub fn progress(strategy: &TradingStrategy, stamp: &str, requested: DateTime<Utc>) -> Progress {
    let Some(status) = strategy.status.as_ref() else {
        return Progress::Waiting("no status yet".into());
    };
    if status.last_backup_now_at.as_deref() != Some(stamp) {
        return Progress::Waiting("the operator has not started the backup Job yet".into());
    }
    let report = status
        .backup_report
        .as_ref()
        .filter(|r| utc(&r.start_time).is_some_and(|t| t >= requested));
    match report {
        None => Progress::Waiting("the backup Job is running".into()),
        Some(r) if r.outcome == BackupOutcome::Succeeded => {
            Progress::Succeeded(Box::new(r.clone()))
        }
        Some(r) => Progress::Failed(
            r.message
                .clone()
                .unwrap_or_else(|| "the backup process gave no reason".into()),
        ),
    }
}

/// What a successful backup's report says, one field a line; a field the backup process
/// did not report is shown as such.
pub fn render(strategy: &str, report: &BackupReport) -> String {
    let unknown = || "not reported".to_string();
    let size = report
        .size_bytes
        .map(|b| format!("{b} bytes"))
        .unwrap_or_else(unknown);
    let rows = report.rows.map(|r| r.to_string()).unwrap_or_else(unknown);
    format!(
        "backup of '{strategy}' succeeded\n  name      {}\n  size      {size}\n  rows      {rows}\n  \
         checksum  {}\n",
        report.name.clone().unwrap_or_else(unknown),
        report.checksum.clone().unwrap_or_else(unknown),
    )
}

pub async fn run(target: &Target, args: &ActionArgs, out: &mut dyn Write) -> Result<(), Error> {
    let before = target.strategy(&args.name).await?;
    precheck(&before)?;
    let now = Utc::now();
    let stamp = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let requested = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let mut current = target
        .api::<TradingStrategy>()
        .patch(&args.name, &params, &Patch::Merge(patch(&stamp)))
        .await
        .map_err(|e| Error::from_kube(e, "patch", "tradingstrategies", &target.namespace))?;
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    loop {
        let waiting = match progress(&current, &stamp, requested) {
            Progress::Succeeded(report) => {
                if terminal {
                    eprint!("\r\x1b[K");
                }
                out.write_all(render(&args.name, &report).as_bytes())?;
                return Ok(());
            }
            Progress::Failed(message) => {
                return Err(Error::NotApplicable(format!(
                    "the backup of '{}' failed: {message}; see `kubectl tradeplane logs {}` \
                     and the backup Job's pod",
                    args.name, args.name
                )));
            }
            Progress::Waiting(why) => why,
        };
        if started.elapsed() >= args.timeout {
            return Err(Error::Timeout {
                strategy: args.name.clone(),
                what: "the backup (status.backupReport)".into(),
                waited: args.timeout,
                last_seen: waiting,
                hint: String::new(),
            });
        }
        if terminal {
            eprint!(
                "\r\x1b[Kwaiting for the backup … {}s ({waiting})",
                started.elapsed().as_secs()
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
        current = target.strategy(&args.name).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(status: Value) -> TradingStrategy {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
            "metadata": {"name": "momo"},
            "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": "paper"}},
            "status": status,
        }))
        .unwrap()
    }

    fn report(outcome: &str, start: &str) -> Value {
        json!({"outcome": outcome, "name": "momo-20300101T000000Z", "startTime": start,
               "completionTime": start, "sizeBytes": 2048, "rows": 120,
               "checksum": "sha256:ab", "runtimeVersion": "1.0.0", "message": "disk full"})
    }

    const STAMP: &str = "2030-01-01T00:00:00Z";

    fn requested() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(STAMP).unwrap().to_utc()
    }

    #[test]
    fn success_needs_the_nonce_handled_and_a_report_from_after_the_request() {
        let old = strategy(json!({"lastBackupNowAt": STAMP,
                                  "backupReport": report("Succeeded", "2029-12-31T23:00:00Z")}));
        assert!(matches!(
            progress(&old, STAMP, requested()),
            Progress::Waiting(_)
        ));
        let unhandled = strategy(json!({"lastBackupNowAt": "earlier",
                                        "backupReport": report("Succeeded", "2030-01-01T00:00:05Z")}));
        assert!(matches!(
            progress(&unhandled, STAMP, requested()),
            Progress::Waiting(_)
        ));
        let done = strategy(json!({"lastBackupNowAt": STAMP,
                                   "backupReport": report("Succeeded", "2030-01-01T00:00:05Z")}));
        let Progress::Succeeded(r) = progress(&done, STAMP, requested()) else {
            panic!("not done");
        };
        assert_eq!(
            render("momo", &r),
            "backup of 'momo' succeeded\n  name      momo-20300101T000000Z\n  size      2048 \
             bytes\n  rows      120\n  checksum  sha256:ab\n"
        );
        let failed = strategy(json!({"lastBackupNowAt": STAMP,
                                     "backupReport": report("Failed", "2030-01-01T00:00:05Z")}));
        assert_eq!(
            progress(&failed, STAMP, requested()),
            Progress::Failed("disk full".into())
        );
    }

    #[test]
    fn a_strategy_without_backups_is_refused_naming_the_field() {
        let error = precheck(&strategy(json!({}))).err().unwrap().to_string();
        assert!(
            error.contains("set spec.backup.destination first"),
            "{error}"
        );
    }
}
