//! `agent-runtime backtest --llm record|replay`: LLM answers stored in the journal and
//! replayed, against the OpenAI stand-in (the only thing stood in for). A replay makes no
//! provider request, costs nothing and trades exactly as the recording did; the spending cap
//! fails closed; a question with no stored answer falls back, counted. The store is checked
//! on both journal backends (PostgreSQL through the harness the journal tests use).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed set-up step fails the test loudly

mod journal_support;

use std::path::{Path, PathBuf};

use agent_runtime::agents::llm::{AnswerKey, Completion, LlmMode, Usage, verdict_request};
use agent_runtime::backtest::{self, BacktestError, Overrides, SettingsError, Summary};
use agent_runtime::config::RuntimeConfig;
use agent_runtime::domain::Fill;
use agent_runtime::journal::Journal;
use chrono::{Duration, NaiveDate};
use journal_support::{Postgres, TempDir};
use standins::openai::OpenAiStandin;

/// `n` daily bars of a deterministic walk, written as SPY.csv in `dir`.
fn write_bars(dir: &Path, n: usize) -> PathBuf {
    let start = NaiveDate::from_ymd_opt(2021, 1, 4).unwrap();
    let mut seed = 7u64;
    let mut close = 100.0_f64;
    let mut text = String::from("date,open,high,low,close,volume\n");
    for i in 0..n {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let step = ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
        let open = close;
        close = ((open * (1.0 + 0.04 * step)) * 100.0).round() / 100.0;
        let day = start + Duration::days(i as i64);
        let (high, low) = (open.max(close) + 0.5, open.min(close) - 0.5);
        text.push_str(&format!("{day},{open},{high},{low},{close},1000\n"));
    }
    let data = dir.join(format!("bars-{n}"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("SPY.csv"), text).unwrap();
    data
}

/// One LLM seat and nothing else, so every order follows from its answers; priced, so a
/// recording costs money and a replay visibly does not.
fn llm_config(llm_url: &str, db: &Path) -> RuntimeConfig {
    let yaml = format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {{namespace: test, name: llm-backtest}}
symbols: [SPY]
analysts:
  - role: news
    kind: llm
    providers: [metered]
    model: test-model
providers:
  - name: metered
    baseUrl: \"{llm_url}\"
    inputPricePerMillion: 5
    outputPricePerMillion: 10
    maxRetries: 0
    timeoutSeconds: 5
decision: {{minConfidence: 0.3, targetPositionFraction: 0.5}}
broker: {{kind: paper, startingCash: 100000, commissionBps: 5, slippageBps: 3}}
journal: {{backend: sqlite, path: \"{}\"}}
",
        db.display()
    );
    RuntimeConfig::parse(&yaml, Path::new("llm-backtest.yaml")).unwrap()
}

fn overrides(data: &Path, llm: LlmMode, max_cost_usd: Option<f64>) -> Overrides {
    Overrides {
        data: Some(data.to_path_buf()),
        llm,
        max_cost_usd,
        ..Overrides::default()
    }
}

async fn run(
    config: &RuntimeConfig,
    overrides: &Overrides,
) -> Result<(Summary, Vec<Fill>), BacktestError> {
    let mut fills = Vec::new();
    let summary = backtest::run_observed(config, overrides, &mut |f| fills.push(f.clone())).await?;
    Ok((summary, fills))
}

/// The parts of a summary that say what was traded (not how fast, nor what the LLM cost).
fn trading(summary: &Summary) -> (u64, f64, Option<f64>, f64, u64, u64, Option<f64>) {
    (
        summary.cycles,
        summary.final_equity,
        summary.total_return,
        summary.max_drawdown,
        summary.trades,
        summary.fills,
        summary.exposure,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_trades_as_the_recording_did_with_no_request_and_no_cost() {
    let dir = TempDir::new("bt-llm-replay");
    let data = write_bars(&dir.0, 40);
    let db = dir.0.join("journal.db");
    let recorder = OpenAiStandin::start().await.unwrap();
    let (recorded, recorded_fills) = run(
        &llm_config(&recorder.base_url(), &db),
        &overrides(&data, LlmMode::Record, Some(5.0)),
    )
    .await
    .unwrap();
    let calls = recorder.requests().len() as u64;
    assert!(calls >= 30, "one question per cycle, got {calls}");
    assert_eq!(recorded.llm.llm_calls, calls);
    assert!(recorded.llm_cost_usd > 0.0, "{recorded:?}");
    assert!(
        recorded.fills > 0,
        "the answers must lead to trades: {recorded:?}"
    );
    let stored = Journal::open_sqlite(&db).await.unwrap();
    // The stand-in's answers depend on the prompt, and each cycle's prompt is new.
    assert_eq!(stored.llm_answer_count().await.unwrap() as u64, calls);
    stored.close().await;

    // Replay against a stand-in that only counts: the answers come from the journal.
    let counter = OpenAiStandin::start().await.unwrap();
    let (replayed, replayed_fills) = run(
        &llm_config(&counter.base_url(), &db),
        &overrides(&data, LlmMode::Replay, None),
    )
    .await
    .unwrap();

    assert_eq!(counter.requests().len(), 0, "a replay calls no provider");
    assert_eq!(replayed.llm_cost_usd, 0.0);
    assert_eq!(format!("{:.2}", replayed.llm_cost_usd), "0.00");
    assert_eq!(
        (
            replayed.llm.llm_calls,
            replayed.llm.llm_replayed,
            replayed.llm.llm_replay_misses
        ),
        (0, calls, 0)
    );
    assert_eq!(trading(&replayed), trading(&recorded));
    assert_eq!(
        replayed_fills, recorded_fills,
        "the same orders, bit for bit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_never_recorded_falls_back_and_is_counted() {
    let dir = TempDir::new("bt-llm-miss");
    let db = dir.0.join("journal.db");
    let llm = OpenAiStandin::start().await.unwrap();
    let config = llm_config(&llm.base_url(), &db);
    let (recorded, _) = run(
        &config,
        &overrides(&write_bars(&dir.0, 30), LlmMode::Record, Some(5.0)),
    )
    .await
    .unwrap();
    let calls = llm.requests().len() as u64;

    // Ten bars more than were recorded: the first 30 questions are the recording's, the
    // last 10 were never asked.
    let (replayed, _) = run(
        &config,
        &overrides(&write_bars(&dir.0, 40), LlmMode::Replay, None),
    )
    .await
    .unwrap();

    assert_eq!(llm.requests().len() as u64, calls, "no request in replay");
    assert_eq!(replayed.llm.llm_replayed, calls);
    assert_eq!(replayed.llm.llm_replay_misses, 10);
    assert_eq!(replayed.cycles, recorded.cycles + 10);
    assert_eq!(replayed.llm_cost_usd, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spending_cap_stops_the_calls_before_it_is_passed() {
    let dir = TempDir::new("bt-llm-cap");
    let data = write_bars(&dir.0, 30);
    let llm = OpenAiStandin::start().await.unwrap();
    let config = llm_config(&llm.base_url(), &dir.0.join("uncapped.db"));
    let (full, _) = run(&config, &overrides(&data, LlmMode::Record, Some(100.0)))
        .await
        .unwrap();
    let per_call = full.llm_cost_usd / full.llm.llm_calls as f64;
    let cap = per_call * 3.5;

    let capped_llm = OpenAiStandin::start().await.unwrap();
    let config = llm_config(&capped_llm.base_url(), &dir.0.join("capped.db"));
    let (capped, _) = run(&config, &overrides(&data, LlmMode::Record, Some(cap)))
        .await
        .unwrap();

    let made = capped_llm.requests().len() as u64;
    assert_eq!(capped.llm.llm_calls, made);
    assert!(made >= 1 && made < full.llm.llm_calls, "{made} calls");
    assert!(
        capped.llm_cost_usd <= cap,
        "{} spent of {cap}",
        capped.llm_cost_usd
    );
    assert_eq!(
        capped.llm.llm_cap_refusals + made,
        full.llm.llm_calls,
        "every question not asked is a counted fallback"
    );
}

#[tokio::test]
async fn recording_without_a_cap_is_refused_naming_the_flag() {
    let dir = TempDir::new("bt-llm-nocap");
    let data = write_bars(&dir.0, 5);
    let config = llm_config("http://127.0.0.1:9/v1", &dir.0.join("j.db"));
    let err = run(&config, &overrides(&data, LlmMode::Record, None))
        .await
        .unwrap_err();
    let BacktestError::Settings(SettingsError::Invalid { field, message }) = &err else {
        panic!("{err}");
    };
    assert_eq!(*field, "--max-cost-usd");
    assert!(message.contains("--llm record"), "{message}");
    let negative = run(&config, &overrides(&data, LlmMode::Record, Some(-1.0))).await;
    assert!(
        negative
            .unwrap_err()
            .to_string()
            .starts_with("--max-cost-usd:")
    );
}

/// The store itself on both backends: the first answer is kept, and an answer stored under
/// a hash whose key text differs is not served.
async fn exercise_store(journal: &Journal) {
    let ask = |user: &str| verdict_request("m", 0.3, "system", user.to_string());
    let key = AnswerKey::new("p", &ask("question"));
    assert_eq!(journal.llm_answer(&key).await.unwrap(), None);
    let first = Completion {
        content: "first".into(),
        usage: Usage {
            prompt_tokens: 12,
            completion_tokens: 3,
        },
    };
    journal.record_llm_answer(&key, &first).await.unwrap();
    let second = Completion {
        content: "second".into(),
        ..first.clone()
    };
    journal.record_llm_answer(&key, &second).await.unwrap();
    assert_eq!(journal.llm_answer(&key).await.unwrap(), Some(first));
    let mut forged = AnswerKey::new("p", &ask("another question"));
    forged.hash = key.hash.clone();
    assert_eq!(journal.llm_answer(&forged).await.unwrap(), None);
    assert_eq!(journal.llm_answer_count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_answer_store_on_sqlite_and_postgres() {
    let dir = TempDir::new("bt-llm-store");
    let sqlite = Journal::open_sqlite(&dir.0.join("j.db")).await.unwrap();
    exercise_store(&sqlite).await;
    sqlite.close().await;

    let server = Postgres::start();
    let url = server.fresh_database("llm_answers").await;
    let postgres = Journal::open_postgres(&url).await.unwrap();
    exercise_store(&postgres).await;
    postgres.close().await;
}

/// A live strategy with `llm.record: true`: real cycles (paper broker, SQLite journal)
/// store each answer the provider gave, under the key of the question it was asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_strategy_records_its_answers_when_the_config_says_so() {
    use agent_runtime::broker;
    use agent_runtime::cycle::adapters::{BrokerExecution, JournalRecorder};
    use agent_runtime::cycle::build::runner;
    use agent_runtime::leadership::AlwaysLeader;
    use agent_runtime::market::{ReplayFeed, synthetic};
    use agent_runtime::metrics::Metrics;
    use std::sync::Arc;

    let llm = OpenAiStandin::start().await.unwrap();
    let dir = TempDir::new("live-llm-record");
    let yaml = format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {{namespace: demo, name: recorded}}
symbols: [AAPL]
analysts: [{{role: news, kind: llm, providers: [local], model: test-model}}]
providers: [{{name: local, baseUrl: \"{}\", timeoutSeconds: 5}}]
llm: {{record: true}}
journal: {{backend: sqlite, path: \"{}\"}}
",
        llm.base_url(),
        dir.0.join("journal.db").display()
    );
    let config = RuntimeConfig::parse(&yaml, Path::new("recorded.yaml")).unwrap();
    config.validate().unwrap();
    let journal = Journal::open(&config.journal).await.unwrap();
    let paper = broker::connect(&config.broker, &journal).await.unwrap();
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), 63),
        60,
    ));
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BrokerExecution::new(paper, journal.clone())),
        Arc::new(JournalRecorder::new(journal.clone()).recording_answers(config.llm.record)),
        Arc::new(AlwaysLeader),
        Metrics::new().unwrap(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    agent_runtime::replay::run(
        &mut runner,
        &feed,
        1,
        Some(3),
        std::time::Duration::ZERO,
        stop,
    )
    .await
    .unwrap();

    let requests = llm.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(journal.llm_answer_count().await.unwrap(), 3);
    for request in &requests {
        let asked = verdict_request(
            "test-model",
            request.body["temperature"].as_f64().unwrap(),
            request.system_prompt().unwrap(),
            request.user_prompt().unwrap().to_string(),
        );
        let stored = journal
            .llm_answer(&AnswerKey::new("local", &asked))
            .await
            .unwrap()
            .expect("the answer to each question asked is stored");
        assert!(stored.content.contains("stand-in verdict"), "{stored:?}");
    }
}

#[test]
fn llm_record_without_an_llm_seat_is_refused_naming_the_field() {
    let yaml = "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: demo, name: quant}
symbols: [AAPL]
analysts: [{role: trend, kind: quant, method: trend}]
llm: {record: true}
";
    let config = RuntimeConfig::parse(yaml, Path::new("quant.yaml")).unwrap();
    let errors = config.validate().unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "llm.record");
    let unknown = "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: demo, name: quant}
symbols: [AAPL]
llm: {recrod: true}
";
    let err = RuntimeConfig::parse(unknown, Path::new("typo.yaml")).unwrap_err();
    assert!(err.to_string().contains("llm"), "{err}");
}
