//! The update_status step of a strategy: the operator's part of the status, computed (pure,
//! in `status`) from what the earlier steps found, written only when it changed, and the
//! Events for what changed (a backup finished, a new leader).

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use super::backup::{
    self,
    report::{self, RestoreStage},
};
use super::leadership::{self, Leadership};
use super::shadow::gate::Gate;
use super::status::{self, BackupView, Observation, Workload};
use super::upgrade::Pending;
use super::watched::Watched;
use crate::api::trading_strategy::{OnSuccess, RolloutStatus, TradingStrategy};
use crate::controllers::conditions::Observed;
use crate::controllers::finish::{Report, finish};
use crate::controllers::meta::Component;
use crate::controllers::{Blocker, Context, Error};

/// What the pipeline found, for the status.
#[derive(Default)]
pub struct Progress {
    pub blocker: Option<Blocker>,
    pub workload: Workload,
    pub desired_revision: Option<String>,
    pub applied_revision: Option<String>,
    pub pending: Option<Pending>,
    pub broker_ready: Option<(bool, String)>,
    pub live: bool,
    /// The `backupNowAt` value whose Job was applied by this reconcile.
    pub backup_now_at: Option<String>,
    /// Where a restore stands, once the apply got that far.
    pub restore: Option<RestoreStage>,
    /// A Shadow strategy's `status.rollout` after this reconcile, and its `onSuccess`.
    pub shadow: Option<(RolloutStatus, OnSuccess)>,
    /// What became of the rendered revision (see `shadow::gate`).
    pub shadow_gate: Gate,
    /// `status.gates`, for a Live strategy with promotion gates (see `gates`).
    pub gates: Option<crate::api::trading_strategy::GatesStatus>,
}

impl Progress {
    pub fn blocked(mut self, blocker: Blocker) -> Self {
        self.blocker = Some(blocker);
        self
    }
}

/// The strategy's backup Jobs, scheduled and on demand.
fn backup_jobs(strategy: &TradingStrategy, watched: &Watched) -> Vec<Arc<Job>> {
    let namespace = strategy.namespace().unwrap_or_default();
    backup::jobs_of(
        &watched.jobs,
        &namespace,
        &strategy.name_any(),
        Component::Backup,
    )
}

/// The finish step: the operator's part of the status, and Events for what changed.
pub async fn report(
    strategy: &TradingStrategy,
    context: &Context,
    watched: &Watched,
    progress: Progress,
    leadership: Option<Leadership>,
    alerts: Option<Observed>,
    now: Timestamp,
) -> Result<(), Error> {
    let previous = strategy.status.as_ref();
    let progress_backup_now_at = progress.backup_now_at.clone();
    let restore = progress.restore.clone();
    let backups = backup_jobs(strategy, watched);
    let backup_report = report::backups(
        strategy,
        &backups.iter().map(|j| j.as_ref()).collect::<Vec<_>>(),
        now,
    );
    let backup_events = backup_report.events.clone();
    let change = leader_change(strategy, watched, leadership.as_ref());
    let shadow_event = progress.shadow.as_ref().and_then(|(rollout, _)| {
        super::shadow::gate::event(previous.and_then(|s| s.rollout.as_ref()), rollout)
    });
    let (status, observed) = status::compute(
        &Observation {
            generation: strategy.metadata.generation,
            previous,
            blocker: progress.blocker,
            broker_ready: progress.broker_ready,
            workload: progress.workload,
            suspended: strategy.spec.suspend == Some(true),
            live: progress.live,
            desired_revision: progress.desired_revision,
            applied_revision: progress.applied_revision,
            pending: progress.pending,
            leadership,
            // A first leader is no switchover.
            leader_changed: change.as_ref().is_some_and(|c| c.from.is_some()),
            restart_at: strategy.spec.restart_at.clone(),
            switchover_at: strategy.spec.switchover_at.clone(),
            force_at: strategy
                .spec
                .upgrade
                .as_ref()
                .and_then(|u| u.force_at.clone()),
            backups: BackupView {
                fields: backup_report.fields,
                backup_succeeded: backup_report.condition,
                restored: restore.as_ref().and_then(RestoreStage::condition),
                last_backup_now_at: progress_backup_now_at
                    .or_else(|| previous.and_then(|s| s.last_backup_now_at.clone())),
            },
            alerts,
            shadow: progress.shadow,
            gates: progress.gates,
        },
        now,
    );
    publish_agreement(context, strategy, status.rollout.as_ref());
    let previous_conditions = previous
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    finish(
        context,
        Report {
            object: strategy,
            status,
            previous: previous.map(status::operator_view),
            previous_conditions,
            observed: &observed,
            action: "Reconcile",
            succeeded: true,
        },
    )
    .await?;
    publish_events(context, strategy, backup_events, change).await;
    if let Some((warning, reason, note)) = shadow_event {
        let regarding = strategy.object_ref(&());
        context
            .publish(&regarding, warning, reason, "ShadowAnalysis", note)
            .await;
    }
    Ok(())
}

/// The agreement of the analysis the status shows (as this reconcile left it: a blocked one
/// keeps the last) as a gauge; none without one.
fn publish_agreement(
    context: &Context,
    strategy: &TradingStrategy,
    rollout: Option<&RolloutStatus>,
) {
    let agreement = rollout
        .filter(|r| r.verdict.is_some())
        .and_then(|r| r.agreement.as_deref())
        .and_then(|a| a.parse::<f64>().ok());
    context.metrics.set_shadow_agreement(
        &strategy.namespace().unwrap_or_default(),
        &strategy.name_any(),
        agreement,
    );
}

/// How the leader changed since the status last named one, when a trader runs.
fn leader_change(
    strategy: &TradingStrategy,
    watched: &Watched,
    leadership: Option<&Leadership>,
) -> Option<leadership::LeaderChange> {
    let namespace = strategy.namespace().unwrap_or_default();
    let lease = super::names::leader_lease(&strategy.name_any());
    leadership.and_then(|leadership| {
        let history = watched.history.get(&namespace, &lease);
        leadership::change(
            strategy.status.as_ref().and_then(|s| s.leader.as_deref()),
            leadership,
            history.as_ref(),
        )
    })
}

/// The Events of this reconcile: a backup that finished or failed, a new leader.
async fn publish_events(
    context: &Context,
    strategy: &TradingStrategy,
    backup_events: Vec<report::BackupEvent>,
    change: Option<leadership::LeaderChange>,
) {
    let regarding = strategy.object_ref(&());
    for event in backup_events {
        context
            .publish(
                &regarding,
                event.warning,
                event.reason,
                "Backup",
                event.note,
            )
            .await;
    }
    if let Some(change) = change {
        let reason = if change.from.is_some() {
            "LeaderChanged"
        } else {
            "LeaderElected"
        };
        // The new leader's pod is the Event's related object: each change is then an Event of
        // its own, naming both pods, rather than a repeat count on the first one.
        let leader = ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Pod".to_string()),
            namespace: regarding.namespace.clone(),
            name: Some(change.to.clone()),
            ..ObjectReference::default()
        };
        context
            .publish_related(
                &regarding,
                Some(leader),
                false,
                reason,
                "Failover",
                change.note(),
            )
            .await;
    }
}
