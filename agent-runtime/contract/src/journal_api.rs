//! The runtime's read-only journal API (`/api/v1/...`): what each endpoint answers, as the
//! runtime encodes it and the `kubectl tradeplane` plugin and the dashboard decode it.
//!
//! Here rather than in the runtime so the readers link the very types the server writes,
//! without the runtime's database and HTTP crates. Every field is camelCase JSON; times are
//! RFC 3339 UTC; money is in the account's currency (USD for LLM spend). No type here has a
//! field for a credential, a key or a URL, so none can be answered.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The API's version, the path segment every endpoint sits under.
pub const API_VERSION: &str = "v1";
/// The prefix of every endpoint.
pub const API_PREFIX: &str = "/api/v1";
/// Items in a page when `limit` is not given.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// The most items a page holds; a larger `limit` is refused, not clipped.
pub const MAX_PAGE_LIMIT: u32 = 1000;
/// Points in an equity series when `points` is not given.
pub const DEFAULT_EQUITY_POINTS: u32 = 200;
/// The most points an equity series holds.
pub const MAX_EQUITY_POINTS: u32 = 1000;
/// Cycles a price chart covers when `cycles` is not given.
pub const DEFAULT_CHART_CYCLES: u32 = 200;
/// The most cycles a price chart covers.
pub const MAX_CHART_CYCLES: u32 = 1000;

/// One page of a list, newest first. `nextCursor`, when present, is passed back as `cursor`
/// for the page after; absent, this was the last page. Cursors are opaque.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Every refusal: `400` for bad input (naming the `parameter`), `404` for an unknown cycle,
/// `503` when the journal cannot be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// A stable label: `bad_parameter`, `not_found`, `journal_unavailable`.
    pub error: String,
    /// The query or path parameter at fault, for `bad_parameter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub message: String,
}

/// Which part this replica plays: only the leader trades; a standby reads the shared
/// journal and waits for the Lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaRole {
    Leader,
    Standby,
}

/// `GET /api/v1/summary`: the strategy at a glance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrategySummary {
    /// [`API_VERSION`].
    pub api_version: String,
    pub namespace: String,
    pub strategy: String,
    pub role: ReplicaRole,
    /// `Active`, `Reducing` or `Halted`: the risk manager's state as this process knows it.
    pub trading_state: String,
    /// `sqlite` or `postgres`.
    pub journal_backend: String,
    /// The newest journal migration applied.
    pub journal_schema_version: i64,
    /// From the newest equity snapshot; absent before the first cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cash: Option<f64>,
    /// Equity now less equity at the first snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_and_loss: Option<f64>,
    /// Equity now less the first snapshot of the current UTC day: the figure the risk
    /// manager's `maxDailyLoss` is held against. Absent when no snapshot was taken today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_and_loss_today: Option<f64>,
    /// How far equity is below its highest snapshot, as a fraction (0.05 = 5%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drawdown: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equity_at: Option<DateTime<Utc>>,
    pub positions: Vec<PositionView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cycle: Option<CycleView>,
}

/// One cycle, as `GET /api/v1/cycles` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleView {
    pub id: String,
    /// The scheduled slot (a replay's bar time).
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `completed`, `failed`, `abandoned` or `missed`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// `GET /api/v1/cycles/{id}`: one cycle in full — enough to audit every decision in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleDetail {
    pub cycle: CycleView,
    /// In the order they were made (the config's symbol order).
    pub decisions: Vec<DecisionView>,
    /// What else the cycle journalled: LLM retries and fallbacks, kill switches, risk clips,
    /// trading-state changes, orders not sent.
    pub events: Vec<EventView>,
}

/// One symbol's decision, with everything that led to it and came of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    pub id: i64,
    pub cycle_id: String,
    pub symbol: String,
    pub decided_at: DateTime<Utc>,
    /// `buy`, `sell` or `hold`.
    pub action: String,
    pub target_quantity: f64,
    pub confidence: f64,
    pub rationale: String,
    /// The bars the analysts saw; absent for decisions journalled before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_window: Option<DataWindowView>,
    /// Every analyst seat's report (the debate's conclusion is `debate`, not here).
    pub analysts: Vec<AnalystReportView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debate: Option<AnalystReportView>,
    pub risk: RiskVerdictView,
    /// The orders the decision (or the stop loss) placed, each with its fills.
    pub orders: Vec<OrderView>,
}

/// The market data behind a decision: the same bars for every seat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataWindowView {
    pub symbol: String,
    /// The bar size, from the spacing of the last bars (`1d`, `1h`, `15m`, `30s`); absent with
    /// fewer than two bars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    pub first_bar_at: DateTime<Utc>,
    pub last_bar_at: DateTime<Utc>,
    pub bar_count: u64,
    pub last_close: f64,
    /// What each seat computed from the bars, by role; indicator name → value.
    pub indicators: Vec<SeatIndicators>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatIndicators {
    pub role: String,
    pub values: std::collections::BTreeMap<String, f64>,
}

/// One analyst's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalystReportView {
    pub role: String,
    /// `bullish`, `neutral` or `bearish`.
    pub signal: String,
    pub confidence: f64,
    pub rationale: String,
    /// What produced it: `quant:trend`, `llm:<provider>/<model>`, `fallback:hold`, ...
    pub source: String,
    /// The LLM provider and model, for an LLM report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The billed call behind an LLM report; absent for quant reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// What risk said about a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskVerdictView {
    /// `no_order` (nothing to trade), `approved`, `clipped` (approved smaller) or `rejected`.
    pub outcome: String,
    /// The limit that refused or cut the order (`order_notional`, `halted`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /api/v1/orders`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub client_order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_id: Option<String>,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    pub quantity: f64,
    pub reference_price: f64,
    /// `pending`, `accepted`, `filled`, `partially_filled`, `rejected`, `canceled`, `expired`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The leadership epoch of the leader that placed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_epoch: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Its fills, in the cycle detail; empty in the order list (see `/fills`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fills: Vec<FillView>,
}

/// `GET /api/v1/fills`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FillView {
    pub fill_id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: String,
    pub quantity: f64,
    pub price: f64,
    pub commission: f64,
    pub filled_at: DateTime<Utc>,
}

/// `GET /api/v1/positions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionView {
    pub symbol: String,
    /// Units held (negative = short).
    pub quantity: f64,
    pub average_price: f64,
    pub updated_at: DateTime<Utc>,
}

/// A journalled event of a cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// A stable label, e.g. `llm_fallback`, `kill_switch`, `risk_clipped`.
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/equity`: at most `maxPoints` snapshots spread over the range, the first and
/// the last snapshot in it always kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EquitySeries {
    pub max_points: u32,
    pub points: Vec<EquityPoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EquityPoint {
    pub at: DateTime<Utc>,
    pub equity: f64,
    pub cash: f64,
}

/// `GET /api/v1/chart`: what a price chart with buy/sell markers needs over the newest
/// `cycles` cycles, in one answer: the close each decision saw (its symbol's last bar) and
/// every fill of those cycles' orders, placed at the bar its decision saw. Oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartSeries {
    pub cycles: u32,
    pub closes: Vec<ChartClose>,
    pub trades: Vec<ChartTrade>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartClose {
    pub symbol: String,
    pub bar_at: DateTime<Utc>,
    pub close: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartTrade {
    /// The last bar the fill's decision saw; absent when that decision kept no data window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bar_at: Option<DateTime<Utc>>,
    pub fill: FillView,
}

/// `GET /api/v1/llm-spend`: one provider's billed calls on one UTC day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmSpendView {
    pub day: NaiveDate,
    pub provider: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

/// Percent-encodes a query parameter's value for the journal API (a time carries `:` and
/// `+`): what the plugin, the console and the operator put in their requests.
pub fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_page_has_no_cursor_and_errors_name_the_parameter() {
        let page: Page<u32> = Page {
            items: vec![1],
            next_cursor: None,
        };
        assert_eq!(
            serde_json::to_string(&page).ok().as_deref(),
            Some(r#"{"items":[1]}"#)
        );
        let error = ApiError {
            error: "bad_parameter".into(),
            parameter: Some("limit".into()),
            message: "too large".into(),
        };
        let json = serde_json::to_value(&error).unwrap_or_default();
        assert_eq!(json["parameter"], "limit");
        assert_eq!(API_PREFIX, format!("/api/{API_VERSION}"));
    }
}
