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
/// The CEL rule that a time zone exists: CEL's timestamp functions take a zone name and fail on
/// one the API server's time zone database does not know (`Mars/Olympus`), which refuses the
/// object at admission. The pattern only checks the shape.
pub const TIME_ZONE_RULE: &str = "timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0";
/// The message of [`TIME_ZONE_RULE`]; the API server adds the zone it did not know.
pub const TIME_ZONE_MESSAGE: &str = "must be an IANA time zone such as America/New_York";
/// One cron field whose single values match `$value`: `*` or a value or range, with an optional
/// `/step`, in a comma-separated list.
macro_rules! cron_field {
    ($value:literal) => {
        concat!(
            r"(\*|",
            $value,
            "(-",
            $value,
            r")?)(/[0-9]{1,2})?",
            r"(,(\*|",
            $value,
            "(-",
            $value,
            r")?)(/[0-9]{1,2})?)*"
        )
    };
}

/// A five-field cron expression: minute (0–59), hour (0–23), day of month (1–31 or `?`), month
/// (1–12 or `JAN`–`DEC`) and day of week (0–7 or `SUN`–`SAT`, or `?`), each a list of values,
/// ranges and `*`, optionally with a `/step`. The CronJob controller and the runtime parse it
/// fully; the schema rejects anything that is not of this shape.
pub const CRON_PATTERN: &str = concat!(
    r"^",
    cron_field!("[0-5]?[0-9]"),
    r"\s+",
    cron_field!("([01]?[0-9]|2[0-3])"),
    r"\s+(\?|",
    cron_field!("([1-9]|[12][0-9]|3[01])"),
    r")\s+",
    cron_field!("([1-9]|1[0-2]|[A-Za-z]{3})"),
    r"\s+(\?|",
    cron_field!("([0-7]|[A-Za-z]{3})"),
    r")$"
);
/// A Kubernetes quantity without a sign, such as `500m`, `2`, `128Mi`, `1Gi` or `1e3`.
pub const QUANTITY_PATTERN: &str = r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
/// An http or https URL.
pub const URL_PATTERN: &str = r"^https?://[^\s/$.?#][^\s]*$";

// Container image references, in the grammar of github.com/distribution/reference, which
// containerd and the kubelet parse them with: a name, then an optional `:tag` and an optional
// `@digest`. The pieces are macros so that the patterns below can be spelled out with
// `concat!` (and so appear whole in the CRDs and the chart's schema).

/// A repository name: an optional registry host (DNS-like components of letters, digits and
/// inner `-`, which covers IPv4 addresses and `localhost`, or an `[IPv6]` address) with an
/// optional `:port`, followed by `/`; then path components of lower-case letters and digits,
/// separated within a component by `.`, `_`, `__` or a run of `-`, joined by `/`.
macro_rules! image_name {
    () => {
        concat!(
            r"(",
            r"(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])",
            r"(:[0-9]+)?/)?",
            r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*"
        )
    };
}
/// A tag: a letter, digit or `_`, then up to 127 of those, `.` and `-`.
macro_rules! image_tag {
    () => {
        r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
    };
}
/// A digest of an algorithm a container runtime verifies, with its length of lower-case hex
/// (the grammar allows any algorithm, but the runtime then refuses to pull an unknown one).
macro_rules! image_digest {
    () => {
        r"(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})"
    };
}

/// A whole reference: a name, an optional `:tag` and an optional `@digest`, anchored.
macro_rules! image_reference {
    () => {
        concat!(
            "^",
            image_name!(),
            "(:",
            image_tag!(),
            ")?(@",
            image_digest!(),
            ")?$"
        )
    };
}

/// A repository name alone (the chart's `repository` values), e.g.
/// `ghcr.io/tradeplane/agent-runtime`.
pub const IMAGE_NAME_PATTERN: &str = concat!("^", image_name!(), "$");
/// A tag alone, e.g. `0.1.0`.
pub const IMAGE_TAG_PATTERN: &str = concat!("^", image_tag!(), "$");
/// A digest alone, e.g. `sha256:` and 64 hex digits.
pub const IMAGE_DIGEST_PATTERN: &str = concat!("^", image_digest!(), "$");
/// A whole image reference: name, optional `:tag`, optional `@digest`.
pub const IMAGE_REFERENCE_PATTERN: &str = image_reference!();
/// The CEL rule that a string is an image reference. A rule rather than a `pattern`: the API
/// server's message for a pattern quotes the pattern, which here would tell a reader little.
pub const IMAGE_RULE: &str = concat!("self.matches(r'", image_reference!(), "')");
/// The message of [`IMAGE_RULE`]; the API server adds the value it refused.
pub const IMAGE_MESSAGE: &str = "must be an image reference such as registry.example.com/team/agent-runtime:v1.2 or ghcr.io/tradeplane/agent-runtime@sha256:<64 hex digits>: an optional registry host[:port]/, a lower-case repository path, an optional :tag and an optional @digest";
/// The CEL rule that a reference's name (registry host and path, what precedes the tag and
/// digest) is at most 255 characters, as container runtimes require.
pub const IMAGE_NAME_LENGTH_RULE: &str = concat!("size(self.find(r'^", image_name!(), "')) <= 255");
/// The message of [`IMAGE_NAME_LENGTH_RULE`].
pub const IMAGE_NAME_LENGTH_MESSAGE: &str = "the image's repository name (registry host and path, before any :tag or @digest) must be at most 255 characters";

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
    validation = Rule::new("self.kind != 'OpenAICompatible' || has(self.baseURL)").message("baseURL is required when kind is OpenAICompatible").reason(Reason::FieldValueRequired).field_path(".baseURL"),
    validation = Rule::new("self.kind != 'Rules' || (!has(self.baseURL) && !has(self.apiKeySecretRef))").message("baseURL and apiKeySecretRef apply only to kind OpenAICompatible").reason(Reason::FieldValueForbidden).field_path(".baseURL"),
)]
pub struct ProviderSpec {
    /// Name analysts use to refer to this provider, e.g. `openai` or `local-llama`.
    #[schemars(length(min = 1, max = 63), pattern(NAME_PATTERN))]
    pub name: String,
    /// `OpenAICompatible` for an LLM API, `Rules` for the built-in quantitative agents.
    pub kind: ProviderKind,
    /// Base URL of the API, including the version path, e.g. `https://api.openai.com/v1`.
    /// Required for `OpenAICompatible`, forbidden for `Rules`; no default.
    #[serde(rename = "baseURL", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(URL_PATTERN))]
    pub base_url: Option<String>,
    /// The Secret key holding the API key, sent as a Bearer token. Optional for local servers
    /// that need none (default: no key). The key is mounted into the pods as a file; it never appears in the
    /// rendered configuration, logs, status or events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyReference>,
    /// Requests per minute one replica may send to this provider. Default: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub requests_per_minute: Option<u32>,
    /// Spend limit per UTC day in US dollars, computed from token usage and the prices below.
    /// Once spent the provider is not called again that day (fails closed) and analysts fall
    /// back as configured. It survives restarts (a strategy's journal records every call) and,
    /// in an AgentPool, holds for the whole pool across its replicas: each replica publishes
    /// its spend to a shared ledger after 1/(100 × max replicas) of the budget, so with R
    /// replicas the pool overshoots by at most 2 % of the budget plus (R + 1) × the calls one
    /// replica has in flight × the most one call costs.
    /// Default: unlimited.
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

// The quantitative method a `Rules` analyst applies. (Plain comments on enums that fill
// optional fields: kube copies an enum's doc over the field's, which states the default.)
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

// What an LLM analyst reports when no provider can answer within budget.
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
    /// prompt for LLM analysts and labels reports and metrics. Unique within the list.
    #[schemars(length(min = 1, max = 63), pattern(NAME_PATTERN))]
    pub role: String,
    /// Names of providers from `providers`, tried in this order: the next is used when one
    /// fails or has spent its budget.
    #[schemars(
        length(min = 1, max = 8),
        inner(length(min = 1, max = 63), pattern(NAME_PATTERN))
    )]
    pub providers: Vec<String>,
    /// Model name sent to an `OpenAICompatible` provider, e.g. `gpt-4o-mini`. Required when the
    /// seat lists an `OpenAICompatible` provider; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub model: Option<String>,
    /// Quantitative method for `Rules` providers and for the `Rules` fallback: `Trend`
    /// (moving-average crossover), `Momentum` (RSI and MACD), `MeanReversion` (Bollinger bands
    /// and z-score) or `Volatility` (ATR regime). Required when every provider of the seat is
    /// of kind `Rules`, or when `fallback` is `Rules`; no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<QuantMethod>,
    /// Sampling temperature for LLM analysts, 0–2. Default 0.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f64>,
    /// Replaces the built-in system prompt of this role. Default: the role's built-in prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16384))]
    pub system_prompt: Option<String>,
    /// How much this seat counts in the decision, relative to the others, 0–10. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub weight: Option<f64>,
    /// What the seat reports when no provider can answer within budget: `Hold` (default), a
    /// neutral signal with zero confidence, or `Rules`, what `method` computes instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackPolicy>,
    /// Parameters of the seat's quantitative method, by name, e.g. `fastPeriod: 10`,
    /// `slowPeriod: 30` for `Trend` (every name and default is in `docs/backtest.md`). A name
    /// the methods do not know, or a value they cannot use, is refused naming it. Default:
    /// each parameter's documented default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, f64>,
}

/// Where pods may run, as in a PodSpec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    /// Node labels a pod requires, as `spec.nodeSelector` of a Pod. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate, as `spec.tolerations` of a Pod. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
    /// Affinity rules, as `spec.affinity` of a Pod. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<k8s_openapi::api::core::v1::Affinity>,
    /// PriorityClass of the pods. Default: none (the cluster's default priority).
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
    /// An AgentPool provider's daily budget is spent, pool-wide: its calls fail closed
    /// (the seats report their fallbacks) until the next UTC day.
    pub const BUDGET_EXHAUSTED: &str = "BudgetExhausted";
}

/// The schema of a `conditions` list: `metav1.Condition` with the checks its Go definition
/// carries (a `True`/`False`/`Unknown` status, a CamelCase reason, bounded lengths), merged as a
/// map keyed by `type` so that the operator and the runtime can each own their conditions
/// under server-side apply.
pub fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "maxItems": 32,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "description": "One aspect of the object's state, as Kubernetes API conventions describe conditions.",
            "required": ["type", "status", "reason", "message", "lastTransitionTime"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": "The aspect, in CamelCase, e.g. `Ready`.",
                    "maxLength": 316,
                    "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
                },
                "status": {
                    "type": "string",
                    "description": "`True`, `False` or `Unknown`.",
                    "enum": ["True", "False", "Unknown"]
                },
                "reason": {
                    "type": "string",
                    "description": "Why the condition last changed, in CamelCase, e.g. `CredentialsRejected`; stable enough to alert on.",
                    "minLength": 1,
                    "maxLength": 1024,
                    "pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
                },
                "message": {
                    "type": "string",
                    "description": "Details for people; may be empty.",
                    "maxLength": 32768
                },
                "lastTransitionTime": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When `status` last changed (not when the condition was last written)."
                },
                "observedGeneration": {
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0,
                    "description": "The `metadata.generation` the condition was computed from."
                }
            }
        }
    })
}

/// The schema of a storage size: a Kubernetes quantity such as `1Gi`, as an integer or a string
/// of the quantity's shape.
pub fn quantity_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "x-kubernetes-int-or-string": true,
        "pattern": QUANTITY_PATTERN
    })
}
