//! Reconciliation: bring the journal in line with the broker before trading.
//!
//! A trader can stop anywhere — after journalling an order but before sending it, after the
//! broker filled it but before the fill was journalled, or while positions changed outside
//! the runtime. Before a replica places its first order (at start for a single replica, on
//! taking the Lease with several), [`reconcile`] therefore:
//!
//! 1. follows every order the journal holds as not final (`pending`, `accepted`,
//!    `partially_filled`) as each cycle does (`follow`): what filled since is journalled as
//!    fills (and positions), the status as the broker says; one the broker never received is
//!    marked `rejected` ("abandoned") at once, so the next cycle may decide again — which is
//!    safe only because the broker has definitely not got it, and done only if the row still
//!    has the status it was looked up with;
//! 2. compares positions and, where they differ, overwrites the journal's with the broker's
//!    (the broker is the source of truth), journalling each discrepancy as an event; a symbol
//!    with an order still working is left to the cycles, which journal its fills as they come.
//!
//! Both steps write the journal, so only the replica that leads runs them: a standby that
//! did would race the leader's orders in flight (abandon one about to be sent, or overwrite a
//! position with the broker's view from before a fill).
//!
//! The trader must not place an order until this returned `Ok`; any broker error (the broker
//! unreachable, a lookup that timed out) is an `Err`, to be retried with backoff.

use chrono::Utc;
use serde::Serialize;

use super::Broker;
use super::follow::{FollowError, FollowRules, compare_positions, follow_open_orders};
pub use super::follow::{Resolution, ResolvedOrder};
use crate::domain::PositionCorrection;
use crate::journal::{EventRecord, Journal};

pub type ReconcileError = FollowError;

/// What reconciliation found and did; the trader may trade once it has one.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReconcileReport {
    pub orders: Vec<ResolvedOrder>,
    pub corrections: Vec<PositionCorrection>,
}

/// Reconciles `journal` with `broker` (see the module docs); `cancel_after` is the strategy's
/// `orders.cancelAfterSeconds`, applied to orders still open as every cycle applies it.
pub async fn reconcile(
    broker: &dyn Broker,
    journal: &Journal,
    cancel_after: Option<chrono::TimeDelta>,
) -> Result<ReconcileReport, ReconcileError> {
    let rules = FollowRules {
        cancel_after,
        abandon_unknown_after: chrono::TimeDelta::zero(),
    };
    let followed = follow_open_orders(broker, journal, &rules, Utc::now()).await?;
    for order in &followed.orders {
        tracing::info!(
            client_order_id = order.client_order_id,
            resolution = ?order.resolution,
            "reconciled an unresolved order"
        );
    }
    let report = ReconcileReport {
        orders: followed.orders.clone(),
        corrections: compare_positions(broker, journal, &followed.open_symbols, None).await?,
    };
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
