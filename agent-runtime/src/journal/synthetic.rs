//! A SQLite journal of many synthetic rows, for the benchmarks that measure reading a large
//! journal (the journal API's pages, `kubectl tradeplane status`).
//!
//! The rows are written in bulk with SQL: the journal's own write API would spend minutes on
//! a million transactions. Their times are spelled as the journal spells them, so the pages
//! read them exactly as they read a trader's.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{Journal, JournalError};

/// Unix time of the first row; one row a minute after it.
pub const START: i64 = 1_700_000_000;

/// `INSERT INTO <table> SELECT ... FROM` a counter of `rows`; `{t}` is the row's time.
fn bulk(rows: u64, insert: &str, select: &str) -> String {
    let time = format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', {START} + i * 60, 'unixepoch')");
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
         {insert} SELECT {} FROM n",
        rows.saturating_sub(1),
        select.replace("{t}", &time)
    )
}

/// Creates the journal at `path` and writes `rows` cycles (`c000000000`, ...), orders, fills
/// and equity snapshots into it, one a minute from [`START`].
pub async fn fill_sqlite(path: &Path, rows: u64) -> Result<(), JournalError> {
    Journal::open_sqlite(path).await?.close().await;
    let mut db = SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .map_err(JournalError::from)?;
    let statements = [
        bulk(
            rows,
            "INSERT INTO cycles (cycle_id, started_at, finished_at, status, summary)",
            "printf('c%09d', i), {t}, {t}, 'completed', '2 decisions, 1 orders, 0 rejections'",
        ),
        bulk(
            rows,
            "INSERT INTO orders (client_order_id, cycle_id, symbol, side, quantity, \
             reference_price, status, created_at, updated_at)",
            "printf('o%09d', i), printf('c%09d', i), CASE i % 2 WHEN 0 THEN 'AAPL' ELSE 'MSFT' \
             END, 'buy', 10.0, 100.0, 'filled', {t}, {t}",
        ),
        bulk(
            rows,
            "INSERT INTO fills (fill_id, client_order_id, symbol, side, quantity, price, \
             commission, filled_at)",
            "printf('f%09d', i), printf('o%09d', i), 'AAPL', 'buy', 10.0, 100.0, 0.1, {t}",
        ),
        bulk(
            rows,
            "INSERT INTO equity_snapshots (taken_at, cash, equity)",
            "{t}, 50000.0, 100000.0 + (i % 977)",
        ),
    ];
    for sql in statements {
        sqlx::query(&sql)
            .execute(&mut db)
            .await
            .map_err(JournalError::from)?;
    }
    db.close().await.map_err(JournalError::from)?;
    Ok(())
}
