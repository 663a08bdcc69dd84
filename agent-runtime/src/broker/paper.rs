//! The paper broker: simulated market orders, with its books in the journal.
//!
//! A market order fills at once, in full, at the order's reference price (the last price the
//! trader saw — "the next price" in a simulation that has no other) moved against the trader
//! by `slippage_bps`, and pays `commission_bps` of the fill's notional. Cash, positions and
//! marks live in the journal's `paper_*` tables, written in one transaction per fill, so a
//! restarted trader continues with the same account. It is long-only unless `allow_short`:
//! selling more than is held is rejected, as is buying more than the cash pays for.
//!
//! The accounting is the pure [`PaperBook`], unit-tested for the invariant that matters:
//! after any sequence of fills, equity = cash + Σ quantity × mark, and every fill changes
//! equity by exactly minus its costs (commission and slippage).

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Mutex;

use super::{
    Account, Broker, BrokerError, BrokerOrder, MarketClock, QUANTITY_EPSILON, position_after_fill,
};
use crate::domain::{OrderRequest, OrderStatus, Position, Side};
use crate::journal::Journal;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperSettings {
    pub starting_cash: f64,
    pub commission_bps: f64,
    pub slippage_bps: f64,
    /// Allow selling more than is held (negative positions). Off by default.
    pub allow_short: bool,
}

/// The paper account: cash, positions and the last price (mark) of each symbol held.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PaperBook {
    pub cash: f64,
    pub positions: BTreeMap<String, Position>,
    pub marks: BTreeMap<String, f64>,
}

/// The result of one simulated fill.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperFill {
    pub price: f64,
    pub commission: f64,
    pub cash_after: f64,
    pub position_after: Position,
}

impl PaperBook {
    /// Cash plus every position at its mark (at its entry price when never marked).
    pub fn equity(&self) -> f64 {
        self.cash
            + self
                .positions
                .values()
                .map(|p| p.quantity * self.mark(&p.symbol).unwrap_or(p.average_price))
                .sum::<f64>()
    }

    pub fn mark(&self, symbol: &str) -> Option<f64> {
        self.marks.get(symbol).copied()
    }

    /// Fills `order` and updates the book, or says why it cannot (the book is then unchanged).
    pub fn execute(
        &mut self,
        order: &OrderRequest,
        settings: &PaperSettings,
    ) -> Result<PaperFill, String> {
        let quantity = order.quantity;
        let reference = order.reference_price;
        if !(quantity.is_finite() && quantity > 0.0) {
            return Err(format!("quantity must be positive, got {quantity}"));
        }
        if !(reference.is_finite() && reference > 0.0) {
            return Err(format!("reference price must be positive, got {reference}"));
        }
        let slip = settings.slippage_bps / 10_000.0;
        let price = match order.side {
            Side::Buy => reference * (1.0 + slip),
            Side::Sell => reference * (1.0 - slip),
        };
        let notional = quantity * price;
        let commission = notional * settings.commission_bps / 10_000.0;
        let held = self.positions.get(&order.symbol);
        let cash_after = match order.side {
            Side::Buy => {
                let cost = notional + commission;
                if cost > self.cash + 1e-9 {
                    return Err(format!(
                        "insufficient cash: buying {quantity} {} costs {cost:.2}, cash is {:.2}",
                        order.symbol, self.cash
                    ));
                }
                self.cash - cost
            }
            Side::Sell => {
                let held_quantity = held.map_or(0.0, |p| p.quantity);
                if !settings.allow_short && quantity > held_quantity + QUANTITY_EPSILON {
                    return Err(format!(
                        "long-only: selling {quantity} {} but holding {held_quantity}",
                        order.symbol
                    ));
                }
                self.cash + notional - commission
            }
        };
        let position_after = position_after_fill(held, &order.symbol, order.side, quantity, price);
        self.cash = cash_after;
        if position_after.quantity == 0.0 {
            self.positions.remove(&order.symbol);
            self.marks.remove(&order.symbol);
        } else {
            self.positions
                .insert(order.symbol.clone(), position_after.clone());
            // Marked at the market price, not the slipped fill price: slippage is a cost.
            self.marks.insert(order.symbol.clone(), reference);
        }
        Ok(PaperFill {
            price,
            commission,
            cash_after,
            position_after,
        })
    }
}

/// The paper broker. Submissions are serialised (one at a time) so each reads the book the
/// previous one wrote.
pub struct PaperBroker {
    journal: Journal,
    settings: PaperSettings,
    submit_lock: Mutex<()>,
}

impl std::fmt::Debug for PaperBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperBroker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PaperBroker {
    /// Opens the paper account in `journal` (with `starting_cash` the first time only).
    pub async fn open(journal: Journal, settings: PaperSettings) -> Result<Self, BrokerError> {
        if !(settings.starting_cash.is_finite() && settings.starting_cash >= 0.0) {
            return Err(BrokerError::Config {
                message: format!(
                    "paper starting cash must be >= 0, got {}",
                    settings.starting_cash
                ),
            });
        }
        journal
            .paper_open(settings.starting_cash, Utc::now())
            .await?;
        Ok(Self {
            journal,
            settings,
            submit_lock: Mutex::new(()),
        })
    }

    /// Marks a held symbol at `price`, so equity follows the market between fills.
    pub async fn mark(&self, symbol: &str, price: f64) -> Result<(), BrokerError> {
        Ok(self.journal.paper_set_mark(symbol, price).await?)
    }

    /// The whole book (cash, positions, marks), e.g. for tests and status.
    pub async fn book(&self) -> Result<PaperBook, BrokerError> {
        Ok(self.journal.paper_book().await?)
    }

    async fn submit(
        &self,
        order: &OrderRequest,
        at: DateTime<Utc>,
    ) -> Result<BrokerOrder, BrokerError> {
        let _one_at_a_time = self.submit_lock.lock().await;
        if let Some(existing) = self.journal.paper_order(&order.client_order_id).await? {
            // Same rule as a real broker: one order per client order id.
            return Ok(existing);
        }
        let mut book = self.journal.paper_book().await?;
        let fill = book
            .execute(order, &self.settings)
            .map_err(|message| BrokerError::Rejected { message })?;
        let placed = BrokerOrder {
            id: format!("paper-{}", order.client_order_id),
            client_order_id: order.client_order_id.clone(),
            symbol: order.symbol.clone(),
            side: order.side,
            quantity: order.quantity,
            filled_quantity: order.quantity,
            filled_average_price: Some(fill.price),
            commission: fill.commission,
            status: OrderStatus::Filled,
            submitted_at: Some(at),
            filled_at: Some(at),
        };
        self.journal
            .paper_record_fill(
                &placed,
                fill.cash_after,
                &fill.position_after,
                order.reference_price,
            )
            .await?;
        Ok(placed)
    }
}

impl Broker for PaperBroker {
    fn kind(&self) -> &'static str {
        "paper"
    }

    fn account(&self) -> BoxFuture<'_, Result<Account, BrokerError>> {
        async move {
            let book = self.journal.paper_book().await?;
            Ok(Account {
                cash: book.cash,
                equity: book.equity(),
                buying_power: book.cash,
            })
        }
        .boxed()
    }

    fn positions(&self) -> BoxFuture<'_, Result<Vec<Position>, BrokerError>> {
        async move {
            Ok(self
                .journal
                .paper_book()
                .await?
                .positions
                .into_values()
                .collect())
        }
        .boxed()
    }

    fn submit_order<'a>(
        &'a self,
        order: &'a OrderRequest,
    ) -> BoxFuture<'a, Result<BrokerOrder, BrokerError>> {
        // Microseconds: what PostgreSQL keeps, so a looked-up order equals the one returned.
        self.submit(order, Utc::now().trunc_subsecs(6)).boxed()
    }

    fn order_by_client_id<'a>(
        &'a self,
        client_order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BrokerOrder>, BrokerError>> {
        async move { Ok(self.journal.paper_order(client_order_id).await?) }.boxed()
    }

    /// Paper market orders fill in full when placed, so there is never one left to cancel.
    fn cancel_order<'a>(
        &'a self,
        _order: &'a BrokerOrder,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        futures::future::ready(Ok(())).boxed()
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<BrokerOrder>, BrokerError>> {
        async move { Ok(self.journal.paper_open_orders().await?) }.boxed()
    }

    fn clock(&self) -> BoxFuture<'_, Result<Option<MarketClock>, BrokerError>> {
        futures::future::ready(Ok(None)).boxed()
    }
}

#[cfg(test)]
#[path = "paper_tests.rs"]
mod tests;
