//! `/healthz`, `/readyz` and `/metrics` over HTTP (axum), and on the same port the read-only
//! journal API (`/api/v1/...`, see `api`).
//!
//! Liveness and readiness mean different things here. `/healthz` only says the process
//! answers: restarting a trader mid-cycle is worse than a slow one. `/readyz` says the trader
//! can be trusted with orders: it has reconciled with the broker since start (a standby, which
//! must not write the journal while another replica leads, once the broker answered a look
//! at the account and positions; it reconciles on taking the Lease), the broker answered on
//! the last attempt, and a cycle completed recently (the start time counts as the
//! first "cycle", so a fresh pod is ready once reconciled). "Recently" is measured from the
//! later of the last cycle and the slot the trader is waiting for, so a trader sleeping over
//! a weekend until the market opens stays ready. The body lists what is missing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use crate::api::JournalApi;
use crate::metrics::Metrics;

/// Shared health state: written by the trader loop, read by the probes.
#[derive(Debug)]
pub struct Health {
    reconciled: AtomicBool,
    /// A hot standby runs no cycles, so no cycle can be stale.
    standby: AtomicBool,
    broker_reachable: AtomicBool,
    last_cycle: std::sync::Mutex<Instant>,
    /// The next scheduled cycle, while the trader waits for it.
    next_slot: std::sync::Mutex<Option<Instant>>,
    stale_after: Duration,
}

impl Health {
    pub fn new(stale_after: Duration) -> Self {
        Self {
            reconciled: AtomicBool::new(false),
            standby: AtomicBool::new(false),
            broker_reachable: AtomicBool::new(false),
            last_cycle: std::sync::Mutex::new(Instant::now()),
            next_slot: std::sync::Mutex::new(None),
            stale_after,
        }
    }

    pub fn set_reconciled(&self, value: bool) {
        self.reconciled.store(value, Ordering::SeqCst);
    }

    /// A standby is ready without cycling: it waits for the Lease, reconciled and warm.
    pub fn set_standby(&self, value: bool) {
        self.standby.store(value, Ordering::SeqCst);
    }

    pub fn set_broker_reachable(&self, value: bool) {
        self.broker_reachable.store(value, Ordering::SeqCst);
    }

    pub fn cycle_completed(&self) {
        if let Ok(mut last) = self.last_cycle.lock() {
            *last = Instant::now();
        }
    }

    /// The trader sleeps until `slot` for its next cycle: no cycle is expected before then.
    pub fn waiting_until(&self, slot: Instant) {
        if let Ok(mut next) = self.next_slot.lock() {
            *next = Some(slot);
        }
    }

    /// What stands between the process and readiness; empty when ready.
    pub fn unready_reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if !self.reconciled.load(Ordering::SeqCst) {
            reasons.push("not reconciled with the broker yet".to_string());
        }
        if !self.broker_reachable.load(Ordering::SeqCst) {
            reasons.push("broker unreachable".to_string());
        }
        let age = self
            .last_cycle
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or(Duration::MAX);
        let overdue = self
            .next_slot
            .lock()
            .map(|slot| slot.is_none_or(|slot| slot.elapsed() > self.stale_after))
            .unwrap_or(true);
        let standby = self.standby.load(Ordering::SeqCst);
        if age > self.stale_after && overdue && !standby {
            reasons.push(format!(
                "last cycle {}s ago (stale after {}s)",
                age.as_secs(),
                self.stale_after.as_secs()
            ));
        }
        reasons
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    metrics: Metrics,
}

pub fn router(health: Arc<Health>, metrics: Metrics) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState { health, metrics })
}

/// The probes and metrics, and the read-only journal API (`/api/v1/...`) when the process
/// has a journal.
pub fn router_with_api(health: Arc<Health>, metrics: Metrics, api: Option<JournalApi>) -> Router {
    let probes = router(health, metrics);
    match api {
        Some(api) => probes.merge(crate::api::routes(api)),
        None => probes,
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let reasons = state.health.unready_reasons();
    if reasons.is_empty() {
        (StatusCode::OK, "ready".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, reasons.join("\n"))
    }
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listen: SocketAddr,
    health: Arc<Health>,
    metrics: Metrics,
    api: Option<JournalApi>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, journal_api = api.is_some(), "serving /healthz, /readyz, /metrics");
    axum::serve(listener, router_with_api(health, metrics, api))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
