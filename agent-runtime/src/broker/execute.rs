//! Placing one order safely: journal first, send, and resolve an unknown outcome by lookup.
//!
//! The order is journalled `Pending` before it is sent, so a crash at any point leaves a
//! record that restart reconciliation looks up. When the broker's answer is lost (timeout,
//! 5xx, 429) the order is looked up by its client order id; only if the broker definitely
//! does not have it is it sent again — with the same id, so even a lookup that raced the
//! order's arrival cannot produce a second order at a broker that dedupes ids.

use std::time::Duration;

use chrono::Utc;

use super::{Broker, BrokerError, BrokerOrder};
use crate::domain::{Fill, OrderRequest, OrderStatus};
use crate::journal::{Journal, JournalError, OrderRecord};

/// Lookups after an unknown outcome before giving up (the order then stays `Pending`).
const LOOKUP_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The order was journalled but its outcome is still unknown; it stays `Pending` and
    /// restart reconciliation (or the next attempt) resolves it. Do not decide again.
    #[error("order {client_order_id} outcome unknown: {source}")]
    OutcomeUnknown {
        client_order_id: String,
        #[source]
        source: BrokerError,
    },
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

/// What happened to one order.
#[derive(Clone, Debug, PartialEq)]
pub enum Executed {
    /// The broker has the order (new or, for a repeated id, the existing one); `fill` is what
    /// of it filled that the journal did not hold yet (journalled now).
    Placed {
        order: BrokerOrder,
        fill: Option<Fill>,
    },
    /// The broker definitely refused it; journalled `Rejected` with the reason.
    Rejected { message: String },
    /// The journal already had this client order id in a final state; nothing was sent.
    AlreadyFinal(OrderRecord),
}

/// Journals `request` as `Pending`, sends it, and journals the outcome (status, fill,
/// position). `cycle_id` ties it to its cycle in the journal.
pub async fn execute_order(
    broker: &dyn Broker,
    journal: &Journal,
    cycle_id: Option<&str>,
    request: &OrderRequest,
) -> Result<Executed, ExecuteError> {
    let record = journal.record_order(cycle_id, request, Utc::now()).await?;
    if super::is_final(record.status) {
        return Ok(Executed::AlreadyFinal(record));
    }
    let id = request.client_order_id.as_str();
    let placed = match broker.submit_order(request).await {
        Ok(order) => order,
        Err(BrokerError::Rejected { message }) => {
            journal
                .update_order_status(id, OrderStatus::Rejected, None, Some(&message), Utc::now())
                .await?;
            return Ok(Executed::Rejected { message });
        }
        Err(first) => {
            tracing::warn!(client_order_id = id, error = %first, "order outcome unknown: looking it up");
            match resolve_unknown(broker, request).await {
                Ok(order) => order,
                Err(BrokerError::Rejected { message }) => {
                    journal
                        .update_order_status(
                            id,
                            OrderStatus::Rejected,
                            None,
                            Some(&message),
                            Utc::now(),
                        )
                        .await?;
                    return Ok(Executed::Rejected { message });
                }
                Err(source) => {
                    let message = source.to_string();
                    journal
                        .update_order_status(
                            id,
                            OrderStatus::Pending,
                            None,
                            Some(&message),
                            Utc::now(),
                        )
                        .await?;
                    return Err(ExecuteError::OutcomeUnknown {
                        client_order_id: id.to_string(),
                        source,
                    });
                }
            }
        }
    };
    let fill = journal.record_broker_order(&placed, Utc::now()).await?;
    Ok(Executed::Placed {
        order: placed,
        fill,
    })
}

/// After an unknown outcome: look the order up; if the broker does not have it, send it again
/// (same client order id), at most once per lookup attempt.
async fn resolve_unknown(
    broker: &dyn Broker,
    request: &OrderRequest,
) -> Result<BrokerOrder, BrokerError> {
    let mut last = BrokerError::OutcomeUnknown {
        message: "no lookup attempted".into(),
    };
    for attempt in 0..LOOKUP_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
        }
        match broker.order_by_client_id(&request.client_order_id).await {
            Ok(Some(order)) => return Ok(order),
            Ok(None) => match broker.submit_order(request).await {
                Ok(order) => return Ok(order),
                Err(err @ BrokerError::Rejected { .. }) => return Err(err),
                Err(err) => last = err,
            },
            Err(err) => last = err,
        }
    }
    Err(last)
}
