//! The paper broker's books, kept in the journal so a restart continues where it left off.
//!
//! These tables are the paper broker's side of the account — what a real broker would hold on
//! its servers — and are separate from the strategy's own `orders`/`positions`, which the
//! trader writes from what the broker answers. Keeping both lets reconciliation treat the
//! paper broker exactly like a remote one (a crash between the paper fill and the trader's
//! journal entry is resolved the same way).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Journal, JournalError, enum_text, in_transaction, parse_enum, with_pool};
use crate::domain::orders::{BrokerOrder, QUANTITY_EPSILON};
use crate::domain::paper::PaperBook;
use crate::domain::{OrderStatus, Position};

#[derive(sqlx::FromRow)]
struct PaperOrderRow {
    client_order_id: String,
    id: String,
    symbol: String,
    side: String,
    quantity: f64,
    filled_quantity: f64,
    filled_average_price: Option<f64>,
    commission: f64,
    status: String,
    submitted_at: DateTime<Utc>,
    filled_at: Option<DateTime<Utc>>,
}

impl PaperOrderRow {
    fn into_order(self) -> Result<BrokerOrder, JournalError> {
        Ok(BrokerOrder {
            side: parse_enum("paper order side", &self.side)?,
            status: parse_enum("paper order status", &self.status)?,
            id: self.id,
            client_order_id: self.client_order_id,
            symbol: self.symbol,
            quantity: self.quantity,
            filled_quantity: self.filled_quantity,
            filled_average_price: self.filled_average_price,
            commission: self.commission,
            submitted_at: Some(self.submitted_at),
            filled_at: self.filled_at,
        })
    }
}

const PAPER_ORDER_COLUMNS: &str = "client_order_id, id, symbol, side, quantity, filled_quantity, \
     filled_average_price, commission, status, submitted_at, filled_at";

impl Journal {
    /// The paper account, opened with `starting_cash` the first time and as it was left after.
    pub async fn paper_open(
        &self,
        starting_cash: f64,
        at: DateTime<Utc>,
    ) -> Result<PaperBook, JournalError> {
        self.paper_open_seeded(starting_cash, &[], at).await
    }

    /// [`Self::paper_open`], with `seed` the positions the account holds when it is opened the
    /// first time (a shadow's copy of the live book), each marked at its average price until
    /// the first cycle marks it. The account and its seed are written in one transaction, so
    /// a shadow that dies mid-way opens again with both or neither; once opened, the seed is
    /// never applied again (the book is then the shadow's own).
    pub async fn paper_open_seeded(
        &self,
        starting_cash: f64,
        seed: &[Position],
        at: DateTime<Utc>,
    ) -> Result<PaperBook, JournalError> {
        let sql = "INSERT INTO paper_account (id, cash, updated_at) VALUES (1, $1, $2) \
                   ON CONFLICT (id) DO NOTHING";
        in_transaction!(self, tx => {
            let opened = sqlx::query(sql)
                .bind(starting_cash)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for position in seed.iter().filter(|_| opened == 1) {
                sqlx::query(
                    "INSERT INTO paper_positions (symbol, quantity, average_price, mark_price) \
                     VALUES ($1, $2, $3, $3)",
                )
                .bind(&position.symbol)
                .bind(position.quantity)
                .bind(position.average_price)
                .execute(&mut *tx)
                .await?;
            }
        });
        self.paper_book().await
    }

    /// The paper broker's cash, positions and marks.
    pub async fn paper_book(&self) -> Result<PaperBook, JournalError> {
        let cash: Option<(f64,)> = with_pool!(self, pool =>
            sqlx::query_as("SELECT cash FROM paper_account WHERE id = 1").fetch_optional(pool).await)?;
        let Some((cash,)) = cash else {
            return Err(JournalError::Corrupt {
                what: "paper account",
                value: "missing (paper_open was not called)".into(),
            });
        };
        let rows: Vec<(String, f64, f64, f64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT symbol, quantity, average_price, mark_price FROM paper_positions ORDER BY symbol",
        )
        .fetch_all(pool)
        .await)?;
        let mut positions = BTreeMap::new();
        let mut marks = BTreeMap::new();
        for (symbol, quantity, average_price, mark) in rows {
            marks.insert(symbol.clone(), mark);
            positions.insert(
                symbol.clone(),
                Position {
                    symbol,
                    quantity,
                    average_price,
                },
            );
        }
        Ok(PaperBook {
            cash,
            positions,
            marks,
        })
    }

    /// Stores a filled paper order with the cash and position it leaves, in one transaction.
    pub async fn paper_record_fill(
        &self,
        order: &BrokerOrder,
        cash_after: f64,
        position_after: &Position,
        mark: f64,
    ) -> Result<(), JournalError> {
        let at = order
            .filled_at
            .or(order.submitted_at)
            .unwrap_or_else(Utc::now);
        let insert = format!(
            "INSERT INTO paper_orders ({PAPER_ORDER_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        in_transaction!(self, tx => {
            sqlx::query(&insert)
                .bind(&order.client_order_id)
                .bind(&order.id)
                .bind(&order.symbol)
                .bind(enum_text(&order.side))
                .bind(order.quantity)
                .bind(order.filled_quantity)
                .bind(order.filled_average_price)
                .bind(order.commission)
                .bind(enum_text(&order.status))
                .bind(at)
                .bind(order.filled_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE paper_account SET cash = $1, updated_at = $2 WHERE id = 1")
                .bind(cash_after)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            if position_after.quantity.abs() < QUANTITY_EPSILON {
                sqlx::query("DELETE FROM paper_positions WHERE symbol = $1")
                    .bind(&position_after.symbol)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(
                    "INSERT INTO paper_positions (symbol, quantity, average_price, mark_price) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (symbol) DO UPDATE SET \
                     quantity = excluded.quantity, average_price = excluded.average_price, \
                     mark_price = excluded.mark_price",
                )
                .bind(&position_after.symbol)
                .bind(position_after.quantity)
                .bind(position_after.average_price)
                .bind(mark)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Marks a held paper position at `price` (the latest market price).
    pub async fn paper_set_mark(&self, symbol: &str, price: f64) -> Result<(), JournalError> {
        with_pool!(self, pool =>
            sqlx::query("UPDATE paper_positions SET mark_price = $1 WHERE symbol = $2")
                .bind(price)
                .bind(symbol)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Marks every held paper position at its latest price, in one transaction. A mark that
    /// did not change writes nothing: each cycle marks twice (before and after its orders),
    /// and with SQLite on a volume every written commit is an fsync.
    pub async fn paper_set_marks(&self, marks: &BTreeMap<String, f64>) -> Result<(), JournalError> {
        let sql =
            "UPDATE paper_positions SET mark_price = $1 WHERE symbol = $2 AND mark_price <> $1";
        in_transaction!(self, tx => {
            for (symbol, price) in marks {
                sqlx::query(sql)
                    .bind(price)
                    .bind(symbol)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    pub async fn paper_order(
        &self,
        client_order_id: &str,
    ) -> Result<Option<BrokerOrder>, JournalError> {
        let sql =
            format!("SELECT {PAPER_ORDER_COLUMNS} FROM paper_orders WHERE client_order_id = $1");
        let row: Option<PaperOrderRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(client_order_id).fetch_optional(pool).await)?;
        row.map(PaperOrderRow::into_order).transpose()
    }

    /// Paper orders not yet final (none today: paper market orders fill at once).
    pub async fn paper_open_orders(&self) -> Result<Vec<BrokerOrder>, JournalError> {
        let sql = format!(
            "SELECT {PAPER_ORDER_COLUMNS} FROM paper_orders WHERE status IN ($1, $2, $3) \
             ORDER BY submitted_at"
        );
        let rows: Vec<PaperOrderRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(enum_text(&OrderStatus::Pending))
            .bind(enum_text(&OrderStatus::Accepted))
            .bind(enum_text(&OrderStatus::PartiallyFilled))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(PaperOrderRow::into_order).collect()
    }
}
