//! Shared fixtures of the LLM and worker tests: configs pointing at the OpenAI stand-in, a
//! snapshot, and a retry policy fast enough for tests (the server's `Retry-After` is still
//! honoured in full).

#![allow(dead_code)] // each test crate uses a different subset

use std::path::PathBuf;
use std::time::Duration;

use agent_runtime::agents::Snapshot;
use agent_runtime::agents::llm::RetryPolicy;
use agent_runtime::config::{AnalystConfig, AnalystKind, LlmFallback, ProviderConfig};
use agent_runtime::domain::{Bar, Position};
use chrono::{TimeZone, Utc};

pub const MODEL: &str = "gpt-test";

pub fn provider(name: &str, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        base_url: base_url.into(),
        api_key_file: None,
        requests_per_minute: None,
        daily_budget_usd: None,
        input_price_per_million: 0.0,
        output_price_per_million: 0.0,
        timeout_seconds: 5,
        max_retries: 2,
    }
}

pub fn seat(role: &str, providers: &[&str], fallback: LlmFallback) -> AnalystConfig {
    AnalystConfig {
        role: role.into(),
        kind: AnalystKind::Llm {
            providers: providers.iter().map(|p| p.to_string()).collect(),
            model: MODEL.into(),
            temperature: 0.3,
            system_prompt: None,
            fallback,
        },
        weight: 1.0,
    }
}

pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
        deadline: Duration::from_secs(10),
    }
}

/// 60 daily bars of AAPL rising from 100 to 159, and a position of 3 units.
pub fn snapshot() -> Snapshot {
    let bars = (0..60)
        .map(|i| {
            let close = 100.0 + f64::from(i);
            Bar {
                symbol: "AAPL".into(),
                time: Utc
                    .timestamp_opt(1_735_689_600 + i64::from(i) * 86_400, 0)
                    .single()
                    .unwrap_or_default(),
                open: close - 0.5,
                high: close + 1.0,
                low: close - 1.0,
                close,
                volume: 10_000.0,
            }
        })
        .collect();
    Snapshot {
        symbol: "AAPL".into(),
        bars,
        position: Some(Position {
            symbol: "AAPL".into(),
            quantity: 3.0,
            average_price: 120.0,
        }),
    }
}

/// Writes `content` to a fresh file under the temp dir (a mounted Secret key, in tests).
pub fn secret_file(content: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "tradeplane-llm-test-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::write(&path, content).unwrap();
    path
}
