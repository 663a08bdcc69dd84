//! Reading the journal out: opened read-only (a backup never migrates, never writes, and works
//! on a read-only mount of the journal volume), every table in one snapshot.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};

use super::schema::{self, Kind, NOT_BACKED_UP, TABLES, Table};
use super::{DumpSink, Item, PortableError, Value};
use crate::config::JournalConfig;
use crate::journal::{Backend, Journal, JournalError, migrations};

/// Streams one table's rows from the transaction `$tx` into `$sink`.
macro_rules! export_table {
    ($tx:ident, $sink:ident, $table:ident, $columns:ident, $sql:ident, $decode:ident) => {{
        $sink
            .put(Item::Table {
                name: $table.name.to_string(),
                columns: $columns.iter().map(|(c, _)| c.to_string()).collect(),
            })
            .await?;
        let mut rows = sqlx::query(&$sql).fetch(&mut *$tx);
        while let Some(row) = rows.try_next().await.map_err(PortableError::from)? {
            let mut values = Vec::with_capacity($columns.len());
            for (i, (column, kind)) in $columns.iter().enumerate() {
                let value = $decode(&row, i, *kind).map_err(|source| PortableError::Decode {
                    table: $table.name,
                    column,
                    source,
                })?;
                values.push(value.into_json($table.name, column)?);
            }
            $sink.put(Item::Row(values)).await?;
        }
    }};
}

/// A SQLite journal no process holds open: its file's length and last change, and the
/// absence of the WAL index and log next to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unattended {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl Unattended {
    /// The journal at `path` as it is now, when no `-shm` or `-wal` file is beside it.
    fn of(path: &Path) -> Option<Self> {
        let beside = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name).exists()
        };
        if beside("-shm") || beside("-wal") {
            return None;
        }
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            path: path.to_path_buf(),
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

impl Journal {
    /// Opens an existing journal for reading only: no migrations, no file created. SQLite is
    /// opened read-only (it reads a WAL database on a read-only mount through a private copy
    /// of the WAL index).
    pub async fn open_read_only(config: &JournalConfig) -> Result<Self, JournalError> {
        match config {
            JournalConfig::Sqlite { path } => Self::open_sqlite_read_only(path).await,
            JournalConfig::Postgres { url_file } => {
                let url =
                    std::fs::read_to_string(url_file).map_err(|source| JournalError::UrlFile {
                        path: url_file.clone(),
                        source,
                    })?;
                let options =
                    PgConnectOptions::from_str(url.trim()).map_err(JournalError::Connect)?;
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(JournalError::Connect)?;
                Ok(Self {
                    backend: Backend::Postgres(pool),
                    unattended: None,
                })
            }
        }
    }

    /// A WAL database with no `-shm` file has no connection open anywhere (the index lives
    /// as long as one does), and on a read-only mount SQLite could not create the index to
    /// read it. It is then read as immutable, and [`Journal::still_unattended`] checks at the
    /// end that nothing started writing meanwhile.
    async fn open_sqlite_read_only(path: &Path) -> Result<Self, JournalError> {
        if !path.is_file() {
            return Err(JournalError::UrlFile {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no SQLite journal at this path",
                ),
            });
        }
        let unattended = Unattended::of(path);
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(unattended.is_some())
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(JournalError::Connect)?;
        Ok(Self {
            backend: Backend::Sqlite(pool),
            unattended,
        })
    }

    /// Fails when the journal was read as unattended (see `open_sqlite_read_only`) and has
    /// changed since: a process opened it meanwhile, so what was read may mix two states.
    pub fn still_unattended(&self) -> Result<(), JournalError> {
        match &self.unattended {
            Some(then) if Unattended::of(&then.path).as_ref() != Some(then) => {
                Err(JournalError::ChangedWhileRead {
                    path: then.path.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The journal's schema version: its newest applied migration (0 for a database no
    /// runtime has opened).
    pub async fn schema_version(&self) -> Result<i64, JournalError> {
        let version: Option<i64> = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_scalar(VERSION).fetch_one(pool).await,
            Backend::Postgres(pool) => sqlx::query_scalar(VERSION).fetch_one(pool).await,
        }
        .or_else(|e| match &e {
            // Never migrated: no migrations table yet.
            sqlx::Error::Database(db) if db.message().contains("_sqlx_migrations") => Ok(None),
            _ => Err(e),
        })?;
        Ok(version.unwrap_or(0))
    }

    /// The newest schema version this runtime knows.
    pub fn runtime_schema_version() -> i64 {
        migrations::latest_version()
    }

    /// Sends every backed-up table's rows to `sink`, from one consistent snapshot; returns the
    /// journal's schema version (read in the same snapshot).
    pub async fn export<S: DumpSink>(&self, sink: &mut S) -> Result<i64, S::Error> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await.map_err(PortableError::from)?;
                let version = sqlx::query_scalar(VERSION)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(PortableError::from)?;
                let version = check_version(version)?;
                let layout = layout_sqlite(&mut tx).await?;
                for (table, columns) in layout {
                    let sql = select(table, &columns, "");
                    export_table!(tx, sink, table, columns, sql, sqlite_value);
                }
                tx.commit().await.map_err(PortableError::from)?;
                Ok(version)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(PortableError::from)?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await
                    .map_err(PortableError::from)?;
                let version = sqlx::query_scalar(VERSION)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(PortableError::from)?;
                let version = check_version(version)?;
                let layout = layout_postgres(&mut tx).await?;
                for (table, columns) in layout {
                    // Byte order, as SQLite sorts text: the same dump from either backend.
                    let sql = select(table, &columns, " COLLATE \"C\"");
                    export_table!(tx, sink, table, columns, sql, pg_value);
                }
                tx.commit().await.map_err(PortableError::from)?;
                Ok(version)
            }
        }
    }
}

type Layout = Vec<(&'static Table, Vec<(&'static str, Kind)>)>;

fn select(table: &Table, columns: &[(&'static str, Kind)], collate: &str) -> String {
    let list: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
    let key = table.primary_key();
    let collate = match table.kind(key) {
        Some(Kind::Text) => collate,
        _ => "",
    };
    format!(
        "SELECT {} FROM {} ORDER BY {key}{collate}",
        list.join(", "),
        table.name
    )
}

const VERSION: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";

/// The journal's version, refused when this runtime does not know its schema.
fn check_version(version: Option<i64>) -> Result<i64, PortableError> {
    let version = version.unwrap_or(0);
    let runtime = migrations::latest_version();
    if version > runtime {
        return Err(PortableError::NewerSchema {
            journal: version,
            runtime,
        });
    }
    Ok(version)
}

/// Which known tables and columns the database has, in the schema's order; an unknown
/// table or column is an error rather than something left out.
fn layout(found: Vec<(String, Vec<String>)>) -> Result<Layout, PortableError> {
    for (table, columns) in &found {
        if NOT_BACKED_UP.contains(&table.as_str()) {
            continue;
        }
        let known =
            schema::table(table).ok_or_else(|| PortableError::UnknownTable(table.clone()))?;
        if let Some(column) = columns.iter().find(|c| known.kind(c).is_none()) {
            return Err(PortableError::UnknownColumn {
                table: table.clone(),
                column: column.clone(),
            });
        }
    }
    Ok(TABLES
        .iter()
        .filter_map(|table| {
            let (_, present) = found.iter().find(|(name, _)| name == table.name)?;
            let columns = table
                .columns
                .iter()
                .filter(|(c, _)| present.iter().any(|p| p == c))
                .copied()
                .collect();
            Some((table, columns))
        })
        .collect())
}

async fn layout_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
) -> Result<Layout, PortableError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut found = Vec::new();
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(&table)
                .fetch_all(&mut **tx)
                .await?;
        found.push((table, columns));
    }
    layout(found)
}

async fn layout_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<Layout, PortableError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    for (table, column) in rows {
        match found.last_mut() {
            Some((name, columns)) if *name == table => columns.push(column),
            _ => found.push((table, vec![column])),
        }
    }
    layout(found)
}

fn sqlite_value(row: &SqliteRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
        Kind::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
        Kind::Int4 | Kind::Int8 => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
        Kind::Time => row.try_get::<Option<DateTime<Utc>>, _>(i)?.map(Value::Time),
    }
    .unwrap_or(Value::Null))
}

fn pg_value(row: &PgRow, i: usize, kind: Kind) -> Result<Value, sqlx::Error> {
    Ok(match kind {
        Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
        Kind::Real => row.try_get::<Option<f64>, _>(i)?.map(Value::Real),
        Kind::Int4 => row
            .try_get::<Option<i32>, _>(i)?
            .map(|v| Value::Int(i64::from(v))),
        Kind::Int8 => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
        Kind::Time => row.try_get::<Option<DateTime<Utc>>, _>(i)?.map(Value::Time),
    }
    .unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::Unattended;

    #[test]
    fn a_journal_is_unattended_only_without_an_index_or_log_and_a_change_shows() {
        let dir = std::env::temp_dir().join(format!("tp-unattended-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("journal.db");
        std::fs::write(&db, b"rows").unwrap();
        let then = Unattended::of(&db).expect("nothing beside it");
        assert_eq!(Unattended::of(&db).as_ref(), Some(&then));
        std::fs::write(&db, b"more rows").unwrap();
        assert_ne!(Unattended::of(&db).as_ref(), Some(&then), "a longer file");
        std::fs::write(dir.join("journal.db-wal"), b"").unwrap();
        assert_eq!(
            Unattended::of(&db),
            None,
            "a log beside it: someone holds it"
        );
        std::fs::remove_file(dir.join("journal.db-wal")).unwrap();
        std::fs::write(dir.join("journal.db-shm"), b"").unwrap();
        assert_eq!(
            Unattended::of(&db),
            None,
            "an index beside it: someone holds it"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
