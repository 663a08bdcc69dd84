//! The journal: every cycle, decision (with each analyst's report), order, fill, position,
//! equity snapshot, risk rejection and notable event, in SQLite or PostgreSQL.
//!
//! It is the strategy's memory — what a restart continues from, what reconciliation checks
//! against the broker, what backups save — so it is written before the effect it records
//! (an order is journalled `Pending` before it is sent) and each multi-row change is one
//! transaction.
//!
//! # One code path, two databases
//!
//! [`Journal`] is a small enum over a `SqlitePool` and a `PgPool`, and each query is written
//! once inside [`with_pool!`]/[`in_transaction!`], which expand the same code for both. We
//! chose this over `sqlx::Any` because `Any` only carries integers, floats, text and bytes: we
//! would lose `TIMESTAMPTZ` in PostgreSQL and have to hand-encode every timestamp, and
//! decoding errors would move from compile time to run time. The price is that the SQL must
//! be portable: `$1`-style parameters (SQLite accepts them too), `ON CONFLICT ... DO`,
//! `RETURNING`, JSON kept as `TEXT`. Only the DDL differs, so there is one migration folder per
//! backend (`migrations/sqlite`, `migrations/postgres`), embedded in the binary (see
//! [`migrations`]) and applied at open; keep the two in step (a test checks they define the
//! same tables).
//!
//! A journal belongs to one strategy: share a PostgreSQL server between strategies with one
//! database each.

mod chart;
mod llm_answers;
mod llm_calls;
mod migrations;
mod pages;
mod paper_state;
pub mod portable;
mod records;
pub mod synthetic;

pub use chart::{ChartClose, ChartTrade};
pub use pages::{EquityExtremes, MAX_POSITIONS, PageRequest, PositionRow, SpendRow};
pub use records::{
    CycleRecord, CycleStatus, DecisionRecord, EquitySnapshot, EventRecord, OrderRecord,
    RejectionRecord,
};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::config::JournalConfig;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot read the journal URL file {path}: {source}")]
    UrlFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the journal: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the journal schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("journal query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value this code cannot read back (e.g. an unknown status name).
    #[error(
        "the SQLite journal {path} changed while it was read with no process holding it \
         (a trader or cycle started meanwhile); take the backup again"
    )]
    ChangedWhileRead { path: std::path::PathBuf },
    #[error("journal holds an unreadable {what}: {value}")]
    Corrupt { what: &'static str, value: String },
}

/// A handle on the journal database; cheap to clone (pools are reference counted).
#[derive(Clone)]
pub struct Journal {
    backend: Backend,
    /// Set when a SQLite journal was opened for reading with no process holding it (see
    /// `open_read_only`): the file as it was then, which must still be so when the read ends.
    unattended: Option<portable::Unattended>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl std::fmt::Debug for Journal {
    // By hand: the pool's connect options hold the PostgreSQL password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$pool` bound to whichever pool the journal has.
macro_rules! with_pool {
    ($journal:expr, $pool:ident => $body:expr) => {
        match &$journal.backend {
            $crate::journal::Backend::Sqlite($pool) => $body,
            $crate::journal::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` inside one transaction, with `$tx` bound to it (use `&mut *$tx` as the
/// executor); commits when the body finishes, rolls back if it returns early with `?`.
macro_rules! in_transaction {
    ($journal:expr, $tx:ident => $body:block) => {
        match &$journal.backend {
            $crate::journal::Backend::Sqlite(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::journal::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

pub(crate) use {in_transaction, with_pool};

impl Journal {
    /// Opens (creating if needed) the journal `config` names and applies pending migrations.
    pub async fn open(config: &JournalConfig) -> Result<Self, JournalError> {
        match config {
            JournalConfig::Sqlite { path } => Self::open_sqlite(path).await,
            JournalConfig::Postgres { url_file } => {
                let url =
                    std::fs::read_to_string(url_file).map_err(|source| JournalError::UrlFile {
                        path: url_file.clone(),
                        source,
                    })?;
                Self::open_postgres(url.trim()).await
            }
        }
    }

    /// A SQLite file journal. One connection: SQLite allows one writer at a time anyway, and
    /// a single connection rules out `SQLITE_BUSY` between our own read-then-write transactions.
    pub async fn open_sqlite(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::UrlFile {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(JournalError::Connect)?;
        migrations::sqlite().await?.run(&pool).await?;
        Ok(Self {
            backend: Backend::Sqlite(pool),
            unattended: None,
        })
    }

    /// A PostgreSQL journal at `url` (`postgres://user:pass@host:port/db`).
    pub async fn open_postgres(url: &str) -> Result<Self, JournalError> {
        let options =
            sqlx::postgres::PgConnectOptions::from_str(url).map_err(JournalError::Connect)?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(JournalError::Connect)?;
        migrations::postgres().await?.run(&pool).await?;
        Ok(Self {
            backend: Backend::Postgres(pool),
            unattended: None,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections to finish (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Names of the tables the migrations created, sorted (for schema checks).
    pub async fn table_names(&self) -> Result<Vec<String>, JournalError> {
        let names: Vec<(String,)> = match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
                )
                .fetch_all(pool)
                .await?
            }
            Backend::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT table_name::TEXT FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%' \
                     ORDER BY table_name",
                )
                .fetch_all(pool)
                .await?
            }
        };
        Ok(names.into_iter().map(|(n,)| n).collect())
    }
}

/// The serde name of a unit enum value (`OrderStatus::PartiallyFilled` → `partially_filled`),
/// so the journal stores the same words the JSON APIs use.
pub(crate) fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// [`enum_text`] for readers outside the journal (the API names statuses as it stores them).
pub fn enum_name<T: Serialize>(value: &T) -> String {
    enum_text(value)
}

/// The inverse of [`enum_text`].
pub(crate) fn parse_enum<T: DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, JournalError> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        JournalError::Corrupt {
            what,
            value: text.to_string(),
        }
    })
}
