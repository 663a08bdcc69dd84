//! A trader killed and restarted on the same UTC day keeps its LLM spend: every billed call
//! is journalled when it is answered, and the restarted process restores the day's spend
//! before its first call, so the budget still fails closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod journal_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agent_runtime::config::JournalConfig;
use agent_runtime::journal::Journal;
use chrono::Utc;
use journal_support::TempDir;
use standins::openai::{OpenAiStandin, Reply};

fn start(dir: &Path, tag: &str, config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_agent-runtime"))
        .args(["trader", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{tag}.out"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{tag}.err"))).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until the journal holds `count` events of `kind`. The journal is read while the
/// trader runs, so it is opened read-only — a second process migrating a database the trader
/// is still creating would race it — and a journal not created or migrated yet is "not yet".
async fn wait_for_events(db: &Path, kind: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let config = JournalConfig::Sqlite {
        path: db.to_path_buf(),
    };
    loop {
        let last = match Journal::open_read_only(&config).await {
            Ok(journal) => {
                let seen = journal.events(Some(kind)).await;
                journal.close().await;
                match seen {
                    Ok(seen) if seen.len() >= count => return,
                    Ok(seen) => format!("{} so far", seen.len()),
                    Err(err) => err.to_string(),
                }
            }
            Err(err) => err.to_string(),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {count} {kind} events: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_trader_killed_and_restarted_on_the_same_day_keeps_its_spend() {
    let llm = OpenAiStandin::start().await.unwrap();
    // $5 / $10 per million: 200 in + 100 out = $0.002, the whole budget.
    llm.push(Reply::verdict("bullish", 0.8, "strong quarter").usage(200, 100));
    let dir = TempDir::new("llm-restart");
    let db = dir.0.join("journal.db");
    let config = dir.0.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: runtime.tradeplane.io/v1alpha1\n\
             identity: {{namespace: test, name: metered}}\n\
             symbols: [AAPL]\n\
             schedule: {{intervalSeconds: 1}}\n\
             analysts: [{{role: news, kind: llm, providers: [metered], model: m}}]\n\
             providers: [{{name: metered, baseUrl: \"{}\", dailyBudgetUsd: 0.002, \
             inputPricePerMillion: 5, outputPricePerMillion: 10, timeoutSeconds: 5}}]\n\
             journal: {{backend: sqlite, path: \"{}\"}}\n\
             server: {{listen: \"127.0.0.1:0\"}}\n",
            llm.base_url(),
            db.display()
        ),
    )
    .unwrap();

    let mut first = start(&dir.0, "first", &config);
    wait_for_events(&db, "llm_budget_exhausted", 1).await;
    first.kill().unwrap(); // SIGKILL: no shutdown path runs
    first.wait().unwrap();
    assert_eq!(llm.requests().len(), 1);

    let journal = Journal::open_sqlite(&db).await.unwrap();
    let today = Utc::now().date_naive();
    let usage = journal.llm_usage_on(today).await.unwrap();
    assert_eq!(usage.get("metered"), Some(&(1, 200, 100)), "{usage:?}");
    let spent = journal.llm_spend_on(today).await.unwrap();
    assert!((spent["metered"] - 0.002).abs() < 1e-12, "{spent:?}");
    let before = journal
        .events(Some("llm_budget_exhausted"))
        .await
        .unwrap()
        .len();
    journal.close().await;

    let mut second = start(&dir.0, "second", &config);
    // Two more refusals from the restarted process, and not one call.
    wait_for_events(&db, "llm_budget_exhausted", before + 2).await;
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(
        llm.requests().len(),
        1,
        "the restarted trader started the day at zero spend"
    );
    let logs = std::fs::read_to_string(dir.0.join("second.out")).unwrap()
        + &std::fs::read_to_string(dir.0.join("second.err")).unwrap();
    assert!(logs.contains("LLM spend restored"), "{logs}");
}

/// A trader killed right after a provider's 429 — and killed again and again while the
/// provider's `Retry-After` runs, as a crash-looping pod is — does not call the provider before
/// the end it gave: the hold is journalled before the 429 is acted on, and each new life
/// restores it before its first call, as it restores the spend.
#[tokio::test]
async fn a_trader_crash_looping_during_a_retry_after_does_not_call_before_it_ends() {
    const RETRY_AFTER_SECONDS: u64 = 3;
    /// How long each life of the crash loop runs before it is killed, unless it calls first.
    const LIFE: Duration = Duration::from_millis(1_000);
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::rate_limited(RETRY_AFTER_SECONDS));
    let dir = TempDir::new("llm-restart-hold");
    let db = dir.0.join("journal.db");
    let config = dir.0.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: runtime.tradeplane.io/v1alpha1\n\
             identity: {{namespace: test, name: held}}\n\
             symbols: [AAPL]\n\
             schedule: {{intervalSeconds: 1}}\n\
             analysts: [{{role: news, kind: llm, providers: [held], model: m}}]\n\
             providers: [{{name: held, baseUrl: \"{}\", timeoutSeconds: 5}}]\n\
             journal: {{backend: sqlite, path: \"{}\"}}\n\
             server: {{listen: \"127.0.0.1:0\"}}\n",
            llm.base_url(),
            db.display()
        ),
    )
    .unwrap();

    let mut first = start(&dir.0, "life-0", &config);
    let seen = llm.wait_for_requests(1, Duration::from_secs(20)).await;
    assert_eq!(seen.len(), 1, "the trader never called the provider");
    // Killed right after the 429 reached it (a local answer and a SQLite write take a few
    // milliseconds; a quarter of a second is ample on a busy machine).
    tokio::time::sleep(Duration::from_millis(250)).await;
    first.kill().unwrap(); // SIGKILL: no shutdown path runs
    first.wait().unwrap();

    // The crash loop: each life runs until it calls the provider or `LIFE` passed, then is
    // killed, until one has called.
    let mut lives = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while llm.requests().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no call after {lives} restarts"
        );
        lives += 1;
        let mut life = start(&dir.0, &format!("life-{lives}"), &config);
        llm.wait_for_requests(2, LIFE).await;
        life.kill().unwrap();
        life.wait().unwrap();
    }

    let requests = llm.requests();
    let gap = requests[1].at.duration_since(requests[0].at);
    assert_eq!(
        llm.calls_during_hold(),
        0,
        "a restarted trader called {gap:?} after a {RETRY_AFTER_SECONDS}-s Retry-After \
         (after {lives} restarts)"
    );
    // The stand-in's hold starts as it answers, before the trader has read the answer: the
    // trader's own hold ends a little later still, never earlier.
    assert!(
        gap >= Duration::from_millis(RETRY_AFTER_SECONDS * 1_000 - 100),
        "{gap:?}"
    );
    assert!(lives >= 2, "the hold outlived only {lives} restart(s)");
    eprintln!("{lives} restarts; first call after the 429 came {gap:?} later");
    let logs: String = (1..=lives)
        .map(|life| {
            std::fs::read_to_string(dir.0.join(format!("life-{life}.out"))).unwrap_or_default()
                + &std::fs::read_to_string(dir.0.join(format!("life-{life}.err")))
                    .unwrap_or_default()
        })
        .collect();
    assert!(logs.contains("provider hold restored"), "{logs}");
}
