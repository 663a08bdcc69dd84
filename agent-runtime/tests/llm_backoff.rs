//! Provider-wide back-off over the OpenAI stand-in: a 429 holds every call to that provider
//! in the process — all symbols, all seats — until its `Retry-After` passes; repeated 429s
//! back off exponentially; a hold past the seat's deadline falls back without a call.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

mod llm_support;

use std::time::Duration;

use agent_runtime::agents::Snapshot;
use agent_runtime::agents::llm::{LlmAnalyst, LlmEvent, LlmMetrics, ProviderPool};
use agent_runtime::config::LlmFallback;
use llm_support::{fast_retries, provider, seat, snapshot};
use prometheus::Registry;
use standins::openai::{OpenAiStandin, Reply};

fn metrics() -> LlmMetrics {
    LlmMetrics::register(&Registry::new()).unwrap()
}

fn snapshot_of(symbol: &str) -> Snapshot {
    let mut snapshot = snapshot();
    snapshot.symbol = symbol.into();
    for bar in snapshot.bars.iter_mut() {
        bar.symbol = symbol.into();
    }
    snapshot.position = None;
    snapshot
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_every_symbol_and_seat_until_its_retry_after_passes() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::rate_limited(1));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let roles = ["technical", "sentiment", "fundamentals"];
    let analysts: Vec<LlmAnalyst> = roles
        .iter()
        .map(|role| {
            LlmAnalyst::from_seat(&seat(role, &["p"], LlmFallback::Hold), &pool, &metrics).unwrap()
        })
        .collect();
    let first_snapshot = snapshot_of("AAPL");
    let first = analysts[0].analyze_detailed(&first_snapshot);
    tokio::pin!(first);
    // Drive the first analysis until the stand-in has sent its 429 ...
    let hold_ends = loop {
        tokio::select! {
            _ = &mut first => panic!("finished before its Retry-After"),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        if let Some(until) = llm.hold_ends() {
            break until;
        }
    };
    // ... then start 4 symbols × 3 seats while the hold runs.
    let symbols: Vec<Snapshot> = ["AAPL", "MSFT", "NVDA", "TSLA"]
        .iter()
        .map(|s| snapshot_of(s))
        .collect();
    let wave = futures::future::join_all(
        symbols
            .iter()
            .flat_map(|snapshot| analysts.iter().map(move |a| a.analyze_detailed(snapshot))),
    );
    let (first, wave) = tokio::join!(first, wave);

    assert_eq!(
        llm.calls_during_hold(),
        0,
        "calls reached the provider during its Retry-After"
    );
    let requests = llm.requests();
    assert_eq!(requests.len(), 1 + 1 + 12, "the 429, its retry, the wave");
    assert!(requests[1..].iter().all(|r| r.at >= hold_ends));
    for analysis in wave.iter().chain(std::iter::once(&first)) {
        assert!(
            analysis.report.source.starts_with("llm:p/"),
            "{:?}",
            analysis.report
        );
    }
    assert!(matches!(
        first.events.as_slice(),
        [LlmEvent::Retry { wait_ms: 1000, .. }]
    ));
}

#[tokio::test]
async fn retry_after_ms_holds_the_provider_too() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::rate_limited_ms(400));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let a = LlmAnalyst::from_seat(&seat("a", &["p"], LlmFallback::Hold), &pool, &metrics).unwrap();
    let b = LlmAnalyst::from_seat(&seat("b", &["p"], LlmFallback::Hold), &pool, &metrics).unwrap();
    let snapshot = snapshot();

    let first = a.analyze_detailed(&snapshot);
    let second = async {
        llm.wait_for_requests(1, Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.analyze_detailed(&snapshot).await
    };
    let (first, second) = tokio::join!(first, second);

    assert_eq!(llm.calls_during_hold(), 0);
    assert!(first.report.source.starts_with("llm:"));
    assert!(second.report.source.starts_with("llm:"));
    let requests = llm.requests();
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_millis(390), "{gap:?}");
}

#[tokio::test]
async fn repeated_429s_without_retry_after_back_off_exponentially() {
    let llm = OpenAiStandin::start().await.unwrap();
    for _ in 0..3 {
        llm.push(Reply::rate_limited_bare());
    }
    let mut config = provider("p", &llm.base_url());
    config.max_retries = 3;
    let mut policy = fast_retries();
    policy.initial_backoff = Duration::from_millis(100);
    policy.max_backoff = Duration::from_secs(2);
    let pool = ProviderPool::from_config(&[config], policy).unwrap();
    let metrics = metrics();
    let analyst =
        LlmAnalyst::from_seat(&seat("a", &["p"], LlmFallback::Hold), &pool, &metrics).unwrap();

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    assert!(analysis.report.source.starts_with("llm:"));
    let requests = llm.requests();
    assert_eq!(requests.len(), 4);
    let gaps: Vec<Duration> = requests
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    // Full jitter keeps each wait within [½, 1] of 100, 200, 400 ms.
    for (gap, full) in gaps.iter().zip([100_u64, 200, 400]) {
        assert!(*gap >= Duration::from_millis(full / 2), "{gaps:?}");
        assert!(*gap < Duration::from_millis(full + 150), "{gaps:?}");
    }
    assert!(gaps[2] > gaps[0], "{gaps:?}");
}

#[tokio::test]
async fn a_hold_past_the_deadline_falls_back_at_once_without_a_call() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::rate_limited(30));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let a = LlmAnalyst::from_seat(&seat("a", &["p"], LlmFallback::Hold), &pool, &metrics).unwrap();
    let b = LlmAnalyst::from_seat(&seat("b", &["p"], LlmFallback::Hold), &pool, &metrics).unwrap();
    let snapshot = snapshot();

    // 30 s is beyond what a retry waits (5 s here): the first seat gives up at once ...
    let first = a.analyze_detailed(&snapshot).await;
    let started = std::time::Instant::now();
    // ... and the hold (past the 10 s deadline) keeps the second from calling at all.
    let second = b.analyze_detailed(&snapshot).await;

    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(llm.calls_during_hold(), 0);
    assert_eq!(first.report.source, "fallback:hold".into());
    assert_eq!(second.report.source, "fallback:hold".into());
    assert!(
        matches!(
            second.events.as_slice(),
            [LlmEvent::Held { provider, wait_ms, .. }, LlmEvent::ProviderFailed { .. }, LlmEvent::Fallback { .. }]
                if provider == "p" && *wait_ms > 29_000
        ),
        "{:?}",
        second.events
    );
    assert!(second.report.rationale.contains("held back"));
    let held = metrics.calls.with_label_values(&["p", "b", "held"]);
    assert_eq!(held.get(), 1);
}
