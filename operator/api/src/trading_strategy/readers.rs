//! Who may read a strategy's journal API: the people and accounts the operator binds to a
//! Role that reaches this one strategy's runtime port through the API server's service proxy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Subjects allowed to read this strategy's journal (`kubectl tradeplane status`, `journal`,
/// `explain`). The operator keeps a Role granting `get` on `services/proxy` for exactly one
/// resource name, `<strategy>-metrics:http-metrics` (the runtime's HTTP port of this
/// strategy's Service, the path the plugin uses) — and, when `rollout.strategy` is `Shadow`,
/// `<strategy>-shadow:http-metrics` too, the shadow's journal that `kubectl tradeplane rollout`
/// shows beside the live one — and a RoleBinding of it to these subjects. That port also serves the runtime's probes and metrics; it accepts reads only. Both go
/// with the strategy, and are removed when every list is empty. Reading the TradingStrategy
/// itself still needs `view` (or more) in the namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalReaders {
    /// Groups, as the cluster's authentication names them (e.g. an OIDC group claim).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 253)))]
    pub groups: Vec<String>,
    /// User names, as the cluster's authentication names them. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 253)))]
    pub users: Vec<String>,
    /// Names of ServiceAccounts in this strategy's namespace (e.g. a dashboard's).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 253), pattern(SERVICE_ACCOUNT_PATTERN))
    )]
    pub service_accounts: Vec<String>,
}

/// A ServiceAccount's name: a DNS-1123 subdomain.
pub const SERVICE_ACCOUNT_PATTERN: &str = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";

impl JournalReaders {
    /// Whether no subject is listed: then there is no Role and no RoleBinding.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.users.is_empty() && self.service_accounts.is_empty()
    }
}
