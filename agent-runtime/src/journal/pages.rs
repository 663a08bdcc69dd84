//! Reading the journal a page at a time, for the read-only journal API.
//!
//! Every list is walked newest first by (time, key) — the key breaks ties between rows of
//! the same instant — and the next page starts strictly after the last row of this one
//! (keyset pagination). Each (time, key) pair has an index (migration 7), so a page is an
//! index range whatever the journal's size, never a sort or an offset. The SQL is built with
//! only the conditions a request has: a `$1 IS NULL OR ...` form would keep PostgreSQL's
//! generic plans from using the index. Nothing here writes.

use chrono::{DateTime, Utc};

use super::records::{
    CYCLE_COLUMNS, CycleRow, FILL_COLUMNS, FillRow, ORDER_COLUMNS, OrderRow, cycle_record,
};
use super::{
    CycleRecord, EquitySnapshot, EventRecord, Journal, JournalError, OrderRecord, with_pool,
};
use crate::domain::Fill;

/// The most positions the summary lists: more symbols than any strategy trades.
pub const MAX_POSITIONS: u32 = 1000;

/// Where a page starts and what it may hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageRequest {
    /// Rows to read; the caller asks for one more than it shows to learn whether a next page
    /// exists.
    pub rows: u32,
    /// Only rows strictly older than this (time, key): the last row of the previous page.
    pub before: Option<(DateTime<Utc>, String)>,
    /// Only rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only rows before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only rows of this symbol (orders and fills).
    pub symbol: Option<String>,
}

/// A value bound to a built statement.
enum Arg {
    Time(DateTime<Utc>),
    Text(String),
    Int(i64),
}

/// Binds `$args` to `$query` in order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Time(at) => query.bind(*at),
                Arg::Text(text) => query.bind(text.clone()),
                Arg::Int(n) => query.bind(*n),
            };
        }
        query
    }};
}

/// `SELECT columns FROM table WHERE <the request's conditions> ORDER BY time, key DESC`.
fn page_sql(
    columns: &str,
    table: &str,
    (time, key): (&str, &str),
    request: &PageRequest,
) -> (String, Vec<Arg>) {
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    let next = |arg: Arg, args: &mut Vec<Arg>| {
        args.push(arg);
        format!("${}", args.len())
    };
    if let Some(since) = request.since {
        conditions.push(format!("{time} >= {}", next(Arg::Time(since), &mut args)));
    }
    if let Some(until) = request.until {
        conditions.push(format!("{time} < {}", next(Arg::Time(until), &mut args)));
    }
    if let Some(symbol) = &request.symbol {
        conditions.push(format!(
            "symbol = {}",
            next(Arg::Text(symbol.clone()), &mut args)
        ));
    }
    if let Some((at, last_key)) = &request.before {
        let at = next(Arg::Time(*at), &mut args);
        let last_key = next(Arg::Text(last_key.clone()), &mut args);
        conditions.push(format!("({time}, {key}) < ({at}, {last_key})"));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let limit = next(Arg::Int(i64::from(request.rows)), &mut args);
    let sql = format!(
        "SELECT {columns} FROM {table}{filter} ORDER BY {time} DESC, {key} DESC LIMIT {limit}"
    );
    (sql, args)
}

impl Journal {
    /// A page of cycles, newest first by start time.
    pub async fn cycle_page(
        &self,
        request: &PageRequest,
    ) -> Result<Vec<CycleRecord>, JournalError> {
        let (sql, args) = page_sql(CYCLE_COLUMNS, "cycles", ("started_at", "cycle_id"), request);
        let rows: Vec<CycleRow> = with_pool!(self, pool =>
            bind_all!(sqlx::query_as(&sql), &args).fetch_all(pool).await)?;
        rows.into_iter().map(cycle_record).collect()
    }

    /// A page of orders, newest first by creation time.
    pub async fn order_page(
        &self,
        request: &PageRequest,
    ) -> Result<Vec<OrderRecord>, JournalError> {
        let key = ("created_at", "client_order_id");
        let (sql, args) = page_sql(ORDER_COLUMNS, "orders", key, request);
        let rows: Vec<OrderRow> = with_pool!(self, pool =>
            bind_all!(sqlx::query_as(&sql), &args).fetch_all(pool).await)?;
        rows.into_iter().map(OrderRow::into_record).collect()
    }

    /// A page of fills, newest first by fill time.
    pub async fn fill_page(&self, request: &PageRequest) -> Result<Vec<Fill>, JournalError> {
        let (sql, args) = page_sql(FILL_COLUMNS, "fills", ("filled_at", "fill_id"), request);
        let rows: Vec<FillRow> = with_pool!(self, pool =>
            bind_all!(sqlx::query_as(&sql), &args).fetch_all(pool).await)?;
        rows.into_iter().map(FillRow::into_fill).collect()
    }

    /// The orders of one cycle, oldest first.
    pub async fn cycle_orders(&self, cycle_id: &str) -> Result<Vec<OrderRecord>, JournalError> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE cycle_id = $1 \
             ORDER BY created_at, client_order_id"
        );
        let rows: Vec<OrderRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(cycle_id).fetch_all(pool).await)?;
        rows.into_iter().map(OrderRow::into_record).collect()
    }

    /// The fills of one cycle's orders, oldest first.
    pub async fn cycle_fills(&self, cycle_id: &str) -> Result<Vec<Fill>, JournalError> {
        let sql = format!(
            "SELECT {FILL_COLUMNS} FROM fills WHERE client_order_id IN \
             (SELECT client_order_id FROM orders WHERE cycle_id = $1) ORDER BY filled_at, id"
        );
        let rows: Vec<FillRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(cycle_id).fetch_all(pool).await)?;
        rows.into_iter().map(FillRow::into_fill).collect()
    }

    /// The events journalled in one cycle, oldest first.
    pub async fn cycle_events(&self, cycle_id: &str) -> Result<Vec<EventRecord>, JournalError> {
        let sql = "SELECT kind, message, details, created_at FROM events WHERE cycle_id = $1 \
                   ORDER BY id";
        let rows: Vec<(String, String, Option<String>, DateTime<Utc>)> = with_pool!(self, pool =>
            sqlx::query_as(sql).bind(cycle_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(kind, message, details, created_at)| EventRecord {
                cycle_id: Some(cycle_id.to_string()),
                kind,
                message,
                details: details.and_then(|d| serde_json::from_str(&d).ok()),
                created_at,
            })
            .collect())
    }

    /// A page of LLM spend per (UTC day, provider), newest day first, over the calls made in
    /// [since, until); `before` is the (day, provider) the previous page ended with.
    pub async fn llm_spend_page(
        &self,
        request: &PageRequest,
    ) -> Result<Vec<SpendRow>, JournalError> {
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(since) = request.since {
            args.push(Arg::Time(since));
            conditions.push(format!("called_at >= ${}", args.len()));
        }
        if let Some(until) = request.until {
            args.push(Arg::Time(until));
            conditions.push(format!("called_at < ${}", args.len()));
        }
        if let Some((day, provider)) = &request.before {
            args.push(Arg::Text(day.date_naive().to_string()));
            args.push(Arg::Text(provider.clone()));
            let n = args.len();
            conditions.push(format!("(day, provider) < (${}, ${n})", n - 1));
        }
        args.push(Arg::Int(i64::from(request.rows)));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT day, provider, COUNT(*), CAST(SUM(prompt_tokens) AS BIGINT), \
             CAST(SUM(completion_tokens) AS BIGINT), SUM(cost_usd) FROM llm_calls{filter} \
             GROUP BY day, provider ORDER BY day DESC, provider DESC LIMIT ${}",
            args.len()
        );
        type Row = (String, String, i64, Option<i64>, Option<i64>, Option<f64>);
        let rows: Vec<Row> = with_pool!(self, pool =>
            bind_all!(sqlx::query_as(&sql), &args).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|(day, provider, calls, prompt, completion, cost)| {
                let day = day.parse().map_err(|_| JournalError::Corrupt {
                    what: "LLM call day",
                    value: day.clone(),
                })?;
                Ok(SpendRow {
                    day,
                    provider,
                    calls,
                    prompt_tokens: prompt.unwrap_or(0),
                    completion_tokens: completion.unwrap_or(0),
                    cost_usd: cost.unwrap_or(0.0),
                })
            })
            .collect()
    }

    /// A page of positions by symbol (ascending), after `after_symbol`, with when each last
    /// changed.
    pub async fn position_page(
        &self,
        rows: u32,
        after_symbol: Option<&str>,
    ) -> Result<Vec<PositionRow>, JournalError> {
        let sql = "SELECT symbol, quantity, average_price, updated_at FROM positions \
                   WHERE symbol > $1 ORDER BY symbol LIMIT $2";
        let rows: Vec<(String, f64, f64, DateTime<Utc>)> = with_pool!(self, pool =>
            sqlx::query_as(sql)
                .bind(after_symbol.unwrap_or(""))
                .bind(i64::from(rows))
                .fetch_all(pool)
                .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(symbol, quantity, average_price, updated_at)| PositionRow {
                    symbol,
                    quantity,
                    average_price,
                    updated_at,
                },
            )
            .collect())
    }

    /// The first and newest equity snapshots and the highest equity ever journalled:
    /// what profit and loss and drawdown are computed from. `None` before the first.
    pub async fn equity_extremes(&self) -> Result<Option<EquityExtremes>, JournalError> {
        let (Some(first), Some(latest)) = (
            self.equity_edge(None, None, "ASC").await?,
            self.equity_edge(None, None, "DESC").await?,
        ) else {
            return Ok(None);
        };
        let sql = "SELECT MAX(equity) FROM equity_snapshots";
        let (peak,): (Option<f64>,) =
            with_pool!(self, pool => sqlx::query_as(sql).fetch_one(pool).await)?;
        Ok(Some(EquityExtremes {
            peak: peak.unwrap_or(latest.equity),
            first,
            latest,
        }))
    }

    /// The first equity snapshot at or after `since`, e.g. the day's opening equity.
    pub async fn first_equity_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Option<EquitySnapshot>, JournalError> {
        self.equity_edge(Some(since), None, "ASC").await
    }

    /// At most `max_points` equity snapshots in [since, until), spread evenly over the time
    /// they span: the range is cut into equal slices and each slice's first snapshot is
    /// kept, and the range's last snapshot always ends the series.
    pub async fn equity_series(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        max_points: u32,
    ) -> Result<Vec<EquitySnapshot>, JournalError> {
        let (Some(first), Some(last)) = (
            self.equity_edge(since, until, "ASC").await?,
            self.equity_edge(since, until, "DESC").await?,
        ) else {
            return Ok(Vec::new());
        };
        if max_points < 2 || first.taken_at >= last.taken_at {
            return Ok(vec![last]);
        }
        let starts = slice_starts(first.taken_at, last.taken_at, max_points - 1);
        let mut series = self.equity_bucket_firsts(&starts, last.taken_at).await?;
        series.push(last);
        Ok(series)
    }

    /// The oldest (`ASC`) or newest (`DESC`) snapshot in [since, until).
    pub(super) async fn equity_edge(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        direction: &str,
    ) -> Result<Option<EquitySnapshot>, JournalError> {
        let request = PageRequest {
            rows: 1,
            since,
            until,
            ..PageRequest::default()
        };
        let (sql, args) = page_sql(
            "taken_at, cash, equity",
            "equity_snapshots",
            ("taken_at", "id"),
            &request,
        );
        let sql = sql.replace("DESC", direction);
        let row: Option<(DateTime<Utc>, f64, f64)> = with_pool!(self, pool =>
            bind_all!(sqlx::query_as(&sql), &args).fetch_optional(pool).await)?;
        Ok(row.map(|(taken_at, cash, equity)| EquitySnapshot {
            taken_at,
            cash,
            equity,
        }))
    }

    /// The first snapshot at or after each of `starts` (and before the next start, the last
    /// one before `end`), oldest first; a bucket without a snapshot contributes none. Each
    /// is one index seek: the cost grows with the buckets, not with the journal.
    pub(super) async fn equity_bucket_firsts(
        &self,
        starts: &[DateTime<Utc>],
        end: DateTime<Utc>,
    ) -> Result<Vec<EquitySnapshot>, JournalError> {
        // SQLite allows 500 terms in a compound SELECT.
        const BUCKETS_PER_STATEMENT: usize = 100;
        let bounds: Vec<(DateTime<Utc>, DateTime<Utc>)> = starts
            .iter()
            .enumerate()
            .map(|(i, start)| (*start, starts.get(i + 1).copied().unwrap_or(end)))
            .collect();
        let mut found = Vec::new();
        for chunk in bounds.chunks(BUCKETS_PER_STATEMENT) {
            let sql = chunk
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    format!(
                        "SELECT * FROM (SELECT taken_at, cash, equity FROM equity_snapshots \
                         WHERE taken_at >= ${} AND taken_at < ${} ORDER BY taken_at, id \
                         LIMIT 1) AS bucket{i}",
                        2 * i + 1,
                        2 * i + 2
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            let args: Vec<Arg> = chunk
                .iter()
                .flat_map(|(from, to)| [Arg::Time(*from), Arg::Time(*to)])
                .collect();
            let rows: Vec<(DateTime<Utc>, f64, f64)> = with_pool!(self, pool =>
                bind_all!(sqlx::query_as(&sql), &args).fetch_all(pool).await)?;
            found.extend(
                rows.into_iter()
                    .map(|(taken_at, cash, equity)| EquitySnapshot {
                        taken_at,
                        cash,
                        equity,
                    }),
            );
        }
        found.sort_by_key(|snapshot| snapshot.taken_at);
        Ok(found)
    }
}

/// The starts of `slices` equal slices of [from, to).
fn slice_starts(from: DateTime<Utc>, to: DateTime<Utc>, slices: u32) -> Vec<DateTime<Utc>> {
    let span = i128::from((to - from).num_microseconds().unwrap_or(i64::MAX));
    (0..slices)
        .map(|i| {
            let offset = span * i128::from(i) / i128::from(slices);
            from + chrono::Duration::microseconds(i64::try_from(offset).unwrap_or(i64::MAX))
        })
        .collect()
}

/// One provider's LLM calls on one UTC day.
#[derive(Clone, Debug, PartialEq)]
pub struct SpendRow {
    pub day: chrono::NaiveDate,
    pub provider: String,
    pub calls: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
}

/// A position with the time it last changed.
#[derive(Clone, Debug, PartialEq)]
pub struct PositionRow {
    pub symbol: String,
    pub quantity: f64,
    pub average_price: f64,
    pub updated_at: DateTime<Utc>,
}

/// What the strategy summary's profit and drawdown come from.
#[derive(Clone, Debug, PartialEq)]
pub struct EquityExtremes {
    pub first: EquitySnapshot,
    pub latest: EquitySnapshot,
    pub peak: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_names_only_the_conditions_it_has() {
        let (sql, args) = page_sql(
            "a",
            "t",
            ("at", "k"),
            &PageRequest {
                rows: 11,
                ..PageRequest::default()
            },
        );
        assert_eq!(sql, "SELECT a FROM t ORDER BY at DESC, k DESC LIMIT $1");
        assert_eq!(args.len(), 1);
        let request = PageRequest {
            rows: 11,
            before: Some((Utc::now(), "x".into())),
            since: Some(Utc::now()),
            ..PageRequest::default()
        };
        let (sql, args) = page_sql("a", "t", ("at", "k"), &request);
        assert_eq!(
            sql,
            "SELECT a FROM t WHERE at >= $1 AND (at, k) < ($2, $3) ORDER BY at DESC, k DESC \
             LIMIT $4"
        );
        assert_eq!(args.len(), 4);
    }
}
