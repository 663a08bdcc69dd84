//! Spending and pacing: daily budgets fail closed (failover, then the seat's fallback),
//! rate limits space the calls, and the bull/bear debate over the stand-in.

#![allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly

mod llm_support;

use std::time::Duration;

use agent_runtime::agents::llm::{LlmAnalyst, LlmDebate, LlmEvent, LlmMetrics, ProviderPool};
use agent_runtime::agents::quant;
use agent_runtime::config::{LlmFallback, QuantMethod};
use agent_runtime::domain::{AnalystReport, Signal};
use llm_support::{MODEL, fast_retries, provider, seat, snapshot};
use prometheus::Registry;
use standins::openai::{OpenAiStandin, Reply};

fn metrics() -> LlmMetrics {
    LlmMetrics::register(&Registry::new()).unwrap()
}

#[tokio::test]
async fn a_spent_budget_skips_the_provider_and_the_seat_reports_its_quant_fallback() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::verdict("bearish", 0.9, "first call").usage(200, 100));
    let mut config = provider("metered", &llm.base_url());
    config.daily_budget_usd = Some(0.001);
    config.input_price_per_million = 5.0; // 200 in  → $0.0010
    config.output_price_per_million = 10.0; // 100 out → $0.0010
    let pool = ProviderPool::from_config(&[config], fast_retries()).unwrap();
    let metrics = metrics();
    pool.publish_budgets(&metrics);
    let remaining = metrics.budget_remaining_usd.with_label_values(&["metered"]);
    assert_eq!(remaining.get(), 0.001);
    let fallback = LlmFallback::Quant {
        method: QuantMethod::Trend,
    };
    let analyst =
        LlmAnalyst::from_seat(&seat("technical", &["metered"], fallback), &pool, &metrics).unwrap();
    let snapshot = snapshot();

    let first = analyst.analyze_detailed(&snapshot).await;
    assert_eq!(first.report.source, format!("llm:metered/{MODEL}").into());
    assert_eq!(remaining.get(), 0.0, "$0.002 spent of $0.001");
    let cost = metrics
        .cost_usd
        .with_label_values(&["metered", "technical"])
        .get();
    assert!((cost - 0.002).abs() < 1e-12, "{cost}");

    let second = analyst.analyze_detailed(&snapshot).await;

    assert_eq!(llm.requests().len(), 1, "no call once the budget is spent");
    let quant = quant::analyze("technical", QuantMethod::Trend, &snapshot);
    let report = &second.report;
    assert_eq!(report.source, "fallback:quant:trend".into());
    assert_eq!(
        (report.signal, report.confidence),
        (quant.signal, quant.confidence)
    );
    assert!(
        report.rationale.contains("daily budget spent"),
        "{}",
        report.rationale
    );
    assert!(
        report.rationale.contains(&quant.rationale),
        "{}",
        report.rationale
    );
    assert!(matches!(
        second.events.as_slice(),
        [LlmEvent::BudgetExhausted { provider, .. }, LlmEvent::Fallback { fallback, .. }]
            if provider == "metered" && fallback == "quant:trend"
    ));
    let refused = metrics
        .calls
        .with_label_values(&["metered", "technical", "budget_exhausted"]);
    assert_eq!(refused.get(), 1);
    let fallbacks = metrics
        .fallbacks
        .with_label_values(&["technical", "quant:trend"]);
    assert_eq!(fallbacks.get(), 1);
    assert_eq!(
        metrics
            .tokens
            .with_label_values(&["metered", "technical", "out"])
            .get(),
        100
    );
}

#[tokio::test]
async fn a_spent_budget_fails_over_to_the_next_provider() {
    let metered = OpenAiStandin::start().await.unwrap();
    let spare = OpenAiStandin::start().await.unwrap();
    let mut config = provider("metered", &metered.base_url());
    config.daily_budget_usd = Some(0.0);
    let pool = ProviderPool::from_config(
        &[config, provider("spare", &spare.base_url())],
        fast_retries(),
    )
    .unwrap();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["metered", "spare"], LlmFallback::Hold),
        &pool,
        &metrics(),
    )
    .unwrap();

    let analysis = analyst.analyze_detailed(&snapshot()).await;

    assert_eq!(analysis.report.source, format!("llm:spare/{MODEL}").into());
    assert!(metered.requests().is_empty());
    assert_eq!(spare.requests().len(), 1);
}

#[tokio::test]
async fn the_rate_limit_spaces_calls() {
    let llm = OpenAiStandin::start().await.unwrap();
    let mut config = provider("paced", &llm.base_url());
    config.requests_per_minute = Some(120); // a burst of 2, then one every 500 ms
    let pool = ProviderPool::from_config(&[config], fast_retries()).unwrap();
    let metrics = metrics();
    let analyst = LlmAnalyst::from_seat(
        &seat("technical", &["paced"], LlmFallback::Hold),
        &pool,
        &metrics,
    )
    .unwrap();
    let snapshot = snapshot();

    let reports =
        futures::future::join_all((0..4).map(|_| analyst.analyze_detailed(&snapshot))).await;

    assert!(reports.iter().all(|a| a.report.source.starts_with("llm:")));
    let requests = llm.requests();
    assert_eq!(requests.len(), 4);
    let since_first = |i: usize| requests[i].at.duration_since(requests[0].at);
    assert!(
        since_first(1) < Duration::from_millis(250),
        "burst: {:?}",
        since_first(1)
    );
    assert!(
        since_first(2) >= Duration::from_millis(450),
        "{:?}",
        since_first(2)
    );
    assert!(
        since_first(3) >= Duration::from_millis(950),
        "{:?}",
        since_first(3)
    );
}

fn report(role: &str, signal: Signal, confidence: f64) -> AnalystReport {
    AnalystReport {
        role: role.into(),
        source: "quant:trend".into(),
        signal,
        confidence,
        rationale: format!("{role} rationale"),
        usage: None,
    }
}

#[tokio::test]
async fn the_debate_alternates_personas_and_concludes_from_the_last_round() {
    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::verdict("bullish", 0.9, "breakout above resistance"));
    llm.push(Reply::verdict("bearish", 0.7, "volume is fading"));
    llm.push(Reply::verdict(
        "bullish",
        0.8,
        "fading volume is normal in a trend",
    ));
    llm.push(Reply::verdict("neutral", 0.5, "fair, but stretched"));
    let pool =
        ProviderPool::from_config(&[provider("p", &llm.base_url())], fast_retries()).unwrap();
    let metrics = metrics();
    let mut config = agent_runtime::config::RuntimeConfig {
        analysts: vec![seat("technical", &["p"], LlmFallback::Hold)],
        ..serde_json::from_value(serde_json::json!({
            "apiVersion": agent_runtime::config::CONFIG_API_VERSION,
            "identity": {"namespace": "t", "name": "s"},
        }))
        .unwrap()
    };
    assert!(
        LlmDebate::from_config(&config, &pool, &metrics)
            .unwrap()
            .is_none(),
        "0 rounds"
    );
    config.decision.debate_rounds = 2;
    let debate = LlmDebate::from_config(&config, &pool, &metrics)
        .unwrap()
        .unwrap();
    let reports = [
        report("technical", Signal::Bullish, 0.6),
        report("risk", Signal::Bearish, 0.4),
    ];

    let outcome = debate.run(&snapshot(), &reports, 2).await;

    let sides: Vec<_> = outcome
        .transcript
        .iter()
        .map(|t| (t.round, t.side))
        .collect();
    use agent_runtime::agents::llm::DebateSide::{Bear, Bull};
    assert_eq!(sides, vec![(1, Bull), (1, Bear), (2, Bull), (2, Bear)]);
    let conclusion = outcome.conclusion.unwrap();
    assert_eq!(conclusion.role, "debate".into());
    assert_eq!(conclusion.signal, Signal::Bullish); // (0.8 + 0) / 2
    assert!((conclusion.confidence - 0.4).abs() < 1e-12);
    assert!(
        conclusion
            .rationale
            .contains("fading volume is normal in a trend")
    );

    let requests = llm.requests();
    assert!(
        requests[0]
            .system_prompt()
            .unwrap()
            .contains("bullish case")
    );
    assert!(
        requests[1]
            .system_prompt()
            .unwrap()
            .contains("bearish case")
    );
    let bear_prompt = requests[1].user_prompt().unwrap();
    assert!(
        bear_prompt.contains("technical (quant:trend): Bullish"),
        "{bear_prompt}"
    );
    assert!(
        bear_prompt.contains("breakout above resistance"),
        "the bear hears the bull"
    );
    assert!(
        requests[3]
            .user_prompt()
            .unwrap()
            .contains("Debate round 2 of 2")
    );
}

#[tokio::test]
async fn a_debate_nobody_can_speak_in_concludes_nothing() {
    let llm = OpenAiStandin::start().await.unwrap();
    let mut config = provider("p", &llm.base_url());
    config.daily_budget_usd = Some(0.0);
    let pool = ProviderPool::from_config(&[config], fast_retries()).unwrap();
    let debate = LlmDebate::new(
        pool.resolve("debate", &["p".to_string()]).unwrap(),
        MODEL,
        0.2,
        &metrics(),
    );

    let outcome = debate.run(&snapshot(), &[], 1).await;

    assert_eq!(outcome.conclusion, None);
    assert_eq!(outcome.transcript.len(), 2);
    assert!(outcome.transcript.iter().all(|t| t.provider.is_none()));
    assert!(llm.requests().is_empty());
}
