//! AgentPool → worker config Secret, provider-keys Secret, worker Deployment, Service,
//! PodDisruptionBudget and (with `spec.autoscaling`) HorizontalPodAutoscaler.

pub mod config;
pub mod render;
pub mod status;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use self::render::{Inputs, POOL_LABEL};
use self::status::{Blocker, Observation, Workload};
use super::children;
use super::meta::MANAGED_BY;
use super::pending::counted_controller;
use super::relevant::relevant_changes;
use super::trading_strategy::config::provider_key;
use super::{Context, Error, reconciled, requeue_after_error};
use super::{publish_transitions, write_status};
use crate::api::agent_pool::AgentPool;
use crate::api::trading_strategy::TradingStrategy;

const KIND: &str = "AgentPool";
/// Even with nothing changing, look again this often: cheap (reads only) and a guard
/// against a missed watch event.
const RESYNC: Duration = Duration::from_secs(300);

/// Runs the controller (one namespace or all) until shutdown.
pub async fn run(
    context: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = context.client.clone();
    let (pools_api, secrets_api, strategies_api): (
        Api<AgentPool>,
        Api<PartialObjectMeta<Secret>>,
        Api<TradingStrategy>,
    ) = match namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let owned = watcher::Config::default().labels(&format!(
        "app.kubernetes.io/managed-by={MANAGED_BY},{POOL_LABEL}"
    ));

    let (controller, pending) = counted_controller(KIND, pools_api, &context);

    macro_rules! owns_meta {
        ($controller:expr, $kind:ty) => {{
            let api: Api<PartialObjectMeta<$kind>> = match namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let (pending, context) = (pending.clone(), context.clone());
            let scope = namespace.map(str::to_string);
            $controller.owns_stream(
                watcher(api, owned.clone())
                    .default_backoff()
                    .inspect(move |event| context.children.observe(KIND, scope.as_deref(), event))
                    .touched_objects()
                    .inspect_ok(move |child| pending.touched_owners_of(child)),
            )
        }};
    }
    let controller = owns_meta!(controller, Secret);
    let controller = owns_meta!(controller, Deployment);
    let controller = owns_meta!(controller, Service);
    let controller = owns_meta!(controller, PodDisruptionBudget);
    let controller = owns_meta!(controller, HorizontalPodAutoscaler);

    controller
        // The user's key Secrets, by metadata only: a rotated key rolls the workers.
        .watches_stream(
            watcher(secrets_api, watcher::Config::default())
                .default_backoff()
                .touched_objects(),
            {
                let pending = pending.clone();
                move |secret: PartialObjectMeta<Secret>| {
                    let name = secret.name_any();
                    pending.matching(secret.namespace(), |pool| {
                        pool.spec.providers.iter().any(|p| {
                            p.api_key_secret_ref
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                        })
                    })
                }
            },
        )
        // A strategy starting or stopping to use a pool changes `boundStrategies` of the
        // pool it names now and of the one that lists it from before.
        .watches_stream(
            // Only which pool a strategy names matters here, not its status.
            relevant_changes(
                watcher(strategies_api, watcher::Config::default()).default_backoff(),
                |s: &TradingStrategy| s.spec.agent_pool_ref.as_ref().map(|r| r.name.clone()),
            ),
            {
                let pending = pending.clone();
                move |strategy: TradingStrategy| {
                    let name = strategy.name_any();
                    let pool = strategy
                        .spec
                        .agent_pool_ref
                        .as_ref()
                        .map(|r| r.name.clone());
                    pending.matching(strategy.namespace(), |candidate| {
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
                pending.started(&ObjectRef::from_obj(&*pool));
                reconcile(pool, context)
            },
            requeue_after_error,
            context,
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Reads the providers' API keys from the user's Secrets, by file name. `Err` is a blocker
/// naming the first thing missing; values never appear in it.
async fn resolve_keys(
    pool: &AgentPool,
    namespace: &str,
    context: &Context,
) -> Result<Result<BTreeMap<String, Vec<u8>>, Blocker>, Error> {
    let secrets: Api<Secret> = Api::namespaced(context.client.clone(), namespace);
    let mut keys = BTreeMap::new();
    for provider in &pool.spec.providers {
        let Some(reference) = &provider.api_key_secret_ref else {
            continue;
        };
        let what = format!("providers[{}].apiKeySecretRef", provider.name);
        let Some(secret) = secrets.get_opt(&reference.name).await? else {
            return Ok(Err(Blocker {
                reason: "SecretNotFound",
                message: format!("{what}: Secret {} not found", reference.name),
            }));
        };
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&reference.key))
            .map(|v| v.0.clone());
        let Some(value) = value else {
            return Ok(Err(Blocker {
                reason: "SecretKeyMissing",
                message: format!(
                    "{what}: Secret {} has no key {}",
                    reference.name, reference.key
                ),
            }));
        };
        keys.insert(provider_key(&provider.name), value);
    }
    Ok(Ok(keys))
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

    let mut blocker = None;
    let mut applied = Applied::default();
    match resolve_keys(&pool, &namespace, &context).await? {
        Err(found) => blocker = Some(found),
        Ok(keys) => match config::render(&pool, &namespace) {
            Err(problem) => {
                blocker = Some(Blocker {
                    reason: "InvalidConfiguration",
                    message: problem.to_string(),
                })
            }
            Ok(runtime_config) => {
                let inputs = Inputs {
                    runtime_config: &runtime_config,
                    keys,
                    default_image: &context.settings.runtime_image,
                };
                let rendered = render::render(&pool, &inputs).map_err(|e| Error::Serialize {
                    what: "the worker config",
                    source: serde_json::Error::io(std::io::Error::other(e.to_string())),
                })?;
                applied = apply_children(&context, &namespace, &name, rendered).await?;
            }
        },
    }
    if blocker.is_some() {
        // The workers of the last good rendering keep running; report them as they are.
        let deployments: Api<Deployment> = Api::namespaced(context.client.clone(), &namespace);
        if let Some(deployment) = deployments.get_opt(&render::names(&name).workload).await? {
            applied.workload = Workload::from_deployment(&deployment);
        }
    }

    let strategies: Api<TradingStrategy> = Api::namespaced(context.client.clone(), &namespace);
    let listed = strategies.list(&ListParams::default()).await?;

    let previous = pool.status.clone();
    let (new_status, observed) = status::compute(
        &Observation {
            generation: pool.metadata.generation,
            previous: previous.as_ref(),
            blocker: blocker.clone(),
            workload: applied.workload,
            autoscaler_desired: applied.autoscaler_desired,
            spec_replicas: pool
                .spec
                .autoscaling
                .is_none()
                .then(|| pool.spec.replicas.unwrap_or(1)),
            selector: render::selector(&name),
            bound_strategies: status::bound_strategies(&name, &listed.items),
        },
        Timestamp::now(),
    );
    if Some(&new_status) != previous.as_ref() {
        write_status::<AgentPool>(&context, &namespace, &name, &new_status).await?;
    }
    let previous_conditions = previous.map(|s| s.conditions).unwrap_or_default();
    let reference = pool.object_ref(&());
    publish_transitions(
        &context,
        &reference,
        "Reconcile",
        &previous_conditions,
        &observed,
    )
    .await;

    reconciled(&*pool, &context);
    Ok(Action::requeue(RESYNC))
}

/// Applies every rendered child that differs from the live one, and deletes the autoscaler
/// when autoscaling is off. Secrets first, so new pods find what they mount.
async fn apply_children(
    context: &Context,
    namespace: &str,
    name: &str,
    rendered: render::Children,
) -> Result<Applied, Error> {
    let client = &context.client;
    let cache = &context.children;
    let mut changed = vec![
        children::ensure_known(client, cache, KIND, namespace, rendered.keys).await?,
        children::ensure_known(client, cache, KIND, namespace, rendered.config).await?,
        children::ensure_known(client, cache, KIND, namespace, rendered.service).await?,
    ];
    let deployment = children::ensure(client, cache, KIND, namespace, rendered.deployment).await?;
    changed.push(deployment.changed());
    changed.push(
        children::ensure_known(client, cache, KIND, namespace, rendered.disruption_budget).await?,
    );
    let autoscaler_desired = match rendered.autoscaler {
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
