//! TradingStrategy → config Secret, credentials Secret, trader Deployment (or cycle CronJob),
//! metrics Service, journal PVC, PodDisruptionBudget, ServiceAccount, Role, RoleBinding and
//! Lease; with `spec.backup` or `spec.restore` also the [`backup`] children (backup CronJob
//! and Jobs, restore Job, backup volume, the backup ServiceAccount and Role).
//!
//! The pipeline: [`resolve`] what the strategy refers to → [`config`] renders and validates the
//! runtime config → [`render`] the children (pure) → apply, with the trader's pod template as
//! [`upgrade`] decides for Supervised strategies → [`leadership`] read from the watched Lease,
//! and [`leader_pod`] marks the leader's pod to be removed last → finish ([`reconcile`]).

pub mod apply;
pub mod backup;
pub mod config;
pub mod gates;
pub mod leader_pod;
pub mod leadership;
pub mod names;
pub mod pods;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod resolve;
pub mod shadow;
pub mod status;
pub mod upgrade;
pub mod validate;
pub mod watched;

#[cfg(test)]
mod gates_tests;
#[cfg(test)]
mod leadership_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector as reflect, watcher};

use self::leadership::LeaseHistory;
use self::names::STRATEGY_LABEL;
use super::feed::Feed;
use super::relevant::relevant_changes;
use super::scope::Scope;
use super::watches::{OwnedChildren, Wake, metadata_changes};
use super::{Context, requeue_after_error, wakeups};
use crate::api::agent_pool::AgentPool;
use crate::api::backtest::Backtest;
use crate::api::broker_account::BrokerAccount;
use crate::api::common::condition_types::READY;
use crate::api::trading_strategy::TradingStrategy;

const KIND: &str = "TradingStrategy";

/// Runs the controller (one namespace or all) until shutdown, on a strategy watch of its own.
pub async fn run(
    context: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let feed = Feed::start(Scope::new(namespace).api::<TradingStrategy>(&context.client));
    run_on(context, namespace, &feed, shutdown).await;
}

/// Runs the controller (one namespace or all) until shutdown, on `feed`: the one watch of the
/// strategies in `namespace` the operator shares with the BrokerAccount controller.
pub async fn run_on(
    context: Arc<Context>,
    namespace: Option<&str>,
    feed: &Feed<TradingStrategy>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let scope = Scope::new(namespace);
    let client = &context.client;
    let (accounts, account_events) = account_changes(client, &scope);

    let (controller, wakeups) = wakeups::controller_on(KIND, feed, &context);
    let children = OwnedChildren::new(&context, &scope, STRATEGY_LABEL, KIND, &wakeups);
    let controller = children.own::<Secret>(controller, Wake::OnAnyChange);
    // The trader's rollout, not every status write of the Deployment controller.
    let controller = children.own_deployments(controller);
    let controller = children.own::<Service>(controller, Wake::OnAnyChange);
    // The volume, CronJob and disruption controllers write these children's status, which
    // nothing here reads: only changes to what the operator renders wake the owner.
    let controller = children.own::<PersistentVolumeClaim>(controller, Wake::OnRenderedChange);
    let controller = children.own::<CronJob>(controller, Wake::OnRenderedChange);
    let controller = children.own::<PodDisruptionBudget>(controller, Wake::OnRenderedChange);
    let controller = children.own::<ServiceAccount>(controller, Wake::OnAnyChange);
    let controller = children.own::<Role>(controller, Wake::OnAnyChange);
    let controller = children.own::<RoleBinding>(controller, Wake::OnAnyChange);
    // The leader renews the Lease every second: only a new holder (below) or a change to
    // what the operator renders into it wakes the owner.
    let controller = children.own::<Lease>(controller, Wake::OnRenderedChange);
    let history = LeaseHistory::default();
    let (leases, lease_events) = lease_changes(client, &scope, &history);
    let (jobs, job_events) = backup::jobs(client, &scope);
    let (backtests, backtest_events) = backtest_changes(client, &scope);
    let watched = watched::Watched {
        accounts: accounts.clone(),
        leases,
        history,
        jobs,
        backtests,
        marks: leader_pod::LeaderMarks::default(),
    };

    let accounts_for_secrets = accounts.clone();
    let lease_owner = |lease: &Lease| lease.labels().get(STRATEGY_LABEL).cloned();
    controller
        .reconcile_on(leadership::expiries(watched.leases.clone(), lease_owner))
        .watches_stream(lease_events, {
            let wakeups = wakeups.clone();
            move |lease: Lease| {
                let owner = lease.labels().get(STRATEGY_LABEL).cloned();
                wakeups.matching(lease.namespace(), |s| Some(s.name_any()) == owner)
            }
        })
        // Backup and restore Jobs (a scheduled one is the CronJob's, not the strategy's), and
        // the reports their processes write into the status.
        .watches_stream(job_events, {
            let wakeups = wakeups.clone();
            move |job| {
                let owner = backup::job_owner(&job);
                wakeups.matching(job.namespace(), |s| Some(s.name_any()) == owner)
            }
        })
        .watches_stream(backup::report_changes(feed), {
            let wakeups = wakeups.clone();
            move |strategy: TradingStrategy| {
                wakeups.matching(strategy.namespace(), |s| {
                    s.name_any() == strategy.name_any()
                })
            }
        })
        // A Backtest of a strategy that completes (or records the revision it tested) may
        // meet its promotion gate.
        .watches_stream(backtest_events, {
            let wakeups = wakeups.clone();
            move |backtest: Backtest| {
                let target = backtest.spec.strategy_ref.as_ref().map(|r| r.name.clone());
                wakeups.matching(backtest.namespace(), |s| Some(s.name_any()) == target)
            }
        })
        .watches_stream(account_events, {
            let wakeups = wakeups.clone();
            move |account: BrokerAccount| {
                wakeups.matching(account.namespace(), |s| {
                    s.spec.broker_account_ref.name == account.name_any()
                })
            }
        })
        .watches_stream(
            watcher(scope.api::<AgentPool>(client), watcher::Config::default())
                .default_backoff()
                .touched_objects(),
            {
                let wakeups = wakeups.clone();
                move |pool: AgentPool| {
                    wakeups.matching(pool.namespace(), |s| {
                        s.spec
                            .agent_pool_ref
                            .as_ref()
                            .is_some_and(|r| r.name == pool.name_any())
                    })
                }
            },
        )
        .watches_stream(metadata_changes::<Secret>(&context, &scope), {
            let wakeups = wakeups.clone();
            move |secret: PartialObjectMeta<Secret>| {
                let name = secret.name_any();
                let accounts = accounts_for_secrets.state();
                wakeups.matching(secret.namespace(), |s| {
                    secret_names(s, &accounts).contains(&name)
                })
            }
        })
        .graceful_shutdown_on(shutdown)
        .run(
            move |strategy, context| {
                wakeups.started(&ObjectRef::from_obj(&*strategy));
                reconcile::reconcile(strategy, context, watched.clone())
            },
            requeue_after_error,
            context,
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Names of the user's Secrets a strategy reads (through its BrokerAccount too).
fn secret_names(strategy: &TradingStrategy, accounts: &[Arc<BrokerAccount>]) -> Vec<String> {
    let mut names: Vec<String> = strategy
        .spec
        .providers
        .iter()
        .filter_map(|p| p.api_key_secret_ref.as_ref().map(|r| r.name.clone()))
        .collect();
    if let Some(postgres) = strategy
        .spec
        .journal
        .as_ref()
        .and_then(|j| j.postgres.as_ref())
    {
        names.push(postgres.url_secret_ref.name.clone());
    }
    if let Some(account) = accounts.iter().find(|a| {
        a.namespace() == strategy.namespace()
            && a.name_any() == strategy.spec.broker_account_ref.name
    }) && let Some(reference) = &account.spec.credentials_secret_ref
    {
        names.push(reference.name.clone());
    }
    names
}

/// The Backtests in `scope`, as a store and a stream of the changes a promotion gate reads:
/// the revision tested, the conditions and the runs' phases.
fn backtest_changes(
    client: &kube::Client,
    scope: &Scope,
) -> (
    Store<Backtest>,
    impl futures::Stream<Item = Result<Backtest, watcher::Error>> + Send + 'static,
) {
    let (backtests, writer) = reflector::store::<Backtest>();
    let events = relevant_changes(
        reflect(
            writer,
            watcher(scope.api::<Backtest>(client), watcher::Config::default())
                .modify(|b: &mut Backtest| b.metadata.managed_fields = None),
        )
        .default_backoff(),
        |backtest: &Backtest| {
            backtest.status.as_ref().map(|s| {
                (
                    s.strategy_revision.clone(),
                    s.conditions
                        .iter()
                        .map(|c| (c.type_.clone(), c.status.clone()))
                        .collect::<Vec<_>>(),
                )
            })
        },
    );
    (backtests, events)
}

/// The BrokerAccounts in `scope`, as a store and a stream of the changes a strategy reads: an
/// account's spec and its Ready condition, nothing else of its status.
fn account_changes(
    client: &kube::Client,
    scope: &Scope,
) -> (
    Store<BrokerAccount>,
    impl futures::Stream<Item = Result<BrokerAccount, watcher::Error>> + Send + 'static,
) {
    let (accounts, writer) = reflector::store::<BrokerAccount>();
    let events = relevant_changes(
        reflect(
            writer,
            watcher(
                scope.api::<BrokerAccount>(client),
                watcher::Config::default(),
            ),
        )
        .default_backoff(),
        |account: &BrokerAccount| {
            let ready = account
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
            (
                account.metadata.generation,
                ready.map(|c| (c.status.clone(), c.message.clone())),
            )
        },
    );
    (accounts, events)
}

/// The strategies' Leases in `scope`, as a store and a stream of new holders, each event also
/// remembered in `history`. The leader renews the Lease every second: only a new holder (or a
/// transition count) is news. The store keeps one Lease per strategy for the life of the
/// process, without the field-ownership records nothing reads. Public for the reconcile
/// benchmark, which weighs this store.
pub fn lease_changes(
    client: &kube::Client,
    scope: &Scope,
    history: &LeaseHistory,
) -> (
    Store<Lease>,
    impl futures::Stream<Item = Result<Lease, watcher::Error>> + Send + 'static,
) {
    let (leases, writer) = reflector::store::<Lease>();
    let history = history.clone();
    let events = relevant_changes(
        reflect(
            writer,
            watcher(
                scope.api::<Lease>(client),
                watcher::Config::default().labels(STRATEGY_LABEL),
            )
            .modify(|lease: &mut Lease| lease.metadata.managed_fields = None),
        )
        .default_backoff()
        .inspect(move |event| {
            if let Ok(event) = event {
                history.observe(event);
            }
        }),
        |lease: &Lease| {
            lease
                .spec
                .as_ref()
                .map(|s| (s.holder_identity.clone(), s.lease_transitions))
        },
    );
    (leases, events)
}
