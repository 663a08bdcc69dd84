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
mod server;

pub use api::{ANALYSES_PATH, AnalysisRequest, AnalysisResponse, ErrorBody, ErrorDetail};
pub use client::{POOL_FALLBACK_SOURCE, PoolAnalysis, PoolClient, PoolError};
pub use server::{Worker, WorkerError, router, serve};

use std::future::Future;

use prometheus::Registry;

use crate::agents::llm::RetryPolicy;
use crate::config::RuntimeConfig;

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
    let worker = Worker::from_config(&config, &registry, RetryPolicy::default())?;
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
    serve(listener, worker, shutdown).await
}
