//! What the spend ledgers cost: `cargo bench -p tradeplane-agent-runtime --bench ledger`.
//!
//! Printed, not asserted:
//! 1. the per-call overhead on an LLM call's path — the pool ledger's `record` (in memory; the
//!    publication runs beside the call) and the trader's journal insert (SQLite, awaited);
//! 2. one publication + read of the pool ledger (PATCH + GET) against a real API server;
//! 3. API requests per replica per minute: a replica running its ledger loop for
//!    [`WINDOW`] with the operator's refresh (10 s), idle and while spending, counted from the
//!    ledger's own request counter and scaled to a minute.
//!
//! The API server is a private control plane this bench starts (etcd and kube-apiserver
//! only), so the figures do not depend on another cluster's load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_runtime::agents::llm::{LlmCall, ProviderPool, RetryPolicy, SpendLedger};
use agent_runtime::config::{ProviderConfig, SpendLedgerConfig};
use agent_runtime::journal::Journal;
use agent_runtime::worker::ledger::{PoolLedger, StrategySpend};
use chrono::Utc;
use e2e::PrivateCluster;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::PostParams;
use prometheus::Registry;

const CALLS: usize = 100_000;
const JOURNAL_CALLS: usize = 2_000;
const SYNCS: usize = 200;
const WINDOW: Duration = Duration::from_secs(30);

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn call(cost_usd: f64) -> LlmCall {
    LlmCall {
        provider: "openai".into(),
        role: "news".into(),
        at: Utc::now(),
        prompt_tokens: 1_000,
        completion_tokens: 200,
        cost_usd,
    }
}

fn ledger_config(refresh_seconds: u64) -> SpendLedgerConfig {
    SpendLedgerConfig {
        config_map: "bench-llm-ledger".into(),
        refresh_seconds,
        publish_every_usd: 0.05,
    }
}

fn providers() -> BenchResult<ProviderPool> {
    let config: ProviderConfig = serde_json::from_value(serde_json::json!({
        "name": "openai", "baseUrl": "http://127.0.0.1:1/v1", "dailyBudgetUsd": 100.0,
    }))?;
    Ok(ProviderPool::from_config(
        &[config],
        RetryPolicy::default(),
    )?)
}

async fn requests_per_minute(
    client: &kube::Client,
    replica: &str,
    spend_every: Option<Duration>,
) -> BenchResult<f64> {
    let registry = Registry::new();
    let ledger = Arc::new(PoolLedger::new(
        client.clone(),
        "bench",
        &ledger_config(10),
        replica,
        Arc::new(StrategySpend::default()),
        &registry,
    )?);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let running = {
        let ledger = ledger.clone();
        let pool = providers()?;
        tokio::spawn(async move {
            ledger
                .run(pool, async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                })
                .await;
        })
    };
    let started = Instant::now();
    while started.elapsed() < WINDOW {
        match spend_every {
            // $0.01 a call, one call a second: crosses the $0.05 threshold every 5 s.
            Some(every) => {
                ledger.record(&call(0.01)).await?;
                tokio::time::sleep(every).await;
            }
            None => tokio::time::sleep(WINDOW).await,
        }
    }
    let _ = stop_tx.send(true);
    running.await?;
    let sent: u64 = registry
        .gather()
        .iter()
        .filter(|family| family.name() == "llm_ledger_requests_total")
        .flat_map(|family| family.get_metric().iter())
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum();
    Ok(sent as f64 * 60.0 / WINDOW.as_secs_f64())
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    // 1. On the call path.
    let cluster_free = kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse()?))?;
    let ledger = PoolLedger::new(
        cluster_free,
        "bench",
        &ledger_config(10),
        "replica-0",
        Arc::new(StrategySpend::default()),
        &Registry::new(),
    )?;
    let started = Instant::now();
    for _ in 0..CALLS {
        ledger.record(&call(0.000_001)).await?;
    }
    let per_call = started.elapsed() / CALLS as u32;
    println!("pool ledger: record per LLM call            {per_call:?} (in memory)");

    let dir = std::env::temp_dir().join(format!("tradeplane-bench-ledger-{}", std::process::id()));
    let journal = Journal::open_sqlite(&dir.join("journal.db")).await?;
    let started = Instant::now();
    for _ in 0..JOURNAL_CALLS {
        journal.record_llm_call(&call(0.001)).await?;
    }
    let per_insert = started.elapsed() / JOURNAL_CALLS as u32;
    let started = Instant::now();
    let _ = journal.spent_on(Utc::now().date_naive()).await?;
    println!("trader journal: insert per LLM call         {per_insert:?} (SQLite, WAL)");
    println!(
        "trader journal: restore a day of {JOURNAL_CALLS} calls  {:?}",
        started.elapsed()
    );
    journal.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    // 2. and 3. Against a private API server.
    let cluster = match PrivateCluster::start("etcd,apiserver") {
        Ok(cluster) => cluster,
        Err(error) => {
            println!("pool ledger: API figures skipped — no control plane could start: {error}");
            return Ok(());
        }
    };
    let client = cluster.client().await?;
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "bench"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;
    let config_map: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "bench-llm-ledger"}}))?;
    Api::<ConfigMap>::namespaced(client.clone(), "bench")
        .create(&PostParams::default(), &config_map)
        .await?;
    let syncing = PoolLedger::new(
        client.clone(),
        "bench",
        &ledger_config(10),
        "replica-sync",
        Arc::new(StrategySpend::default()),
        &Registry::new(),
    )?;
    let pool = providers()?;
    let mut latencies = Vec::with_capacity(SYNCS);
    for _ in 0..SYNCS {
        syncing.record(&call(0.01)).await?;
        let started = Instant::now();
        syncing.sync(&pool).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    println!(
        "pool ledger: publish + read (PATCH + GET)   median {:?}, p99 {:?} (off the call path)",
        latencies[SYNCS / 2],
        latencies[SYNCS * 99 / 100]
    );
    let idle = requests_per_minute(&client, "replica-idle", None).await?;
    let busy = requests_per_minute(&client, "replica-busy", Some(Duration::from_secs(1))).await?;
    println!(
        "pool ledger: API requests per replica/min   idle {idle:.0}, spending $0.60/min {busy:.0} (refresh 10 s, publish every $0.05)"
    );
    Ok(())
}
