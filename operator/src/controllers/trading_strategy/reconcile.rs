//! One reconcile of a TradingStrategy: resolve → validate and render → apply → finish.
//! Only resolve, apply and finish touch the API; the rest is pure and unit-tested.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;

use super::render::{self, Children, Inputs};
use super::resolve::{Resolved, resolve};
use super::status::{self, Observation, Workload};
use super::{KIND, config};
use crate::api::broker_account::BrokerAccount;
use crate::api::common::condition_types::READY;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::children::{self, Outcome};
use crate::controllers::finish::{Report, finish};
use crate::controllers::meta::INPUTS_HASH_ANNOTATION;
use crate::controllers::{Blocker, Context, Error, RESYNC, Step};

/// What the pipeline found, for the status.
#[derive(Default)]
struct Progress {
    blocker: Option<Blocker>,
    workload: Workload,
    desired_revision: Option<String>,
    broker_ready: Option<(bool, String)>,
    live: bool,
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
    accounts: Store<BrokerAccount>,
) -> Result<Action, Error> {
    let _timer = context.metrics.reconcile_started(KIND);
    let name = strategy.name_any();
    let namespace = strategy.namespace().ok_or_else(|| Error::NoNamespace {
        kind: KIND,
        name: name.clone(),
    })?;
    if strategy.metadata.deletion_timestamp.is_some() {
        // Owner references take the children with it.
        return Ok(Action::await_change());
    }
    let progress = match resolve(&strategy, &namespace, &context, &accounts).await? {
        Step::Blocked(blocker) => Progress::default().blocked(blocker),
        Step::Ready(resolved) => {
            render_and_apply(&strategy, &context, &namespace, resolved).await?
        }
    };
    report(&strategy, &context, progress).await?;
    // Whatever is still settling (pods starting, a blocker being fixed) arrives through the
    // watches; the timed requeue is only the safety net.
    Ok(Action::requeue(RESYNC))
}

/// Validates and renders, then applies; a config the runtime would refuse, or a child the API
/// server refuses, blocks instead.
async fn render_and_apply(
    strategy: &TradingStrategy,
    context: &Context,
    namespace: &str,
    resolved: Resolved,
) -> Result<Progress, Error> {
    let progress = Progress {
        live: config::is_live(&resolved.account),
        broker_ready: broker_ready(&resolved.account),
        ..Progress::default()
    };
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
    let desired_revision = pod_inputs_revision(&rendered);
    match apply(context, namespace, &strategy.name_any(), rendered).await {
        Ok(workload) => Ok(Progress {
            workload,
            desired_revision,
            ..progress
        }),
        Err(error) => match error.as_blocker() {
            Some(blocker) => Ok(progress.blocked(blocker)),
            None => Err(error),
        },
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

/// The hash of the pod inputs now rendered: the revision the trader pods should run.
fn pod_inputs_revision(rendered: &Children) -> Option<String> {
    rendered
        .deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(INPUTS_HASH_ANNOTATION).cloned())
}

/// Applies every rendered child that differs from the live one and deletes the ones that must
/// not exist; returns the trader's rollout state. The independent children go side by side,
/// so a reconcile costs about one round trip of latency rather than one per child; the
/// workload goes after what its pods mount.
async fn apply(
    context: &Context,
    namespace: &str,
    name: &str,
    rendered: Children,
) -> Result<Workload, Error> {
    let names = render::names(name);
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
        deployment,
        disruption_budget,
        cycle,
    } = rendered;
    let first = futures::try_join!(
        apply.child(service_account),
        apply.child(role),
        apply.child(role_binding),
        apply.child(lease),
        apply.child(config),
        apply.child(credentials),
        apply.child(service),
        apply.optional(journal, &names.journal),
        // Earlier versions rendered a backup CronJob for a mode the runtime does not have.
        apply.absent::<CronJob>(&names.backup),
    )?;
    let mut writes = [
        first.0, first.1, first.2, first.3, first.4, first.5, first.6, first.7, first.8,
    ]
    .into_iter()
    .filter(|changed| *changed)
    .count();
    let mut count = |changed: bool| writes += usize::from(changed);
    let workload = match deployment {
        Some(deployment) => {
            count(apply.absent::<CronJob>(&names.cycle).await?);
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
            Workload::Scheduled
        }
    };
    count(apply.optional(disruption_budget, &names.deployment).await?);
    for _ in 0..writes {
        context.metrics.write(KIND, "child");
    }
    Ok(workload)
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

/// The finish step: the operator's part of the status, and Events for what changed.
async fn report(
    strategy: &TradingStrategy,
    context: &Context,
    progress: Progress,
) -> Result<(), Error> {
    let previous = strategy.status.as_ref();
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
            restart_at: strategy.spec.restart_at.clone(),
            backup_scheduled: status::backup_scheduled(strategy),
        },
        Timestamp::now(),
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
    .await
}
