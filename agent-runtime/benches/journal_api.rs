//! What the read-only journal API costs: `cargo bench -p tradeplane-agent-runtime --bench
//! journal_api`.
//!
//! Printed, not asserted (the goals from the issue are beside each figure):
//! 1. p50 / p99 latency of each endpoint over real HTTP against a SQLite journal of
//!    [`ROWS`] cycles, orders, fills and equity snapshots each — a first page, a page deep in
//!    the list (a time range ending mid-journal), the equity series, the summary and one
//!    cycle's detail (goal: p99 ≤ 20 ms for a page);
//! 2. the process's resident memory before the server starts and after it has served every
//!    request (goal: + ≤ 10 MiB).
//!
//! The rows are written in bulk with SQL (`journal::synthetic`), so the pages read them
//! exactly as they read a trader's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_runtime::api::JournalApi;
use agent_runtime::config::Identity;
use agent_runtime::journal::Journal;
use agent_runtime::journal::synthetic::{self, START};
use agent_runtime::metrics::Metrics;
use agent_runtime::server::{Health, router_with_api};

const ROWS: u64 = 1_000_000;
const REQUESTS: usize = 300;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// Times `REQUESTS` GETs of `path`; prints p50 / p99.
async fn measure(client: &reqwest::Client, base: &str, name: &str, path: &str) -> BenchResult<()> {
    let mut times = Vec::with_capacity(REQUESTS);
    let mut bytes = 0;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = client.get(format!("{base}{path}")).send().await?;
        if !response.status().is_success() {
            return Err(format!("{path}: {}", response.status()).into());
        }
        bytes = response.bytes().await?.len();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "journal API {name:<28} p50 {:>8.2} ms   p99 {:>8.2} ms   ({bytes} bytes)",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("tp-bench-journal-api-{}.db", std::process::id()));
    let started = Instant::now();
    synthetic::fill_sqlite(&path, ROWS).await?;
    println!(
        "journal API: {ROWS} cycles, orders, fills and equity snapshots written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let journal = Journal::open_sqlite(&path).await?;
    let metrics = Metrics::new()?;
    let api = JournalApi {
        journal: journal.clone(),
        identity: Identity {
            namespace: "bench".into(),
            name: "journal-api".into(),
        },
        metrics: metrics.clone(),
        pnl_baseline: None,
    };
    let rss_before = rss_kib();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/v1", listener.local_addr()?);
    let app = router_with_api(
        Arc::new(Health::new(Duration::from_secs(60))),
        metrics,
        Some(api),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let middle = chrono::DateTime::from_timestamp(START + (ROWS / 2 * 60) as i64, 0)
        .unwrap_or_default()
        .to_rfc3339();
    let deep = format!("&until={}", middle.replace('+', "%2B"));
    for (name, path) in [
        ("cycles, first page", "/cycles?limit=100".to_string()),
        (
            "cycles, page mid-journal",
            format!("/cycles?limit=100{deep}"),
        ),
        ("orders, first page", "/orders?limit=100".to_string()),
        (
            "orders, AAPL mid-journal",
            format!("/orders?limit=100&symbol=AAPL{deep}"),
        ),
        ("orders, 1000 (the cap)", "/orders?limit=1000".to_string()),
        ("fills, page mid-journal", format!("/fills?limit=100{deep}")),
        ("equity, 200 points", "/equity?points=200".to_string()),
        ("summary", "/summary".to_string()),
        ("cycle detail", "/cycles/c000500000".to_string()),
        ("llm spend", "/llm-spend".to_string()),
    ] {
        measure(&client, &base, name, &path).await?;
    }
    let rss_after = rss_kib();
    println!(
        "journal API RSS: {:.1} MiB before serving, {:.1} MiB after {} requests (+{:.1} MiB)",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        REQUESTS * 10,
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0
    );
    journal.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(())
}
