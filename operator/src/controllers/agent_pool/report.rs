//! The update_status step of a pool: the strategies bound to it, today's spend from its
//! ledger, its alerts, and the status computed from them (pure, in `status`) and written only
//! when it changed.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::KIND;
use super::apply::Applied;
use super::names;
use super::render;
use super::scale::Scale;
use super::status::{self, Observation};
use crate::api::agent_pool::AgentPool;
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::finish::{Report, finish};
use crate::controllers::{Blocker, Context, Error, RESYNC, monitoring};

/// Reports the pool's status; returns when to look again (an alerts recheck, or the resync).
pub async fn report(
    pool: &AgentPool,
    context: &Context,
    namespace: &str,
    blocker: Option<Blocker>,
    applied: Applied,
) -> Result<std::time::Duration, Error> {
    let name = pool.name_any();
    let strategies: Api<TradingStrategy> = Api::namespaced(context.client.clone(), namespace);
    let listed = strategies
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::resolve("the namespace's TradingStrategies", source))?;

    let ledger_name = names::names(&name).ledger;
    let ledger = Api::<ConfigMap>::namespaced(context.client.clone(), namespace)
        .get_opt(&ledger_name)
        .await
        .map_err(|source| Error::resolve("the pool's spend ledger", source))?;
    let spend = status::provider_spend(
        pool,
        &ledger.and_then(|l| l.data).unwrap_or_default(),
        chrono::Utc::now().date_naive(),
    );

    let alerts = monitoring::reconcile(
        context,
        KIND,
        pool,
        render::alerts::render(pool),
        render::alerts::names(&name),
        pool.status
            .as_ref()
            .and_then(|s| monitoring::previous_reason(&s.conditions)),
    )
    .await?;

    let previous = pool.status.as_ref();
    let (status, observed) = status::compute(
        &Observation {
            generation: pool.metadata.generation,
            previous,
            blocker,
            workload: applied.workload,
            autoscaler_desired: applied.autoscaler_desired,
            spec_replicas: Scale::of(&pool.spec).fixed(),
            selector: names::selector(&name),
            bound_strategies: status::bound_strategies(&name, &listed.items),
            spend,
            alerts: alerts
                .condition(pool.spec.alerting.is_some() || status::mentions_alerts(previous)),
        },
        Timestamp::now(),
    );
    finish(
        context,
        Report {
            object: pool,
            status,
            previous: previous.cloned(),
            previous_conditions: previous
                .map(|s| s.conditions.as_slice())
                .unwrap_or_default(),
            observed: &observed,
            action: "Reconcile",
            succeeded: true,
        },
    )
    .await?;
    Ok(alerts
        .recheck()
        .map_or(RESYNC, |recheck| recheck.min(RESYNC)))
}
