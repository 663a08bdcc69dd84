//! The paper broker: simulated market orders, with its books in a store (the journal).
//!
//! A market order fills at once, in full, at the order's reference price (the last price the
//! trader saw — "the next price" in a simulation that has no other) moved against the trader
//! by `slippage_bps`, and pays `commission_bps` of the fill's notional. Cash, positions and
//! marks live in a [`PaperStore`] — for a trader the journal's `paper_*` tables, written in
//! one transaction per fill, so a restarted trader continues with the same account. It is
//! long-only unless `allow_short`: selling more than is held is rejected, as is buying more
//! than the cash pays for.
//!
//! The accounting is the pure [`PaperBook`] (in `domain::paper`), unit-tested for the invariant that matters:
//! after any sequence of fills, equity = cash + Σ quantity × mark, and every fill changes
//! equity by exactly minus its costs (commission and slippage).

use chrono::{DateTime, SubsecRound, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Mutex;

use super::paper_store::PaperStore;
use super::{Account, Broker, BrokerError, BrokerOrder, MarketClock};
pub use crate::domain::paper::{PaperBook, PaperFill, PaperSettings};
use crate::domain::{OrderRequest, OrderStatus, Position};

/// The paper broker. Submissions are serialised (one at a time) so each reads the book the
/// previous one wrote.
pub struct PaperBroker {
    store: Box<dyn PaperStore>,
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
    /// Opens the paper account in `store` — the journal, for a trader — with
    /// `starting_cash` the first time only.
    pub async fn open(
        store: impl PaperStore + 'static,
        settings: PaperSettings,
    ) -> Result<Self, BrokerError> {
        Self::open_seeded(store, settings, &[]).await
    }

    /// [`Self::open`], with `seed` the positions the account holds the first time (a shadow
    /// starts from the live book).
    pub async fn open_seeded(
        store: impl PaperStore + 'static,
        settings: PaperSettings,
        seed: &[Position],
    ) -> Result<Self, BrokerError> {
        if !(settings.starting_cash.is_finite() && settings.starting_cash >= 0.0) {
            return Err(BrokerError::Config {
                message: format!(
                    "paper starting cash must be >= 0, got {}",
                    settings.starting_cash
                ),
            });
        }
        store.open(settings.starting_cash, seed, Utc::now()).await?;
        Ok(Self {
            store: Box::new(store),
            settings,
            submit_lock: Mutex::new(()),
        })
    }

    /// Marks a held symbol at `price`, so equity follows the market between fills.
    pub async fn mark(&self, symbol: &str, price: f64) -> Result<(), BrokerError> {
        self.store.set_mark(symbol, price).await
    }

    /// The whole book (cash, positions, marks), e.g. for tests and status.
    pub async fn book(&self) -> Result<PaperBook, BrokerError> {
        self.store.book().await
    }

    async fn submit(
        &self,
        order: &OrderRequest,
        at: DateTime<Utc>,
    ) -> Result<BrokerOrder, BrokerError> {
        let _one_at_a_time = self.submit_lock.lock().await;
        if let Some(existing) = self.store.order(&order.client_order_id).await? {
            // Same rule as a real broker: one order per client order id.
            return Ok(existing);
        }
        let mut book = self.store.book().await?;
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
        self.store
            .record_fill(
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
            let book = self.store.book().await?;
            Ok(Account {
                cash: book.cash,
                equity: book.equity(),
                buying_power: book.cash,
            })
        }
        .boxed()
    }

    fn positions(&self) -> BoxFuture<'_, Result<Vec<Position>, BrokerError>> {
        async move { Ok(self.store.book().await?.positions.into_values().collect()) }.boxed()
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
        self.store.order(client_order_id)
    }

    /// Paper market orders fill in full when placed, so there is never one left to cancel.
    fn cancel_order<'a>(
        &'a self,
        _order: &'a BrokerOrder,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        futures::future::ready(Ok(())).boxed()
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<BrokerOrder>, BrokerError>> {
        self.store.open_orders()
    }

    fn clock(&self) -> BoxFuture<'_, Result<Option<MarketClock>, BrokerError>> {
        futures::future::ready(Ok(None)).boxed()
    }
}
