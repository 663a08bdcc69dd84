//! Loading a dump into the journal: one transaction (a failed or refused restore changes
//! nothing), into an empty journal unless forced, and a row in `restores` saying which
//! backup the database now holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::schema::{self, Kind, TABLES, Table};
use super::{DumpSource, Item, PortableError, Value};
use crate::journal::{Backend, Journal, JournalError};

/// Rows per INSERT (a dozen columns at most: far below either backend's parameter limit).
const BATCH: usize = 500;

#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Replace the journal's contents when it is not empty.
    pub force: bool,
    pub marker: RestoreMarker,
}

/// What the `restores` table records about the backup loaded.
#[derive(Clone, Debug)]
pub struct RestoreMarker {
    pub backup: String,
    pub source_strategy: String,
    pub checksum: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSummary {
    pub rows: i64,
    pub table_rows: BTreeMap<String, i64>,
}

type Columns = Vec<(&'static str, Kind)>;

/// The part of an import both backends share, in the transaction `$tx`; defines `$summary`.
macro_rules! import_body {
    ($tx:ident, $source:ident, $options:ident, $insert:ident, $summary:ident) => {
        let mut occupied = Vec::new();
        for table in TABLES {
            let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
                .fetch_one(&mut *$tx)
                .await
                .map_err(PortableError::from)?;
            if count > 0 {
                occupied.push(format!("{}: {count} rows", table.name));
            }
        }
        if !occupied.is_empty() {
            if !$options.force {
                return Err(PortableError::NotEmpty(occupied.join(", ")).into());
            }
            for table in TABLES {
                sqlx::query(&format!("DELETE FROM {}", table.name))
                    .execute(&mut *$tx)
                    .await
                    .map_err(PortableError::from)?;
            }
        }
        let mut $summary = ImportSummary::default();
        let mut current: Option<(&'static Table, Columns)> = None;
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
        while let Some(item) = $source.next().await? {
            match item {
                Item::Table { name, columns } => {
                    if let Some((table, columns)) = &current {
                        $insert(&mut $tx, table, columns, &mut batch).await?;
                    }
                    if $summary.table_rows.contains_key(&name) {
                        return Err(PortableError::Malformed(format!(
                            "table {name} appears twice"
                        ))
                        .into());
                    }
                    let resolved = resolve(&name, &columns)?;
                    $summary.table_rows.insert(name, 0);
                    current = Some(resolved);
                }
                Item::Row(values) => {
                    let Some((table, columns)) = &current else {
                        return Err(
                            PortableError::Malformed("a row before any table".into()).into()
                        );
                    };
                    batch.push(row_values(table, columns, &values)?);
                    $summary.rows += 1;
                    if let Some(n) = $summary.table_rows.get_mut(table.name) {
                        *n += 1;
                    }
                    if batch.len() >= BATCH {
                        $insert(&mut $tx, table, columns, &mut batch).await?;
                    }
                }
            }
        }
        if let Some((table, columns)) = &current {
            $insert(&mut $tx, table, columns, &mut batch).await?;
        }
        let marker = &$options.marker;
        sqlx::query(
            "INSERT INTO restores (backup, source_strategy, checksum, row_count, restored_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (backup) DO UPDATE SET \
             source_strategy = excluded.source_strategy, checksum = excluded.checksum, \
             row_count = excluded.row_count, restored_at = excluded.restored_at",
        )
        .bind(&marker.backup)
        .bind(&marker.source_strategy)
        .bind(&marker.checksum)
        .bind($summary.rows)
        .bind(Utc::now())
        .execute(&mut *$tx)
        .await
        .map_err(PortableError::from)?;
    };
}

impl Journal {
    /// The backups this database was loaded from.
    pub async fn restores(&self) -> Result<Vec<String>, JournalError> {
        let sql = "SELECT backup FROM restores ORDER BY restored_at";
        Ok(match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await?,
            Backend::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await?,
        })
    }

    /// Loads a dump in one transaction. Refuses a journal holding any row unless
    /// `options.force`, in which case its backed-up tables are emptied first.
    pub async fn import<S: DumpSource>(
        &self,
        source: &mut S,
        options: &ImportOptions,
    ) -> Result<ImportSummary, S::Error> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await.map_err(PortableError::from)?;
                import_body!(tx, source, options, insert_sqlite, summary);
                tx.commit().await.map_err(PortableError::from)?;
                Ok(summary)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(PortableError::from)?;
                import_body!(tx, source, options, insert_postgres, summary);
                for table in TABLES.iter().filter(|t| t.identity) {
                    // Past the loaded ids, so the trader's next insert does not collide.
                    sqlx::query(&format!(
                        "SELECT setval(pg_get_serial_sequence('{0}', 'id'), MAX(id)) FROM {0} \
                         HAVING MAX(id) IS NOT NULL",
                        table.name
                    ))
                    .execute(&mut *tx)
                    .await
                    .map_err(PortableError::from)?;
                }
                tx.commit().await.map_err(PortableError::from)?;
                Ok(summary)
            }
        }
    }
}

/// The table and columns a dump section names, checked against the schema (the names go
/// into SQL, so only the schema's own strings are used from here on).
fn resolve(name: &str, columns: &[String]) -> Result<(&'static Table, Columns), PortableError> {
    let table = schema::table(name)
        .ok_or_else(|| PortableError::Malformed(format!("unknown table {name:?}")))?;
    let mut resolved = Vec::with_capacity(columns.len());
    for column in columns {
        let known = table
            .columns
            .iter()
            .find(|(c, _)| c == column)
            .ok_or_else(|| PortableError::Malformed(format!("unknown column {name}.{column}")))?;
        if resolved.iter().any(|(c, _)| c == &known.0) {
            return Err(PortableError::Malformed(format!(
                "column {name}.{column} appears twice"
            )));
        }
        resolved.push(*known);
    }
    if resolved.is_empty() {
        return Err(PortableError::Malformed(format!(
            "table {name} has no columns"
        )));
    }
    // An older dump lacks the columns added since: they follow the dump's own, derived.
    for (_, column, source) in schema::ADDED_LATER.iter().filter(|(t, ..)| *t == name) {
        let lacks = !resolved.iter().any(|(c, _)| c == column);
        let has_source = resolved.iter().any(|(c, _)| c == source);
        if let (true, true, Some(kind)) = (lacks, has_source, table.kind(column)) {
            let known = table.columns.iter().find(|(c, _)| c == column);
            resolved.push(known.map_or((*column, kind), |k| *k));
        }
    }
    Ok((table, resolved))
}

/// Where the value of derived column `column` of `table` comes from: its source's index.
fn derived_from(table: &Table, columns: &Columns, column: &str) -> Option<usize> {
    let (_, _, source) = schema::ADDED_LATER
        .iter()
        .find(|(t, c, _)| *t == table.name && *c == column)?;
    columns.iter().position(|(c, _)| c == source)
}

fn row_values(
    table: &Table,
    columns: &Columns,
    values: &[serde_json::Value],
) -> Result<Vec<Value>, PortableError> {
    let derived: Vec<usize> = columns
        .iter()
        .skip(values.len())
        .filter_map(|(column, _)| derived_from(table, columns, column))
        .collect();
    let values: Vec<serde_json::Value> = values
        .iter()
        .cloned()
        .chain(
            derived
                .iter()
                .filter_map(|source| values.get(*source).cloned()),
        )
        .collect();
    if values.len() != columns.len() {
        return Err(PortableError::Malformed(format!(
            "a row of {} has {} values for {} columns",
            table.name,
            values.len(),
            columns.len()
        )));
    }
    columns
        .iter()
        .zip(&values)
        .map(|((column, kind), value)| {
            Value::from_json(*kind, value)
                .map_err(|e| PortableError::Malformed(format!("{}.{column}: {e}", table.name)))
        })
        .collect()
}

fn insert_sql(table: &Table, columns: &Columns, overriding: &str) -> String {
    let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
    format!(
        "INSERT INTO {} ({}){overriding} ",
        table.name,
        names.join(", ")
    )
}

async fn insert_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    table: &Table,
    columns: &Columns,
    batch: &mut Vec<Vec<Value>>,
) -> Result<(), PortableError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut query = QueryBuilder::<sqlx::Sqlite>::new(insert_sql(table, columns, ""));
    query.push_values(batch.drain(..), |mut b, row| {
        for (value, (_, kind)) in row.into_iter().zip(columns) {
            match (value, kind) {
                (Value::Text(s), _) => b.push_bind(Some(s)),
                (Value::Real(f), _) => b.push_bind(Some(f)),
                (Value::Int(i), _) => b.push_bind(Some(i)),
                (Value::Int4(i), _) => b.push_bind(Some(i64::from(i))),
                (Value::Time(t), _) => b.push_bind(Some(t)),
                (Value::Null, Kind::Text) => b.push_bind(None::<String>),
                (Value::Null, Kind::Real) => b.push_bind(None::<f64>),
                (Value::Null, Kind::Int4 | Kind::Int8) => b.push_bind(None::<i64>),
                (Value::Null, Kind::Time) => b.push_bind(None::<DateTime<Utc>>),
            };
        }
    });
    query.build().execute(&mut **tx).await?;
    Ok(())
}

async fn insert_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &Table,
    columns: &Columns,
    batch: &mut Vec<Vec<Value>>,
) -> Result<(), PortableError> {
    if batch.is_empty() {
        return Ok(());
    }
    let overriding = if table.identity {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let mut query = QueryBuilder::<sqlx::Postgres>::new(insert_sql(table, columns, overriding));
    query.push_values(batch.drain(..), |mut b, row| {
        for (value, (_, kind)) in row.into_iter().zip(columns) {
            match (value, kind) {
                (Value::Text(s), _) => b.push_bind(Some(s)),
                (Value::Real(f), _) => b.push_bind(Some(f)),
                (Value::Int(i), _) => b.push_bind(Some(i)),
                (Value::Int4(i), _) => b.push_bind(Some(i)),
                (Value::Time(t), _) => b.push_bind(Some(t)),
                (Value::Null, Kind::Text) => b.push_bind(None::<String>),
                (Value::Null, Kind::Real) => b.push_bind(None::<f64>),
                (Value::Null, Kind::Int4) => b.push_bind(None::<i32>),
                (Value::Null, Kind::Int8) => b.push_bind(None::<i64>),
                (Value::Null, Kind::Time) => b.push_bind(None::<DateTime<Utc>>),
            };
        }
    });
    query.build().execute(&mut **tx).await?;
    Ok(())
}
