//! The real broker and journal behind the cycle's ports.
//!
//! [`BrokerExecution`] places orders through `broker::execute` (journal the order pending
//! first, send, resolve an unknown outcome by client order id) and reconciles through
//! `broker::reconcile`. The journal's side, `JournalRecorder`, is in `cycle::recorder`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::ports::{AccountState, Execution, OrderOutcome, PortError, Settlement};
pub use super::recorder::JournalRecorder;
use super::recorder::journal_error;
use crate::broker::execute::{ExecuteError, Executed, execute_order};
use crate::broker::follow::{
    FollowError, FollowRules, PENDING_GRACE, compare_positions, follow_open_orders,
};
use crate::broker::reconcile::reconcile;
use crate::broker::{Broker, BrokerError, MarketClock};
use crate::config::OrderPolicy;
use crate::domain::{OrderRequest, OrderStatus};
use crate::journal::Journal;

/// A broker whose orders are journalled as they go and followed until they end.
pub struct BrokerExecution {
    broker: Box<dyn Broker>,
    journal: Journal,
    /// `orders.cancelAfterSeconds`: an order still open after this long is canceled.
    cancel_after: Option<chrono::TimeDelta>,
}

impl BrokerExecution {
    pub fn new(broker: Box<dyn Broker>, journal: Journal) -> Self {
        Self {
            broker,
            journal,
            cancel_after: None,
        }
    }

    /// Applies the strategy's order policy.
    pub fn with_policy(mut self, policy: &OrderPolicy) -> Self {
        self.cancel_after = policy
            .cancel_after_seconds
            .and_then(|seconds| chrono::TimeDelta::try_seconds(i64::try_from(seconds).ok()?));
        self
    }
}

fn follow_error(err: FollowError) -> PortError {
    match err {
        FollowError::Broker(err) => broker_error(err),
        FollowError::Journal(err) => journal_error(err),
    }
}

fn broker_error(err: BrokerError) -> PortError {
    PortError {
        kind: err.kind(),
        message: err.to_string(),
    }
}

impl Execution for BrokerExecution {
    fn account<'a>(
        &'a self,
        marks: &'a BTreeMap<String, f64>,
    ) -> BoxFuture<'a, Result<AccountState, PortError>> {
        async move {
            if self.broker.kind() == "paper" {
                // The paper broker values positions at the marks it was last given.
                self.journal
                    .paper_set_marks(marks)
                    .await
                    .map_err(journal_error)?;
            }
            let account = self.broker.account().await.map_err(broker_error)?;
            let mut positions = self.broker.positions().await.map_err(broker_error)?;
            positions.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            Ok(AccountState {
                cash: account.cash,
                equity: account.equity,
                positions,
            })
        }
        .boxed()
    }

    fn market_clock(&self) -> BoxFuture<'_, Result<Option<MarketClock>, PortError>> {
        async move { self.broker.clock().await.map_err(broker_error) }.boxed()
    }

    fn reconcile(&self) -> BoxFuture<'_, Result<(), PortError>> {
        async move {
            let report = reconcile(self.broker.as_ref(), &self.journal, self.cancel_after)
                .await
                .map_err(|err| PortError {
                    kind: "reconcile",
                    message: err.to_string(),
                })?;
            tracing::info!(
                orders_resolved = report.orders.len(),
                positions_corrected = report.corrections.len(),
                "reconciliation finished"
            );
            Ok(())
        }
        .boxed()
    }

    fn settle<'a>(&'a self, cycle_id: &'a str) -> BoxFuture<'a, Result<Settlement, PortError>> {
        async move {
            let rules = FollowRules {
                cancel_after: self.cancel_after,
                abandon_unknown_after: PENDING_GRACE,
            };
            // Wall-clock time: the orders' ages are measured from when they were journalled.
            let followed =
                follow_open_orders(self.broker.as_ref(), &self.journal, &rules, Utc::now())
                    .await
                    .map_err(follow_error)?;
            let corrections = compare_positions(
                self.broker.as_ref(),
                &self.journal,
                &followed.open_symbols,
                Some(cycle_id),
            )
            .await
            .map_err(follow_error)?;
            Ok(Settlement {
                fills: followed.fills,
                open_symbols: followed.open_symbols,
                corrections,
            })
        }
        .boxed()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), PortError>> {
        async move {
            self.broker.account().await.map_err(broker_error)?;
            self.broker.positions().await.map_err(broker_error)?;
            Ok(())
        }
        .boxed()
    }

    fn submit<'a>(
        &'a self,
        cycle_id: &'a str,
        order: &'a OrderRequest,
        _at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderOutcome, PortError>> {
        async move {
            match execute_order(self.broker.as_ref(), &self.journal, Some(cycle_id), order).await {
                Ok(Executed::Placed { order, fill }) => Ok(OrderOutcome {
                    status: order.status,
                    fills: fill.into_iter().collect(),
                    message: None,
                }),
                Ok(Executed::Rejected { message }) => Ok(OrderOutcome {
                    status: OrderStatus::Rejected,
                    fills: Vec::new(),
                    message: Some(message),
                }),
                // Already handled in an earlier attempt: its fill was counted then.
                Ok(Executed::AlreadyFinal(record)) => Ok(OrderOutcome {
                    status: record.status,
                    fills: Vec::new(),
                    message: Some("already final in the journal".into()),
                }),
                Err(ExecuteError::OutcomeUnknown { source, .. }) => Err(broker_error(source)),
                Err(ExecuteError::Journal(err)) => Err(journal_error(err)),
            }
        }
        .boxed()
    }
}
