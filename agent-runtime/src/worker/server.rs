//! The worker's HTTP server: the analyses endpoint with its in-flight limit, the probes and
//! the metrics. See the module docs of [`crate::worker`] for why it refuses instead of queueing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::api::{ANALYSES_PATH, AnalysisRequest, AnalysisResponse, ErrorBody};
use super::ledger::{PoolLedger, StrategySpend};
use crate::agents::Snapshot;
use crate::agents::llm::{
    LlmBuildError, LlmMetrics, ProviderPool, RetryPolicy, Seat, SpendLedger, seats, tally_cost,
};
use crate::config::RuntimeConfig;

/// Seconds a refused client is asked to wait: about one analysis, the time a slot frees up.
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("analysts: {0}")]
    Analysts(#[from] LlmBuildError),
    #[error("the worker has no analysts configured")]
    NoAnalysts,
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("spend ledger: {0}")]
    Ledger(String),
}

/// The analysts of one replica, its limit and its metrics.
pub struct Worker {
    seats: Vec<Seat>,
    slots: Arc<Semaphore>,
    registry: Registry,
    inflight: IntGauge,
    analyses: IntCounterVec,
    duration: Histogram,
    ready: AtomicBool,
    /// Each strategy's share of the pool's spend today, for `strategyBudgetUsd`.
    strategies: Arc<StrategySpend>,
    /// The pool's ledger, which publishes the shares (absent: this replica's alone).
    ledger: Option<Arc<PoolLedger>>,
}

impl Worker {
    /// A worker running `seats`, at most `max_in_flight` analyses at once, with its metrics
    /// registered in `registry` (which `/metrics` serves).
    pub fn new(
        seats: Vec<Seat>,
        max_in_flight: u32,
        registry: Registry,
    ) -> Result<Self, WorkerError> {
        if seats.is_empty() {
            return Err(WorkerError::NoAnalysts);
        }
        let inflight = IntGauge::new(
            "worker_inflight_analyses",
            "Analyses this worker replica is running now (the autoscaling metric).",
        )?;
        let analyses = IntCounterVec::new(
            Opts::new(
                "worker_analyses_total",
                "Analysis requests by outcome (ok, busy).",
            ),
            &["outcome"],
        )?;
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "worker_analysis_duration_seconds",
                "Seconds to run every analyst for one request.",
            )
            .buckets(vec![0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]),
        )?;
        registry.register(Box::new(inflight.clone()))?;
        registry.register(Box::new(analyses.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self {
            seats,
            slots: Arc::new(Semaphore::new(max_in_flight.max(1) as usize)),
            registry,
            inflight,
            analyses,
            duration,
            ready: AtomicBool::new(true),
            strategies: Arc::default(),
            ledger: None,
        })
    }

    /// The seats of `config.analysts` (LLM providers built from `config.providers`, key
    /// files read now), with LLM metrics in `registry` too.
    pub fn from_config(
        config: &RuntimeConfig,
        registry: &Registry,
        policy: RetryPolicy,
    ) -> Result<Self, WorkerError> {
        Ok(Self::with_ledger(config, registry, policy, None)?.0)
    }

    /// As [`Worker::from_config`], the providers' spend recorded in and restored from
    /// `ledger` (the pool's shared one); also returns the providers, for the ledger's sync.
    pub fn with_ledger(
        config: &RuntimeConfig,
        registry: &Registry,
        policy: RetryPolicy,
        ledger: Option<Arc<dyn SpendLedger>>,
    ) -> Result<(Self, ProviderPool), WorkerError> {
        let metrics = LlmMetrics::register(registry)?;
        // A strategy's budget is per request here (its share of the pool), not per process.
        let pool = ProviderPool::with_ledger(&config.providers, policy, ledger, None)?;
        pool.publish_budgets(&metrics);
        let seats = seats(config, &pool, &metrics, None)?;
        let worker = Self::new(seats, config.server.max_in_flight, registry.clone())?;
        Ok((worker, pool))
    }

    /// Counts strategies' shares in `strategies`, published through `ledger`.
    pub fn share_spend(&mut self, strategies: Arc<StrategySpend>, ledger: Option<Arc<PoolLedger>>) {
        self.strategies = strategies;
        self.ledger = ledger;
    }

    async fn analyze(&self, request: AnalysisRequest) -> AnalysisResponse {
        let snapshot = Snapshot {
            symbol: request.symbol,
            bars: request.bars.into(),
            position: request.position,
        };
        let day = chrono::Utc::now().date_naive();
        let spent = self.strategies.spent(&request.strategy, day);
        let (analyses, cost_usd) = match request.strategy_budget_usd {
            Some(limit) if spent >= limit => {
                let refused = self
                    .seats
                    .iter()
                    .map(|s| s.budget_spent(&snapshot, spent, limit));
                (futures::future::join_all(refused).await, 0.0)
            }
            _ => {
                let analyses = self.seats.iter().map(|s| s.analyze_detailed(&snapshot));
                tally_cost(futures::future::join_all(analyses)).await
            }
        };
        match &self.ledger {
            Some(ledger) => ledger.charge_strategy(&request.strategy, cost_usd, day),
            None => self.strategies.charge(&request.strategy, cost_usd, day),
        }
        let mut response = AnalysisResponse {
            reports: Vec::with_capacity(analyses.len()),
            events: Vec::new(),
            cost_usd,
        };
        for analysis in analyses {
            response.reports.push(analysis.report);
            response.events.extend(analysis.events);
        }
        response
    }
}

/// Decrements the in-flight gauge however the request ends (including a client that hangs
/// up mid-analysis, which drops the handler's future).
struct InFlight<'a>(&'a IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The worker's routes.
pub fn router(worker: Arc<Worker>) -> Router {
    Router::new()
        .route(ANALYSES_PATH, post(analyses))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(worker)
}

/// Serves `worker` on `listener` until `shutdown` completes; then readiness fails, the
/// listener closes and the analyses already running finish before this returns.
pub async fn serve(
    listener: TcpListener,
    worker: Worker,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let worker = Arc::new(worker);
    let draining = worker.clone();
    axum::serve(listener, router(worker))
        .with_graceful_shutdown(async move {
            shutdown.await;
            draining.ready.store(false, Ordering::SeqCst);
            tracing::info!("worker shutting down: finishing in-flight analyses");
        })
        .await
        .map_err(WorkerError::Serve)
}

async fn analyses(
    State(worker): State<Arc<Worker>>,
    Json(request): Json<AnalysisRequest>,
) -> Response {
    let Ok(_slot) = worker.slots.clone().try_acquire_owned() else {
        worker.analyses.with_label_values(&["busy"]).inc();
        tracing::debug!(
            strategy = request.strategy,
            "refused an analysis: at max in flight"
        );
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(ErrorBody::new(
                "busy",
                "this replica is at its analysis limit; retry shortly",
            )),
        )
            .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(BUSY_RETRY_AFTER_SECONDS),
        );
        return response;
    };
    if request.symbol.trim().is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ErrorBody::new("invalid_request", "symbol is empty")),
        )
            .into_response();
    }
    let _inflight = InFlight::enter(&worker.inflight);
    let started = Instant::now();
    let strategy = request.strategy.clone();
    let symbol = request.symbol.clone();
    let response = worker.analyze(request).await;
    worker.duration.observe(started.elapsed().as_secs_f64());
    worker.analyses.with_label_values(&["ok"]).inc();
    tracing::info!(
        strategy,
        symbol,
        reports = response.reports.len(),
        events = response.events.len(),
        millis = started.elapsed().as_millis() as u64,
        "analysis served"
    );
    Json(response).into_response()
}

async fn readyz(State(worker): State<Arc<Worker>>) -> Response {
    if worker.ready.load(Ordering::SeqCst) {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    }
}

async fn metrics(State(worker): State<Arc<Worker>>) -> Response {
    let mut body = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&worker.registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_string())],
            body,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
