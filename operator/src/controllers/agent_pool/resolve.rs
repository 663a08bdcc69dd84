//! The dereference step of a pool: the providers' API keys, read from the user's Secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::api::agent_pool::AgentPool;
use crate::controllers::runtime_config::provider_key;
use crate::controllers::{Context, Error, Step, secrets};

/// Reads the providers' API keys from the user's Secrets, by file name; blocked on the first
/// thing missing (values never appear in the message).
pub async fn resolve_keys(
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
