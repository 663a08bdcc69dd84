//! The runtime's part of a TradingStrategy's status, and what the operator tells a running
//! leader through the strategy's Lease.
//!
//! The runtime writes these fields by server-side apply on the status subresource under its
//! own field manager, [`RUNTIME_FIELD_MANAGER`]; the operator writes the rest under its own and
//! never sets these, so neither removes the other's. The names are those of the operator's
//! `TradingStrategyStatus` (a test on the operator's side reads this type's JSON into it).

use serde::{Deserialize, Serialize};

use crate::config::TradingState;

/// The field manager of the runtime's status writes (and of its Lease writes).
pub const RUNTIME_FIELD_MANAGER: &str = "tradeplane-runtime";

/// Annotation the operator sets on the strategy's Lease from `spec.switchoverAt`: a value the
/// leader has not handled yet makes it hand over to a ready standby.
///
/// "Handled" needs no storage: a pod that acquires the Lease takes the value present then as
/// handled, so a new leader never hands straight back. The operator records the value in
/// `status.lastSwitchoverAt` once it sees the Lease held by another pod.
pub const SWITCHOVER_ANNOTATION: &str = "tradeplane.io/switchover-at";

/// What the leader reports after a cycle. Absent fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatus {
    /// When the last cycle completed, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cycle_time: Option<String>,
    /// The last decision that was not a hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<DecisionSummary>,
    /// Account equity, a decimal string with two places.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equity: Option<String>,
    /// Profit and loss since the strategy started, e.g. `+1520.40 (+1.52%)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_and_loss: Option<String>,
    /// Symbols with an open position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_positions: Option<i32>,
    /// The trading state in force (the config's, or stricter if a limit tripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trading_state: Option<TradingState>,
}

/// A decision in one line, with when it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionSummary {
    /// e.g. `BUY 12 AAPL @ 0.72`.
    pub summary: String,
    /// RFC 3339.
    pub time: String,
}
