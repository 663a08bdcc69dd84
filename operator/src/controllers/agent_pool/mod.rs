//! AgentPool → worker config Secret, provider-keys Secret, worker Deployment, Service,
//! PodDisruptionBudget and (with `spec.autoscaling`) HorizontalPodAutoscaler.
//!
//! The same pipeline as the strategy's, one module per step: [`resolve`] the key Secrets →
//! [`validate`] the workers' config ([`config`]) → [`render`] the children (pure) → [`apply`]
//! → [`report`] the status ([`status`], pure); [`reconcile`] runs them in order, and [`run`]
//! (here) wires the controller's watches.

pub mod apply;
pub mod config;
pub mod names;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod resolve;
pub mod scale;
pub mod status;
pub mod validate;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};

use self::names::POOL_LABEL;
use super::relevant::relevant_changes;
use super::scope::Scope;
use super::watches::{OwnedChildren, Wake, metadata_changes};
use super::{Context, requeue_after_error, wakeups};
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
                reconcile::reconcile(pool, context)
            },
            requeue_after_error,
            context,
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}
