//! The journal on SQLite (a temp file): every call, idempotency, restart of the paper broker.

mod journal_support;

use agent_runtime::config::JournalConfig;
use agent_runtime::journal::Journal;
use journal_support::TempDir;

#[tokio::test]
async fn every_journal_call_round_trips_on_sqlite() {
    let dir = TempDir::new("journal-sqlite");
    let journal = Journal::open(&JournalConfig::Sqlite {
        path: dir.0.join("nested/journal.db"),
    })
    .await
    .unwrap();
    assert_eq!(journal.backend_name(), "sqlite");
    journal_support::exercise(&journal).await;
    journal.close().await;
}

#[tokio::test]
async fn reopening_applies_no_migration_twice_and_keeps_the_data() {
    let dir = TempDir::new("journal-sqlite-reopen");
    let path = dir.0.join("journal.db");
    let journal = Journal::open_sqlite(&path).await.unwrap();
    journal
        .record_equity(journal_support::t(0), 1.0, 2.0)
        .await
        .unwrap();
    journal.close().await;
    let journal = Journal::open_sqlite(&path).await.unwrap();
    assert_eq!(journal.equity_curve(None).await.unwrap().len(), 1);
    journal.close().await;
}

#[tokio::test]
async fn paper_broker_survives_a_restart_on_sqlite() {
    let dir = TempDir::new("paper-sqlite");
    let config = JournalConfig::Sqlite {
        path: dir.0.join("journal.db"),
    };
    journal_support::paper_survives_restart(&config).await;
}

#[tokio::test]
async fn a_shadows_paper_account_opens_seeded_once_on_sqlite() {
    let dir = TempDir::new("paper-seeded-sqlite");
    let config = JournalConfig::Sqlite {
        path: dir.0.join("journal.db"),
    };
    journal_support::paper_opens_seeded_once(&config).await;
}

#[tokio::test]
async fn an_older_backup_without_fill_ids_loads_on_sqlite() {
    let dir = TempDir::new("journal-sqlite-older-dump");
    let journal = Journal::open_sqlite(&dir.0.join("journal.db"))
        .await
        .unwrap();
    journal_support::an_older_dump_loads(&journal).await;
}
