//! Drives a [`CycleRunner`] through a [`ReplayFeed`] and summarises the run.
//!
//! Used by the `replay` command (the demo: a backtest in seconds, no keys) and by the
//! replay tests. Each cycle runs at the feed's clock, so the run is reproducible.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cycle::{CycleError, CycleRunner};
use crate::market::ReplayFeed;

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ReplaySummary {
    pub cycles: usize,
    pub decisions: usize,
    pub orders: usize,
    pub fills: usize,
    pub risk_rejections: usize,
    pub starting_equity: f64,
    pub final_equity: f64,
    /// (final − starting) / starting.
    pub total_return: f64,
    /// Largest peak-to-trough fall of the equity curve, as a fraction.
    pub max_drawdown: f64,
    pub first_cycle: Option<String>,
    pub last_cycle: Option<String>,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cycles {} ({} → {}), decisions {}, orders {} ({} filled), risk rejections {}, \
             equity {:.2} → {:.2}, return {:+.2}%, max drawdown {:.2}%",
            self.cycles,
            self.first_cycle.as_deref().unwrap_or("-"),
            self.last_cycle.as_deref().unwrap_or("-"),
            self.decisions,
            self.orders,
            self.fills,
            self.risk_rejections,
            self.starting_equity,
            self.final_equity,
            self.total_return * 100.0,
            self.max_drawdown * 100.0,
        )
    }
}

/// Runs cycles until the feed is exhausted, `max_cycles` ran, or `stop` turns true (checked
/// between cycles, so a cycle is never cut in half). `pace` sleeps between cycles.
pub async fn run(
    runner: &mut CycleRunner,
    feed: &Arc<ReplayFeed>,
    bars_per_cycle: usize,
    max_cycles: Option<usize>,
    pace: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<ReplaySummary, CycleError> {
    let mut summary = ReplaySummary::default();
    // Equity before the first trade: the account with nothing marked yet.
    let opening = runner
        .broker()
        .account(&Default::default())
        .await
        .map_err(CycleError::Broker)?;
    summary.starting_equity = opening.equity;
    let mut peak = opening.equity;
    while let Some(now) = feed.now() {
        if *stop.borrow() || max_cycles.is_some_and(|max| summary.cycles >= max) {
            break;
        }
        let report = runner.run(now).await?;
        let equity = report.account.equity;
        if summary.cycles == 0 {
            summary.first_cycle = Some(report.cycle_id.clone());
        }
        peak = peak.max(equity);
        if peak > 0.0 {
            summary.max_drawdown = summary.max_drawdown.max((peak - equity) / peak);
        }
        summary.cycles += 1;
        summary.decisions += report.decisions.len();
        summary.orders += report.orders_sent;
        summary.fills += report.orders_filled;
        summary.risk_rejections += report.rejections;
        summary.final_equity = equity;
        summary.last_cycle = Some(report.cycle_id);
        if feed.advance(bars_per_cycle).is_none() {
            break;
        }
        if !pace.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pace) => {}
                _ = stop.changed() => {}
            }
        }
    }
    if summary.starting_equity > 0.0 {
        summary.total_return =
            (summary.final_equity - summary.starting_equity) / summary.starting_equity;
    }
    Ok(summary)
}
