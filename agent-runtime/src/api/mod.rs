//! The read-only journal API, `/api/v1/...`, served beside the probes and metrics on the
//! runtime's one port: what the `kubectl tradeplane` plugin and the dashboard read.
//!
//! Read-only by construction: every handler calls only the journal's reading methods, so a
//! standby answers from the shared PostgreSQL journal while the leader writes it, and a
//! SQLite strategy (one replica) answers from its own file. The response types are the
//! contract's (`tradeplane_contract::journal_api`). Lists are newest first with opaque
//! cursors and capped pages (`params`); every refusal is an [`ApiError`] naming what was
//! wrong. A journal failure is logged here and answered without its text: a database error
//! can quote a connection string, and the API never says more than its types hold.

mod handlers;
mod params;
mod views;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tradeplane_contract::config::Identity;
use tradeplane_contract::journal_api::{API_PREFIX, ApiError};

use crate::journal::{Journal, JournalError};
use crate::metrics::Metrics;

/// What the API reads: the journal, whose strategy it is, and the process's role and trading
/// state as its metrics publish them.
#[derive(Clone)]
pub struct JournalApi {
    pub journal: Journal,
    pub identity: Identity,
    pub metrics: Metrics,
    /// The equity profit and loss is measured from (the paper broker's starting cash);
    /// `None`: the first equity snapshot.
    pub pnl_baseline: Option<f64>,
}

/// The API's routes under [`API_PREFIX`], to merge into the runtime's router; an unknown
/// path under the prefix is a JSON `404`.
pub fn routes(api: JournalApi) -> Router {
    let v1 = Router::new()
        .route("/summary", get(handlers::summary))
        .route("/cycles", get(handlers::cycles))
        .route("/cycles/{id}", get(handlers::cycle_detail))
        .route("/orders", get(handlers::orders))
        .route("/fills", get(handlers::fills))
        .route("/positions", get(handlers::positions))
        .route("/equity", get(handlers::equity))
        .route("/chart", get(handlers::chart))
        .route("/llm-spend", get(handlers::llm_spend))
        .fallback(handlers::unknown_endpoint)
        .with_state(api);
    Router::new().nest(API_PREFIX, v1)
}

/// Why a request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    #[error("{parameter}: {message}")]
    BadParameter { parameter: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

impl ApiFailure {
    fn bad(parameter: &str, message: String) -> Self {
        Self::BadParameter {
            parameter: parameter.to_string(),
            message,
        }
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::BadParameter { parameter, message } => (
                StatusCode::BAD_REQUEST,
                ApiError {
                    error: "bad_parameter".into(),
                    parameter: Some(parameter),
                    message,
                },
            ),
            Self::NotFound(message) => (
                StatusCode::NOT_FOUND,
                ApiError {
                    error: "not_found".into(),
                    parameter: None,
                    message,
                },
            ),
            Self::Journal(err) => {
                tracing::warn!(%err, "journal API: the journal could not be read");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    ApiError {
                        error: "journal_unavailable".into(),
                        parameter: None,
                        message: "the journal could not be read; see the runtime's log".into(),
                    },
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
