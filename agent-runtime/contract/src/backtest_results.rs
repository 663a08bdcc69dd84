//! A backtest run's results artifact: its equity curve (downsampled to a bounded number of
//! points) beside the buy-and-hold equity over the same bars, and its fills. The runtime writes
//! it (`agent-runtime backtest --results FILE`, or a Backtest run's ConfigMap or S3 object);
//! the plugin and the dashboard read it. The schema is documented in `docs/backtest.md`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The schema version this crate writes and reads.
pub const RESULTS_VERSION: u32 = 1;
/// The most equity points an artifact holds (the first and the last always among them).
pub const MAX_CURVE_POINTS: usize = 1000;
/// The most fills an artifact lists; later ones are only counted (`fillsOmitted`). With the
/// curve this keeps an artifact well under a ConfigMap's 1 MiB (about 450 KiB at most).
pub const MAX_FILLS: usize = 2000;
/// The key of a run's ConfigMap that holds its artifact.
pub const RESULTS_KEY: &str = "results.json";

/// The ConfigMap of run `index`, `<stem>-<index>`: created empty (and owned) by the
/// operator, written by the run. The stem is `<backtest>-run`, shortened by the operator's
/// child-name rule when a long name would pass 63 characters.
pub fn results_config_map(stem: &str, index: u32) -> String {
    format!("{stem}-{index}")
}

/// One run's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResults {
    /// [`RESULTS_VERSION`].
    pub version: u32,
    pub starting_equity: f64,
    /// Equity after the last cycle; the same number as the summary's and the status's.
    pub final_equity: f64,
    /// Closed round trips (the summary's `trades`).
    pub trades: u64,
    /// Every cycle's index is a multiple of this, except the last point's.
    pub equity_every: u64,
    /// Cycles run; the curve is a sample of them.
    pub cycles: u64,
    /// The equity curve, oldest first.
    pub equity: Vec<EquityPoint>,
    /// The fills, oldest first, at most [`MAX_FILLS`].
    pub fills: Vec<FillRecord>,
    /// Fills made after the list was full.
    pub fills_omitted: u64,
}

/// The equity after one cycle, and what the starting cash held equally in every symbol since
/// its first bar would be worth then.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EquityPoint {
    pub time: DateTime<Utc>,
    pub equity: f64,
    pub buy_and_hold: f64,
}

/// One fill of the simulated broker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FillRecord {
    pub time: DateTime<Utc>,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    pub quantity: f64,
    pub price: f64,
    pub commission: f64,
}

impl RunResults {
    /// Fills in all, listed or not.
    pub fn fill_count(&self) -> u64 {
        self.fills.len() as u64 + self.fills_omitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_reads_back_under_its_documented_names() {
        let time = DateTime::parse_from_rfc3339("2024-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let results = RunResults {
            version: RESULTS_VERSION,
            starting_equity: 1000.0,
            final_equity: 1010.5,
            trades: 1,
            equity_every: 2,
            cycles: 3,
            equity: vec![EquityPoint {
                time,
                equity: 1000.0,
                buy_and_hold: 1000.0,
            }],
            fills: vec![FillRecord {
                time,
                symbol: "SPY".into(),
                side: "buy".into(),
                quantity: 2.0,
                price: 400.25,
                commission: 0.4,
            }],
            fills_omitted: 3,
        };
        let json = serde_json::to_value(&results).unwrap();
        assert_eq!(json["finalEquity"], 1010.5);
        assert_eq!(json["equityEvery"], 2);
        assert_eq!(json["equity"][0]["buyAndHold"], 1000.0);
        assert_eq!(json["equity"][0]["time"], "2024-01-02T00:00:00Z");
        assert_eq!(json["fills"][0]["side"], "buy");
        assert_eq!(json["fillsOmitted"], 3);
        let back: RunResults = serde_json::from_value(json).unwrap();
        assert_eq!(back, results);
        assert_eq!(back.fill_count(), 4);
    }
}
