//! The operator's part of a backtest's status, computed from the runs' own entries (which the
//! run pods write, each under its own field manager) and the Job. Pure.
//!
//! A run counts as finished when it reported `Succeeded` or `Failed`, or when the Job lists
//! its index as failed (a pod that died before it could report: out of memory, evicted).

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::JobStatus;
use k8s_openapi::jiff::Timestamp;

use crate::api::backtest::{
    BacktestStatus, BestRun, RankBy, RunPhase, RunResult, RunStats, SweepSpec,
};
use crate::controllers::Blocker;
use crate::controllers::conditions::{self, Observed, Warns};

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";

/// What the report step saw.
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub previous: Option<&'a BacktestStatus>,
    /// The tested strategy revision, when this reconcile started the runs; else the one the
    /// status records stands.
    pub strategy_revision: Option<String>,
    pub blocker: Option<Blocker>,
    pub total_runs: usize,
    pub job: Option<&'a JobStatus>,
    pub rank_by: RankBy,
    pub keep_best: usize,
    /// The spec's sweep, which tells each run's values.
    pub sweep: Option<&'a SweepSpec>,
}

/// The operator's fields of the status (never `runs`: those belong to the runs) and the
/// conditions observed.
pub fn compute(seen: &Observation, now: Timestamp) -> (BacktestStatus, Vec<Observed>) {
    let runs = seen.previous.map(|s| s.runs.as_slice()).unwrap_or_default();
    let observed = observe(seen, runs);
    let previous_conditions = seen
        .previous
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let best = best_runs(runs, seen.rank_by, seen.keep_best);
    let headline = best
        .first()
        .and_then(|i| runs.iter().find(|r| r.index == *i))
        .and_then(|r| r.stats.as_ref());
    let finished = finished(runs, seen.job).len();
    let status = BacktestStatus {
        observed_generation: seen.generation,
        strategy_revision: seen
            .strategy_revision
            .clone()
            .or_else(|| seen.previous.and_then(|s| s.strategy_revision.clone())),
        conditions: conditions::settle(previous_conditions, &observed, seen.generation, now),
        phase: Some(phase(seen, &observed).to_string()),
        total_runs: i32::try_from(seen.total_runs).ok(),
        finished_runs: i32::try_from(finished).ok(),
        progress: Some(format!("{finished}/{}", seen.total_runs)),
        total_return: headline.and_then(|s| s.total_return).map(signed_percent),
        sharpe: headline.and_then(|s| s.sharpe).map(|v| format!("{v:.2}")),
        max_drawdown: headline.and_then(|s| s.max_drawdown).map(percent),
        trades: headline.and_then(|s| s.trades),
        best_runs: best
            .iter()
            .filter_map(|i| runs.iter().find(|r| r.index == *i))
            .map(|run| best_run(run, seen.sweep))
            .collect(),
        runs: Vec::new(),
    };
    (status, observed)
}

fn best_run(run: &RunResult, sweep: Option<&SweepSpec>) -> BestRun {
    let stats = run.stats.clone().unwrap_or_default();
    BestRun {
        index: run.index,
        params: sweep
            .and_then(|s| usize::try_from(run.index).ok().and_then(|i| s.point(i)))
            .unwrap_or_default(),
        total_return: stats.total_return,
        sharpe: stats.sharpe,
        max_drawdown: stats.max_drawdown,
        trades: stats.trades,
    }
}

/// The status as the operator wrote it: without the runs' entries.
pub fn operator_part(status: &BacktestStatus) -> BacktestStatus {
    BacktestStatus {
        runs: Vec::new(),
        ..status.clone()
    }
}

fn signed_percent(fraction: f64) -> String {
    format!("{:+.2}%", fraction * 100.0)
}

fn percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// The indexes of finished runs: reported, or failed by the Job.
fn finished(runs: &[RunResult], job: Option<&JobStatus>) -> BTreeSet<i32> {
    let mut done: BTreeSet<i32> = runs
        .iter()
        .filter(|r| r.phase != RunPhase::Running)
        .map(|r| r.index)
        .collect();
    done.extend(failed_indexes(job));
    done
}

fn failed_runs(runs: &[RunResult], job: Option<&JobStatus>) -> BTreeSet<i32> {
    let mut failed: BTreeSet<i32> = runs
        .iter()
        .filter(|r| r.phase == RunPhase::Failed)
        .map(|r| r.index)
        .collect();
    failed.extend(failed_indexes(job));
    failed
}

/// The Job's `failedIndexes`, e.g. `1,3-5`, as indexes; an unreadable part is skipped.
pub fn failed_indexes(job: Option<&JobStatus>) -> BTreeSet<i32> {
    let text = job.and_then(|j| j.failed_indexes.as_deref()).unwrap_or("");
    let mut indexes = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<i32>(), last.parse::<i32>()) {
            indexes.extend(first..=last.min(first.saturating_add(10_000)));
        }
    }
    indexes
}

fn observe(seen: &Observation, runs: &[RunResult]) -> Vec<Observed> {
    if let Some(blocker) = &seen.blocker {
        return vec![
            Observed::new(COMPLETE, false, blocker.reason, blocker.message.clone()),
            Observed::new(FAILED, true, blocker.reason, blocker.message.clone())
                .warns(Warns::WhenTrue),
        ];
    }
    let total = seen.total_runs;
    let finished = finished(runs, seen.job).len();
    let failed = failed_runs(runs, seen.job);
    let complete = finished >= total && failed.is_empty();
    let (complete_reason, complete_message) = if complete {
        ("RunsSucceeded", format!("all {total} run(s) succeeded"))
    } else {
        ("RunsPending", format!("{finished}/{total} run(s) finished"))
    };
    let (failed_reason, failed_message) = match failed.iter().next() {
        Some(first) => (
            "RunFailed",
            format!(
                "{} run(s) failed, first run {first}: {}",
                failed.len(),
                runs.iter()
                    .find(|r| r.index == *first)
                    .and_then(|r| r.message.clone())
                    .unwrap_or_else(|| "the pod failed before it reported".to_string())
            ),
        ),
        None => ("NoRunFailed", "no run failed".to_string()),
    };
    vec![
        Observed::new(COMPLETE, complete, complete_reason, complete_message).warns(Warns::Never),
        Observed::new(FAILED, !failed.is_empty(), failed_reason, failed_message)
            .warns(Warns::WhenTrue),
    ]
}

fn phase(seen: &Observation, observed: &[Observed]) -> &'static str {
    let is = |type_: &str| observed.iter().any(|o| o.type_ == type_ && o.status);
    let finished = seen
        .previous
        .map(|s| finished(&s.runs, seen.job).len())
        .unwrap_or_else(|| failed_indexes(seen.job).len());
    if is(FAILED) && (seen.blocker.is_some() || finished >= seen.total_runs) {
        "Failed"
    } else if is(COMPLETE) {
        "Complete"
    } else if seen.job.and_then(|j| j.active).unwrap_or(0) > 0 || finished > 0 {
        "Running"
    } else {
        "Pending"
    }
}

/// The `keep` best succeeded runs by `rank_by`, best first; ties go to the lower index, and a
/// run without the statistic ranks last.
pub fn best_runs(runs: &[RunResult], rank_by: RankBy, keep: usize) -> Vec<i32> {
    let mut ranked: Vec<(i32, Option<f64>)> = runs
        .iter()
        .filter(|r| r.phase == RunPhase::Succeeded)
        .filter_map(|r| r.stats.as_ref().map(|s| (r.index, score(s, rank_by))))
        .collect();
    ranked.sort_by(|(ia, a), (ib, b)| match (a, b) {
        (Some(a), Some(b)) => b.total_cmp(a).then(ia.cmp(ib)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => ia.cmp(ib),
    });
    ranked.into_iter().take(keep).map(|(i, _)| i).collect()
}

/// Higher is better for every metric: the drawdown is negated.
fn score(stats: &RunStats, rank_by: RankBy) -> Option<f64> {
    let value = match rank_by {
        RankBy::Sharpe => stats.sharpe,
        RankBy::Sortino => stats.sortino,
        RankBy::TotalReturn => stats.total_return,
        RankBy::Cagr => stats.cagr,
        RankBy::MaxDrawdown => stats.max_drawdown.map(|d| -d),
        RankBy::ProfitFactor => stats.profit_factor,
    };
    value.filter(|v| v.is_finite())
}
