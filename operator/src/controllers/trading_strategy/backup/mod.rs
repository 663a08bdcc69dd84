//! Backups and restore of a strategy's journal: the children that run `agent-runtime backup`
//! and `restore` ([`render`]), and what their reports and Jobs come to in the status
//! ([`report`]).
//!
//! Scheduled backups are a CronJob, each `spec.backup.backupNowAt` value one Job; both report
//! through the backup process's own status field. A strategy created with `spec.restore` gets
//! a restore Job first, as CloudNativePG bootstraps a cluster from a backup with a
//! full-recovery Job before its first instance: the trader Deployment is not rendered until
//! the restore process reported success, so nothing trades on an empty journal — not a second
//! replica, not a pod restarted mid-restore, not a rollout — and the Job's failure, which the
//! operator watches, stalls the strategy with the process's reason.

pub mod render;
pub mod report;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use futures::Stream;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, reflector as reflect, watcher};
use tradeplane_contract::backup::KeepWithin;

use super::names::STRATEGY_LABEL;
use crate::api::trading_strategy::condition_types::RESTORED;
use crate::api::trading_strategy::{BackupSpec, TradingStrategy};
use crate::controllers::error::Blocker;
use crate::controllers::feed::Feed;
use crate::controllers::meta::{Component, MANAGED_BY};
use crate::controllers::scope::Scope;

/// Whether the strategy's journal is ready for the trader: it asks for no restore, or the
/// restore process reported success (now, or before: `Restored` stays True).
pub fn restored(strategy: &TradingStrategy) -> bool {
    if strategy.spec.restore.is_none() {
        return true;
    }
    let status = strategy.status.as_ref();
    let reported = status
        .and_then(|s| s.restore_report.as_ref())
        .is_some_and(|r| r.outcome == crate::api::trading_strategy::BackupOutcome::Succeeded);
    let was = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == RESTORED))
        .is_some_and(|c| c.status == "True");
    reported || was
}

/// What the API server cannot check of `spec.backup`: a `keepWithin` too large to count.
/// The zone `spec.backup.schedule` is read in: `spec.backup.timeZone`, or UTC (never the
/// controller manager's own zone, which is the CronJob's default). Both the CronJob and the
/// `nextScheduleTime` the status shows read it from here.
pub fn time_zone(backup: &BackupSpec) -> &str {
    backup.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)
}

/// The zone of a backup schedule that names none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

pub fn validate(strategy: &TradingStrategy) -> Result<(), Blocker> {
    let within = strategy
        .spec
        .backup
        .as_ref()
        .and_then(|b| b.retention.as_ref())
        .and_then(|r| r.keep_within.as_deref());
    if let Some(within) = within
        && let Err(problem) = within.parse::<KeepWithin>()
    {
        return Err(Blocker::new(
            "InvalidBackup",
            format!("backup.retention.{problem}"),
        ));
    }
    Ok(())
}

/// The backup and restore Jobs of every strategy in `scope` (found by their labels: a
/// scheduled backup's Job belongs to the CronJob, not the strategy), as a store the reconcile
/// reads their status from and a stream of their changes.
pub fn jobs(
    client: &kube::Client,
    scope: &Scope,
) -> (
    Store<Job>,
    impl Stream<Item = Result<Job, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store::<Job>();
    let selector = format!(
        "app.kubernetes.io/managed-by={MANAGED_BY},{STRATEGY_LABEL},app.kubernetes.io/component in ({},{})",
        Component::Backup.as_str(),
        Component::Restore.as_str()
    );
    let stream = reflect(
        writer,
        watcher(
            scope.api::<Job>(client),
            watcher::Config::default().labels(&selector),
        )
        .modify(|job: &mut Job| job.managed_fields_mut().clear()),
    )
    .default_backoff()
    .touched_objects();
    (store, stream)
}

/// The strategy a backup or restore Job belongs to.
pub fn job_owner(job: &Job) -> Option<String> {
    job.labels().get(STRATEGY_LABEL).cloned()
}

/// The Jobs of `component` of strategy `name` in `namespace`.
pub fn jobs_of(
    store: &Store<Job>,
    namespace: &str,
    name: &str,
    component: Component,
) -> Vec<Arc<Job>> {
    store
        .state()
        .into_iter()
        .filter(|job| {
            job.namespace().as_deref() == Some(namespace)
                && job_owner(job).as_deref() == Some(name)
                && job
                    .labels()
                    .get("app.kubernetes.io/component")
                    .map(String::as_str)
                    == Some(component.as_str())
        })
        .collect()
}

/// Strategies whose backup or restore process wrote a new report: the controller's own watch
/// ignores status writes, but these are news the operator acts on (a report can also arrive
/// after its Job's completion, which is watched, was seen).
pub fn report_changes(
    feed: &Feed<TradingStrategy>,
) -> impl Stream<Item = Result<TradingStrategy, watcher::Error>> + Send + 'static {
    feed.subscribe(|strategy: &TradingStrategy| {
        let status = strategy.status.as_ref();
        (
            status
                .and_then(|s| s.backup_report.as_ref())
                .map(|r| serde_json::to_string(r).unwrap_or_default()),
            status
                .and_then(|s| s.restore_report.as_ref())
                .map(|r| serde_json::to_string(r).unwrap_or_default()),
        )
    })
}
