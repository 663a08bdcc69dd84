//! The operator's part of a TradingStrategy's status, computed from what the reconcile saw.
//! Pure, so that "a reconcile that learns nothing new writes nothing" can be tested.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;

use super::backup::report::BackupFields;
use super::leadership::Leadership;
use super::upgrade::Pending;
use crate::api::common::condition_types::{READY, RECONCILING, STALLED};
use crate::api::trading_strategy::{GatesStatus, OnSuccess, RolloutStatus, TradingStrategyStatus};
use crate::controllers::conditions::{Observed, Warns, settle};
use crate::controllers::rollout::{self, PodWords, Rollout};

pub const BROKER_READY: &str = "BrokerReady";
/// True while replicas are wanted and nobody holds the leader Lease (or it ran out).
pub const FAILING_OVER: &str = "FailingOver";
pub use crate::api::trading_strategy::condition_types::UPGRADE_PENDING;

/// The conditions the operator writes; the runtime writes others under its own manager.
const OPERATOR_CONDITIONS: [&str; 12] = [
    READY,
    RECONCILING,
    STALLED,
    BROKER_READY,
    BACKUP_SUCCEEDED,
    RESTORED,
    FAILING_OVER,
    UPGRADE_PENDING,
    ALERTS_CONFIGURED,
    SHADOW_RUNNING,
    SHADOW_SUCCEEDED,
    SHADOW_FAILED,
];

pub use crate::api::trading_strategy::condition_types::{
    ALERTS_CONFIGURED, BACKUP_SUCCEEDED, RESTORED, SHADOW_FAILED, SHADOW_RUNNING, SHADOW_SUCCEEDED,
};
pub use crate::controllers::error::Blocker;

/// How the rollout of the trader stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Workload {
    /// Not rendered yet (blocked before it).
    #[default]
    Unknown,
    /// Cron mode: no long-running pod; cycles run as Jobs.
    Scheduled,
    /// A strategy created with `spec.restore` whose restore Job has not succeeded yet: no
    /// trader exists.
    Restoring,
    /// The trader Deployment.
    Trader {
        desired: i32,
        ready: i32,
        updated: i32,
        current: bool,
    },
}

impl Workload {
    pub fn from_deployment(deployment: &Deployment) -> Self {
        let Rollout {
            desired,
            ready,
            updated,
            current,
        } = Rollout::of(deployment);
        Self::Trader {
            desired,
            ready,
            updated,
            current,
        }
    }
}

/// What the reconcile observed.
#[derive(Default)]
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub previous: Option<&'a TradingStrategyStatus>,
    pub blocker: Option<Blocker>,
    /// The BrokerAccount's own Ready condition (status, message), when it has one.
    pub broker_ready: Option<(bool, String)>,
    pub workload: Workload,
    pub suspended: bool,
    pub live: bool,
    /// The revision of the pod template rendered from the spec.
    pub desired_revision: Option<String>,
    /// The revision of the pod template applied: the desired one, or the live one while an
    /// upgrade waits.
    pub applied_revision: Option<String>,
    /// The revision waiting for a maintenance window, if any.
    pub pending: Option<Pending>,
    /// The Lease as read, for a trader Deployment.
    pub leadership: Option<Leadership>,
    /// Whether this reconcile saw the leader change (see `leadership::change`).
    pub leader_changed: bool,
    pub restart_at: Option<String>,
    pub switchover_at: Option<String>,
    pub force_at: Option<String>,
    /// Backups and restore, as `backup::report` read them.
    pub backups: BackupView,
    /// `AlertsConfigured`, when alerting was ever asked for (see `controllers::monitoring`).
    pub alerts: Option<Observed>,
    /// A Shadow strategy's `status.rollout` as this reconcile left it, and its `onSuccess`;
    /// `None` when the reconcile did not get to it (the previous one stands) or the strategy
    /// is `Direct`.
    pub shadow: Option<(RolloutStatus, OnSuccess)>,
    /// `status.gates` as this reconcile evaluated them; `None` when it did not get to them
    /// (blocked before: the previous ones stand) or the strategy has none on a Live account.
    pub gates: Option<GatesStatus>,
}

/// Whether the status carries `AlertsConfigured`: then it is kept up to date even after
/// `spec.alerting` is removed.
pub fn mentions_alerts(status: Option<&TradingStrategyStatus>) -> bool {
    status.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == ALERTS_CONFIGURED))
}

/// The operator's backup and restore part of the status, computed by `backup::report`.
#[derive(Clone, Debug, Default)]
pub struct BackupView {
    pub fields: BackupFields,
    /// `BackupSucceeded`, with `spec.backup`.
    pub backup_succeeded: Option<Observed>,
    /// `Restored`, with `spec.restore`.
    pub restored: Option<Observed>,
    /// The `backupNowAt` value handled (its Job applied), or the last one as it stands.
    pub last_backup_now_at: Option<String>,
}

/// The operator-owned fields of the status. Fields the runtime reports are left out (and
/// kept by the server-side apply, which only touches what this manager sets).
pub fn compute(
    observation: &Observation<'_>,
    now: Timestamp,
) -> (TradingStrategyStatus, Vec<Observed>) {
    let previous = observation.previous.cloned().unwrap_or_default();
    let (observed, phase) = observed_conditions(observation);
    let conditions = settle(
        &operator_conditions(&previous),
        &observed,
        observation.generation,
        now,
    );
    let (ready_replicas, desired_replicas) = replicas(&observation.workload, &previous);
    let (last_restart_at, last_forced_upgrade_at) = handled_requests(observation, &previous);
    let mut status = TradingStrategyStatus {
        observed_generation: observation.generation,
        ready_replicas,
        desired_replicas,
        conditions,
        phase: Some(phase.to_string()),
        mode: Some(if observation.live { "Live" } else { "Paper" }.to_string()),
        current_revision: current_revision(observation, &previous),
        desired_revision: observation.desired_revision.clone(),
        last_restart_at,
        last_forced_upgrade_at,
        leader: leader(observation, &previous),
        last_switchover_at: last_switchover_at(observation, &previous),
        last_backup_now_at: observation.backups.last_backup_now_at.clone(),
        rollout: rollout(observation, &previous),
        gates: match (&observation.gates, &observation.blocker) {
            (Some(gates), _) => Some(gates.clone()),
            (None, Some(_)) => previous.gates.clone(),
            (None, None) => None,
        },
        ..TradingStrategyStatus::default()
    };
    observation.backups.fields.clone().fill(&mut status);
    (status, observed)
}

/// `status.rollout`: as this reconcile left it; kept as it was when the reconcile was blocked
/// before the apply; none once a blocked-free reconcile finds the strategy `Direct`.
fn rollout(
    observation: &Observation<'_>,
    previous: &TradingStrategyStatus,
) -> Option<RolloutStatus> {
    match (&observation.shadow, &observation.blocker) {
        (Some((rollout, _)), _) => Some(rollout.clone()),
        (None, Some(_)) => previous.rollout.clone(),
        (None, None) => None,
    }
}

/// The operator's conditions as this reconcile observed them, and the phase they add up to.
fn observed_conditions(observation: &Observation<'_>) -> (Vec<Observed>, &'static str) {
    let broker = broker_condition(observation.broker_ready.as_ref());
    let (readiness, rollout_phase) = readiness(observation);
    let phase = phase(
        observation,
        rollout_phase,
        readiness[0].status,
        broker.status,
    );
    let backups = &observation.backups;
    let mut observed = vec![broker];
    observed.extend(readiness);
    observed.extend(backups.backup_succeeded.iter().cloned());
    observed.extend(backups.restored.iter().cloned());
    observed.extend(observation.alerts.clone());
    observed.extend(trader_conditions(observation));
    if let Some((rollout, on_success)) = &observation.shadow {
        observed.extend(super::shadow::gate::conditions(rollout, *on_success));
    }
    (observed, phase)
}

/// The phase of the rollout, unless the strategy is halted on purpose (suspended with nothing
/// blocking it) or ready on a BrokerAccount that is not.
fn phase(
    observation: &Observation<'_>,
    rollout_phase: &'static str,
    ready: bool,
    broker_ready: bool,
) -> &'static str {
    if observation.blocker.is_none() && observation.suspended {
        "Halted"
    } else if ready && !broker_ready {
        "Degraded"
    } else {
        rollout_phase
    }
}

/// The conditions of `status` that the operator writes; the runtime's are left to it.
fn operator_conditions(status: &TradingStrategyStatus) -> Vec<Condition> {
    status
        .conditions
        .iter()
        .filter(|c| OPERATOR_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect()
}

/// `readyReplicas` and `desiredReplicas`: none for workloads without a trader, as last seen
/// when the workload was not read (blocked before it).
fn replicas(workload: &Workload, previous: &TradingStrategyStatus) -> (Option<i32>, Option<i32>) {
    match workload {
        Workload::Trader { desired, ready, .. } => (Some(*ready), Some(*desired)),
        Workload::Scheduled | Workload::Restoring => (Some(0), Some(0)),
        Workload::Unknown => (previous.ready_replicas, previous.desired_replicas),
    }
}

/// The revision every trader pod runs: the applied one once the rollout finished, else the
/// one that did before.
fn current_revision(
    observation: &Observation<'_>,
    previous: &TradingStrategyStatus,
) -> Option<String> {
    match &observation.workload {
        Workload::Trader {
            desired,
            updated,
            current: true,
            ..
        } if updated >= desired => observation.applied_revision.clone(),
        _ => previous.current_revision.clone(),
    }
}

/// `lastRestartAt` and `lastForcedUpgradeAt`: `restartAt` and `forceAt` are handled once
/// applied, which neither a blocked reconcile nor a revision waiting for its window is.
fn handled_requests(
    observation: &Observation<'_>,
    previous: &TradingStrategyStatus,
) -> (Option<String>, Option<String>) {
    if observation.blocker.is_none() && observation.pending.is_none() {
        (observation.restart_at.clone(), observation.force_at.clone())
    } else {
        (
            previous.last_restart_at.clone(),
            previous.last_forced_upgrade_at.clone(),
        )
    }
}

/// The leader as the Lease names it; unread (blocked before the apply), it stays as last seen.
fn leader(observation: &Observation<'_>, previous: &TradingStrategyStatus) -> Option<String> {
    match &observation.leadership {
        Some(leadership) => leadership.leader().map(str::to_string),
        None => previous.leader.clone(),
    }
}

/// `lastSwitchoverAt`: a switchover is done when the leader moved after it was asked for.
fn last_switchover_at(
    observation: &Observation<'_>,
    previous: &TradingStrategyStatus,
) -> Option<String> {
    if observation.leader_changed && observation.switchover_at != previous.last_switchover_at {
        observation.switchover_at.clone()
    } else {
        previous.last_switchover_at.clone()
    }
}

/// `FailingOver` and `UpgradePending`, which only a trader Deployment has.
fn trader_conditions(observation: &Observation<'_>) -> Vec<Observed> {
    let mut observed = Vec::new();
    if let Workload::Trader { desired, .. } = &observation.workload {
        if let Some(leadership) = observation.leadership.as_ref().filter(|_| *desired > 0) {
            let (status, reason, message) = leadership.failing_over();
            // Nobody leading is the problem.
            observed
                .push(Observed::new(FAILING_OVER, status, reason, message).warns(Warns::WhenTrue));
        }
        // A revision waiting for its window is the policy at work, not a fault.
        let pending = match &observation.pending {
            Some(pending) => Observed::new(
                UPGRADE_PENDING,
                true,
                pending.reason,
                pending.message.clone(),
            ),
            None => Observed::new(UPGRADE_PENDING, false, "UpToDate", "no revision waits"),
        };
        observed.push(pending.warns(Warns::Never));
    }
    observed
}

/// `BrokerReady`, from the BrokerAccount's own Ready condition.
fn broker_condition(broker_ready: Option<&(bool, String)>) -> Observed {
    match broker_ready {
        Some((true, _)) => Observed::new(
            BROKER_READY,
            true,
            "BrokerAccountReady",
            "the BrokerAccount is ready",
        ),
        Some((false, message)) => Observed::new(
            BROKER_READY,
            false,
            "BrokerAccountNotReady",
            format!("the BrokerAccount is not ready: {message}"),
        ),
        None => Observed::new(
            BROKER_READY,
            false,
            "BrokerAccountNotReady",
            "the BrokerAccount has not reported yet",
        ),
    }
}

/// How the trader's pods are named in the conditions.
const TRADER_PODS: PodWords = PodWords {
    ready_reason: "TraderReady",
    pods: "runtime pods",
    waiting: "waiting for the trader pods",
};

/// `Ready`, `Reconciling`, `Stalled` and the phase, from what blocks the strategy and how its
/// workload stands.
fn readiness(observation: &Observation<'_>) -> ([Observed; 3], &'static str) {
    match (&observation.blocker, &observation.workload) {
        // Held by a promotion gate is not failed: it waits for a Backtest or a shadow.
        (Some(blocker), _) if super::gates::holds(blocker) => (rollout::blocked(blocker), "Gated"),
        (Some(blocker), _) => (rollout::blocked(blocker), "Failed"),
        (None, Workload::Unknown) => (rollout::rendering(), "Pending"),
        (None, Workload::Restoring) => (
            [
                Observed::new(
                    READY,
                    false,
                    "Restoring",
                    "restoring the journal from the backup",
                ),
                Observed::new(
                    RECONCILING,
                    true,
                    "Restoring",
                    "waiting for the restore Job",
                ),
                Observed::new(STALLED, false, "Progressing", ""),
            ],
            "Pending",
        ),
        (None, Workload::Scheduled) => (
            rollout::settled(Observed::new(
                READY,
                true,
                "Scheduled",
                "cycles run on the cron schedule",
            )),
            "Scheduled",
        ),
        (
            None,
            Workload::Trader {
                desired,
                ready,
                updated,
                current,
            },
        ) => {
            let rollout = Rollout {
                desired: *desired,
                ready: *ready,
                updated: *updated,
                current: *current,
            };
            let phase = if rollout.rolled_out() {
                "Trading"
            } else if *ready > 0 {
                "Degraded"
            } else {
                "Pending"
            };
            (
                rollout::conditions(&rollout, &TRADER_PODS, "RolloutInProgress"),
                phase,
            )
        }
    }
}

/// The operator-owned fields of a status as it stands, for comparison with [`compute`]'s.
pub fn operator_view(status: &TradingStrategyStatus) -> TradingStrategyStatus {
    TradingStrategyStatus {
        observed_generation: status.observed_generation,
        conditions: operator_conditions(status),
        phase: status.phase.clone(),
        mode: status.mode.clone(),
        ready_replicas: status.ready_replicas,
        desired_replicas: status.desired_replicas,
        current_revision: status.current_revision.clone(),
        desired_revision: status.desired_revision.clone(),
        last_restart_at: status.last_restart_at.clone(),
        last_forced_upgrade_at: status.last_forced_upgrade_at.clone(),
        last_switchover_at: status.last_switchover_at.clone(),
        leader: status.leader.clone(),
        last_backup_now_at: status.last_backup_now_at.clone(),
        rollout: status.rollout.clone(),
        gates: status.gates.clone(),
        last_backup: status.last_backup.clone(),
        last_schedule_time: status.last_schedule_time.clone(),
        next_schedule_time: status.next_schedule_time.clone(),
        last_successful_time: status.last_successful_time.clone(),
        last_backup_failure: status.last_backup_failure.clone(),
        ..TradingStrategyStatus::default()
    }
}
