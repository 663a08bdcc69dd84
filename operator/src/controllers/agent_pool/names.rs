//! The names and labels of a pool's children: a leaf module (it imports no other step), so
//! the config, render, apply and report steps all read them without importing each other.

use crate::controllers::meta::{Component, child_name, selector_labels};
use crate::controllers::runtime_config::agent_pool_service;

/// The label naming the owning pool on every child.
pub const POOL_LABEL: &str = "tradeplane.io/agent-pool";

/// Names of the children. The workload objects share the Service's name, which strategies
/// know; the Secrets add a suffix to it.
pub struct Names {
    pub config: String,
    pub keys: String,
    pub workload: String,
    /// The spend ledger ConfigMap, and the workers' ServiceAccount, Role and RoleBinding.
    pub ledger: String,
}

pub fn names(pool: &str) -> Names {
    let workload = agent_pool_service(pool);
    Names {
        config: child_name(&workload, "config"),
        keys: child_name(&workload, "keys"),
        ledger: child_name(&workload, "llm-ledger"),
        workload,
    }
}

/// The label selector of the pool's worker pods, as the scale subresource and `kubectl`
/// expect it in `status.selector`: `key=value` pairs joined by commas.
pub fn selector(pool: &str) -> String {
    selector_labels(POOL_LABEL, pool, Component::Worker)
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}
