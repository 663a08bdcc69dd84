//! The JSON summary a backtest prints: its settings and every statistic, each defined in
//! `docs/backtest.md`. Undefined statistics (a Sharpe ratio without dispersion, a profit
//! factor without a losing trade) are `null`, never a made-up number.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tradeplane_contract::backtest_results::RunResults;

use super::recorder::Totals;
use super::settings::Execution;
use super::stats;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub fill: &'static str,
    pub commission_bps: f64,
    pub slippage_bps: f64,
    pub first_bar: Option<DateTime<Utc>>,
    pub last_bar: Option<DateTime<Utc>>,
    /// Bars read, over all symbols.
    pub bars: u64,
    pub cycles: u64,
    pub starting_equity: f64,
    pub final_equity: f64,
    pub total_return: Option<f64>,
    pub cagr: Option<f64>,
    pub volatility: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: f64,
    pub win_rate: Option<f64>,
    pub profit_factor: Option<f64>,
    pub exposure: Option<f64>,
    pub trades: u64,
    pub fills: u64,
    pub buy_and_hold_return: Option<f64>,
    pub llm_cost_usd: f64,
    /// What the LLM seats did (`--llm`), filled in by the run.
    #[serde(flatten)]
    pub llm: LlmTotals,
    pub elapsed_seconds: f64,
    pub bars_per_second: f64,
    /// The process's peak resident memory (Linux `VmHWM`), when known.
    pub peak_rss_bytes: Option<u64>,
    /// The equity curve and fills (`--results`), not part of the printed summary.
    #[serde(skip)]
    pub results: RunResults,
}

impl Summary {
    pub fn new(
        execution: &Execution,
        totals: &Totals,
        buy_and_hold_return: Option<f64>,
        llm_cost_usd: f64,
        bars: u64,
        elapsed: Duration,
    ) -> Self {
        let years = match (totals.first_time, totals.last_time) {
            (Some(first), Some(last)) => (last - first).num_seconds() as f64 / (365.25 * 86_400.0),
            _ => 0.0,
        };
        let per_year = stats::periods_per_year(totals.returns.count, years);
        let annualised = |f: fn(&stats::Moments, f64) -> Option<f64>| {
            per_year.and_then(|p| f(&totals.returns, p))
        };
        Self {
            fill: match execution.fill {
                super::settings::FillModel::NextOpen => "nextOpen",
                super::settings::FillModel::Close => "close",
            },
            commission_bps: execution.commission_bps,
            slippage_bps: execution.slippage_bps,
            first_bar: totals.first_time,
            last_bar: totals.last_time,
            bars,
            cycles: totals.cycles,
            starting_equity: totals.starting_equity,
            final_equity: totals.final_equity,
            total_return: stats::total_return(totals.starting_equity, totals.final_equity),
            cagr: stats::cagr(totals.starting_equity, totals.final_equity, years),
            volatility: annualised(stats::volatility),
            sharpe: annualised(stats::sharpe),
            sortino: annualised(stats::sortino),
            max_drawdown: totals.drawdown.max,
            win_rate: stats::win_rate(&totals.trades),
            profit_factor: stats::profit_factor(&totals.trades),
            exposure: (totals.cycles > 0).then(|| totals.exposed as f64 / totals.cycles as f64),
            trades: totals.trades.closed,
            fills: totals.fills,
            buy_and_hold_return,
            llm_cost_usd,
            llm: LlmTotals::default(),
            elapsed_seconds: elapsed.as_secs_f64(),
            bars_per_second: bars as f64 / elapsed.as_secs_f64().max(1e-9),
            peak_rss_bytes: peak_rss_bytes(),
            results: totals.collected.results(
                totals.starting_equity,
                totals.final_equity,
                totals.trades.closed,
            ),
        }
    }
}

/// The LLM side of a run: its mode, cap, and what the answer book counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmTotals {
    /// `off`, `record` or `replay`.
    pub llm_mode: &'static str,
    pub max_cost_usd: Option<f64>,
    /// Requests a provider answered.
    pub llm_calls: u64,
    /// Answers served from the journal's store.
    pub llm_replayed: u64,
    /// Replay questions with no stored answer: the seat fell back.
    pub llm_replay_misses: u64,
    /// Calls not made because they could have passed `--max-cost-usd`: the seat fell back.
    pub llm_cap_refusals: u64,
}

/// `VmHWM` from `/proc/self/status`, in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
