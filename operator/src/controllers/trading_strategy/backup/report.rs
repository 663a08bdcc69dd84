//! The backup and restore processes' own reports and their Jobs' status, turned into the
//! operator's status fields (`lastBackup`, `lastScheduleTime`, `nextScheduleTime`,
//! `lastSuccessfulTime`, `lastBackupFailure`), the `BackupSucceeded` and `Restored` conditions
//! and an Event per backup and per failure. Pure.
//!
//! A Job's success alone proves nothing about the backup — only the process knows the name,
//! size and checksum it wrote — so success comes from the report. A failure comes from either:
//! the process's report (it knows why), or a failed Job (a pod that crashed, could not start
//! or ran out of time, and so could not report).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tradeplane_contract::cron::parse_cron;

use crate::api::trading_strategy::condition_types::{BACKUP_SUCCEEDED, RESTORED};
use crate::api::trading_strategy::{
    BackupFailure, BackupOutcome, BackupRecord, BackupReport, TradingStrategy,
    TradingStrategyStatus,
};
use crate::controllers::conditions::{Observed, Warns};

/// The operator's backup fields of the status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackupFields {
    pub last_backup: Option<BackupRecord>,
    pub last_schedule_time: Option<Time>,
    pub next_schedule_time: Option<Time>,
    pub last_successful_time: Option<Time>,
    pub last_backup_failure: Option<BackupFailure>,
}

impl BackupFields {
    /// The fields as they stand in `status`.
    pub fn of(status: &TradingStrategyStatus) -> Self {
        Self {
            last_backup: status.last_backup.clone(),
            last_schedule_time: status.last_schedule_time.clone(),
            next_schedule_time: status.next_schedule_time.clone(),
            last_successful_time: status.last_successful_time.clone(),
            last_backup_failure: status.last_backup_failure.clone(),
        }
    }

    /// Puts the fields into `status`.
    pub fn fill(self, status: &mut TradingStrategyStatus) {
        status.last_backup = self.last_backup;
        status.last_schedule_time = self.last_schedule_time;
        status.next_schedule_time = self.next_schedule_time;
        status.last_successful_time = self.last_successful_time;
        status.last_backup_failure = self.last_backup_failure;
    }
}

/// An Event to publish about a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

/// What the backups of a strategy come to.
#[derive(Clone, Debug, Default)]
pub struct Backups {
    pub fields: BackupFields,
    /// `BackupSucceeded`, when the strategy has `spec.backup`.
    pub condition: Option<Observed>,
    pub events: Vec<BackupEvent>,
}

/// Reads the backup report in `strategy`'s status and its backup `jobs` (those of its CronJob
/// and its on-demand ones) at `now`.
pub fn backups(strategy: &TradingStrategy, jobs: &[&Job], now: Timestamp) -> Backups {
    let previous = strategy
        .status
        .as_ref()
        .map(BackupFields::of)
        .unwrap_or_default();
    let Some(spec) = strategy.spec.backup.as_ref() else {
        // Backups switched off: what was reported stays, nothing is scheduled.
        return Backups {
            fields: BackupFields {
                next_schedule_time: None,
                ..previous
            },
            ..Backups::default()
        };
    };
    let report = strategy
        .status
        .as_ref()
        .and_then(|s| s.backup_report.as_ref());
    let mut fields = previous.clone();
    if let Some(report) = report.filter(|r| r.outcome == BackupOutcome::Succeeded)
        && let Some(name) = &report.name
    {
        fields.last_backup = Some(BackupRecord {
            name: name.clone(),
            completion_time: report.completion_time.clone(),
            size_bytes: report.size_bytes,
            rows: report.rows,
            checksum: report.checksum.clone(),
        });
        fields.last_successful_time = Some(report.completion_time.clone());
    }
    if let Some(failure) = newest_failure(report, jobs) {
        let newer = previous
            .last_backup_failure
            .as_ref()
            .is_none_or(|p| p.time.0 <= failure.time.0);
        if newer {
            fields.last_backup_failure = Some(failure);
        }
    }
    if let Some(started) = jobs.iter().filter_map(|j| started(j)).max() {
        fields.last_schedule_time = Some(Time(started));
    }
    fields.next_schedule_time = match (&spec.schedule, spec.suspend) {
        (Some(cron), None | Some(false)) => next_run(cron, super::time_zone(spec), now),
        _ => None,
    };
    let condition = Some(condition(&fields));
    let events = events(&previous, &fields);
    Backups {
        fields,
        condition,
        events,
    }
}

/// When a Job started: its start time, or its creation before a pod ran.
fn started(job: &Job) -> Option<Timestamp> {
    job.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(job.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
}

/// The Job's `Failed` condition, when it has failed.
fn failed(job: &Job) -> Option<&k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Failed" && c.status == "True")
}

/// The Job `report` came from: the one its pod is named after (a Job's pods are
/// `<job>-<suffix>`), or else the newest that started at or before the report did.
fn job_of<'a>(jobs: &[&'a Job], report: &BackupReport) -> Option<&'a Job> {
    if let Some(pod) = &report.pod {
        let named = jobs.iter().copied().find(|j| {
            j.metadata
                .name
                .as_ref()
                .is_some_and(|name| pod.starts_with(&format!("{name}-")))
        });
        if named.is_some() {
            return named;
        }
    }
    jobs.iter()
        .copied()
        .filter(|j| started(j).is_some_and(|s| s <= report.start_time.0))
        .max_by_key(|j| started(j))
}

/// The newest failure: a failed report (with its Job, when one matches), or the newest failed
/// Job (with the report's reason, when the report came from it).
fn newest_failure(report: Option<&BackupReport>, jobs: &[&Job]) -> Option<BackupFailure> {
    let reported = report
        .filter(|r| r.outcome == BackupOutcome::Failed)
        .map(|r| {
            let job = job_of(jobs, r).and_then(|j| j.metadata.name.clone());
            BackupFailure {
                job: job.unwrap_or_else(|| "(unknown)".to_string()),
                time: r.completion_time.clone(),
                message: r
                    .message
                    .clone()
                    .unwrap_or_else(|| "the backup process reported a failure".to_string()),
            }
        });
    let job_failure = jobs
        .iter()
        .filter_map(|job| Some((job, failed(job)?)))
        .max_by_key(|(job, _)| started(job))
        .map(|(job, condition)| {
            let name = job.metadata.name.clone().unwrap_or_default();
            let reason = condition.reason.clone().unwrap_or_default();
            let message = condition.message.clone().unwrap_or_default();
            BackupFailure {
                job: name.clone(),
                time: condition
                    .last_transition_time
                    .clone()
                    .unwrap_or(Time(Timestamp::UNIX_EPOCH)),
                message: format!("Job {name} failed ({reason}): {message}"),
            }
        });
    match (reported, job_failure) {
        (Some(reported), Some(job)) if reported.job == job.job => Some(reported),
        (Some(a), Some(b)) => Some(if a.time.0 >= b.time.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The next start of `cron` in `zone` after `now`.
pub fn next_run(cron: &str, zone: &str, now: Timestamp) -> Option<Time> {
    let schedule = parse_cron(cron).ok()?;
    let zone: Tz = zone.parse().ok()?;
    let now: DateTime<Utc> = DateTime::from_timestamp(now.as_second(), 0)?;
    let next = schedule.after(&now.with_timezone(&zone)).next()?;
    Timestamp::from_second(next.timestamp()).ok().map(Time)
}

/// `BackupSucceeded`: how the newest backup ended.
fn condition(fields: &BackupFields) -> Observed {
    let success = fields.last_successful_time.as_ref().map(|t| t.0);
    let failure = fields.last_backup_failure.as_ref();
    match (failure, success) {
        (Some(failure), success) if success.is_none_or(|s| s < failure.time.0) => Observed::new(
            BACKUP_SUCCEEDED,
            false,
            "LastBackupFailed",
            format!("the newest backup failed: {}", failure.message),
        ),
        (_, Some(_)) => {
            let backup = fields.last_backup.as_ref();
            Observed::new(
                BACKUP_SUCCEEDED,
                true,
                "LastBackupCompleted",
                format!(
                    "backup {} completed",
                    backup.map(|b| b.name.as_str()).unwrap_or_default()
                ),
            )
        }
        _ => Observed::new(
            BACKUP_SUCCEEDED,
            false,
            "NoBackupYet",
            "no backup has run yet",
        )
        .warns(Warns::Never),
    }
}

/// One Event per backup newly completed, one per failure newly seen.
fn events(previous: &BackupFields, now: &BackupFields) -> Vec<BackupEvent> {
    let mut events = Vec::new();
    if let Some(backup) = &now.last_backup
        && previous.last_backup.as_ref().map(|b| &b.name) != Some(&backup.name)
    {
        let mut note = format!("backup {} completed", backup.name);
        if let Some(size) = backup.size_bytes {
            note.push_str(&format!(", {size} bytes"));
        }
        if let Some(rows) = backup.rows {
            note.push_str(&format!(", {rows} rows"));
        }
        if let Some(checksum) = &backup.checksum {
            note.push_str(&format!(", {checksum}"));
        }
        events.push(BackupEvent {
            warning: false,
            reason: "BackupCompleted",
            note,
        });
    }
    // A failure is its Job and time; a reason learnt later for the same one is no new Event.
    let identity = |f: &BackupFailure| (f.job.clone(), f.time.0);
    if let Some(failure) = &now.last_backup_failure
        && previous.last_backup_failure.as_ref().map(identity) != Some(identity(failure))
    {
        events.push(BackupEvent {
            warning: true,
            reason: "BackupFailed",
            note: format!("backup Job {} failed: {}", failure.job, failure.message),
        });
    }
    events
}

/// Where the restore of a strategy created with `spec.restore` stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreStage {
    /// The strategy asks for no restore.
    NotAsked,
    /// The journal was restored; the trader may start.
    Done(String),
    /// The restore Job has not ended.
    Running,
    /// It failed; why.
    Failed(String),
    /// The Job completed, but its process reported nothing: the journal cannot be trusted.
    NotReported,
}

impl RestoreStage {
    /// `Restored`, for a strategy that asks for a restore.
    pub fn condition(&self) -> Option<Observed> {
        Some(match self {
            RestoreStage::NotAsked => return None,
            RestoreStage::Done(message) => {
                Observed::new(RESTORED, true, "RestoreCompleted", message.clone())
            }
            RestoreStage::Running => Observed::new(
                RESTORED,
                false,
                "Restoring",
                "the restore Job is loading the backup; the trader starts when it is done",
            )
            .warns(Warns::Never),
            RestoreStage::Failed(message) => {
                Observed::new(RESTORED, false, "RestoreFailed", message.clone())
            }
            RestoreStage::NotReported => {
                Observed::new(RESTORED, false, "RestoreNotReported", NOT_REPORTED)
            }
        })
    }
}

const NOT_REPORTED: &str = "the restore Job completed but its process reported no result: the journal is not known to hold the backup, so the trader does not start";

/// How the restore stands, from the restore process's report, the `Restored` condition as
/// it stands (a restore once done stays done) and the restore Job.
pub fn restore_stage(strategy: &TradingStrategy, job: Option<&Job>) -> RestoreStage {
    let Some(restore) = strategy.spec.restore.as_ref() else {
        return RestoreStage::NotAsked;
    };
    let status = strategy.status.as_ref();
    let report = status.and_then(|s| s.restore_report.as_ref());
    let was_done = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == RESTORED))
        .is_some_and(|c| c.status == "True");
    let source = format!("strategy {}", restore.from_strategy);
    match report {
        Some(report) if report.outcome == BackupOutcome::Succeeded => {
            let backup = report.backup.clone().unwrap_or_default();
            let rows = report
                .rows
                .map(|r| format!(", {r} rows"))
                .unwrap_or_default();
            return RestoreStage::Done(format!("restored backup {backup} of {source}{rows}"));
        }
        _ if was_done => {
            let message = status
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == RESTORED))
                .map(|c| c.message.clone())
                .unwrap_or_default();
            return RestoreStage::Done(message);
        }
        Some(report) => {
            let message = report
                .message
                .clone()
                .unwrap_or_else(|| "no reason given".to_string());
            let backup = report
                .backup
                .as_ref()
                .map(|b| format!(" backup {b} of"))
                .unwrap_or_default();
            return RestoreStage::Failed(format!(
                "restoring{backup} {source} failed: {message}; the trader does not start"
            ));
        }
        None => {}
    }
    let Some(job) = job else {
        return RestoreStage::Running;
    };
    if let Some(condition) = failed(job) {
        return RestoreStage::Failed(format!(
            "the restore Job from {source} failed ({}): {}; the trader does not start",
            condition.reason.clone().unwrap_or_default(),
            condition.message.clone().unwrap_or_default()
        ));
    }
    let complete = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        });
    if complete {
        RestoreStage::NotReported
    } else {
        RestoreStage::Running
    }
}
