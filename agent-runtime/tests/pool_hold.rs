//! A provider's hold is the pool's: a 429 one worker replica receives goes into the pool's
//! ledger ConfigMap with its spend, and another replica closes its own gate at its next sync,
//! so it does not call the provider before the end the provider gave; a replica restarted
//! under the same pod name restores the hold before its first call. The replicas are
//! in-process ledgers against the API server in `KUBECONFIG`, as the workers use them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test set-up: fail loudly

mod llm_support;

use std::sync::Arc;
use std::time::Duration;

use agent_runtime::agents::llm::{LlmAnalyst, LlmMetrics, ProviderPool, RetryPolicy, SpendLedger};
use agent_runtime::config::{LlmFallback, SpendLedgerConfig};
use agent_runtime::worker::ledger::PoolLedger;
use e2e::namespace::TEST_LABEL;
use e2e::shared_client;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use llm_support::{fast_retries, provider, seat, snapshot};
use prometheus::Registry;
use serde_json::json;
use standins::openai::{OpenAiStandin, Reply};

const LEDGER: &str = "pool-llm-ledger";
const RETRY_AFTER_SECONDS: u64 = 3;

fn replica(client: &kube::Client, namespace: &str, name: &str) -> Arc<PoolLedger> {
    let config = SpendLedgerConfig {
        config_map: LEDGER.into(),
        refresh_seconds: 10,
        publish_every_usd: 1.0,
    };
    Arc::new(
        PoolLedger::new(
            client.clone(),
            namespace,
            &config,
            name,
            Default::default(),
            &Registry::new(),
        )
        .unwrap(),
    )
}

fn providers(base_url: &str, ledger: &Arc<PoolLedger>, policy: RetryPolicy) -> ProviderPool {
    let shared = ledger.clone() as Arc<dyn SpendLedger>;
    ProviderPool::with_ledger(&[provider("p", base_url)], policy, Some(shared), None).unwrap()
}

fn analyst(pool: &ProviderPool) -> LlmAnalyst {
    let metrics = LlmMetrics::register(&Registry::new()).unwrap();
    LlmAnalyst::from_seat(&seat("news", &["p"], LlmFallback::Hold), pool, &metrics).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_waits_out_the_hold_another_replica_received() {
    let client = shared_client().await.unwrap();
    let namespace = format!("pool-hold-{:08x}", rand::random::<u32>());
    let created: Namespace = serde_json::from_value(json!({
        "metadata": {"name": namespace, "labels": {TEST_LABEL: "true"}}
    }))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &created)
        .await
        .unwrap();
    let ledger: ConfigMap = serde_json::from_value(json!({"metadata": {"name": LEDGER}})).unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &ledger)
        .await
        .unwrap();

    let llm = OpenAiStandin::start().await.unwrap();
    llm.push(Reply::verdict("bullish", 0.7, "warm-up"));
    llm.push(Reply::rate_limited(RETRY_AFTER_SECONDS));
    let url = llm.base_url();
    // Replica a gives up at once on a hold past its 1-s deadline; b waits up to 10 s.
    let mut short = fast_retries();
    short.deadline = Duration::from_secs(1);
    let a = replica(&client, &namespace, "pool-a");
    let b = replica(&client, &namespace, "pool-b");
    let (pool_a, pool_b) = (
        providers(&url, &a, short),
        providers(&url, &b, fast_retries()),
    );

    // b has called once already: what it read at its start is behind it.
    let warm_up = analyst(&pool_b).analyze_detailed(&snapshot()).await;
    assert!(
        warm_up.report.source.starts_with("llm:"),
        "{:?}",
        warm_up.report
    );

    let refused = analyst(&pool_a).analyze_detailed(&snapshot()).await;
    assert!(!refused.report.source.starts_with("llm:"), "a fell back");
    assert_eq!(llm.requests().len(), 2);
    let gate_b = pool_b.providers().next().unwrap().gate();
    assert_eq!(gate_b.held_until(), None, "b has not synced yet");

    b.sync(&pool_b).await.unwrap();
    let held = gate_b.held_until().expect("b learned a's hold at its sync");
    let left = held - tokio::time::Instant::now();
    assert!(left > Duration::from_secs(2), "{left:?}");

    // b's next analysis, and a restarted a's first (same pod name, fresh process state),
    // both wait the hold out.
    let a_again = replica(&client, &namespace, "pool-a");
    let pool_a_again = providers(&url, &a_again, fast_retries());
    let (seat_b, seat_a_again, snapshot) = (analyst(&pool_b), analyst(&pool_a_again), snapshot());
    let (by_b, by_a_again) = tokio::join!(
        seat_b.analyze_detailed(&snapshot),
        seat_a_again.analyze_detailed(&snapshot)
    );

    let requests = llm.requests();
    assert_eq!(
        llm.calls_during_hold(),
        0,
        "{} calls in all",
        requests.len()
    );
    assert_eq!(requests.len(), 4, "warm-up, 429, b, restarted a");
    for later in &requests[2..] {
        let gap = later.at.duration_since(requests[1].at);
        assert!(
            gap >= Duration::from_millis(RETRY_AFTER_SECONDS * 1_000 - 100),
            "{gap:?}"
        );
    }
    assert!(by_b.report.source.starts_with("llm:"), "{:?}", by_b.report);
    assert!(
        by_a_again.report.source.starts_with("llm:"),
        "{:?}",
        by_a_again.report
    );

    Api::<Namespace>::all(client)
        .delete(&namespace, &DeleteParams::background())
        .await
        .unwrap();
}
