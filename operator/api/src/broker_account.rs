//! `BrokerAccount`: where a strategy's orders go, with which credentials and within which limits.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{NAME_PATTERN, SECRET_KEY_PATTERN, SYMBOL_PATTERN, URL_PATTERN};

/// A brokerage account that TradingStrategies place orders with. Paper accounts are simulated
/// inside each strategy's runtime; Alpaca accounts are verified by the operator against the
/// broker's account endpoint before any strategy may use them.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "tradeplane.io",
    version = "v1alpha1",
    kind = "BrokerAccount",
    namespaced,
    status = "BrokerAccountStatus",
    shortname = "ba",
    category = "trading",
    category = "tradeplane",
    doc = "A brokerage account that TradingStrategies place orders with: the broker, paper or live environment, credentials and account-wide limits.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Broker", type_ = "string", json_path = ".spec.broker"),
    printcolumn(
        name = "Environment",
        type_ = "string",
        json_path = ".status.environment",
        description = "Paper or Live: the environment in effect (Paper when spec.environment is unset)"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Equity", type_ = "string", json_path = ".status.equity"),
    printcolumn(
        name = "Strategies",
        type_ = "integer",
        json_path = ".status.boundStrategyCount"
    ),
    printcolumn(
        name = "Verified",
        type_ = "date",
        json_path = ".status.lastVerifiedTime",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.environment) || self.environment != 'Live' || (has(self.liveTradingAcknowledged) && self.liveTradingAcknowledged)").message("liveTradingAcknowledged must be true to use the Live environment: live trading places real orders").reason(Reason::FieldValueForbidden).field_path(".liveTradingAcknowledged"),
    validation = Rule::new("self.broker == 'Paper' || has(self.credentialsSecretRef)").message("credentialsSecretRef is required for broker Alpaca").reason(Reason::FieldValueRequired).field_path(".credentialsSecretRef"),
    validation = Rule::new("self.broker != 'Paper' || !has(self.environment) || self.environment == 'Paper'").message("environment must be Paper for the Paper broker").reason(Reason::FieldValueInvalid).field_path(".environment"),
    validation = Rule::new("self.broker == 'Paper' || !has(self.paper)").message("paper settings apply only to broker Paper").reason(Reason::FieldValueForbidden).field_path(".paper"),
)]
pub struct BrokerAccountSpec {
    /// The broker: `Paper` (simulated inside the runtime, no credentials) or `Alpaca` (an
    /// Alpaca-compatible REST API). Immutable: a journal's orders belong to one broker.
    #[x_kube(validation = Rule::new("self == oldSelf").message("broker is immutable; create a new BrokerAccount instead").reason(Reason::FieldValueForbidden))]
    pub broker: Broker,
    /// `Paper` (default): no real money moves. `Live`: real orders with real money; requires
    /// `liveTradingAcknowledged: true`. Must be `Paper` for the `Paper` broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The explicit opt-in to live trading. Must be true when `environment` is `Live`; has no
    /// effect otherwise. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_trading_acknowledged: Option<bool>,
    /// Overrides the broker's API base URL, e.g. for an Alpaca-compatible gateway. Default: the
    /// broker's own paper or live URL, chosen by `environment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(URL_PATTERN))]
    pub endpoint: Option<String>,
    /// The Secret with the API credentials. Required for `Alpaca`; no default. Its keys are
    /// mounted into strategy pods as files and never copied into status, events or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<CredentialsSecretReference>,
    /// Account-wide limits that every strategy using this account obeys, on top of its own.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<AccountLimits>,
    /// Settings of the simulated `Paper` broker; forbidden for other brokers. Default: 100000
    /// starting cash, no commission, no slippage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<PaperSettings>,
}

/// A brokerage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Broker {
    /// Simulated fills inside each strategy's runtime.
    Paper,
    /// An Alpaca-compatible REST API.
    Alpaca,
}

// Paper money or real money. (A plain comment: kube copies an enum's doc over the doc of the
// optional field it fills, which states the default.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Environment {
    /// No real money moves.
    #[default]
    Paper,
    /// Real orders with real money.
    Live,
}

/// The Secret holding broker credentials, and which keys hold what.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretReference {
    /// Name of the Secret, in this BrokerAccount's namespace.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub name: String,
    /// Key holding the API key id. Default `APCA_API_KEY_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key_id_key: Option<String>,
    /// Key holding the API secret key. Default `APCA_API_SECRET_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub secret_key_key: Option<String>,
}

impl CredentialsSecretReference {
    pub const DEFAULT_KEY_ID_KEY: &'static str = "APCA_API_KEY_ID";
    pub const DEFAULT_SECRET_KEY_KEY: &'static str = "APCA_API_SECRET_KEY";

    pub fn key_id_key(&self) -> &str {
        self.key_id_key
            .as_deref()
            .unwrap_or(Self::DEFAULT_KEY_ID_KEY)
    }

    pub fn secret_key_key(&self) -> &str {
        self.secret_key_key
            .as_deref()
            .unwrap_or(Self::DEFAULT_SECRET_KEY_KEY)
    }
}

/// Limits enforced by every strategy's risk manager before an order leaves the runtime.
/// Absent limits do not apply (every limit's default is off). Amounts are in the account's
/// currency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountLimits {
    /// Largest notional value (quantity × price) of a single order. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 1e12))]
    pub max_order_notional: Option<f64>,
    /// Largest notional value of the position in any one symbol. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 1e12))]
    pub max_position_notional: Option<f64>,
    /// Loss since the start of the UTC day at which a strategy halts trading. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 1e12))]
    pub max_daily_loss: Option<f64>,
    /// Only these symbols may be traded through this account. Default: empty, any symbol.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500), inner(pattern(SYMBOL_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_symbols: Vec<String>,
    /// Orders per rolling minute, per strategy. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_orders_per_minute: Option<u32>,
}

/// The simulated broker's book-keeping.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaperSettings {
    /// Cash each strategy starts with. Default 100000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 1e12))]
    pub starting_cash: Option<f64>,
    /// Commission per fill, in basis points of the fill's notional (1 bp = 0.01%). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub commission_bps: Option<f64>,
    /// Slippage against the trader, in basis points of the price. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub slippage_bps: Option<f64>,
}

/// What the operator last saw of the account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerAccountStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// For display only: `Pending`, `Verifying`, `Ready` or `Failed`. Use conditions in
    /// automation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// `Ready` sums up; `CredentialsValid` says whether the broker accepted the credentials;
    /// `Reconciling` and `Stalled` follow kstatus.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::common::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// When the broker last accepted the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
    /// The environment in effect, `Paper` or `Live`: `spec.environment`, or `Paper` when it is
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Account equity as a decimal string: for Alpaca, what the broker reported at the last
    /// verification; for the simulated Paper broker, which keeps one book per strategy, the
    /// sum of the bound strategies' equity as their runtimes last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equity: Option<String>,
    /// TradingStrategies that reference this account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bound_strategies: Vec<String>,
    /// Number of entries in `boundStrategies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_strategy_count: Option<i32>,
}

/// Condition types of a BrokerAccount besides the common ones.
pub mod condition_types {
    /// The broker accepted the credentials (always true for `Paper`).
    pub const CREDENTIALS_VALID: &str = "CredentialsValid";
}
