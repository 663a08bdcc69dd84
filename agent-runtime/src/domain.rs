//! The vocabulary of a trading cycle, shared by analysts, the decision, risk, brokers and
//! the journal. Plain data: no I/O, no behaviour beyond small helpers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One OHLCV bar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// What an analyst thinks the price will do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Bullish,
    Neutral,
    Bearish,
}

impl Signal {
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
    /// The seat, e.g. `technical`.
    pub role: String,
    /// What produced it: `quant:trend`, `llm:<provider>/<model>`, `fallback:hold`, ...
    pub source: String,
    pub signal: Signal,
    /// 0–1.
    pub confidence: f64,
    pub rationale: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Buy,
    Sell,
    Hold,
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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub quantity: f64,
    pub price: f64,
    pub commission: f64,
    pub time: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub symbol: String,
    /// Units held (negative = short).
    pub quantity: f64,
    /// Average entry price.
    pub average_price: f64,
}
