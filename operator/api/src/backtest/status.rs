//! What a Backtest's status says. Each run pod reports its own entry of `runs` (keyed by its
//! index, under a field manager of its own, so runs never conflict); the operator owns the
//! rest, computed from those entries.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator and the runs last saw of the backtest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BacktestStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The decision revision of the TradingStrategy `strategyRef` names, as its spec stood
    /// when the runs started (the revision its `rollout` and `promotionGates` speak of);
    /// set only without a `sweep`. It is computed with the image the runs use, so a
    /// Backtest whose `image` differs from the strategy's tested another revision. A
    /// `promotionGates.backtest` counts this Backtest for that revision only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_revision: Option<String>,
    /// `Complete` (every run succeeded) or `Failed` (a run failed, or the spec cannot run),
    /// and the kstatus pair `Reconciling` / `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::common::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// For display only: `Pending`, `Running`, `Complete` or `Failed`. Use conditions in
    /// automation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Runs in all (the product of the sweep's axes, or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_runs: Option<i32>,
    /// Runs finished, successfully or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_runs: Option<i32>,
    /// For display: `finished/total`, e.g. `3/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// For display: the best run's total return, e.g. `+12.34%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_return: Option<String>,
    /// For display: the best run's Sharpe ratio, e.g. `1.27`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpe: Option<String>,
    /// For display: the best run's maximum drawdown, e.g. `8.10%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drawdown: Option<String>,
    /// The best run's closed round trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trades: Option<i64>,
    /// The best runs by `sweep.rankBy`, best first, at most `sweep.keepBest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub best_runs: Vec<BestRun>,
    /// Every run's result, as its pod reported it; each entry is written by its own run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["index".into()]))]
    pub runs: Vec<RunResult>,
}

/// One of the best runs: its index, its sweep point and its headline statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BestRun {
    /// The run's index (its entry in `runs`).
    pub index: i32,
    /// Each sweep axis's path and the value it took in this run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, f64>,
    /// Total return, a fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_return: Option<f64>,
    /// Sharpe ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpe: Option<f64>,
    /// Maximum drawdown, a fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drawdown: Option<f64>,
    /// Closed round trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trades: Option<i64>,
}

/// One run's result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// The run's index in the Job (its `JOB_COMPLETION_INDEX`).
    pub index: i32,
    /// `Running`, `Succeeded` or `Failed`.
    pub phase: RunPhase,
    /// Why a failed run failed, naming the field or the data line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The run's statistics, once it succeeded (and with a `Failed` phase when only its
    /// results artifact could not be written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<RunStats>,
    /// Where the run's results artifact is, once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<RunArtifact>,
}

/// Where a run's results artifact is: a ConfigMap of the Backtest's namespace, or an object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunArtifact {
    /// The ConfigMap holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    /// The ConfigMap's key holding it (`results.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The S3 object holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<ArtifactObject>,
}

/// An object of an S3-compatible bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactObject {
    /// Bucket name.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The service's endpoint; absent for AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

// A run's state. (A plain comment: kube copies an enum's doc over the field's.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunPhase {
    /// Started, not finished.
    #[default]
    Running,
    /// Finished with statistics.
    Succeeded,
    /// Stopped on an error.
    Failed,
}

/// A run's statistics, as `docs/backtest.md` defines them. Fractions, not percents; a
/// statistic that is not defined (a Sharpe ratio without variance, say) is absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStats {
    /// Final equity / starting equity − 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_return: Option<f64>,
    /// Compound annual growth rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cagr: Option<f64>,
    /// Annualised standard deviation of the per-bar returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volatility: Option<f64>,
    /// Annualised Sharpe ratio, risk-free rate 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sortino: Option<f64>,
    /// Largest fall from a peak of equity, as a fraction of the peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drawdown: Option<f64>,
    /// Winning closed trades / closed trades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub win_rate: Option<f64>,
    /// Gross profit / gross loss of closed trades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_factor: Option<f64>,
    /// Cycles that ended holding a position / cycles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<f64>,
    /// Closed round trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trades: Option<i64>,
    /// Buy-and-hold return over the same bars (mean over symbols).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buy_and_hold_return: Option<f64>,
    /// What the run's LLM calls cost, US dollars.
    #[serde(
        rename = "llmCostUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub llm_cost_usd: Option<f64>,
    /// Bars read per wall-clock second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bars_per_second: Option<f64>,
    /// Bars read (all symbols).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bars: Option<i64>,
    /// Equity at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_equity: Option<f64>,
}
