//! The probes: ready means reconciled, broker reachable and a recent cycle.

// Test code: a panic is how a failure is reported.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use agent_runtime::metrics::Metrics;
use agent_runtime::server::{Health, router};

async fn start(health: Arc<Health>, metrics: Metrics) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(health, metrics))
            .await
            .unwrap()
    });
    format!("http://{address}")
}

async fn get(url: String) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn readiness_follows_reconciliation_broker_and_cycle_age() {
    let health = Arc::new(Health::new(Duration::from_millis(300)));
    let metrics = Metrics::new().unwrap();
    metrics.equity.set(123_456.0);
    let base = start(health.clone(), metrics).await;

    assert_eq!(get(format!("{base}/healthz")).await.0, 200);
    let (status, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert!(
        body.contains("not reconciled") && body.contains("broker unreachable"),
        "{body}"
    );

    health.set_reconciled(true);
    health.set_broker_reachable(true);
    health.cycle_completed();
    assert_eq!(
        get(format!("{base}/readyz")).await,
        (200, "ready".to_string())
    );

    health.set_broker_reachable(false);
    let (status, body) = get(format!("{base}/readyz")).await;
    assert_eq!((status, body.as_str()), (503, "broker unreachable"));

    health.set_broker_reachable(true);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 503);
    assert!(body.contains("last cycle"), "{body}");
    assert_eq!(
        get(format!("{base}/healthz")).await.0,
        200,
        "a stale trader is still alive"
    );

    let (status, body) = get(format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(body.contains("tradeplane_equity_usd 123456"), "{body}");
}
