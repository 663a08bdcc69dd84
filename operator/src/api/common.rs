//! Types shared by more than one kind: references, the analyst and provider specs that both an
//! AgentPool and an in-process TradingStrategy use, and the condition list.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A DNS-1123 subdomain, the shape of most Kubernetes object names.
pub const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A key in a Secret's data.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
/// A ticker such as `AAPL`, `BRK.B` or a pair such as `BTC/USD`.
pub const SYMBOL_PATTERN: &str = r"^[A-Z0-9]{1,12}([./-][A-Z0-9]{1,12})?$";
/// An IANA time zone name such as `UTC`, `Europe/London` or `America/New_York`.
pub const TIME_ZONE_PATTERN: &str = r"^([A-Za-z]+(/[A-Za-z0-9_+-]+){0,2}|UTC|Etc/[A-Za-z0-9+-]+)$";
/// A five-field cron expression (minute hour day-of-month month day-of-week); the runtime and
/// the CronJob controller parse it fully, the schema checks its shape.
pub const CRON_PATTERN: &str = r"^(\S+\s+){4}\S+$";
/// An http or https URL.
pub const URL_PATTERN: &str = r"^https?://[^\s/$.?#][^\s]*$";

/// A reference to an object of a known kind in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the referenced object, in this object's namespace.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub name: String,
}

/// A key in a Secret in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyReference {
    /// Name of the Secret, in this object's namespace.
    #[schemars(length(min = 1, max = 253), pattern(NAME_PATTERN))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    pub key: String,
}

/// Where an analyst's opinion comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProviderKind {
    /// A chat completions API in OpenAI's wire format (OpenAI, Azure OpenAI, vLLM, Ollama, ...).
    OpenAICompatible,
    /// Deterministic quantitative rules computed in the runtime; needs no key and costs nothing.
    Rules,
}

/// An LLM or rules provider that analysts can use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.kind != 'OpenAICompatible' || has(self.baseURL)").message("baseURL is required when kind is OpenAICompatible").reason(Reason::FieldValueRequired).field_path(".baseURL")
)]
pub struct ProviderSpec {
    /// Name analysts use to refer to this provider, e.g. `openai` or `local-llama`.
    #[schemars(length(min = 1, max = 63), pattern(NAME_PATTERN))]
    pub name: String,
    /// `OpenAICompatible` for an LLM API, `Rules` for the built-in quantitative agents.
    pub kind: ProviderKind,
    /// Base URL of the API, including the version path, e.g. `https://api.openai.com/v1`.
    /// Required for `OpenAICompatible`.
    #[serde(rename = "baseURL", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(URL_PATTERN))]
    pub base_url: Option<String>,
    /// The Secret key holding the API key, sent as a Bearer token. Optional for local servers
    /// that need none. The key is mounted into the pods as a file; it never appears in the
    /// rendered configuration, logs, status or events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyReference>,
    /// Requests per minute one replica may send to this provider. Unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub requests_per_minute: Option<u32>,
    /// Spend limit per UTC day and replica, in US dollars, computed from token usage and the
    /// prices below. Once spent the provider is not called again that day (fails closed) and
    /// analysts fall back as configured. Unlimited when absent.
    #[serde(
        rename = "dailyBudgetUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0.0, max = 1000000.0))]
    pub daily_budget_usd: Option<f64>,
    /// Price per million input (prompt) tokens in US dollars. Default 0.
    #[serde(
        rename = "inputPricePerMillionUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub input_price_per_million_usd: Option<f64>,
    /// Price per million output (completion) tokens in US dollars. Default 0.
    #[serde(
        rename = "outputPricePerMillionUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub output_price_per_million_usd: Option<f64>,
    /// Per-request timeout in seconds. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: Option<u32>,
}

/// The quantitative method a `Rules` analyst applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum QuantMethod {
    /// Moving-average crossover.
    Trend,
    /// RSI and MACD.
    Momentum,
    /// Bollinger bands and z-score.
    MeanReversion,
    /// ATR regime: scales conviction rather than picking a side.
    Volatility,
}

/// What an LLM analyst reports when no provider can answer within budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FallbackPolicy {
    /// Report a neutral signal with zero confidence, so the seat does not sway the decision.
    Hold,
    /// Report what the seat's `method` computes instead (requires `method`).
    Rules,
}

/// One analyst seat: a role, and who fills it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.fallback) || self.fallback != 'Rules' || has(self.method)").message("method is required when fallback is Rules").reason(Reason::FieldValueRequired).field_path(".method")
)]
pub struct AnalystSpec {
    /// The seat's name, e.g. `technical`, `sentiment`, `fundamentals`; it selects the built-in
    /// prompt for LLM analysts and labels reports and metrics.
    #[schemars(length(min = 1, max = 63), pattern(NAME_PATTERN))]
    pub role: String,
    /// Names of providers from `providers`, tried in this order: the next is used when one
    /// fails or has spent its budget.
    #[schemars(
        length(min = 1, max = 8),
        inner(length(min = 1, max = 63), pattern(NAME_PATTERN))
    )]
    pub providers: Vec<String>,
    /// Model name sent to an `OpenAICompatible` provider, e.g. `gpt-4o-mini`. Required unless
    /// every provider listed is of kind `Rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub model: Option<String>,
    /// Quantitative method for `Rules` providers and for the `Rules` fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<QuantMethod>,
    /// Sampling temperature for LLM analysts, 0–2. Default 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Replaces the built-in system prompt of this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16384))]
    pub system_prompt: Option<String>,
    /// How much this seat counts in the decision, relative to the others, 0–10. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub weight: Option<f64>,
    /// What the seat reports when no provider can answer: `Hold` (default) or `Rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackPolicy>,
}

/// Where pods may run, as in a PodSpec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    /// Node labels a pod requires, as `spec.nodeSelector` of a Pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate, as `spec.tolerations` of a Pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
    /// Affinity rules, as `spec.affinity` of a Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<k8s_openapi::api::core::v1::Affinity>,
    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub priority_class_name: Option<String>,
}

/// Condition types every kind reports.
pub mod condition_types {
    /// The object is doing what its spec asks.
    pub const READY: &str = "Ready";
    /// The operator is working towards the spec (kstatus).
    pub const RECONCILING: &str = "Reconciling";
    /// Progress is blocked until something changes (kstatus).
    pub const STALLED: &str = "Stalled";
}
