//! The LLM analyst against the OpenAI stand-in: what it sends, how it reads answers, and
//! how it survives bad ones (malformed JSON, 429 with Retry-After, 5xx, timeouts, refusals).

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

mod llm_support;

use std::time::Duration;

use agent_runtime::agents::llm::{ANSWER_CONTRACT, LlmAnalyst, LlmEvent, LlmMetrics, ProviderPool};
use agent_runtime::config::{AnalystKind, LlmFallback};
use agent_runtime::domain::Signal;
use axum::http::StatusCode;
use llm_support::{MODEL, fast_retries, provider, seat, secret_file, snapshot};
use prometheus::Registry;
use standins::openai::{OpenAiStandin, Reply};

fn metrics() -> LlmMetrics {
    LlmMetrics::register(&Registry::new()).unwrap()
}

#[tokio::test]
async fn sends_the_prompts_and_key_and_reads_the_verdict() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::verdict(
        "bullish",
        0.8,
        "higher highs on rising volume",
    ));
    let mut config = provider("primary", &llm.base_url());
    config.api_key_file = Some(secret_file("sk-test-123\n"));
    let pool = ProviderPool::from_config(&[config], fast_retries()).unwrap();
    assert!(
        !format!("{pool:?}").contains("sk-test-123"),
        "the key must not reach Debug"
    );
    let metrics = metrics();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["primary"], LlmFallback::Hold),
        &pool,
        &metrics,
    )
    .unwrap();

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    let report = analysis.report;
    assert_eq!(report.source, format!("llm:primary/{MODEL}").into());
    assert_eq!(report.role, "technical".into());
    assert_eq!(report.signal, Signal::Bullish);
    assert_eq!(report.confidence, 0.8);
    assert_eq!(report.rationale, "higher highs on rising volume");
    assert!(analysis.events.is_empty(), "{:?}", analysis.events);

    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(sent.body["model"], MODEL);
    assert_eq!(sent.body["temperature"], 0.3);
    assert_eq!(sent.body["response_format"]["type"], "json_schema");
    let schema = &sent.body["response_format"]["json_schema"]["schema"];
    assert_eq!(
        schema["properties"]["signal"]["enum"],
        serde_json::json!(["bullish", "neutral", "bearish"])
    );
    let system = sent.system_prompt().unwrap();
    assert!(system.contains("technical analysis"), "{system}");
    let user = sent.user_prompt().unwrap();
    for expected in [
        "Role: technical",
        "Symbol: AAPL",
        "Position: 3 units at an average price of 120.0000",
        "Last close: 159.0000",
        "Change over 60 bars: +59.00%",
        ANSWER_CONTRACT,
    ] {
        assert!(
            user.contains(expected),
            "{expected:?} missing from:\n{user}"
        );
    }

    let ok = metrics
        .calls
        .with_label_values(&["primary", "technical", "ok"]);
    assert_eq!(ok.get(), 1);
    assert!(
        metrics
            .tokens
            .with_label_values(&["primary", "technical", "in"])
            .get()
            > 0
    );
}

#[tokio::test]
async fn a_configured_system_prompt_replaces_the_builtin_one() {
    let llm = OpenAiStandin::start().await.unwrap();
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let mut config = seat("sentiment", &["p"], LlmFallback::Hold);
    if let AnalystKind::Llm { system_prompt, .. } = &mut config.kind {
        *system_prompt = Some("You are a contrarian.".into());
    }
    let analyst = LlmAnalyst::from_seat(&config, &pool, &metrics()).unwrap();

    let report = analyst.analyze_detailed(&snapshot()).await.report;

    assert!(
        report.source.starts_with("llm:p/"),
        "the default responder answers: {report:?}"
    );
    let requests = llm.requests();
    assert_eq!(requests[0].system_prompt(), Some("You are a contrarian."));
    assert!(
        requests[0]
            .user_prompt()
            .unwrap()
            .ends_with(ANSWER_CONTRACT)
    );
    assert!(
        requests[0].header("authorization").is_none(),
        "no key file, no header"
    );
}

#[tokio::test]
async fn a_malformed_answer_is_counted_and_asked_again() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::content("Bullish, I'd say. {signal: up"));
    llm.push(Reply::verdict("bearish", 0.6, "lower lows"));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["p"], LlmFallback::Hold),
        &pool,
        &metrics,
    )
    .unwrap();

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    assert_eq!(analysis.report.signal, Signal::Bearish);
    assert_eq!(llm.requests().len(), 2);
    assert!(matches!(
        analysis.events.as_slice(),
        [LlmEvent::Malformed { .. }]
    ));
    let malformed = metrics
        .calls
        .with_label_values(&["p", "technical", "malformed"]);
    assert_eq!(malformed.get(), 1);
}

#[tokio::test]
async fn malformed_twice_reports_the_hold_fallback_and_says_why() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::content("not json"));
    llm.push(Reply::verdict("bullish", 1.7, "confidence out of range"));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["p"], LlmFallback::Hold),
        &pool,
        &metrics,
    )
    .unwrap()
    .with_events(tx);

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    let report = &analysis.report;
    assert_eq!(report.source, "fallback:hold".into());
    assert_eq!((report.signal, report.confidence), (Signal::Neutral, 0.0));
    assert!(
        report.rationale.contains("outside the schema"),
        "{}",
        report.rationale
    );
    assert_eq!(llm.requests().len(), 2, "one retry, not more");
    assert!(matches!(
        analysis.events.last(),
        Some(LlmEvent::Fallback { fallback, .. }) if fallback == "hold"
    ));
    let mut sent = Vec::new();
    while let Ok(event) = rx.try_recv() {
        sent.push(event);
    }
    assert_eq!(sent, analysis.events, "the channel gets the same events");
    assert_eq!(
        metrics
            .fallbacks
            .with_label_values(&["technical", "hold"])
            .get(),
        1
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::rate_limited(1));
    llm.push(Reply::verdict("neutral", 0.3, "range-bound"));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["p"], LlmFallback::Hold),
        &pool,
        &metrics,
    )
    .unwrap();

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    assert_eq!(analysis.report.source, format!("llm:p/{MODEL}").into());
    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at.duration_since(requests[0].at);
    // The policy's own backoff is 20 ms: only Retry-After explains a one-second gap.
    assert!(
        waited >= Duration::from_millis(980),
        "retried after {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "retried after {waited:?}");
    assert!(matches!(
        analysis.events.as_slice(),
        [LlmEvent::Retry {
            wait_ms: 1000,
            attempt: 1,
            ..
        }]
    ));
    let limited = metrics
        .calls
        .with_label_values(&["p", "technical", "rate_limited"]);
    assert_eq!(limited.get(), 1);
}

#[tokio::test]
async fn a_5xx_is_retried_with_backoff() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::server_error());
    llm.push(Reply::server_error());
    llm.push(Reply::verdict("bullish", 0.5, "recovering"));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["p"], LlmFallback::Hold),
        &pool,
        &metrics,
    )
    .unwrap();

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    assert_eq!(analysis.report.signal, Signal::Bullish);
    let requests = llm.requests();
    assert_eq!(requests.len(), 3);
    let first_gap = requests[1].at.duration_since(requests[0].at);
    let second_gap = requests[2].at.duration_since(requests[1].at);
    assert!(first_gap >= Duration::from_millis(20), "{first_gap:?}");
    assert!(
        second_gap >= Duration::from_millis(40),
        "doubled: {second_gap:?}"
    );
    let errors = metrics
        .calls
        .with_label_values(&["p", "technical", "server_error"]);
    assert_eq!(errors.get(), 2);
}

#[tokio::test]
async fn timeouts_are_retried_then_the_next_provider_answers() {
    let slow = OpenAiStandin::start().await.unwrap();
    slow.push(Reply::verdict("bearish", 0.9, "too late").delayed(Duration::from_secs(3)));
    slow.push(Reply::verdict("bearish", 0.9, "too late").delayed(Duration::from_secs(3)));
    let backup = OpenAiStandin::start().await.unwrap();
    backup.push(Reply::verdict("bullish", 0.7, "from the backup"));
    let mut first = provider("slow", &slow.base_url());
    first.timeout_seconds = 1;
    first.max_retries = 1;
    let pool = ProviderPool::from_config(
        &[first, provider("backup", &backup.base_url())],
        fast_retries(),
    )
    .unwrap();
    let metrics = metrics();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["slow", "backup"], LlmFallback::Hold),
        &pool,
        &metrics,
    )
    .unwrap();

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    assert_eq!(analysis.report.source, format!("llm:backup/{MODEL}").into());
    assert_eq!(analysis.report.rationale, "from the backup");
    assert_eq!(slow.requests().len(), 2, "one attempt and one retry");
    assert_eq!(backup.requests().len(), 1);
    assert!(matches!(
        analysis.events.as_slice(),
        [LlmEvent::Retry { .. }, LlmEvent::ProviderFailed { provider, .. }] if provider == "slow"
    ));
    let timeouts = metrics
        .calls
        .with_label_values(&["slow", "technical", "timeout"]);
    assert_eq!(timeouts.get(), 2);
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::error(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "Incorrect API key",
    ));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["p"], LlmFallback::Hold),
        &pool,
        &metrics(),
    )
    .unwrap();

    let report = analyst.analyze_detailed(&snapshot()).await.report;

    assert_eq!(report.source, "fallback:hold".into());
    assert!(
        report.rationale.contains("Incorrect API key"),
        "{}",
        report.rationale
    );
    assert_eq!(llm.requests().len(), 1);
}
