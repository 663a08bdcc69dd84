//! `TradingStrategy`: one trading system — what it trades, with which analysts, under which
//! risk limits, and how it is run, upgraded, backed up and watched.

mod gates;
mod operations;
mod readers;
mod rollout;
mod status;

pub use crate::alerting::AlertingSpec;
pub use gates::*;
pub use operations::*;
pub use readers::*;
pub use rollout::*;
pub use status::*;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    AnalystSpec, CRON_PATTERN, IMAGE_MESSAGE, IMAGE_NAME_LENGTH_MESSAGE, IMAGE_NAME_LENGTH_RULE,
    IMAGE_RULE, LocalObjectReference, PodPlacement, ProviderSpec, SYMBOL_PATTERN,
    TIME_ZONE_MESSAGE, TIME_ZONE_PATTERN, TIME_ZONE_RULE,
};

/// One trading system. The operator runs it as a leader-elected `agent-runtime` Deployment
/// (or CronJob-started cycles), with its journal, backups and alerts.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "tradeplane.io",
    version = "v1alpha1",
    kind = "TradingStrategy",
    plural = "tradingstrategies",
    namespaced,
    status = "TradingStrategyStatus",
    shortname = "ts",
    category = "trading",
    category = "tradeplane",
    doc = "One trading system: symbols, analysts, decision and risk settings, and how it is run, upgraded, backed up and alerted on.",
    printcolumn(
        name = "Mode",
        type_ = "string",
        json_path = ".status.mode",
        description = "Paper or Live, from the BrokerAccount"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Leader", type_ = "string", json_path = ".status.leader"),
    printcolumn(name = "P&L", type_ = "string", json_path = ".status.profitAndLoss"),
    printcolumn(
        name = "Last Cycle",
        type_ = "date",
        json_path = ".status.lastCycleTime"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Runtime pods ready"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredReplicas",
        description = "Runtime pods asked for"
    ),
    printcolumn(
        name = "Broker",
        type_ = "string",
        json_path = ".spec.brokerAccountRef.name",
        priority = 1
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.tradingState",
        priority = 1
    ),
    printcolumn(
        name = "Equity",
        type_ = "string",
        json_path = ".status.equity",
        priority = 1
    ),
    printcolumn(
        name = "Positions",
        type_ = "integer",
        json_path = ".status.openPositions",
        priority = 1
    ),
    printcolumn(
        name = "Last Decision",
        type_ = "string",
        json_path = ".status.lastDecision.summary",
        priority = 1
    ),
    printcolumn(
        name = "Current Revision",
        type_ = "string",
        json_path = ".status.currentRevision",
        priority = 1
    ),
    printcolumn(
        name = "Desired Revision",
        type_ = "string",
        json_path = ".status.desiredRevision",
        priority = 1
    ),
    printcolumn(
        name = "Shadow",
        type_ = "string",
        json_path = ".status.rollout.verdict",
        description = "The shadow analysis of a new revision: Seeding, Running, Succeeded, Failed or Promoted"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.journal) ? self.journal.backend : 'Sqlite') == (has(oldSelf.journal) ? oldSelf.journal.backend : 'Sqlite')").message("journal.backend is immutable (an absent journal counts as Sqlite): restore a backup into a new strategy to move the journal").reason(Reason::FieldValueForbidden).field_path(".journal.backend"),
    validation = Rule::new("has(self.restore) == has(oldSelf.restore) && (!has(self.restore) || self.restore == oldSelf.restore)").message("restore is immutable: it can only be set when the strategy is created").reason(Reason::FieldValueForbidden).field_path(".restore"),
    validation = Rule::new("!has(self.analysts) || !has(self.providers) || self.analysts.all(a, has(a.model) || !a.providers.exists(p, self.providers.exists(q, q.name == p && q.kind == 'OpenAICompatible')))").message("analysts[].model is required when the seat lists an OpenAICompatible provider").reason(Reason::FieldValueRequired).field_path(".analysts"),
    validation = Rule::new("!has(self.analysts) || self.analysts.all(a, has(a.method) || (has(self.providers) && a.providers.exists(p, self.providers.exists(q, q.name == p && q.kind == 'OpenAICompatible'))))").message("analysts[].method is required when every provider of the seat is of kind Rules").reason(Reason::FieldValueRequired).field_path(".analysts"),
    validation = Rule::new("!has(self.replicas) || self.replicas <= 1 || (has(self.journal) && self.journal.backend == 'Postgres')").message("replicas greater than 1 (hot standby) requires journal.backend Postgres: a SQLite journal lives on one pod's volume").reason(Reason::FieldValueInvalid).field_path(".journal.backend"),
    validation = Rule::new("!has(self.agentPoolRef) || !has(self.analysts) || size(self.analysts) == 0").message("analysts must be empty when agentPoolRef is set: the pool's agents do the analysis").reason(Reason::FieldValueForbidden).field_path(".analysts"),
    validation = Rule::new("!has(self.analysts) || self.analysts.all(a, a.providers.all(p, has(self.providers) && self.providers.exists(q, q.name == p)))").message("every name in analysts[].providers must be defined in providers").reason(Reason::FieldValueInvalid).field_path(".analysts"),
    validation = Rule::new("!has(self.recordLLMAnswers) || !self.recordLLMAnswers || (has(self.analysts) && has(self.providers) && self.analysts.exists(a, a.providers.exists(p, self.providers.exists(q, q.name == p && q.kind == 'OpenAICompatible'))))").message("recordLLMAnswers needs an in-process LLM seat (an analyst with an OpenAICompatible provider): there are no answers to record otherwise, and an agent pool's answers are the pool's").reason(Reason::FieldValueInvalid).field_path(".recordLLMAnswers"),
    validation = Rule::new("!has(self.rollout) || !has(self.rollout.strategy) || self.rollout.strategy != 'Shadow' || !has(self.schedule) || !has(self.schedule.cron)").message("rollout.strategy Shadow needs a trader Deployment: cycles on a cron schedule cannot be shadowed").reason(Reason::FieldValueForbidden).field_path(".rollout.strategy"),
    validation = Rule::new("!has(self.rollout) || !has(self.rollout.strategy) || self.rollout.strategy != 'Shadow' || !has(self.marketData) || self.marketData.source == 'Replay'").message("rollout.strategy Shadow needs marketData.source Replay: market data from the broker is read with the broker's keys, which a shadow never gets").reason(Reason::FieldValueForbidden).field_path(".rollout.strategy"),
    validation = Rule::new("!has(self.promotionGates) || !has(self.promotionGates.shadow) || (has(self.rollout) && has(self.rollout.strategy) && self.rollout.strategy == 'Shadow')").message("promotionGates.shadow needs rollout.strategy Shadow: a gated revision change is analysed in a shadow").reason(Reason::FieldValueInvalid).field_path(".promotionGates.shadow"),
    validation = Rule::new("!has(self.risk) || !has(self.risk.allowedSymbols) || self.risk.allowedSymbols.all(s, s in self.symbols)").message("every risk.allowedSymbols entry must be one of symbols").reason(Reason::FieldValueInvalid).field_path(".risk.allowedSymbols"),
)]
pub struct TradingStrategySpec {
    /// Instruments traded, e.g. `AAPL`, `BRK.B`, `BTC/USD` (upper case).
    #[schemars(length(min = 1, max = 50), inner(pattern(SYMBOL_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub symbols: Vec<String>,
    /// The BrokerAccount, in this namespace, that orders go to.
    pub broker_account_ref: LocalObjectReference,
    /// An AgentPool, in this namespace, that runs the analysts. Default: none, and the runtime
    /// runs `analysts` in-process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_pool_ref: Option<LocalObjectReference>,
    /// Spend limit per UTC day in US dollars for all of this strategy's LLM calls together:
    /// its in-process analysts across every provider, or — with `agentPoolRef` — its share
    /// of the pool, enforced by the pool across its replicas. It survives restarts. Once
    /// spent, the seats report their fallbacks until the next UTC day. Default: unlimited
    /// (the providers' own budgets still apply).
    #[serde(
        rename = "llmDailyBudgetUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0.0, max = 1000000.0))]
    pub llm_daily_budget_usd: Option<f64>,
    /// Keep every answer the in-process LLM seats get, in the journal, keyed by provider,
    /// model, temperature and the exact messages, so any decision can be replayed later at
    /// no cost (a Backtest or `agent-runtime backtest` with `llm: Replay` on this journal).
    /// The calls, budgets and fallbacks are unchanged; the journal grows by one row per
    /// distinct question. Needs an LLM seat (an analyst with an OpenAICompatible provider).
    /// A Backtest ignores it: its own `llm` says whether it records or replays. Default: false.
    #[serde(
        rename = "recordLLMAnswers",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub record_llm_answers: Option<bool>,
    /// In-process analyst seats. Default (when empty and no agentPoolRef): the four
    /// quantitative analysts — trend, momentum, mean reversion, volatility.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["role".into()]))]
    pub analysts: Vec<AnalystSpec>,
    /// Providers the in-process analysts may call, by name. Default: none (the default
    /// quantitative analysts need no provider).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub providers: Vec<ProviderSpec>,
    /// When cycles run. Default: every 60 seconds, around the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CycleSchedule>,
    /// Where bars come from. Default: the runtime's built-in replay data set (no key needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_data: Option<MarketDataSpec>,
    /// How analyst reports become a decision. Default: each setting's own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionSpec>,
    /// The strategy's own risk limits, applied together with its BrokerAccount's limits.
    /// Default: position size 10% of equity and no other limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskSpec>,
    /// What becomes of an order the broker has not finished with: how long it works at the
    /// broker, and when the runtime cancels it. Whatever the policy, every part of an order
    /// that fills is journalled as a fill. Default: `Day` orders, left working until the
    /// broker fills or expires them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<OrdersSpec>,
    /// `Active` (default) trades normally, `Reducing` only places orders that reduce
    /// exposure, `Halted` places none. The runtime may move to a stricter state on its own
    /// (drawdown, daily loss); status.tradingState shows the state in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trading_state: Option<TradingState>,
    /// The kill switch: true halts trading at once, whatever `tradingState` says. Pods stay
    /// up for inspection. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Runtime replicas: 1, or 2–5 for hot standby (leader-elected; needs a Postgres
    /// journal). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5))]
    pub replicas: Option<i32>,
    /// The journal: every decision, order, fill and position. Default: `Sqlite` on a 1Gi
    /// volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalSpec>,
    /// Leader election among the replicas: how fast a dead leader is replaced. Default: the
    /// defaults of each timing (lease 4 s, renew deadline 3 s, retry 1 s), which replace a
    /// dead leader within about 5 s for one Lease request per second per replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverSpec>,
    /// How new revisions of the runtime are rolled out. Default: `Unsupervised`, at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeSpec>,
    /// Whether a new decision-relevant revision first decides in a shadow beside the live
    /// pods (`Shadow`) or rolls onto them (`Direct`, default). Needs a trader Deployment
    /// (no cron schedule) and replay market data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutSpec>,
    /// What a decision-relevant revision must have passed (a Backtest, a shadow analysis)
    /// before it is rendered onto a `Live` BrokerAccount; ignored for `Paper`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_gates: Option<PromotionGates>,
    /// Scheduled and on-demand backups of the journal. Default: no backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,
    /// Creates this strategy from a backup of another. Immutable: set only at creation.
    /// Default: none, a new strategy starts with an empty journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreSpec>,
    /// Prometheus alerts for this strategy (a PrometheusRule) and the scrape of its runtime
    /// pods (a PodMonitor), where the cluster serves those kinds. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<AlertingSpec>,
    /// Who may read this strategy's journal API (`kubectl tradeplane status|journal|explain`).
    /// The operator keeps a Role `<name>-journal-readers` granting `get` on `services/proxy`
    /// for the one resource name `<name>-metrics:http-metrics` (this strategy's runtime port,
    /// read-only: journal API, probes, metrics) — and `<name>-shadow:http-metrics`, the
    /// shadow's, when `rollout.strategy` is `Shadow` — bound to the subjects listed; both are
    /// deleted when every list is empty. Reading the strategy itself still needs `view`.
    /// Default: nobody beyond those the cluster's own roles allow (e.g. `edit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_readers: Option<JournalReaders>,
    /// A new value restarts the runtime pods (e.g. an RFC 3339 time); within the upgrade
    /// policy's windows when Supervised. status.lastRestartAt records the last one handled.
    /// Default: none (no restart asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub restart_at: Option<String>,
    /// A new value makes the current leader hand over to a standby (replicas ≥ 2), e.g. an
    /// RFC 3339 time. status.lastSwitchoverAt records the last one handled. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub switchover_at: Option<String>,
    /// Overrides the agent-runtime image: a reference such as
    /// `registry.example.com/team/agent-runtime:v1.2`, optionally pinned with `@sha256:…`.
    /// Default: the image the operator was released with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(
        validation = Rule::new(IMAGE_RULE).message(IMAGE_MESSAGE).reason(Reason::FieldValueInvalid),
        validation = Rule::new(IMAGE_NAME_LENGTH_RULE).message(IMAGE_NAME_LENGTH_MESSAGE).reason(Reason::FieldValueInvalid),
    )]
    pub image: Option<String>,
    /// Compute resources of the runtime container. Default: requests 100m CPU / 128Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Where the runtime pods may run. Default: anywhere the scheduler likes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PodPlacement>,
}

// The kill-switch ladder. (A plain comment: kube copies an enum's doc over the doc of the
// optional field it fills, which states the default.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TradingState {
    /// Normal trading.
    #[default]
    Active,
    /// Only orders that reduce an existing position.
    Reducing,
    /// No orders.
    Halted,
}

/// When cycles run: every `intervalSeconds` in a long-running trader, or on a `cron`
/// schedule as CronJob-started one-shot cycles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(has(self.intervalSeconds) && has(self.cron))").message("set either intervalSeconds or cron, not both").reason(Reason::FieldValueForbidden).field_path(".cron"),
)]
pub struct CycleSchedule {
    /// Seconds between cycles. Default 60 when `cron` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub interval_seconds: Option<i32>,
    /// A five-field cron expression, e.g. `30 9-16 * * 1-5`, in `timeZone`: minute, hour, day
    /// of month, month, day of week. Each cycle then runs as a CronJob-started process.
    /// Default: none (cycles every `intervalSeconds` in a long-running trader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 128), pattern(CRON_PATTERN))]
    pub cron: Option<String>,
    /// IANA time zone of `cron` and of market hours. Default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), pattern(TIME_ZONE_PATTERN))]
    #[x_kube(validation = Rule::new(TIME_ZONE_RULE).message(TIME_ZONE_MESSAGE).reason(Reason::FieldValueInvalid))]
    pub time_zone: Option<String>,
    /// Skip cycles while the market is closed, as the broker's clock says. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_hours_only: Option<bool>,
}

/// Where bars come from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.source != 'Broker' || !has(self.replay)").message("replay settings apply only to source Replay").reason(Reason::FieldValueForbidden).field_path(".replay"),
)]
pub struct MarketDataSpec {
    /// `Replay` (default): recorded history played one step per cycle, built into the runtime.
    /// `Broker`: latest bars from the broker's market data API.
    pub source: MarketDataSource,
    /// Bar size for `Broker`: `1Min`, `5Min`, `15Min`, `1Hour` or `1Day`. Default `1Day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(1Min|5Min|15Min|1Hour|1Day)$"))]
    pub timeframe: Option<String>,
    /// Replay settings. Default: one bar per cycle after 60 bars of warm-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplaySpec>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MarketDataSource {
    /// Recorded history.
    #[default]
    Replay,
    /// The broker's market data API.
    Broker,
}

/// How recorded history is played.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplaySpec {
    /// Bars to advance per cycle. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub bars_per_cycle: Option<i32>,
    /// Bars of history the analysts see before the first decision. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub warmup_bars: Option<i32>,
}

/// How analyst reports become a decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionSpec {
    /// Rounds of bull/bear debate between LLM personas before deciding; 0 skips it. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 5))]
    pub debate_rounds: Option<i32>,
    /// Decisions below this confidence, 0–1, become holds. Default 0.55.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_confidence: Option<f64>,
}

/// What becomes of an order still open at the broker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrdersSpec {
    /// `Day` (default): an equity order still open at the close expires at the broker.
    /// `GoodTillCanceled`: it works until it fills or is canceled. Crypto orders are always
    /// good till canceled (the broker takes nothing else for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    /// Seconds after which the runtime cancels an order still open, 1–604800 (a week); the
    /// part filled by then stays, and the cancel is journalled with it. Default: none, an
    /// open order is left working until the broker fills or expires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 604800))]
    pub cancel_after_seconds: Option<i64>,
}

// How long an order works at the broker before the broker expires it. (No doc comment: the
// schema would show it instead of the field's, which states the default.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TimeInForce {
    /// Until the day's close.
    #[default]
    Day,
    /// Until it fills or is canceled.
    GoodTillCanceled,
}

/// The strategy's risk limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskSpec {
    /// A full-conviction position's size, percent of equity. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100.0), extend("minimum" = 0, "exclusiveMinimum" = true))]
    pub position_size_percent: Option<f64>,
    /// A position losing this percent of its entry value is closed. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100.0), extend("minimum" = 0, "exclusiveMinimum" = true))]
    pub stop_loss_percent: Option<f64>,
    /// Drawdown from the equity peak, percent, that trips the kill switch (Halted).
    /// Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100.0), extend("minimum" = 0, "exclusiveMinimum" = true))]
    pub max_drawdown_percent: Option<f64>,
    /// Loss since the start of the UTC day, in account currency, that halts trading.
    /// Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 1e12))]
    pub max_daily_loss: Option<f64>,
    /// Largest notional value (quantity × price) of a single order, in account currency.
    /// Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 1e12))]
    pub max_order_notional: Option<f64>,
    /// Orders per rolling minute. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_orders_per_minute: Option<i32>,
    /// Only these of `symbols` may be traded (e.g. to wind others down). Default: empty,
    /// all of `symbols` may be traded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(pattern(SYMBOL_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_symbols: Vec<String>,
}
