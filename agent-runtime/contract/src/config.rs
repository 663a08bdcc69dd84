//! The runtime configuration: the one contract between the operator and the runtime.
//!
//! The operator renders a [`RuntimeConfig`] from a TradingStrategy (and the BrokerAccount and
//! AgentPool it references) into the strategy's config Secret; the runtime reads it from the
//! mounted file at start-up. Both sides use this type, so they cannot drift apart.
//!
//! The config never holds a credential. Keys and passwords live in their own Secrets, mounted
//! as files, and the config names the files. The config can therefore be logged, hashed into
//! the pod template (a change rolls the pods) and shown by `check-config` without leaking.

use std::path::PathBuf;

pub mod ledger;
mod load;
mod quant;
mod validate;

pub use load::LoadError;
pub use quant::{MAX_PERIOD, QuantParams};
pub use validate::{ConfigError, ConfigPurpose, MAX_DEBATE_ROUNDS, TIMEFRAMES};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The version of this contract. The runtime refuses a config with a different major version,
/// so an operator and a runtime that do not understand each other fail at start, not mid-trade.
pub const CONFIG_API_VERSION: &str = "runtime.tradeplane.io/v1alpha1";

/// Everything a runtime process needs to trade one strategy (or, in `worker` mode, to serve
/// analyses for an AgentPool).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Always [`CONFIG_API_VERSION`].
    pub api_version: String,
    /// Which strategy (or pool) this process runs for; names its journal rows, order ids and
    /// the status it reports.
    pub identity: Identity,
    /// Instruments traded, e.g. `AAPL`, `BTC/USD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
    /// Whether new exposure may be opened.
    #[serde(default)]
    pub trading_state: TradingState,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default)]
    pub market_data: MarketDataConfig,
    /// Analysts consulted each cycle, in order. Empty in a strategy that uses an agent pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analysts: Vec<AnalystConfig>,
    /// Spend limit per UTC day, in US dollars, for all of this strategy's LLM calls together:
    /// its in-process analysts across every provider, or — with `agentPool` — its share of
    /// the pool (the pool enforces it). Once spent, the seats report their fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_daily_budget_usd: Option<f64>,
    /// LLM providers the analysts may call, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderConfig>,
    /// What becomes of the in-process LLM seats' answers.
    #[serde(default, skip_serializing_if = "LlmSettings::is_default")]
    pub llm: LlmSettings,
    /// In `worker` mode: the pool-wide ledger every replica publishes its LLM spend to and
    /// reads the others' from, so `dailyBudgetUsd` holds for the whole pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_ledger: Option<SpendLedgerConfig>,
    /// When set, analyses are requested from this AgentPool instead of run in-process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_pool: Option<AgentPoolEndpoint>,
    #[serde(default)]
    pub decision: DecisionConfig,
    #[serde(default)]
    pub risk: RiskConfig,
    #[serde(default)]
    pub broker: BrokerConfig,
    /// What becomes of an order the broker has not finished with.
    #[serde(default, skip_serializing_if = "OrderPolicy::is_default")]
    pub orders: OrderPolicy,
    #[serde(default)]
    pub journal: JournalConfig,
    /// Present when several replicas run: only the holder of this Lease places orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_election: Option<LeaderElectionConfig>,
    /// Present when this process is the shadow of a live strategy (`spec.rollout.strategy:
    /// Shadow`): it decides beside the live pods on the same data, on a paper account of its
    /// own, and never reaches the live account or its Lease. Validation refuses a shadow with
    /// any other broker than `Paper`, or with `leaderElection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowConfig>,
    #[serde(default)]
    pub server: ServerConfig,
}

/// What becomes of the in-process LLM seats' answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LlmSettings {
    /// Store every provider answer in the journal (`llm_answers`), keyed by provider, model,
    /// temperature and the exact messages, so any decision can be replayed later with
    /// `agent-runtime backtest --llm replay` at no cost. The calls, budgets and fallbacks are
    /// unchanged; the journal grows by one row per distinct question.
    #[serde(default)]
    pub record: bool,
}

impl LlmSettings {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Identity {
    /// Namespace of the owning resource.
    pub namespace: String,
    /// Name of the owning TradingStrategy or AgentPool.
    pub name: String,
}

/// The kill-switch ladder. Ordered: a later state is always at least as restrictive.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum TradingState {
    /// Normal trading.
    #[default]
    Active,
    /// Only orders that reduce an existing position are placed.
    Reducing,
    /// No orders at all.
    Halted,
}

impl TradingState {
    /// The state's name as the config, the journal and logs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "Active",
            TradingState::Reducing => "Reducing",
            TradingState::Halted => "Halted",
        }
    }
}

/// When cycles run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Schedule {
    /// Seconds between cycles in `trader` mode. Ignored when `cron` is set.
    #[serde(default = "Schedule::default_interval_seconds")]
    pub interval_seconds: u64,
    /// A 5-field cron expression; cycles then run as CronJob-started `cycle` processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone for `cron` and market hours, e.g. `America/New_York`.
    #[serde(default = "Schedule::default_time_zone")]
    pub time_zone: String,
    /// Skip cycles while the market is closed (asks the broker's clock where it has one).
    #[serde(default)]
    pub market_hours_only: bool,
}

impl Schedule {
    fn default_interval_seconds() -> u64 {
        60
    }
    fn default_time_zone() -> String {
        "UTC".to_string()
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            interval_seconds: Self::default_interval_seconds(),
            cron: None,
            time_zone: Self::default_time_zone(),
            market_hours_only: false,
        }
    }
}

/// Where bars come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "source", rename_all = "camelCase", deny_unknown_fields)]
pub enum MarketDataConfig {
    /// Plays recorded history; needs no key. Each cycle advances the feed by `barsPerCycle`.
    #[serde(rename_all = "camelCase")]
    Replay {
        /// A CSV file or directory of CSV files; absent means the data set built into the runtime.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
        /// Bars to advance per cycle.
        #[serde(default = "default_bars_per_cycle")]
        bars_per_cycle: u32,
        /// Bars of history the analysts see before the first decision.
        #[serde(default = "default_warmup_bars")]
        warmup_bars: u32,
    },
    /// Latest bars from an Alpaca-compatible market data API (keys from the broker's files).
    #[serde(rename_all = "camelCase")]
    Broker {
        /// Base URL of the market data API.
        base_url: String,
        /// Bar size, e.g. `1Min`, `1Hour`, `1Day`.
        #[serde(default = "default_timeframe")]
        timeframe: String,
        /// Bars of history fetched each cycle.
        #[serde(default = "default_warmup_bars")]
        history_bars: u32,
    },
}

fn default_bars_per_cycle() -> u32 {
    1
}
fn default_warmup_bars() -> u32 {
    60
}
fn default_timeframe() -> String {
    "1Day".to_string()
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        Self::Replay {
            path: None,
            bars_per_cycle: default_bars_per_cycle(),
            warmup_bars: default_warmup_bars(),
        }
    }
}

/// One analyst seat.
///
/// No `deny_unknown_fields` here: serde cannot combine it with `flatten` (it would reject
/// `kind` itself). Unknown keys are still refused, by [`AnalystKind`], which receives them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalystConfig {
    /// The seat's name, e.g. `technical`, `sentiment`; appears in reports and metrics.
    pub role: String,
    #[serde(flatten)]
    pub kind: AnalystKind,
    /// How much this analyst's signal counts in the decision (relative to the others).
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_weight() -> f64 {
    1.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum AnalystKind {
    /// A deterministic indicator-based analyst computed in the runtime.
    #[serde(rename_all = "camelCase")]
    Quant {
        method: QuantMethod,
        /// Periods, band widths and thresholds; each defaults to the analysts' usual value.
        #[serde(default, skip_serializing_if = "QuantParams::is_default")]
        params: QuantParams,
    },
    /// An LLM analyst. Providers are tried in order; when all are out of budget the
    /// `fallback` decides what the seat reports.
    #[serde(rename_all = "camelCase")]
    Llm {
        /// Names from `providers`, tried in this order.
        providers: Vec<String>,
        model: String,
        #[serde(default = "default_temperature")]
        temperature: f64,
        /// Replaces the built-in system prompt for this role.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system_prompt: Option<String>,
        #[serde(default)]
        fallback: LlmFallback,
    },
}

fn default_temperature() -> f64 {
    0.2
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum QuantMethod {
    /// Moving-average crossover.
    Trend,
    /// RSI and MACD.
    Momentum,
    /// Bollinger bands and z-score.
    MeanReversion,
    /// ATR-based regime; scales conviction rather than picking a side.
    Volatility,
}

/// What an LLM seat does when it cannot get an answer within budget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
pub enum LlmFallback {
    /// Report a neutral signal with zero confidence.
    #[default]
    Hold,
    /// Report what this quantitative method says instead.
    #[serde(rename_all = "camelCase")]
    Quant { method: QuantMethod },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderConfig {
    pub name: String,
    /// Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// File holding the API key (a mounted Secret key); none for local servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Requests per minute this process may send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// Spend limit per UTC day in US dollars; once reached, calls fail closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget_usd: Option<f64>,
    /// Price per million input tokens, US dollars.
    #[serde(default)]
    pub input_price_per_million: f64,
    /// Price per million output tokens, US dollars.
    #[serde(default)]
    pub output_price_per_million: f64,
    /// Per-request timeout.
    #[serde(default = "default_llm_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Retries after a 429, 5xx or timeout.
    #[serde(default = "default_llm_retries")]
    pub max_retries: u32,
}

fn default_llm_timeout_seconds() -> u64 {
    30
}
fn default_llm_retries() -> u32 {
    3
}

/// The pool's shared spend ledger: one ConfigMap in the pool's namespace (created by the
/// operator) in which each replica owns one key — its pod name — written by server-side apply
/// under its own field manager, and which every replica reads whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpendLedgerConfig {
    /// Name of the ledger ConfigMap.
    pub config_map: String,
    /// Seconds between a replica's publications of its own spend and reads of the others'.
    #[serde(default = "SpendLedgerConfig::default_refresh_seconds")]
    pub refresh_seconds: u64,
    /// A replica publishes (and re-reads) at once when this many dollars went unpublished;
    /// with the refresh, what bounds the pool's overshoot of a budget.
    pub publish_every_usd: f64,
}

impl SpendLedgerConfig {
    fn default_refresh_seconds() -> u64 {
        10
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentPoolEndpoint {
    /// Base URL of the pool's Service, e.g. `http://research.trading.svc:8080`.
    pub url: String,
    #[serde(default = "default_llm_timeout_seconds")]
    pub timeout_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecisionConfig {
    /// Rounds of bull/bear debate before the decision; 0 skips it.
    #[serde(default)]
    pub debate_rounds: u32,
    /// Decisions below this confidence (0–1) become holds.
    #[serde(default = "DecisionConfig::default_min_confidence")]
    pub min_confidence: f64,
    /// Fraction of equity a full-conviction position may take (0–1).
    #[serde(default = "DecisionConfig::default_target_position_fraction")]
    pub target_position_fraction: f64,
}

impl DecisionConfig {
    fn default_min_confidence() -> f64 {
        0.55
    }
    fn default_target_position_fraction() -> f64 {
        0.1
    }
}

impl Default for DecisionConfig {
    fn default() -> Self {
        Self {
            debate_rounds: 0,
            min_confidence: Self::default_min_confidence(),
            target_position_fraction: Self::default_target_position_fraction(),
        }
    }
}

/// Deterministic limits; the LLM's influence ends before these. Absent limits do not apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskConfig {
    /// Largest notional of a single order, in account currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_order_notional: Option<f64>,
    /// Largest notional of a position in one symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_notional: Option<f64>,
    /// Loss since the start of the UTC day (account currency) that trips `Halted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_daily_loss: Option<f64>,
    /// Drawdown from the equity peak, as a fraction (0–1), that trips `Halted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drawdown: Option<f64>,
    /// Loss on a position, as a fraction of its entry value (0–1), that closes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_loss: Option<f64>,
    /// Only these symbols may be traded; empty allows all configured symbols.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_symbols: Vec<String>,
    /// Orders per rolling minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_orders_per_minute: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum BrokerConfig {
    /// Simulated fills; cash and positions live in the journal.
    #[serde(rename_all = "camelCase")]
    Paper {
        #[serde(default = "default_starting_cash")]
        starting_cash: f64,
        /// Commission per fill, basis points of notional.
        #[serde(default)]
        commission_bps: f64,
        /// Price slippage against the trader, basis points.
        #[serde(default)]
        slippage_bps: f64,
    },
    /// An Alpaca-compatible REST broker.
    #[serde(rename_all = "camelCase")]
    Alpaca {
        /// Trading API base URL (paper or live).
        base_url: String,
        /// `true` only when the BrokerAccount opted in to live trading.
        #[serde(default)]
        live: bool,
        /// File with the API key id (mounted from the credentials Secret).
        key_id_file: PathBuf,
        /// File with the API secret key.
        secret_key_file: PathBuf,
        #[serde(default = "default_broker_timeout_seconds")]
        timeout_seconds: u64,
        /// How long an equity order works at the broker before the broker expires it.
        /// Crypto orders are always `gtc` (the broker takes nothing else for them).
        #[serde(default, skip_serializing_if = "TimeInForce::is_day")]
        time_in_force: TimeInForce,
    },
}

/// How long an order works at the broker before the broker expires it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TimeInForce {
    /// Until the day's close.
    #[default]
    Day,
    /// Until it fills or is canceled.
    Gtc,
}

impl TimeInForce {
    /// The broker's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Gtc => "gtc",
        }
    }

    fn is_day(&self) -> bool {
        *self == Self::Day
    }
}

/// What the trader does with an order still open at the broker: every cycle it looks at each
/// one, journals what filled since, and cancels one that has worked longer than
/// `cancelAfterSeconds`. Without that limit an open order is left working until the broker
/// fills, cancels or expires it (its time in force).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderPolicy {
    /// Seconds after which the trader cancels an order still open; the part filled by then
    /// stays. At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_after_seconds: Option<u64>,
}

impl OrderPolicy {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn default_starting_cash() -> f64 {
    100_000.0
}
fn default_broker_timeout_seconds() -> u64 {
    10
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self::Paper {
            starting_cash: default_starting_cash(),
            commission_bps: 0.0,
            slippage_bps: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "backend", rename_all = "camelCase", deny_unknown_fields)]
pub enum JournalConfig {
    /// A SQLite file, on the strategy's volume.
    #[serde(rename_all = "camelCase")]
    Sqlite { path: PathBuf },
    /// PostgreSQL; the connection URL (with its password) is read from a mounted file.
    #[serde(rename_all = "camelCase")]
    Postgres { url_file: PathBuf },
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self::Sqlite {
            path: PathBuf::from("/var/lib/tradeplane/journal.db"),
        }
    }
}

/// What makes a process a shadow: which live revision it shadows, and the live book its
/// paper account starts from.
///
/// Its cycle ids are the live strategy's: a cycle id derives from the schedule's slot, and a
/// shadow runs the same schedule, so each of its decisions names the live cycle it shadows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShadowConfig {
    /// The pod template revision of the live pods this shadow is compared with.
    pub live_revision: String,
    /// The live account's positions when the shadow started; the paper account opens with
    /// them (and `broker.startingCash` as its cash) the first time, so the shadow decides on
    /// the book the live pods hold rather than on an empty one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed_positions: Vec<SeedPosition>,
    /// The time of the live pods' last cycle when the shadow started. A replay's cycle is
    /// named by its bar time, so a shadow of a replay resumes the feed after this bar, as the
    /// live pods do after their last cycle: both then run the same bars under the same cycle
    /// ids. A live schedule's slots line up by themselves; there it is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub resume_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// One position of the live book a shadow's paper account opens with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedPosition {
    pub symbol: String,
    /// Shares (or units) held; above 0 (the paper account is long-only).
    pub quantity: f64,
    /// The average price paid; above 0.
    pub average_price: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderElectionConfig {
    /// Name of the `coordination.k8s.io` Lease, in the strategy's namespace.
    pub lease_name: String,
    /// Seconds a standby waits, after it last saw the holder renew, before it takes the
    /// Lease over.
    #[serde(default = "LeaderElectionConfig::default_lease_seconds")]
    pub lease_duration_seconds: u32,
    /// Seconds after its last successful renewal at which a leader stops placing orders and
    /// steps down. Shorter than the lease duration, so a leader has stopped before any
    /// standby may start.
    #[serde(default = "LeaderElectionConfig::default_renew_deadline_seconds")]
    pub renew_deadline_seconds: u32,
    /// Seconds between a leader's renewals (a standby sends nothing: it watches the Lease).
    #[serde(default = "LeaderElectionConfig::default_retry_period_seconds")]
    pub retry_period_seconds: u32,
}

impl LeaderElectionConfig {
    /// With these defaults a dead leader is taken over 3 to 5 s after it died (the lease
    /// runs out 4 s after its last renewal, renewed every second), for one request per second
    /// per strategy (the leader's renewal; standbys only watch).
    pub const DEFAULT_LEASE_SECONDS: u32 = 4;
    pub const DEFAULT_RENEW_DEADLINE_SECONDS: u32 = 3;
    pub const DEFAULT_RETRY_PERIOD_SECONDS: u32 = 1;

    /// The timings of Lease `lease_name`, each one not given derived from the lease duration:
    /// the renew deadline two thirds of it and the retry period (between renewals) a third,
    /// never below the defaults and the retry period always below the deadline. The defaults
    /// stay 4, 3 and 1 s; a longer lease is renewed less often in proportion — 15 s gives 10 s
    /// and 5 s, a fifth of the requests — which is the point of choosing one.
    pub fn derived(
        lease_name: String,
        lease_duration_seconds: Option<u32>,
        renew_deadline_seconds: Option<u32>,
        retry_period_seconds: Option<u32>,
    ) -> Self {
        let duration = lease_duration_seconds.unwrap_or(Self::DEFAULT_LEASE_SECONDS);
        let renew_deadline = renew_deadline_seconds
            .unwrap_or_else(|| (duration * 2 / 3).max(Self::DEFAULT_RENEW_DEADLINE_SECONDS));
        let retry = retry_period_seconds.unwrap_or_else(|| {
            (duration / 3)
                .min(renew_deadline.saturating_sub(1))
                .max(Self::DEFAULT_RETRY_PERIOD_SECONDS)
        });
        Self {
            lease_name,
            lease_duration_seconds: duration,
            renew_deadline_seconds: renew_deadline,
            retry_period_seconds: retry,
        }
    }

    fn default_lease_seconds() -> u32 {
        Self::DEFAULT_LEASE_SECONDS
    }
    fn default_renew_deadline_seconds() -> u32 {
        Self::DEFAULT_RENEW_DEADLINE_SECONDS
    }
    fn default_retry_period_seconds() -> u32 {
        Self::DEFAULT_RETRY_PERIOD_SECONDS
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// Address for `/healthz`, `/readyz`, `/metrics` (and the worker API).
    #[serde(default = "ServerConfig::default_listen")]
    pub listen: String,
    /// Most analyses a worker runs at once; more are refused with 429.
    #[serde(default = "ServerConfig::default_max_in_flight")]
    pub max_in_flight: u32,
    /// Readiness fails when no cycle completed for this many cycle intervals.
    #[serde(default = "ServerConfig::default_stale_after_intervals")]
    pub stale_after_intervals: u32,
}

impl ServerConfig {
    fn default_listen() -> String {
        "0.0.0.0:8080".to_string()
    }
    fn default_max_in_flight() -> u32 {
        8
    }
    fn default_stale_after_intervals() -> u32 {
        3
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: Self::default_listen(),
            max_in_flight: Self::default_max_in_flight(),
            stale_after_intervals: Self::default_stale_after_intervals(),
        }
    }
}
