//! One reconcile of a TradingStrategy: resolve → validate and render → apply (the trader's
//! pod template as `upgrade` decides) → read the Lease → finish. Only resolve, apply and
//! finish touch the API; the rest is pure and unit-tested.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use super::backup;
use super::backup::render::BackupChildren;
use super::backup::report::{self, RestoreStage};
use super::leader_pod::{self, LeaderMarks};
use super::leadership::{self, Leadership, LeaseHistory};
use super::render::{self, Children, Inputs};
use super::resolve::{Resolved, resolve};
use super::status::{self, BackupView, Observation, Workload};
use super::upgrade::{self, Pending};
use super::{KIND, config};
use crate::api::broker_account::BrokerAccount;
use crate::api::common::condition_types::READY;
use crate::api::trading_strategy::{TradingStrategy, UpgradePolicy};
use crate::controllers::children::{self, Outcome};
use crate::controllers::conditions::Observed;
use crate::controllers::finish::{Report, finish};
use crate::controllers::meta::Component;
use crate::controllers::monitoring::{self, Alerts};
use crate::controllers::{Blocker, Context, Error, RESYNC, Step};

/// What the reconcile reads beside the strategy: the watched BrokerAccounts and Leases, and
/// what the Lease watch remembers of past holders.
#[derive(Clone)]
pub struct Watched {
    pub accounts: Store<BrokerAccount>,
    pub leases: Store<Lease>,
    pub history: LeaseHistory,
    /// The strategies' backup and restore Jobs (`backup::jobs`).
    pub jobs: Store<Job>,
    /// Which pod carries each strategy's leader mark (`leader_pod`).
    pub marks: LeaderMarks,
}

/// What the pipeline found, for the status.
#[derive(Default)]
struct Progress {
    blocker: Option<Blocker>,
    workload: Workload,
    desired_revision: Option<String>,
    applied_revision: Option<String>,
    pending: Option<Pending>,
    broker_ready: Option<(bool, String)>,
    live: bool,
    /// The `backupNowAt` value whose Job was applied by this reconcile.
    backup_now_at: Option<String>,
    /// Where a restore stands, once the apply got that far.
    restore: Option<RestoreStage>,
}

impl Progress {
    fn blocked(mut self, blocker: Blocker) -> Self {
        self.blocker = Some(blocker);
        self
    }
}

pub async fn reconcile(
    strategy: Arc<TradingStrategy>,
    context: Arc<Context>,
    watched: Watched,
) -> Result<Action, Error> {
    let _timer = context.metrics.reconcile_started(KIND);
    let name = strategy.name_any();
    let namespace = strategy.namespace().ok_or_else(|| Error::NoNamespace {
        kind: KIND,
        name: name.clone(),
    })?;
    if strategy.metadata.deletion_timestamp.is_some() {
        // Owner references take the children with it.
        context.metrics.set_last_backup(&namespace, &name, None);
        watched.marks.forget(&namespace, &name);
        return Ok(Action::await_change());
    }
    context
        .metrics
        .set_last_backup(&namespace, &name, last_backup(&strategy));
    let now = Timestamp::now();
    let progress = match resolve(&strategy, &namespace, &context, &watched.accounts).await? {
        Step::Blocked(blocker) => Progress::default().blocked(blocker),
        Step::Ready(resolved) => {
            render_and_apply(&strategy, &context, &watched, &namespace, resolved, now).await?
        }
    };
    let leadership = matches!(progress.workload, Workload::Trader { .. }).then(|| {
        let lease = super::names::leader_lease(&name);
        let live = watched
            .leases
            .get(&ObjectRef::new(&lease).within(&namespace));
        leadership::leadership(live.as_deref(), now)
    });
    let marked = mark_leader(
        &strategy,
        &context,
        &watched,
        &namespace,
        leadership.as_ref(),
    )
    .await;
    let alerts = apply_alerts(&strategy, &context).await?;
    let mut wake_at = next_wake(progress.pending.as_ref(), now);
    if !marked {
        wake_at = wake_at.min(MARK_RETRY);
    }
    if let Some(recheck) = alerts.recheck() {
        wake_at = wake_at.min(recheck);
    }
    let alerts = alerts.condition(
        strategy.spec.alerting.is_some() || status::mentions_alerts(strategy.status.as_ref()),
    );
    report(
        &strategy, &context, &watched, progress, leadership, alerts, now,
    )
    .await?;
    // Whatever is still settling (pods starting, a blocker being fixed) arrives through the
    // watches, and a Lease running out through `leadership::expiries`. No watch reports a
    // maintenance window opening: the requeue comes then, or at the resync.
    Ok(Action::requeue(wake_at))
}

/// How soon a leader mark the API server refused is tried again.
const MARK_RETRY: Duration = Duration::from_secs(10);

/// Moves the leader mark (see [`leader_pod`]) to the pod that leads now; returns false when
/// the API server refused it. A refusal is a Warning Event and a retry, never a failed
/// reconcile: the mark decides only which pod a roll removes first, not whether anyone trades.
async fn mark_leader(
    strategy: &TradingStrategy,
    context: &Context,
    watched: &Watched,
    namespace: &str,
    leadership: Option<&Leadership>,
) -> bool {
    let name = strategy.name_any();
    let marking = leader_pod::plan(
        leadership.and_then(Leadership::leader),
        watched.marks.get(namespace, &name).as_deref(),
        strategy.status.as_ref().and_then(|s| s.leader.as_deref()),
    );
    if marking.is_empty() {
        return true;
    }
    let pods = Api::namespaced(context.client.clone(), namespace);
    let Err(error) = leader_pod::apply(&pods, &watched.marks, namespace, &name, marking).await
    else {
        return true;
    };
    tracing::warn!(strategy = %name, namespace, %error, "could not mark the leader's pod");
    context
        .publish(
            &strategy.object_ref(&()),
            true,
            "LeaderPodNotMarked",
            "Failover",
            format!(
                "could not set {} on {error}; a rolling upgrade may remove the leader before \
                 its standby (it then hands over on SIGTERM)",
                leader_pod::DELETION_COST_ANNOTATION
            ),
        )
        .await;
    false
}

/// The PrometheusRule and PodMonitor `spec.alerting` asks for, where the cluster serves them
/// (see `controllers::monitoring`); independent of the rest, so a blocked strategy is still
/// watched.
async fn apply_alerts(strategy: &TradingStrategy, context: &Context) -> Result<Alerts, Error> {
    monitoring::reconcile(
        context,
        KIND,
        strategy,
        render::alerts::render(strategy),
        render::alerts::names(&strategy.name_any()),
        strategy
            .status
            .as_ref()
            .and_then(|s| monitoring::previous_reason(&s.conditions)),
    )
    .await
}

/// Unix seconds of the last successful backup the status records.
fn last_backup(strategy: &TradingStrategy) -> Option<f64> {
    let record = strategy.status.as_ref()?.last_backup.as_ref()?;
    Some(record.completion_time.0.as_second() as f64)
}

/// When to look again: when the window a pending revision waits for opens, or at the resync,
/// whichever is first.
fn next_wake(pending: Option<&Pending>, now: Timestamp) -> Duration {
    let window = pending
        .and_then(|p| p.until)
        .and_then(|t| Timestamp::from_second(t.timestamp()).ok())
        .map(|at| {
            Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
                + Duration::from_secs(1)
        });
    window.map_or(RESYNC, |window| window.min(RESYNC))
}

/// Validates and renders, then applies; a config the runtime would refuse, or a child the API
/// server refuses, blocks instead.
async fn render_and_apply(
    strategy: &TradingStrategy,
    context: &Context,
    watched: &Watched,
    namespace: &str,
    resolved: Resolved,
    now: Timestamp,
) -> Result<Progress, Error> {
    let progress = Progress {
        live: crate::controllers::runtime_config::is_live(&resolved.account),
        broker_ready: broker_ready(&resolved.account),
        ..Progress::default()
    };
    if let Err(blocker) = backup::validate(strategy) {
        return Ok(progress.blocked(blocker));
    }
    let runtime_config = match config::render(strategy, &resolved.account, namespace) {
        Ok(runtime_config) => runtime_config,
        Err(problem) => {
            return Ok(progress.blocked(Blocker::new("InvalidConfiguration", problem.to_string())));
        }
    };
    let inputs = Inputs {
        runtime_config: &runtime_config,
        credentials: resolved.credentials,
        default_image: &context.settings.runtime_image,
    };
    let rendered = render::render(strategy, &inputs).map_err(|source| Error::Render {
        what: "the strategy's children",
        source,
    })?;
    let desired_revision = trader_revision(&rendered);
    match Box::pin(apply(context, namespace, strategy, rendered, now)).await {
        Ok(rollout) => {
            let progress = Progress {
                workload: rollout.workload,
                desired_revision,
                applied_revision: rollout.applied_revision,
                pending: rollout.pending,
                backup_now_at: rollout.backup_now_at,
                ..progress
            };
            Ok(restore_progress(strategy, watched, namespace, progress))
        }
        Err(error) => match error.as_blocker() {
            Some(blocker) => Ok(progress.blocked(blocker)),
            None => Err(error),
        },
    }
}

/// A strategy created with `spec.restore`: a restore that failed, or completed without
/// saying it succeeded, blocks it (`Stalled`, and the trader is never rendered).
fn restore_progress(
    strategy: &TradingStrategy,
    watched: &Watched,
    namespace: &str,
    mut progress: Progress,
) -> Progress {
    let name = strategy.name_any();
    let job = backup::jobs_of(&watched.jobs, namespace, &name, Component::Restore)
        .into_iter()
        .next();
    let stage = report::restore_stage(strategy, job.as_deref());
    let blocker = match &stage {
        RestoreStage::Failed(message) => Some(Blocker::new("RestoreFailed", message.clone())),
        RestoreStage::NotReported => Some(Blocker::new(
            "RestoreNotReported",
            stage.condition().map(|c| c.message).unwrap_or_default(),
        )),
        _ => None,
    };
    progress.restore = Some(stage);
    match blocker {
        Some(blocker) => progress.blocked(blocker),
        None => progress,
    }
}

/// The BrokerAccount's own Ready condition (status, message), when it has one.
fn broker_ready(account: &BrokerAccount) -> Option<(bool, String)> {
    account
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
        .map(|c| (c.status == "True", c.message.clone()))
}

/// The revision of the trader's pod template as rendered: the one the spec asks for.
fn trader_revision(rendered: &Children) -> Option<String> {
    let deployment = rendered.deployment.as_ref()?;
    super::pods::revision(&deployment.spec.as_ref()?.template).map(str::to_string)
}

/// How the trader's rollout stands after the apply.
struct Rollout {
    workload: Workload,
    /// The revision of the template applied.
    applied_revision: Option<String>,
    pending: Option<Pending>,
    /// The `backupNowAt` value whose Job was applied.
    backup_now_at: Option<String>,
}

/// For a Supervised strategy, puts into `deployment` the pod template [`upgrade::decide`]
/// picks from the live Deployment's and the rendered one; returns the revision that waits.
/// The live Deployment is read from etcd, not a cache: an out-of-date copy could pass an old
/// template for the running one.
async fn supervise(
    context: &Context,
    namespace: &str,
    strategy: &TradingStrategy,
    deployment: &mut Deployment,
    now: Timestamp,
) -> Result<Option<Pending>, Error> {
    let policy = strategy.spec.upgrade.as_ref().and_then(|u| u.policy);
    let (Some(UpgradePolicy::Supervised), Some(spec)) = (policy, deployment.spec.as_mut()) else {
        return Ok(None);
    };
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let live = Api::<Deployment>::namespaced(context.client.clone(), namespace)
        .get_opt(&name)
        .await
        .map_err(|source| Error::resolve(format!("Deployment {name}"), source))?;
    let decision = upgrade::decide(
        strategy.spec.upgrade.as_ref(),
        strategy
            .status
            .as_ref()
            .and_then(|s| s.last_forced_upgrade_at.as_deref()),
        live.as_ref()
            .and_then(|d| d.spec.as_ref())
            .map(|s| &s.template),
        spec.template.clone(),
        upgrade::to_chrono(now),
    );
    spec.template = decision.template;
    Ok(decision.pending)
}

/// Applies every rendered child that differs from the live one and deletes the ones that must
/// not exist; returns the trader's rollout state. The independent children go side by side,
/// so a reconcile costs about one round trip of latency rather than one per child; the
/// workload goes after what its pods mount.
async fn apply(
    context: &Context,
    namespace: &str,
    strategy: &TradingStrategy,
    rendered: Children,
    now: Timestamp,
) -> Result<Rollout, Error> {
    let names = super::names::names(&strategy.name_any());
    let apply = Apply { context, namespace };
    let Children {
        config,
        credentials,
        service_account,
        role,
        role_binding,
        lease,
        service,
        journal,
        mut deployment,
        disruption_budget,
        cycle,
        backups,
    } = rendered;
    let pending = match deployment.as_mut() {
        Some(deployment) => supervise(context, namespace, strategy, deployment, now).await?,
        None => None,
    };
    // While a revision waits, so do the Secrets its pods read: a pod that restarts in the
    // meantime (a crash, a drain) must find the config and keys of the template it runs.
    let held = pending.is_some();
    // The Role before its RoleBinding: without `bind` (the chart does not grant it), the API
    // server checks a new binding against the Role it names and answers 404 while that Role
    // does not exist yet. Applied side by side, the binding's 404 ended the join and dropped
    // the Role's apply with it, on every retry (seen on a real node with the chart's RBAC).
    let role_changed = apply.child(role).await?;
    let first = futures::try_join!(
        apply.child(service_account),
        apply.child(role_binding),
        apply.child(lease),
        apply.unless(held, config),
        apply.unless(held, credentials),
        apply.child(service),
        apply.optional(journal, &names.journal),
    )?;
    let mut writes = [
        role_changed,
        first.0,
        first.1,
        first.2,
        first.3,
        first.4,
        first.5,
        first.6,
    ]
    .into_iter()
    .filter(|changed| *changed)
    .count();
    let backup_now_at = strategy
        .spec
        .backup
        .as_ref()
        .and_then(|b| b.backup_now_at.clone())
        .filter(|_| backups.now.is_some());
    // Boxed, as is the whole apply: the children's futures side by side would otherwise make
    // the reconcile's future larger than a worker thread's stack in a debug build.
    writes += Box::pin(apply_backups(&apply, &strategy.name_any(), backups)).await?;
    let mut count = |changed: bool| writes += usize::from(changed);
    let mut applied_revision = None;
    let workload = match deployment {
        Some(deployment) => {
            count(apply.absent::<CronJob>(&names.cycle).await?);
            applied_revision = deployment
                .spec
                .as_ref()
                .and_then(|s| super::pods::revision(&s.template))
                .map(str::to_string);
            let outcome: Outcome<Deployment> = children::ensure(
                &context.client,
                &context.children,
                KIND,
                namespace,
                deployment,
            )
            .await?;
            count(outcome.changed());
            Workload::from_deployment(outcome.object())
        }
        None => {
            count(apply.absent::<Deployment>(&names.deployment).await?);
            count(apply.optional(cycle, &names.cycle).await?);
            if backup::restored(strategy) {
                Workload::Scheduled
            } else {
                Workload::Restoring
            }
        }
    };
    count(apply.optional(disruption_budget, &names.deployment).await?);
    for _ in 0..writes {
        context.metrics.write(KIND, "child");
    }
    Ok(Rollout {
        workload,
        applied_revision,
        pending,
        backup_now_at,
    })
}

/// Applies the backup and restore children (after the config Secret their pods mount);
/// returns how many it wrote. A backup volume and an on-demand Job not rendered are left
/// alone: the one holds backups, the other is finishing a backup already asked for; so is the
/// backup ServiceAccount and Role of a strategy whose backups were switched off.
async fn apply_backups(
    apply: &Apply<'_>,
    strategy: &str,
    backups: BackupChildren,
) -> Result<usize, Error> {
    let names = backup::render::names(strategy);
    let BackupChildren {
        service_account,
        role,
        role_binding,
        claim,
        schedule,
        now,
        restore,
    } = backups;
    let restoring = restore.is_some();
    // The backup identity once made stays until the strategy goes (garbage collection): the
    // operator never deletes ServiceAccounts or Roles, so it holds no right to.
    let identity = futures::try_join!(apply.some(service_account), apply.some(role))?;
    // The binding after its Role: the API server refuses (404) a binding to a Role it cannot
    // find, and side by side that refusal would drop the Role's own apply mid-flight, every
    // time.
    let bound = apply.some(role_binding).await?;
    let writes = [identity.0, identity.1, bound];
    let mut more = Vec::new();
    if let Some(claim) = claim {
        more.push(apply.child(claim).await?);
    }
    more.push(apply.optional(schedule, &names.schedule).await?);
    if let Some(now) = now {
        more.push(apply.child(now).await?);
    }
    // A restore Job stays while the restore runs (or failed, for its logs); once the journal
    // is restored the operator deletes it.
    if restoring {
        more.push(apply.optional(restore, &names.restore).await?);
    } else {
        more.push(apply.absent::<Job>(&names.restore).await?);
    }
    Ok(writes.iter().chain(&more).filter(|w| **w).count())
}

/// The apply step's three verbs for one strategy's children; each returns whether it wrote.
struct Apply<'a> {
    context: &'a Context,
    namespace: &'a str,
}

impl Apply<'_> {
    /// Makes `child` exist as rendered.
    async fn child<K: children::ChildKind>(&self, child: K) -> Result<bool, Error> {
        let (client, cache) = (&self.context.client, &self.context.children);
        children::ensure_known(client, cache, KIND, self.namespace, child).await
    }

    /// Makes `child` exist as rendered when there is one; otherwise leaves its kind alone.
    async fn some<K: children::ChildKind>(&self, child: Option<K>) -> Result<bool, Error> {
        match child {
            Some(child) => self.child(child).await,
            None => Ok(false),
        }
    }

    /// Makes `child` exist as rendered, unless `held`: then it stays as it is.
    async fn unless<K: children::ChildKind>(&self, held: bool, child: K) -> Result<bool, Error> {
        if held {
            return Ok(false);
        }
        self.child(child).await
    }

    /// Makes the child `name` of kind `K` not exist.
    async fn absent<K: children::ChildKind>(&self, name: &str) -> Result<bool, Error> {
        let (client, cache) = (&self.context.client, &self.context.children);
        children::remove_known::<K>(client, cache, KIND, self.namespace, name).await
    }

    /// `child` when rendered, otherwise no child `name` of its kind.
    async fn optional<K: children::ChildKind>(
        &self,
        child: Option<K>,
        name: &str,
    ) -> Result<bool, Error> {
        match child {
            Some(child) => self.child(child).await,
            None => self.absent::<K>(name).await,
        }
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
async fn report(
    strategy: &TradingStrategy,
    context: &Context,
    watched: &Watched,
    progress: Progress,
    leadership: Option<Leadership>,
    alerts: Option<Observed>,
    now: Timestamp,
) -> Result<(), Error> {
    let previous = strategy.status.as_ref();
    let namespace = strategy.namespace().unwrap_or_default();
    let progress_backup_now_at = progress.backup_now_at.clone();
    let restore = progress.restore.clone();
    let backups = backup_jobs(strategy, watched);
    let backup_report = report::backups(
        strategy,
        &backups.iter().map(|j| j.as_ref()).collect::<Vec<_>>(),
        now,
    );
    let backup_events = backup_report.events.clone();
    let lease = super::names::leader_lease(&strategy.name_any());
    let change = leadership.as_ref().and_then(|leadership| {
        let history = watched.history.get(&namespace, &lease);
        leadership::change(
            previous.and_then(|s| s.leader.as_deref()),
            leadership,
            history.as_ref(),
        )
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
        },
        now,
    );
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
    Ok(())
}
