//! Reconciliation: bring the journal in line with the broker before trading.
//!
//! A trader can stop anywhere — after journalling an order but before sending it, after the
//! broker filled it but before the fill was journalled, or while positions changed outside
//! the runtime. Before a replica places its first order (at start for a single replica, on
//! taking the Lease with several), [`reconcile`] therefore:
//!
//! 1. looks up every order the journal holds as not final (`pending`, `accepted`,
//!    `partially_filled`) by its client order id: a filled one gets its fill (and position)
//!    journalled, a canceled or rejected one its status, a still-open one its status; one the
//!    broker never received is marked `rejected` ("abandoned"), so the next cycle may decide
//!    again — which is safe only because the broker has definitely not got it, and done only
//!    if the row still has the status it was looked up with;
//! 2. compares positions and, where they differ, overwrites the journal's with the broker's
//!    (the broker is the source of truth), journalling each discrepancy as an event.
//!
//! Both steps write the journal, so only the replica that leads runs them: a standby that
//! did would race the leader's orders in flight (abandon one about to be sent, or overwrite a
//! position with the broker's view from before a fill).
//!
//! The trader must not place an order until this returned `Ok`; any broker error (the broker
//! unreachable, a lookup that timed out) is an `Err`, to be retried with backoff.

use chrono::Utc;
use serde::Serialize;

use super::{Broker, BrokerError, QUANTITY_EPSILON};
use crate::domain::{OrderStatus, Position};
use crate::journal::{EventRecord, Journal, JournalError};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

/// What reconciliation found and did; the trader may trade once it has one.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReconcileReport {
    pub orders: Vec<ResolvedOrder>,
    pub corrections: Vec<PositionCorrection>,
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
    /// The broker canceled or rejected it (any partial fill was journalled).
    Closed { status: OrderStatus },
    /// The broker never received it: marked rejected, the next cycle may decide again.
    Abandoned,
    /// The broker had no trace of it, but its journal row changed while it was looked up
    /// (an old leader, woken, recorded what the broker answered it): that row is left as is.
    SettledMeanwhile,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PositionCorrection {
    pub symbol: String,
    /// What the journal said (`None`: no position).
    pub journal: Option<Position>,
    /// What the broker says and the journal now holds (`None`: no position).
    pub broker: Option<Position>,
}

/// Reconciles `journal` with `broker` (see the module docs).
pub async fn reconcile(
    broker: &dyn Broker,
    journal: &Journal,
) -> Result<ReconcileReport, ReconcileError> {
    let mut report = ReconcileReport::default();
    for record in journal.unresolved_orders().await? {
        let id = record.request.client_order_id.clone();
        let resolution = match broker.order_by_client_id(&id).await? {
            Some(order) => {
                let fill_recorded = journal.record_broker_order(&order, Utc::now()).await?;
                match order.status {
                    OrderStatus::Filled => Resolution::Filled { fill_recorded },
                    status @ (OrderStatus::Canceled | OrderStatus::Rejected) => {
                        Resolution::Closed { status }
                    }
                    status => Resolution::StillOpen { status },
                }
            }
            None => {
                let message = "abandoned: the broker has no order with this client order id";
                let marked = journal
                    .abandon_order(&id, record.status, message, Utc::now())
                    .await?;
                if marked {
                    Resolution::Abandoned
                } else {
                    Resolution::SettledMeanwhile
                }
            }
        };
        tracing::info!(
            client_order_id = id,
            ?resolution,
            "reconciled an unresolved order"
        );
        report.orders.push(ResolvedOrder {
            client_order_id: id,
            resolution,
        });
    }

    let at_broker = broker.positions().await?;
    let in_journal = journal.positions().await?;
    let mut symbols: Vec<&str> = at_broker
        .iter()
        .chain(in_journal.iter())
        .map(|p| p.symbol.as_str())
        .collect();
    symbols.sort_unstable();
    symbols.dedup();
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
                cycle_id: None,
                kind: "position_corrected".into(),
                message: format!(
                    "{symbol}: journal had {} units, broker has {}; journal corrected",
                    correction.journal.as_ref().map_or(0.0, |p| p.quantity),
                    correction.broker.as_ref().map_or(0.0, |p| p.quantity),
                ),
                details: serde_json::to_value(&correction).ok(),
                created_at: Utc::now(),
            })
            .await?;
        report.corrections.push(correction);
    }

    journal
        .record_event(&EventRecord {
            cycle_id: None,
            kind: "reconciled".into(),
            message: format!(
                "reconciled with the {} broker: {} unresolved orders, {} position corrections",
                broker.kind(),
                report.orders.len(),
                report.corrections.len()
            ),
            details: serde_json::to_value(&report).ok(),
            created_at: Utc::now(),
        })
        .await?;
    Ok(report)
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
