//! The `worker` mode: an AgentPool replica serving analyses over HTTP.
//!
//! Many strategies share one pool of analysts (and its LLM keys, rate limits and budgets)
//! instead of each running its own. A trader whose config has `agentPool` sends each
//! symbol's snapshot to `POST /v1/analyses` (see [`PoolClient`]) and gets back every
//! configured analyst's report plus the LLM events for its journal.
//!
//! Each replica runs at most `server.maxInFlight` analyses at once and refuses more with
//! 429 and `Retry-After`, rather than queueing: a queue would hide overload from the
//! autoscaler and turn it into latency the trader cannot see. The number running is the
//! gauge `tradeplane_worker_inflight_analyses`, which the AgentPool's HorizontalPodAutoscaler
//! scales on. `/healthz`, `/readyz` and `/metrics` are served on the same port. On shutdown
//! the replica turns unready, stops accepting, and finishes the analyses it has.
//!
//! Entry points: [`run`] (the mode, from a config), or [`Worker::new`] + [`serve`] (tests and
//! embedding, with any analysts).

mod api;
mod client;
pub mod ledger;
mod server;

pub use api::{ANALYSES_PATH, AnalysisRequest, AnalysisResponse, ErrorBody, ErrorDetail};
pub use client::{POOL_FALLBACK_SOURCE, PoolAnalysis, PoolClient, PoolError};
pub use server::{Worker, WorkerError, router, serve};

use std::future::Future;
use std::sync::Arc;

use prometheus::Registry;

use crate::agents::llm::{RetryPolicy, SpendLedger};
use crate::config::{RuntimeConfig, SpendLedgerConfig};
use ledger::{PoolLedger, StrategySpend};

/// The environment variable holding the pod's name (the operator sets it from the
/// downward API); a replica's ledger entry is named after it.
pub const POD_NAME_ENV: &str = "POD_NAME";

/// Runs the worker mode until `shutdown` completes, then drains in-flight analyses.
///
/// With the CLI's `watch::Receiver<bool>` shutdown:
/// `worker::run(config, async move { let _ = rx.wait_for(|stop| *stop).await; })`.
/// Logging is the caller's (the CLI installs the JSON subscriber).
pub async fn run(
    config: RuntimeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let registry = Registry::new_custom(Some("tradeplane".into()), None)?;
    let strategies = Arc::new(StrategySpend::default());
    let ledger = match &config.spend_ledger {
        Some(ledger) => Some(Arc::new(
            pool_ledger(&config, ledger, strategies.clone(), &registry).await?,
        )),
        None => None,
    };
    let shared = ledger.clone().map(|l| l as Arc<dyn SpendLedger>);
    let (mut worker, providers) =
        Worker::with_ledger(&config, &registry, RetryPolicy::default(), shared)?;
    worker.share_spend(strategies, ledger.clone());
    // The shutdown is shared: the server drains, the ledger publishes one last time.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let ledger_task = ledger.map(|ledger| {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            ledger
                .run(providers, async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
                .await;
        })
    });
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .map_err(|source| WorkerError::Bind {
            address: config.server.listen.clone(),
            source,
        })?;
    tracing::info!(
        listen = config.server.listen,
        pool = format!("{}/{}", config.identity.namespace, config.identity.name),
        analysts = config.analysts.len(),
        max_in_flight = config.server.max_in_flight,
        "worker serving analyses"
    );
    let served = serve(listener, worker, shutdown).await;
    if let Some(task) = ledger_task {
        let _ = task.await;
    }
    served
}

/// The pool's ledger, written as this pod (`POD_NAME`, from the downward API), through the
/// pod's service account (or `KUBECONFIG` outside a pod).
async fn pool_ledger(
    config: &RuntimeConfig,
    ledger: &SpendLedgerConfig,
    strategies: Arc<StrategySpend>,
    registry: &Registry,
) -> Result<PoolLedger, WorkerError> {
    let replica = std::env::var(POD_NAME_ENV)
        .ok()
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| {
            WorkerError::Ledger(format!(
                "{POD_NAME_ENV} is not set: a pool replica names its ledger entry after its pod"
            ))
        })?;
    let client = crate::cluster::connect(None)
        .await
        .map_err(|e| WorkerError::Ledger(e.to_string()))?;
    tracing::info!(
        config_map = ledger.config_map,
        replica,
        publish_every_usd = ledger.publish_every_usd,
        refresh_seconds = ledger.refresh_seconds,
        "pool-wide spend ledger"
    );
    PoolLedger::new(
        client,
        &config.identity.namespace,
        ledger,
        &replica,
        strategies,
        registry,
    )
    .map_err(|e| WorkerError::Ledger(e.to_string()))
}
