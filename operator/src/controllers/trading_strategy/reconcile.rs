//! One reconcile of a TradingStrategy, the steps in order: [`resolve`] what it refers to →
//! [`validate`] → render the children (pure, `render`) → [`apply`] (the trader's pod template
//! as `upgrade` decides) → read the Lease (`leadership`) → [`report`] the status. Only
//! resolve, apply and report touch the API; the rest is pure and unit-tested.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::KIND;
use super::apply::apply;
use super::backup::{
    self,
    report::{self, RestoreStage},
};
use super::gates;
use super::leader_pod;
use super::leadership::{self, Leadership};
use super::render::{self, Children, Inputs};
use super::report::{Progress, report};
use super::resolve::{Resolved, resolve};
use super::shadow::apply::ShadowPlan;
use super::shadow::gate::{self, Gate};
use super::shadow::revision::decision_revision;
use super::status::{self, Workload};
use super::upgrade::Pending;
use super::validate::{ValidStrategy, validate};
use super::watched::Watched;
use crate::api::backtest::Backtest;
use crate::api::broker_account::BrokerAccount;
use crate::api::common::condition_types::READY;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::meta::Component;
use crate::controllers::monitoring::{self, Alerts};
use crate::controllers::{Blocker, Context, Error, RESYNC, Step};

/// One reconcile: resolve → validate → render → apply → read the Lease → report.
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
        context
            .metrics
            .set_shadow_agreement(&namespace, &name, None);
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
    if let Some((rollout, on_success)) = &progress.shadow {
        wake_at = wake_at.min(gate::recheck(&progress.shadow_gate, rollout, *on_success));
    }
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
    let image = &context.settings.runtime_image;
    let valid = match validate(strategy, &resolved.account, namespace, image) {
        Ok(valid) => valid,
        Err(blocker) => return Ok(progress.blocked(blocker)),
    };
    let revision = decision_revision(&valid.image, &valid.runtime_config);
    let gates = evaluate_gates(strategy, watched, namespace, &progress, &valid, &revision);
    let progress = Progress {
        gates: gates.as_ref().map(|g| g.status.clone()),
        ..progress
    };
    let gate_blocker = gates.and_then(|g| g.blocker);
    if let Some(blocker) = &gate_blocker
        && !trader_exists(context, namespace, strategy).await?
    {
        // A first rollout (or a strategy run by CronJobs): nothing is rendered, so nothing
        // can reach the live account before the gates admit the revision.
        return Ok(progress.blocked(blocker.clone()));
    }
    let inputs = Inputs {
        valid: &valid,
        credentials: resolved.credentials,
    };
    let rendered = render::render(strategy, &inputs).map_err(|source| Error::Render {
        what: "the strategy's children",
        source,
    })?;
    let desired_revision = trader_revision(&rendered);
    let plan = ShadowPlan {
        policy: valid.shadow.clone(),
        decision_revision: revision,
        config: valid.runtime_config.clone(),
        image: valid.image.clone(),
        credentials: inputs.credentials,
        gates_hold: gate_blocker.is_some(),
    };
    match Box::pin(apply(context, namespace, strategy, rendered, &plan, now)).await {
        Ok(rollout) => {
            let shadow = plan.policy.as_ref().map(|policy| {
                let previous = strategy.status.as_ref().and_then(|s| s.rollout.as_ref());
                let status = gate::rollout_status(
                    previous,
                    &rollout.shadow.gate,
                    rollout.shadow.live_decision.as_deref(),
                    &plan.decision_revision,
                    rollout.shadow.comparison,
                );
                (status, policy.on_success)
            });
            // A revision held for its shadow waits as this reconcile's comparison says.
            let pending = match (&rollout.shadow.gate, &shadow, &desired_revision) {
                (Gate::Shadow | Gate::Refused, Some((status, _)), Some(revision)) => {
                    gate::pending(revision, status)
                }
                _ => rollout.pending,
            };
            let gate = rollout.shadow.gate;
            let progress = Progress {
                workload: rollout.workload,
                desired_revision,
                applied_revision: rollout.applied_revision,
                pending,
                shadow_gate: gate,
                backup_now_at: rollout.backup_now_at,
                shadow,
                ..progress
            };
            let progress = match gate_blocker {
                Some(blocker) => progress.blocked(blocker),
                None => progress,
            };
            Ok(restore_progress(strategy, watched, namespace, progress))
        }
        Err(error) => match error.as_blocker() {
            Some(blocker) => Ok(progress.blocked(blocker)),
            None => Err(error),
        },
    }
}

/// The promotion gates of a strategy on a Live account (`gates`), against the Backtests of
/// its namespace and its last shadow analysis.
fn evaluate_gates(
    strategy: &TradingStrategy,
    watched: &Watched,
    namespace: &str,
    progress: &Progress,
    valid: &ValidStrategy,
    revision: &str,
) -> Option<gates::Evaluation> {
    let backtests: Vec<Arc<Backtest>> = watched
        .backtests
        .state()
        .into_iter()
        .filter(|b| b.namespace().as_deref() == Some(namespace))
        .collect();
    let backtests: Vec<&Backtest> = backtests.iter().map(Arc::as_ref).collect();
    let status = strategy.status.as_ref();
    let name = strategy.name_any();
    gates::evaluate(&gates::Inputs {
        gates: strategy.spec.promotion_gates.as_ref(),
        live: progress.live,
        strategy: &name,
        revision,
        backtests: &backtests,
        rollout: status.and_then(|s| s.rollout.as_ref()),
        analysis: valid.shadow.as_ref().map(|p| &p.thresholds),
        previous: status.and_then(|s| s.gates.as_ref()),
    })
}

/// Whether the strategy's trader Deployment exists, read from etcd: a revision the gates hold
/// is either kept off a live Deployment's template or, with none, not rendered at all.
async fn trader_exists(
    context: &Context,
    namespace: &str,
    strategy: &TradingStrategy,
) -> Result<bool, Error> {
    let name = super::names::names(&strategy.name_any()).deployment;
    let found = Api::<Deployment>::namespaced(context.client.clone(), namespace)
        .get_opt(&name)
        .await
        .map_err(|source| Error::resolve(format!("Deployment {name}"), source))?;
    Ok(found.is_some())
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
