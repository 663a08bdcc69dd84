//! What a price chart needs over the newest cycles, in three queries whatever their number:
//! each decision's last bar and close, and every fill of those cycles' orders with the bar
//! of the decision it came from. The dashboard used to ask for every cycle's detail instead
//! (one request per cycle, 200 per page load).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::records::{FILL_COLUMNS, FillRow};
use super::{Journal, JournalError, with_pool};
use crate::domain::{DataWindow, Fill};

/// The newest `$1` cycles, by the same order as the cycle list.
const NEWEST_CYCLES: &str =
    "SELECT cycle_id FROM cycles ORDER BY started_at DESC, cycle_id DESC LIMIT $1";

/// The close a decision saw: its symbol's last bar.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartClose {
    pub symbol: String,
    pub bar_at: DateTime<Utc>,
    pub close: f64,
}

/// A fill, placed at the last bar its decision saw (`None` when that decision kept no data
/// window, e.g. a journal written before windows were kept).
#[derive(Clone, Debug, PartialEq)]
pub struct ChartTrade {
    pub fill: Fill,
    pub bar_at: Option<DateTime<Utc>>,
}

impl Journal {
    /// The closes and trades of the newest `cycles` cycles, each list oldest first.
    pub async fn chart(
        &self,
        cycles: u32,
    ) -> Result<(Vec<ChartClose>, Vec<ChartTrade>), JournalError> {
        let limit = i64::from(cycles);
        let sql = format!(
            "SELECT cycle_id, symbol, data_window FROM decisions WHERE cycle_id IN \
             ({NEWEST_CYCLES}) AND data_window IS NOT NULL ORDER BY decided_at, id"
        );
        let windows: Vec<(String, String, String)> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)?;
        let mut bars: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
        let mut closes = Vec::with_capacity(windows.len());
        for (cycle_id, symbol, text) in windows {
            let window: DataWindow =
                serde_json::from_str(&text).map_err(|_| JournalError::Corrupt {
                    what: "data window",
                    value: text.clone(),
                })?;
            bars.insert((cycle_id, symbol.clone()), window.last_bar_at);
            closes.push(ChartClose {
                symbol,
                bar_at: window.last_bar_at,
                close: window.last_close,
            });
        }
        let trades = self
            .chart_fills(limit)
            .await?
            .into_iter()
            .map(|(cycle_id, fill)| ChartTrade {
                bar_at: bars.get(&(cycle_id, fill.symbol.clone())).copied(),
                fill,
            })
            .collect();
        Ok((closes, trades))
    }

    /// The fills of the newest `limit` cycles' orders, oldest first, each with its cycle.
    async fn chart_fills(&self, limit: i64) -> Result<Vec<(String, Fill)>, JournalError> {
        let sql = format!(
            "SELECT client_order_id, cycle_id FROM orders WHERE cycle_id IN ({NEWEST_CYCLES})"
        );
        let orders: Vec<(String, String)> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)?;
        let cycle_of: HashMap<String, String> = orders.into_iter().collect();
        let sql = format!(
            "SELECT {FILL_COLUMNS} FROM fills WHERE client_order_id IN \
             (SELECT client_order_id FROM orders WHERE cycle_id IN ({NEWEST_CYCLES})) \
             ORDER BY filled_at, id"
        );
        let rows: Vec<FillRow> = with_pool!(self, pool =>
            sqlx::query_as(&sql).bind(limit).fetch_all(pool).await)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let fill = row.into_fill()?;
            let cycle = cycle_of
                .get(&fill.client_order_id)
                .cloned()
                .unwrap_or_default();
            out.push((cycle, fill));
        }
        Ok(out)
    }
}
