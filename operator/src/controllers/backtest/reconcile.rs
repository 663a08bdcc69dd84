//! One reconcile of a Backtest, the steps in order: resolve (the Job, and the strategy
//! `strategyRef` names) → [`validate`] → [`render`] (pure) → apply → report the status
//! ([`status`], pure). Only resolve, apply and report touch the API.
//!
//! A backtest is started once: when its Job exists, its runs are fixed (the spec is immutable,
//! and a later edit of the referenced strategy must not change runs under way), so the
//! reconcile only reports.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::render::{self, Children};
use super::status::{self, Observation};
use super::validate::{self, ValidBacktest};
use super::{KIND, data_api};
use crate::api::backtest::{Backtest, RankBy};
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::finish::{Report, finish};
use crate::controllers::{Blocker, Context, Error, RESYNC, children};

/// One reconcile: start the runs unless started, then report.
pub async fn reconcile(backtest: Arc<Backtest>, context: Arc<Context>) -> Result<Action, Error> {
    let _timer = context.metrics.reconcile_started(KIND);
    let name = backtest.name_any();
    let namespace = backtest.namespace().ok_or_else(|| Error::NoNamespace {
        kind: KIND,
        name: name.clone(),
    })?;
    if backtest.metadata.deletion_timestamp.is_some() {
        // Owner references take the Job, its pods and the ConfigMap with it.
        return Ok(Action::await_change());
    }
    let jobs: Api<Job> = Api::namespaced(context.client.clone(), &namespace);
    let job_name = render::names(&name).job;
    let mut job = jobs
        .get_opt(&job_name)
        .await
        .map_err(|source| Error::apply::<Job>(&job_name, source))?;
    let mut blocker = None;
    let mut plan = Plan::of(&backtest);
    if job.is_none() {
        match start(&backtest, &context, &namespace).await? {
            Ok((valid, started, revision)) => {
                plan = Plan::from_valid(&valid);
                plan.strategy_revision = revision;
                job = Some(started);
            }
            Err(found) => blocker = Some(found),
        }
    }
    report(&backtest, &context, blocker, job.as_ref(), &plan).await?;
    Ok(Action::requeue(RESYNC))
}

/// What the report needs of the validated spec; read from the spec when the runs already
/// started (the count from the Job).
struct Plan {
    total_runs: Option<usize>,
    /// The referenced strategy's decision revision, when this reconcile started the runs.
    strategy_revision: Option<String>,
    rank_by: RankBy,
    keep_best: usize,
}

impl Plan {
    fn of(backtest: &Backtest) -> Self {
        let sweep = backtest.spec.sweep.clone().unwrap_or_default();
        Self {
            total_runs: None,
            strategy_revision: None,
            rank_by: sweep.rank_by.unwrap_or_default(),
            keep_best: sweep
                .keep_best
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(validate::DEFAULT_KEEP_BEST),
        }
    }

    fn from_valid(valid: &ValidBacktest) -> Self {
        Self {
            total_runs: Some(valid.runs.len()),
            strategy_revision: None,
            rank_by: valid.rank_by,
            keep_best: valid.keep_best,
        }
    }
}

/// Resolves, validates, renders and applies; the Job as created with the tested strategy
/// revision ([`strategy_revision`]), or what blocks it.
async fn start(
    backtest: &Backtest,
    context: &Context,
    namespace: &str,
) -> Result<Result<(ValidBacktest, Job, Option<String>), Blocker>, Error> {
    let referenced = match &backtest.spec.strategy_ref {
        Some(reference) => Api::<TradingStrategy>::namespaced(context.client.clone(), namespace)
            .get_opt(&reference.name)
            .await
            .map_err(|source| Error::resolve("the TradingStrategy of strategyRef", source))?,
        None => None,
    };
    let account = match &backtest.spec.data.api {
        Some(api) => Api::<BrokerAccount>::namespaced(context.client.clone(), namespace)
            .get_opt(&api.broker_account_ref.name)
            .await
            .map_err(|source| Error::resolve("the BrokerAccount of data.api", source))?,
        None => None,
    };
    let mut valid = match validate::validate(
        backtest,
        referenced.as_ref(),
        namespace,
        &context.settings.runtime_image,
    ) {
        Ok(valid) => valid,
        Err(blocker) => return Ok(Err(blocker)),
    };
    match data_api::check(backtest, account.as_ref()) {
        Ok(access) => valid.attach_api(access),
        Err(blocker) => return Ok(Err(blocker)),
    }
    let rendered = match render::render(backtest, &valid) {
        Ok(rendered) => rendered,
        Err(problem) => return Ok(Err(Blocker::new("InvalidSweep", problem.to_string()))),
    };
    let revision = match &referenced {
        Some(strategy) if backtest.spec.sweep.is_none() => {
            strategy_revision(context, namespace, strategy, &valid.image).await?
        }
        _ => None,
    };
    match apply(context, namespace, rendered).await {
        Ok(job) => Ok(Ok((valid, job, revision))),
        Err(error) => match error.as_blocker() {
            Some(blocker) => Ok(Err(blocker)),
            None => Err(error),
        },
    }
}

/// The decision revision `strategy`'s spec has as it stands, run with `image`
/// ([`validate::tested_revision`]); `None` when its BrokerAccount is missing.
async fn strategy_revision(
    context: &Context,
    namespace: &str,
    strategy: &TradingStrategy,
    image: &str,
) -> Result<Option<String>, Error> {
    let account_name = &strategy.spec.broker_account_ref.name;
    let account = Api::<BrokerAccount>::namespaced(context.client.clone(), namespace)
        .get_opt(account_name)
        .await
        .map_err(|source| Error::resolve("the BrokerAccount of the strategyRef", source))?;
    Ok(account.and_then(|account| validate::tested_revision(strategy, &account, namespace, image)))
}

/// The runs' configs, results ConfigMaps and identity first, so the pods find what they
/// mount, write and use.
async fn apply(context: &Context, namespace: &str, rendered: Children) -> Result<Job, Error> {
    let (client, cache) = (&context.client, &context.children);
    children::ensure_known(client, cache, KIND, namespace, rendered.runs).await?;
    for map in rendered.results {
        children::ensure_known(client, cache, KIND, namespace, map).await?;
    }
    children::ensure_known(client, cache, KIND, namespace, rendered.service_account).await?;
    children::ensure_known(client, cache, KIND, namespace, rendered.role).await?;
    children::ensure_known(client, cache, KIND, namespace, rendered.role_binding).await?;
    let job = children::ensure(client, cache, KIND, namespace, rendered.job).await?;
    Ok(job.object().clone())
}

async fn report(
    backtest: &Backtest,
    context: &Context,
    blocker: Option<Blocker>,
    job: Option<&Job>,
    plan: &Plan,
) -> Result<(), Error> {
    let previous = backtest.status.as_ref();
    let total_runs = plan
        .total_runs
        .or_else(|| {
            job.and_then(|j| j.spec.as_ref())
                .and_then(|s| s.completions)
                .and_then(|n| usize::try_from(n).ok())
        })
        .or_else(|| {
            previous
                .and_then(|s| s.total_runs)
                .and_then(|n| usize::try_from(n).ok())
        })
        .unwrap_or(0);
    let (status, observed) = status::compute(
        &Observation {
            generation: backtest.metadata.generation,
            previous,
            strategy_revision: plan.strategy_revision.clone(),
            blocker,
            total_runs,
            job: job.and_then(|j| j.status.as_ref()),
            rank_by: plan.rank_by,
            keep_best: plan.keep_best,
            sweep: backtest.spec.sweep.as_ref(),
        },
        Timestamp::now(),
    );
    finish(
        context,
        Report {
            object: backtest,
            status,
            previous: previous.map(status::operator_part),
            previous_conditions: previous
                .map(|s| s.conditions.as_slice())
                .unwrap_or_default(),
            observed: &observed,
            action: "Reconcile",
            succeeded: true,
        },
    )
    .await
}
