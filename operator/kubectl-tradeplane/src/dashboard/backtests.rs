//! The console's Backtest endpoints: a row per Backtest from its status, and one Backtest
//! with a run's results artifact, read exactly as `kubectl tradeplane backtest -o json` reads
//! them (the status's figures, the artifact the run itself wrote), as the user.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use kube::Api;
use kube::api::ListParams;
use serde::{Deserialize, Serialize};
use tradeplane_api::backtest::Backtest;

use super::Console;
use super::error::ApiFailure;
use crate::backtest::{self, Document};

type Shared = State<Arc<Console>>;

/// A Backtest as the overview lists it: the `kubectl get bt` columns.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BacktestRow {
    pub namespace: String,
    pub name: String,
    pub phase: Option<String>,
    pub progress: Option<String>,
    pub total_return: Option<String>,
    pub sharpe: Option<String>,
    pub max_drawdown: Option<String>,
    pub trades: Option<i64>,
}

pub fn row(backtest: &Backtest) -> BacktestRow {
    let status = backtest.status.clone().unwrap_or_default();
    BacktestRow {
        namespace: backtest.metadata.namespace.clone().unwrap_or_default(),
        name: backtest.metadata.name.clone().unwrap_or_default(),
        phase: status.phase,
        progress: status.progress,
        total_return: status.total_return,
        sharpe: status.sharpe,
        max_drawdown: status.max_drawdown,
        trades: status.trades,
    }
}

/// `GET /api/v1/backtests`: a row per Backtest in reach, by namespace and name.
pub async fn list(State(console): Shared) -> Result<Json<Vec<BacktestRow>>, ApiFailure> {
    let api: Api<Backtest> = super::handlers::scoped(&console);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| ApiFailure::from_kube(e, "list backtests"))?;
    let mut rows: Vec<BacktestRow> = list.items.iter().map(row).collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub struct RunQuery {
    /// The run to show; the best run when absent.
    pub run: Option<i32>,
}

/// `GET /api/v1/backtests/{ns}/{name}?run=i`: the status and run `i`'s (else the best run's)
/// results artifact, or why it cannot be read.
pub async fn detail(
    State(console): Shared,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<RunQuery>,
) -> Result<Json<Document>, ApiFailure> {
    super::handlers::in_scope(&console, &namespace)?;
    let (_, document) = backtest::load(&console.target(&namespace), &name, query.run).await?;
    Ok(Json(document))
}
