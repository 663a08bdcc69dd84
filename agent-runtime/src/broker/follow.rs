//! Orders followed to their end, and the journal's positions held to the broker's.
//!
//! An order the broker accepted is not done: it may fill in parts, the rest arriving cycles
//! later, expire at the end of its time in force, or be canceled. So before each cycle the
//! leader looks up every order the journal holds as not final ([`follow_open_orders`]) and
//! journals what changed: each part filled since the last look as one fill (exactly once,
//! by fill id — see `BrokerOrder::fill_since`), moving the position with it; the status;
//! and, where the strategy's policy says so, cancels an order that has worked too long.
//! Then [`compare_positions`] turns any difference left between the journal's positions and
//! the broker's (a trade made outside the runtime, a fill the broker never reported on an
//! order) into a journalled correction: the broker is the source of truth.
//!
//! Restart reconciliation (`reconcile`) is the same two steps, with one difference: there an
//! order the broker has no trace of is abandoned at once, since nothing of this process can
//! still be sending it; during a life it is left `pending` for [`PENDING_GRACE`] first.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Broker, BrokerError, QUANTITY_EPSILON};
use crate::domain::{Fill, OrderStatus, Position, PositionCorrection};
use crate::journal::{EventRecord, Journal, JournalError, OrderRecord};

/// How long an order whose outcome is unknown may stay `pending` while the broker has no
/// trace of it, before it is abandoned: long past any request the broker could still be
/// working on, short enough that its symbol is not blocked for long.
pub const PENDING_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

/// How open orders are treated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FollowRules {
    /// Cancel an order still open this long after it was journalled (`orders.cancelAfterSeconds`).
    pub cancel_after: Option<chrono::TimeDelta>,
    /// Abandon a `pending` order the broker has no trace of once it is this old.
    pub abandon_unknown_after: chrono::TimeDelta,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedOrder {
    pub client_order_id: String,
    pub resolution: Resolution,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Resolution {
    /// The broker filled it; `fill_recorded` is false when the journal already had the fill.
    Filled { fill_recorded: bool },
    /// The broker still works on it (accepted or partially filled).
    StillOpen { status: OrderStatus },
    /// The broker canceled, expired or rejected it (any part filled before was journalled).
    Closed { status: OrderStatus },
    /// Open longer than the policy allows: the trader canceled it (`status` is what the
    /// broker said after, usually canceled; filled when a fill came first).
    CanceledByPolicy { status: OrderStatus },
    /// Still without an answer and unknown to the broker: left `pending` for now.
    Unknown,
    /// The broker never received it: marked rejected, the next cycle may decide again.
    Abandoned,
    /// The broker had no trace of it, but its journal row changed while it was looked up
    /// (an old leader, woken, recorded what the broker answered it): that row is left as is.
    SettledMeanwhile,
}

impl Resolution {
    /// True while the order may still fill: its symbol gets no new order.
    pub fn is_open(self) -> bool {
        matches!(self, Self::StillOpen { .. } | Self::Unknown)
    }
}

/// What following the open orders found and did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FollowReport {
    pub orders: Vec<ResolvedOrder>,
    /// Fills journalled by this look, in the order found.
    pub fills: Vec<Fill>,
    /// Symbols with an order that may still fill.
    pub open_symbols: BTreeSet<String>,
}

/// Looks up every order the journal holds as not final and journals what changed.
pub async fn follow_open_orders(
    broker: &dyn Broker,
    journal: &Journal,
    rules: &FollowRules,
    now: DateTime<Utc>,
) -> Result<FollowReport, FollowError> {
    let mut report = FollowReport::default();
    for record in journal.unresolved_orders().await? {
        let (resolution, fills) = follow_order(broker, journal, &record, rules, now).await?;
        if resolution.is_open() {
            report.open_symbols.insert(record.request.symbol.clone());
        }
        report.fills.extend(fills);
        report.orders.push(ResolvedOrder {
            client_order_id: record.request.client_order_id,
            resolution,
        });
    }
    Ok(report)
}

/// One order: its new fills and status journalled, canceled when the policy says so.
async fn follow_order(
    broker: &dyn Broker,
    journal: &Journal,
    record: &OrderRecord,
    rules: &FollowRules,
    now: DateTime<Utc>,
) -> Result<(Resolution, Vec<Fill>), FollowError> {
    let id = record.request.client_order_id.as_str();
    let Some(order) = broker.order_by_client_id(id).await? else {
        return Ok((
            unknown_to_broker(journal, record, rules, now).await?,
            Vec::new(),
        ));
    };
    let mut fills: Vec<Fill> = journal
        .record_broker_order(&order, now)
        .await?
        .into_iter()
        .collect();
    let overdue = rules
        .cancel_after
        .is_some_and(|limit| now - record.created_at >= limit);
    let resolution = if !order.is_final() && overdue {
        broker.cancel_order(&order).await?;
        // Looked up again: a fill may have come before the cancel.
        let after = broker.order_by_client_id(id).await?.unwrap_or(order);
        fills.extend(journal.record_broker_order(&after, now).await?);
        let seconds = rules.cancel_after.map_or(0, |limit| limit.num_seconds());
        let message = format!(
            "the trader canceled it: still open after {seconds} s (orders.cancelAfterSeconds); \
             {} of {} filled",
            after.filled_quantity, after.quantity
        );
        journal
            .update_order_status(id, after.status, None, Some(&message), now)
            .await?;
        journal
            .record_event(&EventRecord {
                cycle_id: record.cycle_id.clone(),
                kind: "order_canceled".into(),
                message: format!("{id}: {message}"),
                details: None,
                created_at: now,
            })
            .await?;
        Resolution::CanceledByPolicy {
            status: after.status,
        }
    } else {
        match order.status {
            OrderStatus::Filled => Resolution::Filled {
                fill_recorded: !fills.is_empty(),
            },
            status @ OrderStatus::Expired => {
                let message = format!(
                    "expired at the broker at the end of its time in force; {} of {} filled",
                    order.filled_quantity, order.quantity
                );
                journal
                    .update_order_status(id, status, None, Some(&message), now)
                    .await?;
                Resolution::Closed { status }
            }
            status @ (OrderStatus::Canceled | OrderStatus::Rejected) => {
                Resolution::Closed { status }
            }
            status => Resolution::StillOpen { status },
        }
    };
    Ok((resolution, fills))
}

/// An order the broker has no trace of: abandoned once old enough (see [`PENDING_GRACE`]),
/// and only while its row still has the status it was looked up with.
async fn unknown_to_broker(
    journal: &Journal,
    record: &OrderRecord,
    rules: &FollowRules,
    now: DateTime<Utc>,
) -> Result<Resolution, FollowError> {
    if now - record.created_at < rules.abandon_unknown_after {
        return Ok(Resolution::Unknown);
    }
    let message = "abandoned: the broker has no order with this client order id";
    let marked = journal
        .abandon_order(
            &record.request.client_order_id,
            record.status,
            message,
            Utc::now(),
        )
        .await?;
    Ok(if marked {
        Resolution::Abandoned
    } else {
        Resolution::SettledMeanwhile
    })
}

/// Compares the journal's positions with the broker's and, where they differ, overwrites the
/// journal's with the broker's, journalling each difference as a `position_corrected` event
/// (of `cycle_id`, when a cycle found it).
///
/// Symbols in `working` (an order still open) are left out: a fill may land at the broker
/// between the look at the order and the read of the positions, and "correcting" the journal
/// to include it would count it twice once the next look journals it as a fill.
pub async fn compare_positions(
    broker: &dyn Broker,
    journal: &Journal,
    working: &BTreeSet<String>,
    cycle_id: Option<&str>,
) -> Result<Vec<PositionCorrection>, FollowError> {
    let at_broker = broker.positions().await?;
    let in_journal = journal.positions().await?;
    let mut symbols: Vec<&str> = at_broker
        .iter()
        .chain(in_journal.iter())
        .map(|p| p.symbol.as_str())
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
    symbols.retain(|symbol| !working.contains(*symbol));
    let mut corrections = Vec::new();
    for symbol in symbols {
        let find = |list: &[Position]| {
            list.iter()
                .find(|p| p.symbol == symbol && p.quantity.abs() >= QUANTITY_EPSILON)
                .cloned()
        };
        let (broker_side, journal_side) = (find(&at_broker), find(&in_journal));
        if same_position(broker_side.as_ref(), journal_side.as_ref()) {
            continue;
        }
        let corrected = broker_side.clone().unwrap_or_else(|| Position {
            symbol: symbol.to_string(),
            quantity: 0.0,
            average_price: 0.0,
        });
        journal.set_position(&corrected, Utc::now()).await?;
        let correction = PositionCorrection {
            symbol: symbol.to_string(),
            journal: journal_side,
            broker: broker_side,
        };
        tracing::warn!(?correction, "journal position corrected from the broker");
        journal
            .record_event(&EventRecord {
                cycle_id: cycle_id.map(str::to_string),
                kind: "position_corrected".into(),
                message: correction.to_string(),
                details: serde_json::to_value(&correction).ok(),
                created_at: Utc::now(),
            })
            .await?;
        corrections.push(correction);
    }
    Ok(corrections)
}

fn same_position(a: Option<&Position>, b: Option<&Position>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            (a.quantity - b.quantity).abs() < 1e-6
                && (a.average_price - b.average_price).abs()
                    <= 1e-6 * a.average_price.abs().max(1.0)
        }
        _ => false,
    }
}
