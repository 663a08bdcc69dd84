//! Backups across backends on a real PostgreSQL (the server `TRADEPLANE_TEST_POSTGRES_URL`
//! names, or a private one started with `tests/postgres/up.sh`): SQLite → PostgreSQL →
//! SQLite through `agent-runtime backup` and `restore`, identical at every step, and the
//! restored PostgreSQL journal takes the trader's next rows (its id sequences moved past the
//! loaded ids). Also: the schema a backup knows is exactly what PostgreSQL's migrations make.
//! Never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backup_support;
mod journal_support;

use std::process::Command;

use agent_runtime::backup::journal_digest;
use agent_runtime::journal::Journal;
use agent_runtime::journal::portable::schema::{NOT_BACKED_UP, TABLES};
use agent_runtime::journal::portable::{DumpSink, Item, PortableError};
use backup_support::{Destination, Scratch, backup, config, postgres, restore, sqlite, text};
use chrono::Utc;
use journal_support::Postgres;

/// One test function, so one PostgreSQL per run.
#[tokio::test]
async fn backups_on_postgres() {
    let server = Postgres::start();
    the_backup_schema_is_what_the_migrations_create_on_both_backends(&server).await;
    sqlite_to_postgres_to_sqlite(&server).await;
}

async fn sqlite_to_postgres_to_sqlite(server: &Postgres) {
    let dir = Scratch::new("backup-pg");

    // A replayed paper-trading journal in SQLite.
    let source_db = dir.path("source.db");
    let source_cfg = config(&dir.0, "source", "momentum", sqlite(&source_db));
    let output = Command::new(backup_support::binary())
        .args(["replay", "--config"])
        .arg(&source_cfg)
        .arg("--journal-db")
        .arg(&source_db)
        .args(["--max-cycles", "80"])
        .output()
        .unwrap();
    assert!(output.status.success(), "replay failed: {}", text(&output));
    let source = Journal::open_sqlite(&source_db).await.unwrap();
    let expected = journal_digest(&source).await.unwrap();
    source.close().await;
    assert!(
        expected.iter().filter(|t| t.rows > 0).count() >= 8,
        "{expected:?}"
    );

    let destination = Destination::Dir(dir.path("backups"));
    let from_sqlite = backup(&source_cfg, &destination, &[]);

    // Into PostgreSQL.
    let url = server.fresh_database("restore").await;
    let url_file = dir.path("journal-url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let pg_cfg = config(&dir.0, "pg", "momentum", postgres(&url_file));
    let output = restore(&pg_cfg, &destination, &["--backup", &from_sqlite]);
    assert!(
        output.status.success(),
        "restore into PostgreSQL: {}",
        text(&output)
    );
    assert!(!text(&output).contains(&url), "the journal URL was printed");
    let pg = Journal::open_postgres(&url).await.unwrap();
    assert_eq!(journal_digest(&pg).await.unwrap(), expected);
    assert_eq!(
        pg.restores().await.unwrap(),
        std::slice::from_ref(&from_sqlite)
    );

    // Out of PostgreSQL (the backup runs on its own connection, REPEATABLE READ) …
    let from_postgres = backup(&pg_cfg, &destination, &[]);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(destination.file(&format!("{from_postgres}.manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["journalBackend"], "postgres");

    // … and back into SQLite: still the same rows.
    let back_db = dir.path("back.db");
    let back_cfg = config(&dir.0, "back", "momentum", sqlite(&back_db));
    let output = restore(&back_cfg, &destination, &["--backup", &from_postgres]);
    assert!(
        output.status.success(),
        "restore into SQLite: {}",
        text(&output)
    );
    let back = Journal::open_sqlite(&back_db).await.unwrap();
    assert_eq!(journal_digest(&back).await.unwrap(), expected);
    back.close().await;

    // The trader's next rows go in after the restored ones.
    let before = pg.equity_curve(None).await.unwrap().len();
    pg.record_equity(Utc::now(), 1.0, 2.0).await.unwrap();
    pg.record_event(&agent_runtime::journal::EventRecord {
        cycle_id: None,
        kind: "after_restore".into(),
        message: "first row after the restore".into(),
        details: None,
        created_at: Utc::now(),
    })
    .await
    .unwrap();
    assert_eq!(pg.equity_curve(None).await.unwrap().len(), before + 1);
    pg.close().await;
}

/// Records the columns an export carries per table.
struct Columns(Vec<(String, Vec<String>)>);

impl DumpSink for Columns {
    type Error = PortableError;
    async fn put(&mut self, item: Item) -> Result<(), PortableError> {
        if let Item::Table { name, columns } = item {
            self.0.push((name, columns));
        }
        Ok(())
    }
}

async fn the_backup_schema_is_what_the_migrations_create_on_both_backends(server: &Postgres) {
    let dir = Scratch::new("backup-schema");
    let url = server.fresh_database("schema").await;
    let pg = Journal::open_postgres(&url).await.unwrap();
    let sqlite = Journal::open_sqlite(&dir.path("schema.db")).await.unwrap();
    let mut expected: Vec<String> = TABLES
        .iter()
        .map(|t| t.name.to_string())
        .chain(NOT_BACKED_UP.iter().map(|t| t.to_string()))
        .collect();
    expected.sort();
    for journal in [&pg, &sqlite] {
        assert_eq!(journal.table_names().await.unwrap(), expected);
        // An export of the new journal carries exactly the schema's tables and columns (a
        // column the migrations add and the schema lacks fails the export itself).
        let mut columns = Columns(Vec::new());
        journal.export(&mut columns).await.unwrap();
        let schema: Vec<(String, Vec<String>)> = TABLES
            .iter()
            .map(|t| {
                let columns = t.columns.iter().map(|(c, _)| c.to_string()).collect();
                (t.name.to_string(), columns)
            })
            .collect();
        assert_eq!(columns.0, schema, "{}", journal.backend_name());
    }
    pg.close().await;
    sqlite.close().await;
}
