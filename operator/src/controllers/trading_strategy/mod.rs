//! TradingStrategy → config Secret, credentials Secret, trader Deployment (or cycle CronJob),
//! metrics Service, journal PVC, backup CronJob, PodDisruptionBudget, ServiceAccount, Role,
//! RoleBinding and Lease.

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
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector as reflect, watcher};
use kube::{Resource, ResourceExt};

use self::render::{Inputs, STRATEGY_LABEL};
use self::status::{Blocker, Observation, Workload};
use super::children::{self, Outcome};
use super::meta::MANAGED_BY;
use super::pending::counted_controller;
use super::relevant::{relevant_changes, rendered_changes};
use super::{Context, Error, reconciled, requeue_after_error};
use super::{publish_transitions, write_status};
use crate::api::agent_pool::AgentPool;
use crate::api::broker_account::{Broker, BrokerAccount, CredentialsSecretReference};
use crate::api::common::condition_types::READY;
use crate::api::trading_strategy::JournalBackend;
use crate::api::trading_strategy::TradingStrategy;

const KIND: &str = "TradingStrategy";
/// Even with nothing changing, look again this often: cheap (reads only) and a guard
/// against a missed watch event.
const RESYNC: Duration = Duration::from_secs(300);

/// Runs the controller over `api` (one namespace or all) until shutdown.
pub async fn run(
    context: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = context.client.clone();
    let api = |client: kube::Client| -> Api<TradingStrategy> {
        match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        }
    };
    let owned = watcher::Config::default().labels(&format!(
        "app.kubernetes.io/managed-by={MANAGED_BY},{STRATEGY_LABEL}"
    ));
    let scoped = |client: kube::Client| -> (
        Api<BrokerAccount>,
        Api<AgentPool>,
        Api<PartialObjectMeta<Secret>>,
    ) {
        match namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client, ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client),
            ),
        }
    };
    let (accounts_api, pools_api, secrets_api) = scoped(client.clone());

    let (accounts, accounts_writer) = reflector::store::<BrokerAccount>();
    // A strategy reads an account's spec and its Ready condition, nothing else of its status.
    let account_events = relevant_changes(
        reflect(
            accounts_writer,
            watcher(accounts_api, watcher::Config::default()),
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

    let (controller, pending) = counted_controller(KIND, api(client.clone()), &context);
    let accounts_for_secrets = accounts.clone();

    macro_rules! owns_meta {
        ($controller:expr, $kind:ty, $filter:expr) => {{
            let api: Api<PartialObjectMeta<$kind>> = match namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let (pending, context) = (pending.clone(), context.clone());
            let scope = namespace.map(str::to_string);
            let events = watcher(api, owned.clone())
                .default_backoff()
                .inspect(move |event| context.children.observe(KIND, scope.as_deref(), event));
            $controller.owns_stream(
                ($filter)(events).inspect_ok(move |child| pending.touched_owners_of(child)),
            )
        }};
        ($controller:expr, $kind:ty) => {
            owns_meta!(
                $controller,
                $kind,
                |events| WatchStreamExt::touched_objects(events)
            )
        };
    }
    let controller = owns_meta!(controller, Secret);
    let controller = owns_meta!(controller, Deployment);
    let controller = owns_meta!(controller, Service);
    // The volume, CronJob and disruption controllers write these children's status, which
    // nothing here reads: only changes to what the operator renders wake the owner.
    let controller = owns_meta!(controller, PersistentVolumeClaim, rendered_changes);
    let controller = owns_meta!(controller, CronJob, rendered_changes);
    let controller = owns_meta!(controller, PodDisruptionBudget, rendered_changes);
    let controller = owns_meta!(controller, ServiceAccount);
    let controller = owns_meta!(controller, Role);
    let controller = owns_meta!(controller, RoleBinding);
    let controller = owns_meta!(controller, Lease);

    controller
        .watches_stream(account_events, {
            let pending = pending.clone();
            move |account: BrokerAccount| {
                pending.matching(account.namespace(), |s| {
                    s.spec.broker_account_ref.name == account.name_any()
                })
            }
        })
        .watches_stream(
            watcher(pools_api, watcher::Config::default())
                .default_backoff()
                .touched_objects(),
            {
                let pending = pending.clone();
                move |pool: AgentPool| {
                    pending.matching(pool.namespace(), |s| {
                        s.spec
                            .agent_pool_ref
                            .as_ref()
                            .is_some_and(|r| r.name == pool.name_any())
                    })
                }
            },
        )
        .watches_stream(
            watcher(secrets_api, watcher::Config::default())
                .default_backoff()
                .touched_objects(),
            {
                let pending = pending.clone();
                move |secret: PartialObjectMeta<Secret>| {
                    let name = secret.name_any();
                    let namespace = secret.namespace();
                    let accounts = accounts_for_secrets.state();
                    pending.matching(namespace.clone(), |s| {
                        secret_names(s, &accounts).contains(&name)
                    })
                }
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            move |strategy, context| {
                pending.started(&ObjectRef::from_obj(&*strategy));
                reconcile(strategy, context, accounts.clone())
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

/// Reads one key of a user's Secret. `Err` is a blocker naming what is missing.
async fn secret_value(
    secrets: &Api<Secret>,
    name: &str,
    key: &str,
    what: &str,
) -> Result<Result<Vec<u8>, Blocker>, Error> {
    let Some(secret) = secrets.get_opt(name).await? else {
        return Ok(Err(Blocker {
            reason: "SecretNotFound",
            message: format!("{what}: Secret {name} not found"),
        }));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.clone());
    let value = value.or_else(|| {
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| v.clone().into_bytes())
    });
    Ok(value.ok_or_else(|| Blocker {
        reason: "SecretKeyMissing",
        message: format!("{what}: Secret {name} has no key {key}"),
    }))
}

/// What the strategy references, read from the cluster. `Err(Blocker)` when something is
/// missing; the children stay as they are until it is fixed.
struct Resolved {
    account: BrokerAccount,
    credentials: BTreeMap<String, Vec<u8>>,
}

async fn resolve(
    strategy: &TradingStrategy,
    namespace: &str,
    context: &Context,
    accounts: &Store<BrokerAccount>,
) -> Result<Result<Resolved, Blocker>, Error> {
    let client = context.client.clone();
    let account_name = &strategy.spec.broker_account_ref.name;
    // The watched copy is as new as the event that queued this reconcile; an account the
    // store has not seen yet (the watch still listing, or just created) is read to be sure.
    let cached = accounts
        .get(&ObjectRef::new(account_name).within(namespace))
        .map(|account| (*account).clone());
    let account = match cached {
        Some(account) => Some(account),
        None => {
            Api::<BrokerAccount>::namespaced(client.clone(), namespace)
                .get_opt(account_name)
                .await?
        }
    };
    let Some(account) = account else {
        return Ok(Err(Blocker {
            reason: "BrokerAccountNotFound",
            message: format!(
                "brokerAccountRef: BrokerAccount {account_name} not found in namespace {namespace}"
            ),
        }));
    };
    if let Some(pool) = &strategy.spec.agent_pool_ref {
        let pools: Api<AgentPool> = Api::namespaced(client.clone(), namespace);
        if pools.get_metadata_opt(&pool.name).await?.is_none() {
            return Ok(Err(Blocker {
                reason: "AgentPoolNotFound",
                message: format!(
                    "agentPoolRef: AgentPool {} not found in namespace {namespace}",
                    pool.name
                ),
            }));
        }
    }

    let secrets: Api<Secret> = Api::namespaced(client, namespace);
    let mut credentials = BTreeMap::new();
    if account.spec.broker == Broker::Alpaca {
        let Some(reference) = &account.spec.credentials_secret_ref else {
            return Ok(Err(Blocker {
                reason: "CredentialsMissing",
                message: format!(
                    "BrokerAccount {account_name} is Alpaca but names no credentialsSecretRef"
                ),
            }));
        };
        let key_id_key = reference
            .key_id_key
            .as_deref()
            .unwrap_or(CredentialsSecretReference::DEFAULT_KEY_ID_KEY);
        let secret_key_key = reference
            .secret_key_key
            .as_deref()
            .unwrap_or(CredentialsSecretReference::DEFAULT_SECRET_KEY_KEY);
        let what = format!("BrokerAccount {account_name} credentials");
        match secret_value(&secrets, &reference.name, key_id_key, &what).await? {
            Ok(value) => credentials.insert(config::BROKER_KEY_ID.to_string(), value),
            Err(blocker) => return Ok(Err(blocker)),
        };
        match secret_value(&secrets, &reference.name, secret_key_key, &what).await? {
            Ok(value) => credentials.insert(config::BROKER_SECRET_KEY.to_string(), value),
            Err(blocker) => return Ok(Err(blocker)),
        };
    }
    if strategy.spec.agent_pool_ref.is_none() {
        for provider in &strategy.spec.providers {
            if let Some(reference) = &provider.api_key_secret_ref {
                let what = format!("providers[{}].apiKeySecretRef", provider.name);
                match secret_value(&secrets, &reference.name, &reference.key, &what).await? {
                    Ok(value) => credentials.insert(config::provider_key(&provider.name), value),
                    Err(blocker) => return Ok(Err(blocker)),
                };
            }
        }
    }
    if let Some(journal) = &strategy.spec.journal
        && journal.backend == JournalBackend::Postgres
        && let Some(postgres) = &journal.postgres
    {
        let reference = &postgres.url_secret_ref;
        match secret_value(
            &secrets,
            &reference.name,
            &reference.key,
            "journal.postgres.urlSecretRef",
        )
        .await?
        {
            Ok(value) => credentials.insert(config::JOURNAL_URL.to_string(), value),
            Err(blocker) => return Ok(Err(blocker)),
        };
    }
    Ok(Ok(Resolved {
        account,
        credentials,
    }))
}

/// One reconcile: resolve references, render, apply what differs, report.
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

    let mut blocker = None;
    let mut workload = Workload::Unknown;
    let mut desired_revision = None;
    let mut broker_ready = None;
    let mut live = false;
    match resolve(&strategy, &namespace, &context, &accounts).await? {
        Err(found) => blocker = Some(found),
        Ok(resolved) => {
            live = config::is_live(&resolved.account);
            broker_ready = resolved
                .account
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
                .map(|c| (c.status == "True", c.message.clone()));
            match config::render(&strategy, &resolved.account, &namespace) {
                Err(problem) => {
                    blocker = Some(Blocker {
                        reason: "InvalidConfiguration",
                        message: problem.to_string(),
                    })
                }
                Ok(runtime_config) => {
                    let inputs = Inputs {
                        runtime_config: &runtime_config,
                        credentials: resolved.credentials,
                        default_image: &context.settings.runtime_image,
                    };
                    let rendered =
                        render::render(&strategy, &inputs).map_err(|e| Error::Serialize {
                            what: "the runtime config",
                            source: serde_json::Error::io(std::io::Error::other(e.to_string())),
                        })?;
                    let (applied_workload, revision) =
                        apply_children(&context, &namespace, &name, rendered).await?;
                    workload = applied_workload;
                    desired_revision = revision;
                }
            }
        }
    }

    let previous = strategy.status.clone();
    let (status, observed) = status::compute(
        &Observation {
            generation: strategy.metadata.generation,
            previous: previous.as_ref(),
            blocker: blocker.clone(),
            broker_ready,
            workload: workload.clone(),
            suspended: strategy.spec.suspend == Some(true),
            live,
            desired_revision,
            restart_at: strategy.spec.restart_at.clone(),
        },
        Timestamp::now(),
    );
    let previous_view = previous
        .as_ref()
        .map(status::operator_view)
        .unwrap_or_default();
    if status != previous_view {
        write_status::<TradingStrategy>(&context, &namespace, &name, &status).await?;
    }
    let previous_conditions = previous.map(|s| s.conditions).unwrap_or_default();
    let reference = strategy.object_ref(&());
    publish_transitions(
        &context,
        &reference,
        "Reconcile",
        &previous_conditions,
        &observed,
    )
    .await;

    reconciled(&*strategy, &context);
    // Whatever is still settling (pods starting, a blocker being fixed) arrives through the
    // watches; the timed requeue is only the safety net.
    Ok(Action::requeue(RESYNC))
}

/// Applies every rendered child that differs from the live one and deletes the ones that
/// must not exist. Returns the trader's rollout state and the pod-inputs revision.
async fn apply_children(
    context: &Context,
    namespace: &str,
    name: &str,
    rendered: render::Children,
) -> Result<(Workload, Option<String>), Error> {
    let client = &context.client;
    let cache = &context.children;
    let names = render::names(name);
    // The children below are independent of each other: apply them side by side, so a
    // reconcile costs about one round trip of latency rather than one per child. The
    // Deployment goes last, after what its pods mount.
    macro_rules! ensure {
        ($child:expr) => {
            children::ensure_known(client, cache, KIND, namespace, $child)
        };
    }
    macro_rules! remove {
        ($kind:ty, $name:expr) => {
            children::remove_known::<$kind>(client, cache, KIND, namespace, $name)
        };
    }
    let journal = async {
        match rendered.journal {
            Some(pvc) => ensure!(pvc).await,
            None => remove!(PersistentVolumeClaim, &names.journal).await,
        }
    };
    let backup = async {
        match rendered.backup {
            Some(cronjob) => ensure!(cronjob).await,
            None => remove!(CronJob, &names.backup).await,
        }
    };
    let first = futures::try_join!(
        ensure!(rendered.service_account),
        ensure!(rendered.role),
        ensure!(rendered.role_binding),
        ensure!(rendered.lease),
        ensure!(rendered.config),
        ensure!(rendered.credentials),
        ensure!(rendered.service),
        journal,
        backup,
    )?;
    let mut writes = [
        first.0, first.1, first.2, first.3, first.4, first.5, first.6, first.7, first.8,
    ]
    .into_iter()
    .filter(|changed| *changed)
    .count();
    let mut count = |changed: bool| {
        if changed {
            writes += 1;
        }
    };
    let revision = rendered
        .deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(super::meta::INPUTS_HASH_ANNOTATION).cloned());
    let workload = match rendered.deployment {
        Some(deployment) => {
            count(remove!(CronJob, &names.cycle).await?);
            let outcome: Outcome<Deployment> =
                children::ensure(client, cache, KIND, namespace, deployment).await?;
            count(outcome.changed());
            Workload::from_deployment(outcome.object())
        }
        None => {
            count(remove!(Deployment, &names.deployment).await?);
            if let Some(cycle) = rendered.cycle {
                count(ensure!(cycle).await?);
            }
            Workload::Scheduled
        }
    };
    match rendered.disruption_budget {
        Some(pdb) => count(ensure!(pdb).await?),
        None => count(remove!(PodDisruptionBudget, &names.deployment).await?),
    }
    for _ in 0..writes {
        context.metrics.write(KIND, "child");
    }
    Ok((workload, revision))
}
