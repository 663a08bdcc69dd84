//! What the pipeline writes and reads: cycles, decisions, orders, fills, positions, equity,
//! risk rejections and events. Each method is one statement or one transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Journal, JournalError, enum_text, in_transaction, parse_enum, with_pool};
use crate::domain::orders::{BrokerOrder, FilledSoFar, QUANTITY_EPSILON, position_after_fill};
use crate::domain::{
    Action, AnalystReport, DataWindow, Decision, Fill, OrderRequest, OrderStatus, Position,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleStatus {
    Running,
    Completed,
    Failed,
    /// Stopped part-way (shutdown, lost leadership).
    Abandoned,
    /// A scheduled slot no leader ran (nobody held the Lease then).
    Missed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    pub cycle_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: CycleStatus,
    /// Free text (e.g. "3 decisions, 1 order").
    pub summary: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DecisionRecord {
    pub id: i64,
    pub cycle_id: String,
    pub decided_at: DateTime<Utc>,
    pub decision: Decision,
    /// The bars its seats saw; `None` for decisions journalled before it was recorded.
    pub window: Option<DataWindow>,
}

/// An order as the strategy journalled it.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRecord {
    pub cycle_id: Option<String>,
    pub request: OrderRequest,
    pub status: OrderStatus,
    pub broker_order_id: Option<String>,
    /// Why it was rejected or abandoned, or the last error.
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EquitySnapshot {
    pub taken_at: DateTime<Utc>,
    pub cash: f64,
    pub equity: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RejectionRecord {
    pub cycle_id: String,
    pub symbol: String,
    /// The risk manager's stable reason label.
    pub reason: String,
    pub detail: String,
    pub rejected_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub cycle_id: Option<String>,
    /// A stable label, e.g. `llm_budget_exhausted`, `position_corrected`.
    pub kind: String,
    pub message: String,
    pub details: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct OrderRow {
    client_order_id: String,
    cycle_id: Option<String>,
    symbol: String,
    side: String,
    quantity: f64,
    reference_price: f64,
    status: String,
    broker_order_id: Option<String>,
    message: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    lease_epoch: Option<i32>,
}

impl OrderRow {
    pub(super) fn into_record(self) -> Result<OrderRecord, JournalError> {
        Ok(OrderRecord {
            request: OrderRequest {
                client_order_id: self.client_order_id,
                symbol: self.symbol,
                side: parse_enum("order side", &self.side)?,
                quantity: self.quantity,
                reference_price: self.reference_price,
                lease_epoch: self.lease_epoch,
            },
            cycle_id: self.cycle_id,
            status: parse_enum("order status", &self.status)?,
            broker_order_id: self.broker_order_id,
            message: self.message,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct FillRow {
    fill_id: String,
    client_order_id: String,
    symbol: String,
    side: String,
    quantity: f64,
    price: f64,
    commission: f64,
    filled_at: DateTime<Utc>,
}

pub(super) const FILL_COLUMNS: &str =
    "fill_id, client_order_id, symbol, side, quantity, price, commission, filled_at";

impl FillRow {
    pub(super) fn into_fill(self) -> Result<Fill, JournalError> {
        Ok(Fill {
            side: parse_enum("fill side", &self.side)?,
            fill_id: self.fill_id,
            client_order_id: self.client_order_id,
            symbol: self.symbol,
            quantity: self.quantity,
            price: self.price,
            commission: self.commission,
            time: self.filled_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DecisionRow {
    id: i64,
    cycle_id: String,
    symbol: String,
    action: String,
    target_quantity: f64,
    confidence: f64,
    rationale: String,
    reports: String,
    decided_at: DateTime<Utc>,
    data_window: Option<String>,
}

pub(super) const CYCLE_COLUMNS: &str = "cycle_id, started_at, finished_at, status, summary";

pub(super) type CycleRow = (
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<String>,
);

pub(super) fn cycle_record(
    (cycle_id, started_at, finished_at, status, summary): CycleRow,
) -> Result<CycleRecord, JournalError> {
    Ok(CycleRecord {
        cycle_id,
        started_at,
        finished_at,
        status: parse_enum("cycle status", &status)?,
        summary,
    })
}

pub(super) const ORDER_COLUMNS: &str = "client_order_id, cycle_id, symbol, side, quantity, reference_price, \
     status, broker_order_id, message, created_at, updated_at, lease_epoch";

/// Upserts `$position` (deleting it when flat) through the transaction `$tx`.
macro_rules! write_position {
    ($tx:ident, $position:expr, $at:expr) => {{
        let position: &Position = $position;
        if position.quantity.abs() < QUANTITY_EPSILON {
            sqlx::query("DELETE FROM positions WHERE symbol = $1")
                .bind(&position.symbol)
                .execute(&mut *$tx)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO positions (symbol, quantity, average_price, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (symbol) DO UPDATE SET \
                 quantity = excluded.quantity, average_price = excluded.average_price, \
                 updated_at = excluded.updated_at",
            )
            .bind(&position.symbol)
            .bind(position.quantity)
            .bind(position.average_price)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// Inserts `$fill` through the transaction `$tx` and, when it is new (by fill id), applies
/// it to its position; evaluates to whether it was new.
macro_rules! insert_fill {
    ($tx:ident, $fill:expr) => {{
        let fill: &Fill = $fill;
        let inserted = sqlx::query(
            "INSERT INTO fills (fill_id, client_order_id, symbol, side, quantity, price, \
             commission, filled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (fill_id) DO NOTHING",
        )
        .bind(&fill.fill_id)
        .bind(&fill.client_order_id)
        .bind(&fill.symbol)
        .bind(enum_text(&fill.side))
        .bind(fill.quantity)
        .bind(fill.price)
        .bind(fill.commission)
        .bind(fill.time)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let held: Option<(String, f64, f64)> = sqlx::query_as(
                "SELECT symbol, quantity, average_price FROM positions WHERE symbol = $1",
            )
            .bind(&fill.symbol)
            .fetch_optional(&mut *$tx)
            .await?;
            let held = held.map(|(symbol, quantity, average_price)| Position {
                symbol,
                quantity,
                average_price,
            });
            let after = position_after_fill(
                held.as_ref(),
                &fill.symbol,
                fill.side,
                fill.quantity,
                fill.price,
            );
            write_position!($tx, &after, fill.time);
        }
        inserted
    }};
}

impl Journal {
    /// Inserts or updates the cycle (by id).
    pub async fn record_cycle(&self, cycle: &CycleRecord) -> Result<(), JournalError> {
        self.insert_cycle(
            cycle,
            "DO UPDATE SET finished_at = excluded.finished_at, status = excluded.status, \
             summary = excluded.summary",
        )
        .await
    }

    /// Journals a slot nobody ran; a cycle already journalled under that id is left alone.
    pub async fn record_missed_cycle(&self, cycle: &CycleRecord) -> Result<(), JournalError> {
        self.insert_cycle(cycle, "DO NOTHING").await
    }

    /// Inserts `cycle`; `on_conflict` says what becomes of one journalled under its id.
    async fn insert_cycle(
        &self,
        cycle: &CycleRecord,
        on_conflict: &str,
    ) -> Result<(), JournalError> {
        let sql = format!(
            "INSERT INTO cycles (cycle_id, started_at, finished_at, status, summary) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (cycle_id) {on_conflict}"
        );
        with_pool!(self, pool => sqlx::query(&sql)
            .bind(&cycle.cycle_id)
            .bind(cycle.started_at)
            .bind(cycle.finished_at)
            .bind(enum_text(&cycle.status))
            .bind(&cycle.summary)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The start time of the newest cycle journalled, whatever its status.
    pub async fn last_cycle_time(&self) -> Result<Option<DateTime<Utc>>, JournalError> {
        let sql = "SELECT MAX(started_at) FROM cycles";
        let row: (Option<DateTime<Utc>>,) =
            with_pool!(self, pool => sqlx::query_as(sql).fetch_one(pool).await)?;
        Ok(row.0)
    }

    /// Every cycle journalled, oldest first.
    pub async fn cycles(&self) -> Result<Vec<CycleRecord>, JournalError> {
        let sql = format!("SELECT {CYCLE_COLUMNS} FROM cycles ORDER BY started_at, cycle_id");
        let rows: Vec<CycleRow> =
            with_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(cycle_record).collect()
    }

    pub async fn cycle(&self, cycle_id: &str) -> Result<Option<CycleRecord>, JournalError> {
        let sql = format!("SELECT {CYCLE_COLUMNS} FROM cycles WHERE cycle_id = $1");
        let row: Option<CycleRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(cycle_id).fetch_optional(pool).await)?;
        row.map(cycle_record).transpose()
    }

    /// Journals a decision with every analyst report (as JSON); returns its row id.
    pub async fn record_decision(
        &self,
        cycle_id: &str,
        decided_at: DateTime<Utc>,
        decision: &Decision,
    ) -> Result<i64, JournalError> {
        self.record_decision_seen(cycle_id, decided_at, decision, None)
            .await
    }

    /// Journals a decision with every analyst report and the data window its seats saw (both
    /// as JSON); returns its row id.
    pub async fn record_decision_seen(
        &self,
        cycle_id: &str,
        decided_at: DateTime<Utc>,
        decision: &Decision,
        window: Option<&DataWindow>,
    ) -> Result<i64, JournalError> {
        let as_json = |what, value: Result<String, serde_json::Error>| {
            value.map_err(|err| JournalError::Corrupt {
                what,
                value: err.to_string(),
            })
        };
        let reports = as_json("analyst reports", serde_json::to_string(&decision.reports))?;
        let window = window
            .map(|w| as_json("data window", serde_json::to_string(w)))
            .transpose()?;
        let sql = "INSERT INTO decisions (cycle_id, symbol, action, target_quantity, confidence, \
                   rationale, reports, decided_at, data_window) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let (id,): (i64,) = with_pool!(self, pool => sqlx::query_as(sql)
            .bind(cycle_id)
            .bind(&decision.symbol)
            .bind(enum_text(&decision.action))
            .bind(decision.target_quantity)
            .bind(decision.confidence)
            .bind(&decision.rationale)
            .bind(reports)
            .bind(decided_at)
            .bind(&window)
            .fetch_one(pool)
            .await)?;
        Ok(id)
    }

    /// The decisions of one cycle, in the order they were made.
    pub async fn decisions(&self, cycle_id: &str) -> Result<Vec<DecisionRecord>, JournalError> {
        let sql = "SELECT id, cycle_id, symbol, action, target_quantity, confidence, rationale, \
                   reports, decided_at, data_window FROM decisions WHERE cycle_id = $1 ORDER BY id";
        let rows: Vec<DecisionRow> =
            with_pool!(self, pool => sqlx::query_as(sql).bind(cycle_id).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|row| {
                let reports: Vec<AnalystReport> =
                    serde_json::from_str(&row.reports).map_err(|_| JournalError::Corrupt {
                        what: "analyst reports",
                        value: row.reports.clone(),
                    })?;
                let action: Action = parse_enum("decision action", &row.action)?;
                let window = row
                    .data_window
                    .as_deref()
                    .map(serde_json::from_str::<DataWindow>)
                    .transpose()
                    .map_err(|_| JournalError::Corrupt {
                        what: "data window",
                        value: row.data_window.clone().unwrap_or_default(),
                    })?;
                Ok(DecisionRecord {
                    window,
                    id: row.id,
                    cycle_id: row.cycle_id,
                    decided_at: row.decided_at,
                    decision: Decision {
                        symbol: row.symbol,
                        action,
                        target_quantity: row.target_quantity,
                        confidence: row.confidence,
                        rationale: row.rationale,
                        reports,
                    },
                })
            })
            .collect()
    }

    /// Journals an order as `Pending` before it is sent. Idempotent: if the client order id is
    /// already journalled, nothing changes and the existing record is returned — check its
    /// status before sending (a `Filled` order must not be sent again).
    pub async fn record_order(
        &self,
        cycle_id: Option<&str>,
        request: &OrderRequest,
        at: DateTime<Utc>,
    ) -> Result<OrderRecord, JournalError> {
        let insert = "INSERT INTO orders (client_order_id, cycle_id, symbol, side, quantity, \
                      reference_price, status, created_at, updated_at, lease_epoch) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
                      ON CONFLICT (client_order_id) DO NOTHING";
        with_pool!(self, pool => sqlx::query(insert)
            .bind(&request.client_order_id)
            .bind(cycle_id)
            .bind(&request.symbol)
            .bind(enum_text(&request.side))
            .bind(request.quantity)
            .bind(request.reference_price)
            .bind(enum_text(&OrderStatus::Pending))
            .bind(at)
            .bind(request.lease_epoch)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        self.order(&request.client_order_id)
            .await?
            .ok_or_else(|| JournalError::Corrupt {
                what: "order just journalled",
                value: request.client_order_id.clone(),
            })
    }

    pub async fn order(&self, client_order_id: &str) -> Result<Option<OrderRecord>, JournalError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE client_order_id = $1");
        let row: Option<OrderRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(client_order_id).fetch_optional(pool).await)?;
        row.map(OrderRow::into_record).transpose()
    }

    /// Every order journalled, oldest first.
    pub async fn orders(&self) -> Result<Vec<OrderRecord>, JournalError> {
        let sql =
            format!("SELECT {ORDER_COLUMNS} FROM orders ORDER BY created_at, client_order_id");
        let rows: Vec<OrderRow> =
            with_pool!(self, pool => sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(OrderRow::into_record).collect()
    }

    /// Orders whose outcome is not final yet (`pending`, `accepted`, `partially_filled`),
    /// oldest first: what restart reconciliation looks up.
    pub async fn unresolved_orders(&self) -> Result<Vec<OrderRecord>, JournalError> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE status IN ($1, $2, $3) \
             ORDER BY created_at, client_order_id"
        );
        let rows: Vec<OrderRow> = with_pool!(self, pool => sqlx::query_as(&sql)
            .bind(enum_text(&OrderStatus::Pending))
            .bind(enum_text(&OrderStatus::Accepted))
            .bind(enum_text(&OrderStatus::PartiallyFilled))
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(OrderRow::into_record).collect()
    }

    /// Sets an order's status (and, when given, the broker's id and a message).
    pub async fn update_order_status(
        &self,
        client_order_id: &str,
        status: OrderStatus,
        broker_order_id: Option<&str>,
        message: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let sql = "UPDATE orders SET status = $1, broker_order_id = COALESCE($2, broker_order_id), \
                   message = COALESCE($3, message), updated_at = $4 WHERE client_order_id = $5";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(enum_text(&status))
            .bind(broker_order_id)
            .bind(message)
            .bind(at)
            .bind(client_order_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Marks an order the broker has no trace of as rejected with `message` — only while its
    /// status is still `seen`, the one it was looked up with: an outcome written meanwhile
    /// (by a leader that did send it) knows more and wins. True when it was marked.
    pub async fn abandon_order(
        &self,
        client_order_id: &str,
        seen: OrderStatus,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, JournalError> {
        let sql = "UPDATE orders SET status = $1, message = $2, updated_at = $3 \
                   WHERE client_order_id = $4 AND status = $5";
        let marked = with_pool!(self, pool => sqlx::query(sql)
            .bind(enum_text(&OrderStatus::Rejected))
            .bind(message)
            .bind(at)
            .bind(client_order_id)
            .bind(enum_text(&seen))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(marked > 0)
    }

    /// Records what the broker said about an order: its status and id, and the part of it
    /// filled since the journal last heard (a partial fill included). Returns that new fill,
    /// `None` when nothing new filled.
    pub async fn record_broker_order(
        &self,
        order: &BrokerOrder,
        at: DateTime<Utc>,
    ) -> Result<Option<Fill>, JournalError> {
        self.update_order_status(
            &order.client_order_id,
            order.status,
            Some(&order.id),
            None,
            at,
        )
        .await?;
        self.record_fills_of(order, at).await
    }

    /// Journals the part of `order` filled beyond the fills the journal holds for it, and
    /// applies it to the position, in one transaction. The order's row is written first: that
    /// takes its lock, so two processes looking at the same order (an old leader woken, a new
    /// one) journal its fills one after the other, each seeing the other's, never both.
    pub async fn record_fills_of(
        &self,
        order: &BrokerOrder,
        at: DateTime<Utc>,
    ) -> Result<Option<Fill>, JournalError> {
        if order.filled_quantity < QUANTITY_EPSILON {
            return Ok(None);
        }
        let lock = "UPDATE orders SET updated_at = $1 WHERE client_order_id = $2";
        let sums = "SELECT COALESCE(SUM(quantity), 0.0), COALESCE(SUM(quantity * price), 0.0), \
                    COALESCE(SUM(commission), 0.0) FROM fills WHERE client_order_id = $1";
        let recorded = in_transaction!(self, tx => {
            sqlx::query(lock)
                .bind(at)
                .bind(&order.client_order_id)
                .execute(&mut *tx)
                .await?;
            let (quantity, notional, commission): (f64, f64, f64) = sqlx::query_as(sums)
                .bind(&order.client_order_id)
                .fetch_one(&mut *tx)
                .await?;
            let journalled = FilledSoFar { quantity, notional, commission };
            match order.fill_since(&journalled, at) {
                Some(fill) => {
                    let inserted = insert_fill!(tx, &fill);
                    inserted.then_some(fill)
                }
                None => None,
            }
        });
        Ok(recorded)
    }

    /// Records one fill and applies it to the positions, in one transaction. Idempotent by
    /// fill id: returns false, changing nothing, when that fill is already journalled.
    pub async fn record_fill(&self, fill: &Fill) -> Result<bool, JournalError> {
        let inserted = in_transaction!(self, tx => { insert_fill!(tx, fill) });
        Ok(inserted)
    }

    /// All fills, oldest first.
    pub async fn fills(&self) -> Result<Vec<Fill>, JournalError> {
        let sql = "SELECT fill_id, client_order_id, symbol, side, quantity, price, commission, \
                   filled_at FROM fills ORDER BY id";
        let rows: Vec<FillRow> =
            with_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        rows.into_iter().map(FillRow::into_fill).collect()
    }

    /// The strategy's open positions, by symbol.
    pub async fn positions(&self) -> Result<Vec<Position>, JournalError> {
        let sql = "SELECT symbol, quantity, average_price FROM positions ORDER BY symbol";
        let rows: Vec<(String, f64, f64)> =
            with_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(symbol, quantity, average_price)| Position {
                symbol,
                quantity,
                average_price,
            })
            .collect())
    }

    /// Overwrites one position (a zero quantity removes it): for corrections from the broker.
    pub async fn set_position(
        &self,
        position: &Position,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        in_transaction!(self, tx => {
            write_position!(tx, position, at);
        });
        Ok(())
    }

    pub async fn record_equity(
        &self,
        taken_at: DateTime<Utc>,
        cash: f64,
        equity: f64,
    ) -> Result<(), JournalError> {
        let sql = "INSERT INTO equity_snapshots (taken_at, cash, equity) VALUES ($1, $2, $3)";
        with_pool!(self, pool =>
            sqlx::query(sql).bind(taken_at).bind(cash).bind(equity).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Equity snapshots taken at or after `since` (all when `None`), oldest first.
    pub async fn equity_curve(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<EquitySnapshot>, JournalError> {
        let sql = "SELECT taken_at, cash, equity FROM equity_snapshots \
                   WHERE $1 IS NULL OR taken_at >= $1 ORDER BY taken_at, id";
        let rows: Vec<(DateTime<Utc>, f64, f64)> = with_pool!(self, pool =>
            sqlx::query_as(sql).bind(since).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(taken_at, cash, equity)| EquitySnapshot {
                taken_at,
                cash,
                equity,
            })
            .collect())
    }

    pub async fn record_rejection(&self, rejection: &RejectionRecord) -> Result<(), JournalError> {
        let sql = "INSERT INTO risk_rejections (cycle_id, symbol, reason, detail, rejected_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&rejection.cycle_id)
            .bind(&rejection.symbol)
            .bind(&rejection.reason)
            .bind(&rejection.detail)
            .bind(rejection.rejected_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Risk rejections, oldest first; of one cycle when `cycle_id` is given.
    pub async fn rejections(
        &self,
        cycle_id: Option<&str>,
    ) -> Result<Vec<RejectionRecord>, JournalError> {
        // Two statements, not `$1 IS NULL OR cycle_id = $1`: a planner cannot use the
        // cycle_id index for that form, and a cycle's detail page asks for one cycle's.
        const ALL: &str = "SELECT cycle_id, symbol, reason, detail, rejected_at \
                           FROM risk_rejections ORDER BY id";
        const ONE: &str = "SELECT cycle_id, symbol, reason, detail, rejected_at \
                           FROM risk_rejections WHERE cycle_id = $1 ORDER BY id";
        let rows: Vec<(String, String, String, String, DateTime<Utc>)> = match cycle_id {
            Some(id) => {
                with_pool!(self, pool => sqlx::query_as(ONE).bind(id).fetch_all(pool).await)?
            }
            None => with_pool!(self, pool => sqlx::query_as(ALL).fetch_all(pool).await)?,
        };
        Ok(rows
            .into_iter()
            .map(
                |(cycle_id, symbol, reason, detail, rejected_at)| RejectionRecord {
                    cycle_id,
                    symbol,
                    reason,
                    detail,
                    rejected_at,
                },
            )
            .collect())
    }

    /// Journals a notable event ("LLM budget exhausted, fell back", "position corrected").
    pub async fn record_event(&self, event: &EventRecord) -> Result<(), JournalError> {
        let sql = "INSERT INTO events (cycle_id, kind, message, details, created_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        let details = event.details.as_ref().map(serde_json::Value::to_string);
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&event.cycle_id)
            .bind(&event.kind)
            .bind(&event.message)
            .bind(details)
            .bind(event.created_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Events, oldest first; of one kind when `kind` is given.
    pub async fn events(&self, kind: Option<&str>) -> Result<Vec<EventRecord>, JournalError> {
        let sql = "SELECT cycle_id, kind, message, details, created_at FROM events \
                   WHERE $1 IS NULL OR kind = $1 ORDER BY id";
        type Row = (
            Option<String>,
            String,
            String,
            Option<String>,
            DateTime<Utc>,
        );
        let rows: Vec<Row> =
            with_pool!(self, pool => sqlx::query_as(sql).bind(kind).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(cycle_id, kind, message, details, created_at)| EventRecord {
                    cycle_id,
                    kind,
                    message,
                    details: details.and_then(|d| serde_json::from_str(&d).ok()),
                    created_at,
                },
            )
            .collect())
    }
}
