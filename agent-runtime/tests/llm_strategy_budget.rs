//! A strategy's own LLM budget (`llmDailyBudgetUsd`): across all its in-process providers,
//! restored from the journal after a restart, and — through an agent pool — its share of
//! the pool, while other strategies keep being served. Both fail closed to the fallback.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

mod journal_support;
mod llm_support;

use std::sync::Arc;

use agent_runtime::agents::llm::{LlmAnalyst, LlmEvent, LlmMetrics, ProviderPool, SpendLedger};
use agent_runtime::config::{AgentPoolEndpoint, CONFIG_API_VERSION, LlmFallback, RuntimeConfig};
use agent_runtime::journal::Journal;
use agent_runtime::worker::{self, PoolClient, Worker};
use journal_support::TempDir;
use llm_support::{fast_retries, provider, seat, snapshot};
use prometheus::Registry;
use standins::openai::{OpenAiStandin, Reply};

fn metrics() -> LlmMetrics {
    LlmMetrics::register(&Registry::new()).unwrap()
}

/// $5 per million in, 400 tokens: $0.002 a call.
fn priced(name: &str, url: &str) -> agent_runtime::config::ProviderConfig {
    let mut config = provider(name, url);
    config.input_price_per_million = 5.0;
    config
}

#[tokio::test]
async fn the_strategy_budget_spans_its_providers_and_survives_a_restart() {
    let first = OpenAiStandin::start().await.unwrap();
    let second = OpenAiStandin::start().await.unwrap();
    first.push(Reply::verdict("bullish", 0.8, "a").usage(400, 0));
    let providers = [
        priced("first", &first.base_url()),
        priced("second", &second.base_url()),
    ];
    let dir = TempDir::new("strategy-budget");
    let journal = Journal::open_sqlite(&dir.0.join("journal.db"))
        .await
        .unwrap();
    let ledger: Arc<dyn SpendLedger> = Arc::new(journal.clone());
    let seat = seat("news", &["first", "second"], LlmFallback::Hold);

    let pool = ProviderPool::with_ledger(
        &providers,
        fast_retries(),
        Some(ledger.clone()),
        Some(0.002),
    )
    .unwrap();
    let metrics = metrics();
    let analyst = LlmAnalyst::from_seat(&seat, &pool, &metrics).unwrap();
    let answered = analyst.analyze_detailed(&snapshot()).await;
    assert!(answered.report.source.starts_with("llm:first/"));
    // Neither provider has a budget of its own; the strategy's is spent for both.
    let refused = analyst.analyze_detailed(&snapshot()).await;
    assert_eq!(refused.report.source, "fallback:hold".into());
    assert!(
        matches!(
            refused.events.as_slice(),
            [
                LlmEvent::StrategyBudgetExhausted { .. },
                LlmEvent::StrategyBudgetExhausted { .. },
                LlmEvent::Fallback { .. }
            ]
        ),
        "{:?}",
        refused.events
    );
    drop((analyst, pool));

    // A restart: new providers, same journal — still spent, no call to either.
    let pool =
        ProviderPool::with_ledger(&providers, fast_retries(), Some(ledger), Some(0.002)).unwrap();
    let analyst = LlmAnalyst::from_seat(&seat, &pool, &metrics).unwrap();
    let after_restart = analyst.analyze_detailed(&snapshot()).await;
    assert_eq!(after_restart.report.source, "fallback:hold".into());
    assert_eq!(first.requests().len(), 1);
    assert_eq!(second.requests().len(), 0);
    journal.close().await;
}

#[tokio::test]
async fn a_pool_stops_calling_for_a_strategy_past_its_share_and_serves_the_others() {
    let llm = OpenAiStandin::start().await.unwrap();
    for _ in 0..10 {
        llm.push(Reply::verdict("bullish", 0.8, "a").usage(400, 0));
    }
    let mut config: RuntimeConfig = serde_json::from_value(serde_json::json!({
        "apiVersion": CONFIG_API_VERSION,
        "identity": {"namespace": "trading", "name": "research"},
    }))
    .unwrap();
    config.providers = vec![priced("local", &llm.base_url())];
    config.analysts = vec![seat("news", &["local"], LlmFallback::Hold)];
    let registry = Registry::new_custom(Some("tradeplane".into()), None).unwrap();
    let built = Worker::from_config(&config, &registry, fast_retries()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(worker::serve(listener, built, async move {
        let _ = stopped.await;
    }));
    let endpoint = AgentPoolEndpoint {
        url,
        timeout_seconds: 5,
    };
    let thrifty = PoolClient::new(&endpoint, "trading/thrifty")
        .unwrap()
        .with_budget(Some(0.003));
    let other = PoolClient::new(&endpoint, "trading/other").unwrap();

    let sources = |analysis: &worker::PoolAnalysis| analysis.reports[0].source.clone();
    let one = thrifty.analyze(&snapshot()).await.unwrap();
    assert!((one.cost_usd - 0.002).abs() < 1e-12, "{}", one.cost_usd);
    let two = thrifty.analyze(&snapshot()).await.unwrap();
    assert!(
        sources(&two).starts_with("llm:"),
        "$0.002 < $0.003: still served"
    );
    let three = thrifty.analyze(&snapshot()).await.unwrap();
    assert_eq!(sources(&three), "fallback:hold".into());
    assert_eq!(three.cost_usd, 0.0);
    assert!(matches!(
        three.events.as_slice(),
        [LlmEvent::StrategyBudgetExhausted { limit_usd, .. }, LlmEvent::Fallback { .. }]
            if (*limit_usd - 0.003).abs() < 1e-12
    ));
    let others = other.analyze(&snapshot()).await.unwrap();
    assert!(
        sources(&others).starts_with("llm:"),
        "another strategy is served"
    );
    assert_eq!(llm.requests().len(), 3);

    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
}
