//! The journal on a real PostgreSQL: the server `TRADEPLANE_TEST_POSTGRES_URL` names, or a
//! private one this test starts with `tests/postgres/up.sh` and stops at the end. Never skips.
//!
//! One test function, so one server per run and its guard outlives every scenario.

mod journal_support;

use agent_runtime::journal::Journal;
use journal_support::{Postgres, TempDir};

#[tokio::test]
async fn journal_on_postgres() {
    let server = Postgres::start();
    let files = TempDir::new("journal-pg");

    // Every call, on a fresh database, opened through the config's URL file.
    let url = server.fresh_database("exercise").await;
    let journal = Journal::open(&journal_support::postgres_config(&url, &files))
        .await
        .unwrap();
    assert_eq!(journal.backend_name(), "postgres");
    journal_support::exercise(&journal).await;
    journal.close().await;

    // Migrations are applied once: reopening keeps the data.
    let journal = Journal::open_postgres(&url).await.unwrap();
    assert_eq!(journal.equity_curve(None).await.unwrap().len(), 3);
    assert!(
        !format!("{journal:?}").contains("postgres://"),
        "Debug must not print the URL"
    );
    journal.close().await;

    // Two replicas opening the same database at once: the migration lock serialises them.
    let url = server.fresh_database("concurrent").await;
    let (a, b) = tokio::join!(Journal::open_postgres(&url), Journal::open_postgres(&url));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.record_equity(journal_support::t(0), 1.0, 1.0)
        .await
        .unwrap();
    assert_eq!(b.equity_curve(None).await.unwrap().len(), 1);
    a.close().await;
    b.close().await;

    // A backup from before fills had their own id loads, each fill keyed by its order.
    let url = server.fresh_database("older_dump").await;
    let journal = Journal::open_postgres(&url).await.unwrap();
    journal_support::an_older_dump_loads(&journal).await;
    journal.close().await;

    // The paper broker's books survive a restart.
    let url = server.fresh_database("paper").await;
    journal_support::paper_survives_restart(&journal_support::postgres_config(&url, &files)).await;
}
