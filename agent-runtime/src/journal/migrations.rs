//! The journal's schema migrations, embedded in the binary.
//!
//! `sqlx::migrate!` would embed them too, but needs sqlx's `macros` feature (and with it the
//! compile-time query machinery) for this one macro; listing the files here costs a line per
//! migration and uses only sqlx's public `MigrationSource`. Checksums are computed exactly as
//! `migrate!` computes them. A unit test fails when a file in a migrations folder is missing
//! from its list.

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator};

/// (version, description, SQL), in version order.
type Embedded = &'static [(i64, &'static str, &'static str)];

const SQLITE: Embedded = &[
    (
        1,
        "journal",
        include_str!("migrations/sqlite/0001_journal.sql"),
    ),
    (
        2,
        "llm_calls",
        include_str!("migrations/sqlite/0002_llm_calls.sql"),
    ),
    (
        3,
        "lease_epoch",
        include_str!("migrations/sqlite/0003_lease_epoch.sql"),
    ),
    (
        4,
        "restores",
        include_str!("migrations/sqlite/0004_restores.sql"),
    ),
    (
        5,
        "fill_ids",
        include_str!("migrations/sqlite/0005_fill_ids.sql"),
    ),
    (
        6,
        "provider_holds",
        include_str!("migrations/sqlite/0006_provider_holds.sql"),
    ),
    (
        7,
        "journal_api",
        include_str!("migrations/sqlite/0007_journal_api.sql"),
    ),
    (
        8,
        "llm_answers",
        include_str!("migrations/sqlite/0008_llm_answers.sql"),
    ),
];

const POSTGRES: Embedded = &[
    (
        1,
        "journal",
        include_str!("migrations/postgres/0001_journal.sql"),
    ),
    (
        2,
        "llm_calls",
        include_str!("migrations/postgres/0002_llm_calls.sql"),
    ),
    (
        3,
        "lease_epoch",
        include_str!("migrations/postgres/0003_lease_epoch.sql"),
    ),
    (
        4,
        "restores",
        include_str!("migrations/postgres/0004_restores.sql"),
    ),
    (
        5,
        "fill_ids",
        include_str!("migrations/postgres/0005_fill_ids.sql"),
    ),
    (
        6,
        "provider_holds",
        include_str!("migrations/postgres/0006_provider_holds.sql"),
    ),
    (
        7,
        "journal_api",
        include_str!("migrations/postgres/0007_journal_api.sql"),
    ),
    (
        8,
        "llm_answers",
        include_str!("migrations/postgres/0008_llm_answers.sql"),
    ),
];

#[derive(Debug)]
struct Source(Embedded);

impl MigrationSource<'static> for Source {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(futures::future::ready(Ok(migrations)))
    }
}

/// The newest schema version this runtime knows (both backends have the same versions).
pub(super) fn latest_version() -> i64 {
    SQLITE.last().map_or(0, |(version, _, _)| *version)
}

pub(super) async fn sqlite() -> Result<Migrator, MigrateError> {
    Migrator::new(Source(SQLITE)).await
}

pub(super) async fn postgres() -> Result<Migrator, MigrateError> {
    Migrator::new(Source(POSTGRES)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(backend: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/journal/migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for (backend, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let names = files(backend);
            assert_eq!(names.len(), list.len(), "{backend}: {names:?}");
            for (name, (version, description, _)) in names.iter().zip(list.iter()) {
                assert_eq!(
                    name,
                    &format!("{version:04}_{description}.sql"),
                    "{backend}"
                );
            }
        }
    }

    #[test]
    fn both_backends_create_and_alter_the_same_tables() {
        // The tables each migration creates or alters.
        let tables = |sql: &str| {
            let mut t: Vec<String> = sql
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("CREATE TABLE ")
                        .or_else(|| l.strip_prefix("ALTER TABLE "))
                })
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string)
                .collect();
            t.sort();
            t
        };
        for ((_, _, sqlite), (_, _, postgres)) in SQLITE.iter().zip(POSTGRES.iter()) {
            assert_eq!(tables(sqlite), tables(postgres));
            assert!(!tables(sqlite).is_empty());
        }
    }
}
