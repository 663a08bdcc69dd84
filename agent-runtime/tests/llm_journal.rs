//! LLM seats inside real cycles: what happened on the way to each report — a 429 retried
//! after its `Retry-After`, a budget spent, the seat's fallback — is journalled next to the
//! decision (SQLite journal, paper broker) and counted in the metrics the trader serves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod journal_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_runtime::broker;
use agent_runtime::config::RuntimeConfig;
use agent_runtime::cycle::adapters::{BrokerExecution, JournalRecorder};
use agent_runtime::cycle::build::runner;
use agent_runtime::cycle::cycle_id;
use agent_runtime::journal::Journal;
use agent_runtime::leadership::AlwaysLeader;
use agent_runtime::market::{ReplayFeed, synthetic};
use agent_runtime::metrics::Metrics;
use agent_runtime::replay;
use journal_support::TempDir;
use standins::openai::{OpenAiStandin, Reply};

fn config(llm_url: &str, db: &Path) -> RuntimeConfig {
    // $5 / $10 per million tokens: 200 in + 100 out = $0.002, twice the $0.001 budget.
    let yaml = format!(
        r#"
apiVersion: runtime.tradeplane.io/v1alpha1
identity: {{namespace: demo, name: metered}}
symbols: [AAPL]
analysts:
  - {{role: trend, kind: quant, method: trend}}
  - role: news
    kind: llm
    providers: [metered]
    model: test-model
    fallback: {{action: quant, method: momentum}}
providers:
  - name: metered
    baseUrl: "{llm_url}"
    dailyBudgetUsd: 0.001
    inputPricePerMillion: 5
    outputPricePerMillion: 10
    maxRetries: 2
    timeoutSeconds: 5
journal: {{backend: sqlite, path: "{}"}}
"#,
        db.display()
    );
    let config = RuntimeConfig::parse(&yaml, Path::new("metered.yaml")).unwrap();
    config.validate().unwrap();
    config
}

#[tokio::test]
async fn budget_exhaustion_and_fallbacks_are_journalled_and_counted() {
    let llm = OpenAiStandin::start().await.unwrap();
    // Cycle 1: a 429 (retried after its Retry-After), then an answer that spends the budget.
    llm.push(Reply::rate_limited(1));
    llm.push(Reply::verdict("bullish", 0.8, "strong quarter").usage(200, 100));
    let dir = TempDir::new("llm-journal");
    let config = config(&llm.base_url(), &dir.0.join("journal.db"));

    let journal = Journal::open(&config.journal).await.unwrap();
    let paper = broker::connect(&config.broker, &journal).await.unwrap();
    let feed = Arc::new(ReplayFeed::new(
        synthetic::generate(&config.symbols, synthetic::default_start(), 63),
        60,
    ));
    let cycles: Vec<String> = (0..3)
        .map(|n| {
            let bars = synthetic::generate(&config.symbols, synthetic::default_start(), 60 + n);
            cycle_id(bars["AAPL"].last().unwrap().time)
        })
        .collect();
    let metrics = Metrics::new().unwrap();
    let mut runner = runner(
        &config,
        feed.clone(),
        Arc::new(BrokerExecution::new(paper, journal.clone())),
        Arc::new(JournalRecorder::new(journal.clone())),
        Arc::new(AlwaysLeader),
        metrics.clone(),
    )
    .unwrap();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let started = std::time::Instant::now();
    let summary = replay::run(&mut runner, &feed, 1, Some(3), Duration::ZERO, stop)
        .await
        .unwrap();
    assert_eq!(summary.cycles, 3);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 429's Retry-After was honoured"
    );
    assert_eq!(llm.requests().len(), 2, "no call once the budget is spent");

    // Cycle 1: the retry is journalled; the seat answered from the model.
    let retries = journal.events(Some("llm_retry")).await.unwrap();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert_eq!(retries[0].cycle_id.as_deref(), Some(cycles[0].as_str()));
    let details = retries[0].details.as_ref().unwrap();
    assert_eq!(details["provider"], "metered");
    assert_eq!(details["waitMs"], 1000);
    let first = journal.decisions(&cycles[0]).await.unwrap();
    let news = first[0]
        .decision
        .reports
        .iter()
        .find(|r| r.role == "news".into());
    assert_eq!(news.unwrap().source, "llm:metered/test-model".into());
    // The report carries what its call was billed (the 429 was not): 200 tokens in at $5 and
    // 100 out at $10 per million.
    let usage = news.unwrap().usage.expect("the billed call's usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (200, 100));
    assert!((usage.cost_usd - 0.002).abs() < 1e-12, "{usage:?}");

    // Cycles 2 and 3: budget spent → the quant fallback, and the journal says so.
    let spent = journal.events(Some("llm_budget_exhausted")).await.unwrap();
    let fallbacks = journal.events(Some("llm_fallback")).await.unwrap();
    for events in [&spent, &fallbacks] {
        let in_cycles: Vec<_> = events.iter().map(|e| e.cycle_id.clone().unwrap()).collect();
        assert_eq!(in_cycles, &cycles[1..], "{events:?}");
    }
    assert_eq!(spent[0].details.as_ref().unwrap()["symbol"], "AAPL");
    assert!(spent[0].message.contains("daily budget spent"), "{spent:?}");
    assert_eq!(
        fallbacks[0].details.as_ref().unwrap()["fallback"],
        "quant:momentum"
    );
    for cycle in &cycles[1..] {
        let decisions = journal.decisions(cycle).await.unwrap();
        let news = decisions[0]
            .decision
            .reports
            .iter()
            .find(|r| r.role == "news".into());
        assert_eq!(news.unwrap().source, "fallback:quant:momentum".into());
        assert_eq!(
            news.unwrap().usage,
            None,
            "no call was billed for a spent budget"
        );
    }

    // …and the metrics the trader serves say so too.
    let text = metrics.render();
    for line in [
        r#"tradeplane_llm_fallbacks_total{fallback="quant:momentum",role="news"} 2"#,
        r#"tradeplane_llm_calls_total{outcome="budget_exhausted",provider="metered",role="news"} 2"#,
        r#"tradeplane_llm_calls_total{outcome="rate_limited",provider="metered",role="news"} 1"#,
        r#"tradeplane_llm_calls_total{outcome="ok",provider="metered",role="news"} 1"#,
        r#"tradeplane_llm_tokens_total{direction="in",provider="metered",role="news"} 200"#,
        r#"tradeplane_llm_budget_remaining_usd{provider="metered"} 0"#,
        r#"tradeplane_llm_call_duration_seconds_count{provider="metered",role="news"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    journal.close().await;
}
