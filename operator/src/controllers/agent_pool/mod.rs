//! AgentPool → worker config Secret, provider-keys Secret, worker Deployment, Service,
//! PodDisruptionBudget and (with `spec.autoscaling`) HorizontalPodAutoscaler.

pub mod config;
pub mod render;
pub mod status;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};

use self::render::{Children, Inputs, POOL_LABEL};
use self::status::{Observation, Workload};
use super::finish::{Report, finish};
use super::relevant::relevant_changes;
use super::runtime_config::provider_key;
use super::scope::Scope;
use super::watches::{OwnedChildren, Wake, metadata_changes};
use super::{
    Blocker, Context, Error, RESYNC, Step, children, monitoring, requeue_after_error, secrets,
    wakeups,
};
use crate::api::agent_pool::AgentPool;
use crate::api::trading_strategy::TradingStrategy;

const KIND: &str = "AgentPool";

/// Runs the controller (one namespace or all) until shutdown.
pub async fn run(
    context: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let scope = Scope::new(namespace);
    let client = &context.client;
    let (controller, wakeups) = wakeups::controller(KIND, scope.api::<AgentPool>(client), &context);
    let children = OwnedChildren::new(&context, &scope, POOL_LABEL, KIND, &wakeups);
    let controller = children.own::<Secret>(controller, Wake::OnAnyChange);
    let controller = children.own::<Deployment>(controller, Wake::OnAnyChange);
    let controller = children.own::<Service>(controller, Wake::OnAnyChange);
    let controller = children.own::<PodDisruptionBudget>(controller, Wake::OnAnyChange);
    let controller = children.own::<HorizontalPodAutoscaler>(controller, Wake::OnAnyChange);
    let controller = children.own::<ServiceAccount>(controller, Wake::OnAnyChange);
    let controller = children.own::<Role>(controller, Wake::OnAnyChange);
    let controller = children.own::<RoleBinding>(controller, Wake::OnAnyChange);
    // Every publication by a worker changes the ledger: the status shows the spend.
    let controller = children.own::<ConfigMap>(controller, Wake::OnAnyChange);

    controller
        // The user's key Secrets, by metadata only: a rotated key rolls the workers.
        .watches_stream(metadata_changes::<Secret>(&context, &scope), {
            let wakeups = wakeups.clone();
            move |secret: PartialObjectMeta<Secret>| {
                let name = secret.name_any();
                wakeups.matching(secret.namespace(), |pool| {
                    pool.spec.providers.iter().any(|p| {
                        p.api_key_secret_ref
                            .as_ref()
                            .is_some_and(|r| r.name == name)
                    })
                })
            }
        })
        // A strategy starting or stopping to use a pool changes `boundStrategies` of the
        // pool it names now and of the one that lists it from before.
        .watches_stream(
            // Only which pool a strategy names matters here, not its status.
            relevant_changes(
                watcher(
                    scope.api::<TradingStrategy>(client),
                    watcher::Config::default(),
                )
                .default_backoff(),
                |s: &TradingStrategy| s.spec.agent_pool_ref.as_ref().map(|r| r.name.clone()),
            ),
            {
                let wakeups = wakeups.clone();
                move |strategy: TradingStrategy| {
                    let name = strategy.name_any();
                    let pool = strategy
                        .spec
                        .agent_pool_ref
                        .as_ref()
                        .map(|r| r.name.clone());
                    wakeups.matching(strategy.namespace(), |candidate| {
                        pool.as_deref() == Some(candidate.name_any().as_str())
                            || candidate
                                .status
                                .as_ref()
                                .is_some_and(|s| s.bound_strategies.contains(&name))
                    })
                }
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            move |pool, context| {
                wakeups.started(&ObjectRef::from_obj(&*pool));
                reconcile(pool, context)
            },
            requeue_after_error,
            context,
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Reads the providers' API keys from the user's Secrets, by file name; blocked on the first
/// thing missing (values never appear in the message).
async fn resolve_keys(
    pool: &AgentPool,
    namespace: &str,
    context: &Context,
) -> Result<Step<BTreeMap<String, Vec<u8>>>, Error> {
    let secrets: Api<Secret> = Api::namespaced(context.client.clone(), namespace);
    let mut keys = BTreeMap::new();
    for provider in &pool.spec.providers {
        let Some(reference) = &provider.api_key_secret_ref else {
            continue;
        };
        let what = format!("providers[{}].apiKeySecretRef", provider.name);
        match secrets::read_key(&secrets, &reference.name, &reference.key, &what).await? {
            Step::Ready(value) => keys.insert(provider_key(&provider.name), value),
            Step::Blocked(blocker) => return Ok(Step::Blocked(blocker)),
        };
    }
    Ok(Step::Ready(keys))
}

/// What applying the children left behind, for the status.
#[derive(Default)]
struct Applied {
    workload: Workload,
    autoscaler_desired: Option<i32>,
}

/// One reconcile: resolve the keys, render, apply what differs, report.
pub async fn reconcile(pool: Arc<AgentPool>, context: Arc<Context>) -> Result<Action, Error> {
    let _timer = context.metrics.reconcile_started(KIND);
    let name = pool.name_any();
    let namespace = pool.namespace().ok_or_else(|| Error::NoNamespace {
        kind: KIND,
        name: name.clone(),
    })?;
    if pool.metadata.deletion_timestamp.is_some() {
        // Owner references take the children with it.
        return Ok(Action::await_change());
    }

    let (blocker, applied) = match resolve_keys(&pool, &namespace, &context).await? {
        Step::Blocked(blocker) => (Some(blocker), None),
        Step::Ready(keys) => match render_and_apply(&pool, &context, &namespace, keys).await? {
            Step::Blocked(blocker) => (Some(blocker), None),
            Step::Ready(applied) => (None, Some(applied)),
        },
    };
    let applied = match applied {
        Some(applied) => applied,
        // The workers of the last good rendering keep running; report them as they are.
        None => Applied {
            workload: live_workload(&context, &namespace, &name).await?,
            autoscaler_desired: None,
        },
    };
    let strategies: Api<TradingStrategy> = Api::namespaced(context.client.clone(), &namespace);
    let listed = strategies
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::resolve("the namespace's TradingStrategies", source))?;

    let ledger_name = render::names(&name).ledger;
    let ledger = Api::<ConfigMap>::namespaced(context.client.clone(), &namespace)
        .get_opt(&ledger_name)
        .await
        .map_err(|source| Error::resolve("the pool's spend ledger", source))?;
    let spend = status::provider_spend(
        &pool,
        &ledger.and_then(|l| l.data).unwrap_or_default(),
        chrono::Utc::now().date_naive(),
    );

    let alerts = monitoring::reconcile(
        &context,
        KIND,
        &*pool,
        render::alerts::render(&pool),
        render::alerts::names(&name),
        pool.status
            .as_ref()
            .and_then(|s| monitoring::previous_reason(&s.conditions)),
    )
    .await?;
    let requeue = alerts
        .recheck()
        .map_or(RESYNC, |recheck| recheck.min(RESYNC));

    let previous = pool.status.as_ref();
    let (status, observed) = status::compute(
        &Observation {
            generation: pool.metadata.generation,
            previous,
            blocker,
            workload: applied.workload,
            autoscaler_desired: applied.autoscaler_desired,
            spec_replicas: pool
                .spec
                .autoscaling
                .is_none()
                .then(|| pool.spec.replicas.unwrap_or(1)),
            selector: render::selector(&name),
            bound_strategies: status::bound_strategies(&name, &listed.items),
            spend,
            alerts: alerts
                .condition(pool.spec.alerting.is_some() || status::mentions_alerts(previous)),
        },
        Timestamp::now(),
    );
    finish(
        &context,
        Report {
            object: &*pool,
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
    Ok(Action::requeue(requeue))
}

/// Validates and renders the workers' config and children, then applies them; a config the
/// workers would refuse, or a child the API server refuses, blocks instead.
async fn render_and_apply(
    pool: &AgentPool,
    context: &Context,
    namespace: &str,
    keys: BTreeMap<String, Vec<u8>>,
) -> Result<Step<Applied>, Error> {
    let runtime_config = match config::render(pool, namespace) {
        Ok(runtime_config) => runtime_config,
        Err(problem) => {
            return Ok(Step::Blocked(Blocker::new(
                "InvalidConfiguration",
                problem.to_string(),
            )));
        }
    };
    let inputs = Inputs {
        runtime_config: &runtime_config,
        keys,
        default_image: &context.settings.runtime_image,
    };
    let rendered = render::render(pool, &inputs).map_err(|source| Error::Render {
        what: "the pool's children",
        source,
    })?;
    match apply_children(context, namespace, &pool.name_any(), rendered).await {
        Ok(applied) => Ok(Step::Ready(applied)),
        Err(error) => match error.as_blocker() {
            Some(blocker) => Ok(Step::Blocked(blocker)),
            None => Err(error),
        },
    }
}

/// The worker Deployment as it runs, when the children could not be rendered.
async fn live_workload(context: &Context, namespace: &str, name: &str) -> Result<Workload, Error> {
    let deployments: Api<Deployment> = Api::namespaced(context.client.clone(), namespace);
    let workload = render::names(name).workload;
    let live = deployments
        .get_opt(&workload)
        .await
        .map_err(|source| Error::apply::<Deployment>(&workload, source))?;
    Ok(live
        .map(|deployment| Workload::from_deployment(&deployment))
        .unwrap_or_default())
}

/// Applies every rendered child that differs from the live one, and deletes the autoscaler
/// when autoscaling is off. Secrets first, so new pods find what they mount.
async fn apply_children(
    context: &Context,
    namespace: &str,
    name: &str,
    rendered: Children,
) -> Result<Applied, Error> {
    let client = &context.client;
    let cache = &context.children;
    let Children {
        config,
        keys,
        deployment,
        service,
        disruption_budget,
        autoscaler,
        ledger,
        account,
        role,
        role_binding,
    } = rendered;
    // The ledger and the identity before the pods that use them.
    let mut changed = vec![
        children::ensure_known(client, cache, KIND, namespace, ledger).await?,
        children::ensure_known(client, cache, KIND, namespace, account).await?,
        children::ensure_known(client, cache, KIND, namespace, role).await?,
        children::ensure_known(client, cache, KIND, namespace, role_binding).await?,
        children::ensure_known(client, cache, KIND, namespace, keys).await?,
        children::ensure_known(client, cache, KIND, namespace, config).await?,
        children::ensure_known(client, cache, KIND, namespace, service).await?,
    ];
    let deployment = children::ensure(client, cache, KIND, namespace, deployment).await?;
    changed.push(deployment.changed());
    changed.push(children::ensure_known(client, cache, KIND, namespace, disruption_budget).await?);
    let autoscaler_desired = match autoscaler {
        Some(autoscaler) => {
            let outcome = children::ensure(client, cache, KIND, namespace, autoscaler).await?;
            changed.push(outcome.changed());
            status::autoscaler_desired(outcome.object())
        }
        None => {
            let workload = render::names(name).workload;
            changed.push(
                children::remove_known::<HorizontalPodAutoscaler>(
                    client, cache, KIND, namespace, &workload,
                )
                .await?,
            );
            None
        }
    };
    for _ in changed.iter().filter(|c| **c) {
        context.metrics.write(KIND, "child");
    }
    Ok(Applied {
        workload: Workload::from_deployment(deployment.object()),
        autoscaler_desired,
    })
}
