//! The journal as portable rows: what a backup reads out of one backend and a restore loads
//! into either.
//!
//! A row is a JSON array of its columns' values, in the column order of [`schema::TABLES`]:
//! text as strings, reals as numbers (exact: shortest round-trip form), integers as integers,
//! timestamps as RFC 3339 UTC strings with six fractional digits (PostgreSQL keeps
//! microseconds, so SQLite's finer digits are cut on the way out, the same in both
//! directions). The same row therefore reads the same from SQLite and from PostgreSQL, which
//! is what lets a backup of one load into the other, and what lets two journals be compared
//! by the checksums of their rows.
//!
//! [`Journal::export`] reads every table in one consistent snapshot while the trader keeps
//! writing: a read transaction in SQLite's WAL mode (which sees the database as of its first
//! read, and which writers do not block), `REPEATABLE READ, READ ONLY` in PostgreSQL. That is
//! the snapshot SQLite's online backup or `VACUUM INTO` would give, without copying the file
//! first: the rows are needed in the portable form anyway. [`Journal::import`] loads rows in
//! one transaction, so a failed restore leaves the journal as it was.

mod export;
pub use export::Unattended;
mod import;
pub mod schema;

pub use import::{ImportOptions, ImportSummary, RestoreMarker};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use super::JournalError;
use schema::Kind;

/// One line's worth of a dump, as the journal produces and consumes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// The rows that follow belong to this table and carry these columns, in this order.
    Table {
        name: String,
        columns: Vec<String>,
    },
    Row(Vec<serde_json::Value>),
}

/// Where [`Journal::export`] sends what it reads; the backup's upload implements it.
#[allow(async_fn_in_trait)] // used with generics only, never as `dyn`
pub trait DumpSink {
    type Error: From<PortableError>;
    async fn put(&mut self, item: Item) -> Result<(), Self::Error>;
}

/// Where [`Journal::import`] reads from; the restore's download implements it.
#[allow(async_fn_in_trait)]
pub trait DumpSource {
    type Error: From<PortableError>;
    /// The next item, or None at the end of the dump.
    async fn next(&mut self) -> Result<Option<Item>, Self::Error>;
}

#[derive(Debug, thiserror::Error)]
pub enum PortableError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("journal query failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot read {table}.{column}: {source}")]
    Decode {
        table: &'static str,
        column: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the journal has a table {0} that this runtime's backups do not know: back it up with the runtime that created it"
    )]
    UnknownTable(String),
    #[error(
        "the journal's table {table} has a column {column} that this runtime's backups do not know"
    )]
    UnknownColumn { table: String, column: String },
    #[error("{table}.{column} holds {value}, which a backup cannot carry")]
    Unrepresentable {
        table: &'static str,
        column: &'static str,
        value: String,
    },
    #[error(
        "the journal's schema version {journal} is newer than this runtime's {runtime}: use a newer runtime"
    )]
    NewerSchema { journal: i64, runtime: i64 },
    #[error("the dump is malformed: {0}")]
    Malformed(String),
    #[error(
        "the journal is not empty ({0}): restore only into an empty journal, or pass --force to replace its contents"
    )]
    NotEmpty(String),
}

/// A value of `kind` as it goes into a dump.
pub(crate) enum Value {
    Null,
    Text(String),
    Real(f64),
    Int(i64),
    /// A 32-bit column's value (PostgreSQL `INTEGER` wants an `i32` bound).
    Int4(i32),
    Time(DateTime<Utc>),
}

impl Value {
    pub(crate) fn into_json(
        self,
        table: &'static str,
        column: &'static str,
    ) -> Result<serde_json::Value, PortableError> {
        Ok(match self {
            Value::Null => serde_json::Value::Null,
            Value::Text(s) => serde_json::Value::String(s),
            Value::Int(i) => serde_json::Value::from(i),
            Value::Int4(i) => serde_json::Value::from(i),
            Value::Real(f) => serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .ok_or_else(|| PortableError::Unrepresentable {
                    table,
                    column,
                    value: f.to_string(),
                })?,
            Value::Time(t) => serde_json::Value::String(format_time(t)),
        })
    }

    /// Reads a dumped value as `kind`; the error names what was expected.
    pub(crate) fn from_json(kind: Kind, json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        Ok(match (kind, json) {
            (_, J::Null) => Value::Null,
            (Kind::Text, J::String(s)) => Value::Text(s.clone()),
            (Kind::Real, J::Number(n)) => {
                Value::Real(n.as_f64().ok_or_else(|| format!("{n} is not a number"))?)
            }
            (Kind::Int4 | Kind::Int8, J::Number(n)) => {
                let i = n.as_i64().ok_or_else(|| format!("{n} is not an integer"))?;
                if kind == Kind::Int8 {
                    Value::Int(i)
                } else {
                    Value::Int4(
                        i32::try_from(i)
                            .map_err(|_| format!("{i} does not fit a 32-bit integer"))?,
                    )
                }
            }
            (Kind::Time, J::String(s)) => Value::Time(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?
                    .with_timezone(&Utc),
            ),
            (kind, other) => return Err(format!("{other} is not a {kind:?} value")),
        })
    }
}

/// A timestamp as dumps carry it: UTC, microseconds, `Z`.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.trunc_subsecs(6)
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_carried_to_the_microsecond_in_utc() {
        let t = Utc.timestamp_opt(1_767_225_600, 123_456_789).unwrap();
        assert_eq!(format_time(t), "2026-01-01T00:00:00.123456Z");
        let back = Value::from_json(
            Kind::Time,
            &serde_json::json!("2026-01-01T01:00:00.5+01:00"),
        );
        let Ok(Value::Time(back)) = back else {
            panic!("not a time")
        };
        assert_eq!(format_time(back), "2026-01-01T00:00:00.500000Z");
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_refused_with_what_was_expected() {
        let err = Value::from_json(Kind::Int4, &serde_json::json!(1_u64 << 40))
            .err()
            .unwrap();
        assert!(err.contains("32-bit"), "{err}");
        let err = Value::from_json(Kind::Real, &serde_json::json!("1.0"))
            .err()
            .unwrap();
        assert!(err.contains("Real"), "{err}");
    }

    #[test]
    fn a_real_keeps_every_bit_through_its_json_form() {
        for f in [
            0.1_f64,
            1.0 / 3.0,
            1e-300,
            123_456_789.123_456_79,
            0.051_527_990_042_426_884,
        ] {
            let json = Value::Real(f).into_json("t", "c").unwrap();
            let text = serde_json::to_string(&json).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            let Ok(Value::Real(back)) = Value::from_json(Kind::Real, &parsed) else {
                panic!("not a real")
            };
            assert_eq!(back.to_bits(), f.to_bits());
        }
        let err = Value::Real(f64::NAN)
            .into_json("t", "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.c") && err.contains("NaN"), "{err}");
    }
}
