//! The resolve step of a strategy's reconcile: the BrokerAccount and AgentPool it names and
//! the credentials it copies from the user's Secrets. The only reads of the pipeline.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::agent_pool::AgentPool;
use crate::api::broker_account::{Broker, BrokerAccount, CredentialsSecretReference};
use crate::api::trading_strategy::{JournalBackend, TradingStrategy};
use crate::controllers::error::{Blocker, Error, Step};
use crate::controllers::runtime_config::{
    BROKER_KEY_ID, BROKER_SECRET_KEY, JOURNAL_URL, provider_key,
};
use crate::controllers::{Context, secrets};

/// What the strategy references, read from the cluster.
pub struct Resolved {
    pub account: BrokerAccount,
    /// The contents of the strategy's credentials Secret, by key.
    pub credentials: BTreeMap<String, Vec<u8>>,
}

/// Reads everything the strategy refers to; blocked when something is missing (the children
/// then stay as they are until it is fixed).
pub async fn resolve(
    strategy: &TradingStrategy,
    namespace: &str,
    context: &Context,
    accounts: &Store<BrokerAccount>,
) -> Result<Step<Resolved>, Error> {
    let account = match account(strategy, namespace, context, accounts).await? {
        Step::Ready(account) => account,
        Step::Blocked(blocker) => return Ok(Step::Blocked(blocker)),
    };
    if let Step::Blocked(blocker) = pool_exists(strategy, namespace, context).await? {
        return Ok(Step::Blocked(blocker));
    }
    let secrets: Api<Secret> = Api::namespaced(context.client.clone(), namespace);
    let mut credentials = BTreeMap::new();
    for wanted in wanted_credentials(strategy, &account) {
        let wanted = match wanted {
            Ok(wanted) => wanted,
            Err(blocker) => return Ok(Step::Blocked(blocker)),
        };
        match secrets::read_key(&secrets, &wanted.secret, &wanted.key, &wanted.what).await? {
            Step::Ready(value) => credentials.insert(wanted.file, value),
            Step::Blocked(blocker) => return Ok(Step::Blocked(blocker)),
        };
    }
    Ok(Step::Ready(Resolved {
        account,
        credentials,
    }))
}

/// The BrokerAccount. The watched copy is as new as the event that queued this reconcile; an
/// account the store has not seen yet (the watch still listing, or just created) is read.
async fn account(
    strategy: &TradingStrategy,
    namespace: &str,
    context: &Context,
    accounts: &Store<BrokerAccount>,
) -> Result<Step<BrokerAccount>, Error> {
    let name = &strategy.spec.broker_account_ref.name;
    let cached = accounts
        .get(&ObjectRef::new(name).within(namespace))
        .map(|account| (*account).clone());
    let account = match cached {
        Some(account) => Some(account),
        None => Api::<BrokerAccount>::namespaced(context.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|source| Error::resolve(format!("BrokerAccount {name}"), source))?,
    };
    Ok(match account {
        Some(account) => Step::Ready(account),
        None => Step::Blocked(Blocker::new(
            "BrokerAccountNotFound",
            format!("brokerAccountRef: BrokerAccount {name} not found in namespace {namespace}"),
        )),
    })
}

async fn pool_exists(
    strategy: &TradingStrategy,
    namespace: &str,
    context: &Context,
) -> Result<Step<()>, Error> {
    let Some(pool) = &strategy.spec.agent_pool_ref else {
        return Ok(Step::Ready(()));
    };
    let found = Api::<AgentPool>::namespaced(context.client.clone(), namespace)
        .get_metadata_opt(&pool.name)
        .await
        .map_err(|source| Error::resolve(format!("AgentPool {}", pool.name), source))?;
    Ok(match found {
        Some(_) => Step::Ready(()),
        None => Step::Blocked(Blocker::new(
            "AgentPoolNotFound",
            format!(
                "agentPoolRef: AgentPool {} not found in namespace {namespace}",
                pool.name
            ),
        )),
    })
}

/// One key the strategy copies from a user's Secret into its credentials Secret.
struct WantedKey {
    secret: String,
    key: String,
    /// The key (and file name) in the strategy's credentials Secret.
    file: String,
    /// The referring field, for messages.
    what: String,
}

/// Every key to copy, in the order they are read; a blocker for an Alpaca account without a
/// credentials reference.
fn wanted_credentials(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
) -> Vec<Result<WantedKey, Blocker>> {
    let mut wanted = Vec::new();
    let account_name = account.metadata.name.clone().unwrap_or_default();
    if account.spec.broker == Broker::Alpaca {
        match &account.spec.credentials_secret_ref {
            None => wanted.push(Err(Blocker::new(
                "CredentialsMissing",
                format!("BrokerAccount {account_name} is Alpaca but names no credentialsSecretRef"),
            ))),
            Some(reference) => {
                let what = format!("BrokerAccount {account_name} credentials");
                let keys = [
                    (
                        reference.key_id_key.as_deref(),
                        CredentialsSecretReference::DEFAULT_KEY_ID_KEY,
                        BROKER_KEY_ID,
                    ),
                    (
                        reference.secret_key_key.as_deref(),
                        CredentialsSecretReference::DEFAULT_SECRET_KEY_KEY,
                        BROKER_SECRET_KEY,
                    ),
                ];
                for (key, default, file) in keys {
                    wanted.push(Ok(WantedKey {
                        secret: reference.name.clone(),
                        key: key.unwrap_or(default).to_string(),
                        file: file.to_string(),
                        what: what.clone(),
                    }));
                }
            }
        }
    }
    if strategy.spec.agent_pool_ref.is_none() {
        for provider in &strategy.spec.providers {
            if let Some(reference) = &provider.api_key_secret_ref {
                wanted.push(Ok(WantedKey {
                    secret: reference.name.clone(),
                    key: reference.key.clone(),
                    file: provider_key(&provider.name),
                    what: format!("providers[{}].apiKeySecretRef", provider.name),
                }));
            }
        }
    }
    if let Some(journal) = &strategy.spec.journal
        && journal.backend == JournalBackend::Postgres
        && let Some(postgres) = &journal.postgres
    {
        wanted.push(Ok(WantedKey {
            secret: postgres.url_secret_ref.name.clone(),
            key: postgres.url_secret_ref.key.clone(),
            file: JOURNAL_URL.to_string(),
            what: "journal.postgres.urlSecretRef".to_string(),
        }));
    }
    wanted
}
