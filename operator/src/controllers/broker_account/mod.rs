//! BrokerAccount → a verdict on its credentials, and the strategies bound to it.
//!
//! A BrokerAccount has no children: each strategy copies the credentials it needs into its
//! own Secret. What this controller adds is trust: for `Alpaca` it reads the credentials
//! Secret, asks the broker's account endpoint whether it accepts them, and reports the answer
//! (`CredentialsValid`, `Ready`, `lastVerifiedTime`, `equity`), which strategies show as
//! their `BrokerReady`. It asks again every [`verify::REVERIFY_EVERY`], when the Secret or the
//! spec changes, and after a transient failure with backoff — but not on every reconcile:
//! the last answer is remembered in memory (see [`verify::Verification`]).

pub mod reconcile;
pub mod report;
pub mod resolve;
pub mod status;
pub mod validate;
pub mod verify;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};

use self::verify::Verification;
use super::feed::Feed;
use super::scope::Scope;
use super::watches::metadata_changes;
use super::{Context, Error, requeue_after_error, wakeups};
use crate::api::broker_account::{Broker, BrokerAccount};
use crate::api::trading_strategy::TradingStrategy;

const KIND: &str = "BrokerAccount";

/// The shared context plus what only this controller needs: an HTTP client for the broker
/// (one connection pool for every account) and the last verification of each account.
pub struct AccountContext {
    pub shared: Arc<Context>,
    http: reqwest::Client,
    verifications: Mutex<HashMap<ObjectRef<BrokerAccount>, Verification>>,
    /// The controller's cache of accounts, to forget verifications of deleted ones.
    accounts: Option<Store<BrokerAccount>>,
}

impl AccountContext {
    pub fn new(shared: Arc<Context>, accounts: Option<Store<BrokerAccount>>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(verify::REQUEST_TIMEOUT)
            .timeout(verify::REQUEST_TIMEOUT)
            .user_agent(concat!("tradeplane-operator/", env!("CARGO_PKG_VERSION")))
            .build()
            // Building fails only when the TLS backend cannot initialise; the default client
            // then fails each request with a clear message instead of the operator panicking.
            .unwrap_or_default();
        Self {
            shared,
            http,
            verifications: Mutex::new(HashMap::new()),
            accounts,
        }
    }

    fn remembered(&self, account: &ObjectRef<BrokerAccount>) -> Option<Verification> {
        let mut verifications = self
            .verifications
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(store) = &self.accounts {
            verifications.retain(|key, _| store.get(key).is_some());
        }
        verifications.get(account).cloned()
    }

    fn remember(&self, account: ObjectRef<BrokerAccount>, verification: Option<Verification>) {
        let mut verifications = self
            .verifications
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match verification {
            Some(verification) => verifications.insert(account, verification),
            None => verifications.remove(&account),
        };
    }
}

/// Runs the controller (one namespace or all) until shutdown, on a strategy watch of its own.
pub async fn run(
    context: Arc<Context>,
    namespace: Option<&str>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let feed = Feed::start(Scope::new(namespace).api::<TradingStrategy>(&context.client));
    run_on(context, namespace, &feed, shutdown).await;
}

/// Runs the controller (one namespace or all) until shutdown, following the strategies in
/// `namespace` through `feed`, the watch the TradingStrategy controller runs on.
pub async fn run_on(
    context: Arc<Context>,
    namespace: Option<&str>,
    feed: &Feed<TradingStrategy>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let scope = Scope::new(namespace);
    let (controller, wakeups) =
        wakeups::controller(KIND, scope.api::<BrokerAccount>(&context.client), &context);
    let wakeups_for_secrets = wakeups.clone();
    let wakeups_for_strategies = wakeups.clone();
    let secret_changes = metadata_changes::<Secret>(&context, &scope);
    let accounts = controller.store();
    let account_context = Arc::new(AccountContext::new(context, Some(accounts)));

    controller
        // Only the metadata of Secrets: the controller reads the one it needs when it
        // reconciles, and keeps no copy of every Secret's contents in memory.
        .watches_stream(secret_changes, move |secret: PartialObjectMeta<Secret>| {
            let name = secret.name_any();
            wakeups_for_secrets.matching(secret.namespace(), |account| {
                account
                    .spec
                    .credentials_secret_ref
                    .as_ref()
                    .is_some_and(|r| r.name == name)
            })
        })
        // A strategy binding, unbinding or moving to another account changes `boundStrategies`
        // of the account it names now and of the one that lists it from before; a change of
        // its reported equity changes the equity of a Paper account it is bound to.
        .watches_stream(
            feed.subscribe(|s: &TradingStrategy| {
                let equity = s.status.as_ref().and_then(|s| s.equity.clone());
                (s.spec.broker_account_ref.name.clone(), equity)
            }),
            move |strategy: TradingStrategy| {
                let name = strategy.name_any();
                let account = strategy.spec.broker_account_ref.name.clone();
                wakeups_for_strategies.matching(strategy.namespace(), |candidate| {
                    let lists = candidate
                        .status
                        .as_ref()
                        .is_some_and(|s| s.bound_strategies.contains(&name));
                    if candidate.name_any() == account {
                        // A broker account already listing the strategy learns nothing from
                        // its equity: it is not woken for every cycle of every strategy.
                        !lists || candidate.spec.broker == Broker::Paper
                    } else {
                        lists
                    }
                })
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(
            move |account, context| {
                wakeups.started(&ObjectRef::from_obj(&*account));
                reconcile::reconcile(account, context)
            },
            error_policy,
            account_context,
        )
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn error_policy(
    account: Arc<BrokerAccount>,
    error: &Error,
    context: Arc<AccountContext>,
) -> Action {
    requeue_after_error(account, error, context.shared.clone())
}
