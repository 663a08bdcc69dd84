//! Where the paper broker keeps its books, as a trait: the journal implements it (its
//! `paper_*` tables, so a restarted trader continues with the same account), and a backtest
//! or shadow run can keep the books elsewhere without the paper broker changing.
//!
//! The journal's side stores and reads plain domain data (`PaperBook`, `BrokerOrder`) and
//! knows nothing of brokers; this module is what ties it to the paper broker, so the import
//! goes one way only (`broker` → `journal`).

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{BrokerError, BrokerOrder};
use crate::domain::Position;
use crate::domain::paper::PaperBook;
use crate::journal::Journal;

/// The paper broker's books: what a real broker would hold on its servers.
pub trait PaperStore: Send + Sync {
    /// The account, opened with `starting_cash` and the positions `seed` the first time and
    /// as it was left after.
    fn open<'a>(
        &'a self,
        starting_cash: f64,
        seed: &'a [Position],
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<PaperBook, BrokerError>>;

    /// Cash, positions and marks.
    fn book(&self) -> BoxFuture<'_, Result<PaperBook, BrokerError>>;

    /// Stores a filled order with the cash and position it leaves, all or nothing.
    fn record_fill<'a>(
        &'a self,
        order: &'a BrokerOrder,
        cash_after: f64,
        position_after: &'a Position,
        mark: f64,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// Marks a held position at `price`.
    fn set_mark<'a>(
        &'a self,
        symbol: &'a str,
        price: f64,
    ) -> BoxFuture<'a, Result<(), BrokerError>>;

    /// The order placed with `client_order_id`, if any.
    fn order<'a>(
        &'a self,
        client_order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BrokerOrder>, BrokerError>>;

    /// Orders not yet final.
    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<BrokerOrder>, BrokerError>>;
}

impl PaperStore for Journal {
    fn open<'a>(
        &'a self,
        starting_cash: f64,
        seed: &'a [Position],
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<PaperBook, BrokerError>> {
        async move { Ok(self.paper_open_seeded(starting_cash, seed, at).await?) }.boxed()
    }

    fn book(&self) -> BoxFuture<'_, Result<PaperBook, BrokerError>> {
        async move { Ok(self.paper_book().await?) }.boxed()
    }

    fn record_fill<'a>(
        &'a self,
        order: &'a BrokerOrder,
        cash_after: f64,
        position_after: &'a Position,
        mark: f64,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        async move {
            Ok(self
                .paper_record_fill(order, cash_after, position_after, mark)
                .await?)
        }
        .boxed()
    }

    fn set_mark<'a>(
        &'a self,
        symbol: &'a str,
        price: f64,
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        async move { Ok(self.paper_set_mark(symbol, price).await?) }.boxed()
    }

    fn order<'a>(
        &'a self,
        client_order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BrokerOrder>, BrokerError>> {
        async move { Ok(self.paper_order(client_order_id).await?) }.boxed()
    }

    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<BrokerOrder>, BrokerError>> {
        async move { Ok(self.paper_open_orders().await?) }.boxed()
    }
}
