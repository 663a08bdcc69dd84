//! The vocabulary of a trading cycle, shared by analysts, the decision, risk, brokers, the
//! journal and the cycle's ports. Plain data and pure arithmetic: no I/O.
//!
//! The bottom layer: it imports no other module of the crate, so every type two modules
//! share lives here (or in the contract's `config`) rather than in one of them — the ports
//! then depend on nothing but this, and no two modules import each other.

mod llm_event;
mod names;
pub mod orders;
pub mod paper;
pub mod risk;
mod snapshot;
mod spend;
mod window;

pub use llm_event::LlmEvent;
pub use names::same_name;
pub use snapshot::{BarWindow, Snapshot};
pub use spend::{LlmCall, SpendLedger};
pub use window::DataWindow;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One OHLCV bar. The default is a blank one (no symbol, at the Unix epoch, all zeros), for
/// a reader to write rows over.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub symbol: String,
    /// Start of the bar's interval.
    pub time: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// By hand for `clone_from`, which reuses the symbol's buffer: a window copied into last
/// cycle's window (`Vec::clone_from`) then allocates nothing.
impl Clone for Bar {
    fn clone(&self) -> Self {
        Self {
            symbol: self.symbol.clone(),
            ..*self
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.symbol.clone_from(&source.symbol);
        self.copy_values_from(source);
    }
}

impl Bar {
    /// Copies `source`'s time, prices and volume over this bar's, leaving its symbol: for a
    /// buffer of one symbol's bars, written over from bar to bar.
    pub fn copy_values_from(&mut self, source: &Bar) {
        self.time = source.time;
        self.open = source.open;
        self.high = source.high;
        self.low = source.low;
        self.close = source.close;
        self.volume = source.volume;
    }
}

/// What an analyst thinks the price will do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Bullish,
    Neutral,
    Bearish,
}

impl Signal {
    /// The stable name, as in rationales and serialised reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Bullish => "bullish",
            Signal::Neutral => "neutral",
            Signal::Bearish => "bearish",
        }
    }

    /// +1, 0 or -1, for weighing.
    pub fn direction(self) -> f64 {
        match self {
            Signal::Bullish => 1.0,
            Signal::Neutral => 0.0,
            Signal::Bearish => -1.0,
        }
    }
}

/// One analyst's view of one symbol in one cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalystReport {
    /// The seat, e.g. `technical`. Shared rather than owned (as `source` is): a backtest
    /// makes a report per seat per bar, and copying the two names was most of their cost.
    pub role: Arc<str>,
    /// What produced it: `quant:trend`, `llm:<provider>/<model>`, `fallback:hold`, ...
    pub source: Arc<str>,
    pub signal: Signal,
    /// 0–1.
    pub confidence: f64,
    pub rationale: String,
    /// What the LLM calls behind this report were billed; `None` when no call was billed (a
    /// quant report, a fallback before any answer, a report journalled before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ReportUsage>,
}

/// Tokens and cost of every billed completion a report took: retries after a malformed
/// answer and answers from a provider tried before the one that counted are included, since
/// they were paid for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

impl ReportUsage {
    pub fn add(&mut self, other: ReportUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_usd += other.cost_usd;
    }

    /// `Some` only when something was billed.
    pub fn billed(self) -> Option<ReportUsage> {
        (self.prompt_tokens + self.completion_tokens > 0 || self.cost_usd > 0.0).then_some(self)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Buy,
    Sell,
    Hold,
}

impl Action {
    /// The stable name: the `action` label of `decisions_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "buy",
            Action::Sell => "sell",
            Action::Hold => "hold",
        }
    }
}

/// The portfolio manager's call for one symbol in one cycle, before risk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub symbol: String,
    pub action: Action,
    /// Wanted position after the trade, in units (negative = short, not used by the paper
    /// broker's long-only default).
    pub target_quantity: f64,
    /// 0–1.
    pub confidence: f64,
    pub rationale: String,
    pub reports: Vec<AnalystReport>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// The stable name, as in journal messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// An order the risk manager let through, ready for the broker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Derived from (strategy, cycle, symbol, intent): the same decision always gets the same
    /// id, so a retry or a new leader can never place it twice.
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    /// Units, always positive.
    pub quantity: f64,
    /// Price the decision was made at; the broker fills at its own price.
    pub reference_price: f64,
    /// The leadership epoch (the Lease's transition count) of the leader that placed it;
    /// journalled, never part of the client order id (two leaders computing the same
    /// decision must send the same id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_epoch: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Sent, outcome not yet known (timeout, 5xx): must be looked up before any resubmit.
    Pending,
    Accepted,
    Filled,
    PartiallyFilled,
    Rejected,
    Canceled,
    /// The broker ended it at the end of its time in force (any part filled before stays).
    Expired,
}

impl OrderStatus {
    /// The stable name: the `outcome` label of `orders_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Filled => "filled",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Expired => "expired",
        }
    }
}

/// One fill (or the part of an order filled since the last look), journalled exactly once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// Unique per fill: the broker's order id and the order's cumulative filled quantity
    /// after this fill (see `broker::fill_id`), so a second look at the same broker state —
    /// after a retry, a restart or by another leader — finds the fill already journalled.
    pub fill_id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: f64,
    pub price: f64,
    pub commission: f64,
    pub time: DateTime<Utc>,
}

/// A difference between the journal's position in a symbol and the broker's, corrected to
/// the broker's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionCorrection {
    pub symbol: String,
    /// What the journal said (`None`: no position).
    pub journal: Option<Position>,
    /// What the broker says and the journal now holds (`None`: no position).
    pub broker: Option<Position>,
}

impl std::fmt::Display for PositionCorrection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: journal had {} units, broker has {}; journal corrected",
            self.symbol,
            self.journal.as_ref().map_or(0.0, |p| p.quantity),
            self.broker.as_ref().map_or(0.0, |p| p.quantity),
        )
    }
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: String,
    /// Units held (negative = short).
    pub quantity: f64,
    /// Average entry price.
    pub average_price: f64,
}

/// By hand for `clone_from`, which reuses the symbol's buffer: each cycle copies the
/// account's positions into its snapshots, and then allocates nothing.
impl Clone for Position {
    fn clone(&self) -> Self {
        Self {
            symbol: self.symbol.clone(),
            ..*self
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.symbol.clone_from(&source.symbol);
        self.quantity = source.quantity;
        self.average_price = source.average_price;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serialised name, which the journal stores: labels and journal text agree.
    fn serde_name(value: impl Serialize) -> String {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    // Metric labels and journal strings: a renamed variant must not change them.
    #[test]
    fn action_labels_are_pinned() {
        for (action, label) in [
            (Action::Buy, "buy"),
            (Action::Sell, "sell"),
            (Action::Hold, "hold"),
        ] {
            assert_eq!(action.as_str(), label);
            assert_eq!(serde_name(action), label);
        }
    }

    #[test]
    fn signal_names_are_pinned() {
        for (signal, name) in [
            (Signal::Bullish, "bullish"),
            (Signal::Neutral, "neutral"),
            (Signal::Bearish, "bearish"),
        ] {
            assert_eq!(signal.as_str(), name);
            assert_eq!(serde_name(signal), name);
        }
    }

    #[test]
    fn side_names_are_pinned() {
        for (side, name) in [(Side::Buy, "buy"), (Side::Sell, "sell")] {
            assert_eq!(side.as_str(), name);
            assert_eq!(serde_name(side), name);
        }
    }

    #[test]
    fn order_status_labels_are_pinned() {
        for (status, label) in [
            (OrderStatus::Pending, "pending"),
            (OrderStatus::Accepted, "accepted"),
            (OrderStatus::Filled, "filled"),
            (OrderStatus::PartiallyFilled, "partially_filled"),
            (OrderStatus::Rejected, "rejected"),
            (OrderStatus::Canceled, "canceled"),
        ] {
            assert_eq!(status.as_str(), label);
            assert_eq!(serde_name(status), label);
        }
    }
}
