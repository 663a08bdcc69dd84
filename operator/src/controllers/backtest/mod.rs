//! Backtest → runs ConfigMap, run ServiceAccount/Role/RoleBinding and one Indexed Job of
//! `agent-runtime backtest`.
//!
//! The same pipeline as the other kinds, one module per step: resolve (the referenced
//! strategy, the Job) → [`validate`] (the sweep, [`sweep`], and every run's runtime config,
//! rendered by the strategy's own renderer) → [`render`] the children (pure) → apply →
//! report the status ([`status`], pure); [`reconcile`] runs them in order, and [`run`] (here)
//! wires the controller's watches. The runs report their own results into the status.

pub mod data_api;
pub mod reconcile;
pub mod render;
pub mod status;
pub mod sweep;
pub mod validate;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};

use super::relevant::relevant_changes;
use super::scope::Scope;
use super::watches::{OwnedChildren, Wake};
use super::{Context, requeue_after_error, wakeups};
use crate::api::backtest::Backtest;

const KIND: &str = "Backtest";
/// The label naming the Backtest on each of its children.
pub const BACKTEST_LABEL: &str = "tradeplane.io/backtest";

/// Runs the controller (one namespace or all) until shutdown.
pub async fn run(
    context: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let scope = Scope::new(namespace);
    let client = &context.client;
    let (controller, wakeups) = wakeups::controller(KIND, scope.api::<Backtest>(client), &context);
    let children = OwnedChildren::new(&context, &scope, BACKTEST_LABEL, KIND, &wakeups);
    let controller = children.own::<Job>(controller, Wake::OnAnyChange);
    let controller = children.own::<ConfigMap>(controller, Wake::OnAnyChange);
    let controller = children.own::<ServiceAccount>(controller, Wake::OnAnyChange);
    let controller = children.own::<Role>(controller, Wake::OnAnyChange);
    let controller = children.own::<RoleBinding>(controller, Wake::OnAnyChange);
    controller
        // A run reporting its result changes only the status, which the main watch ignores:
        // the runs' entries wake the reconcile that aggregates them.
        .watches_stream(
            relevant_changes(
                watcher(scope.api::<Backtest>(client), watcher::Config::default())
                    .default_backoff(),
                |b: &Backtest| {
                    b.status.as_ref().map(|s| {
                        s.runs
                            .iter()
                            .map(|r| (r.index, format!("{:?}", r.phase)))
                            .collect::<Vec<_>>()
                    })
                },
            ),
            |backtest: Backtest| Some(ObjectRef::from_obj(&backtest)),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            move |backtest, context| {
                wakeups.started(&ObjectRef::from_obj(&*backtest));
                reconcile::reconcile(backtest, context)
            },
            requeue_after_error,
            context,
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}
