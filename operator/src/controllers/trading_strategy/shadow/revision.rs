//! The decision-relevant revision: the hash of what decides which orders a strategy places
//! — the image, its analysts and providers (models, prompts, quant parameters), the decision
//! and risk settings — and of nothing else. A change of it is what a shadow analyses; any
//! other change (a restart, resources, the trading state, rotated keys) is not a new way of
//! deciding and rolls as before.

use tradeplane_contract::config::RuntimeConfig;

use crate::controllers::meta::content_hash;

/// The decision revision of pods running `image` with `config`.
pub fn decision_revision(image: &str, config: &RuntimeConfig) -> String {
    // Serializing these plain config types cannot fail (string keys, finite numbers).
    let part = |value: serde_json::Result<Vec<u8>>| value.unwrap_or_default();
    let parts = [
        image.as_bytes().to_vec(),
        part(serde_json::to_vec(&config.analysts)),
        part(serde_json::to_vec(&config.providers)),
        part(serde_json::to_vec(&config.agent_pool)),
        part(serde_json::to_vec(&config.llm_daily_budget_usd)),
        part(serde_json::to_vec(&config.decision)),
        part(serde_json::to_vec(&config.risk)),
    ];
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    content_hash(&parts)
}
