//! `backtest NAME`: a Backtest's result table — its best runs (or every run with `--all`),
//! each with its sweep point and headline statistics — from the Backtest's status, then the
//! equity curve of the best run (or `--run i`) against buy-and-hold, drawn from the run's
//! results artifact (its ConfigMap, read with the user's own credentials). Pure rendering in
//! [`render`] and [`crate::render::equity`], tested without a cluster; 80 columns.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Args;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use tradeplane_api::backtest::{Backtest, BacktestStatus, RunArtifact, RunPhase, RunResult};
use tradeplane_contract::backtest_results::{RESULTS_KEY, RunResults};

use crate::cli::OutputFormat;
use crate::cluster::Target;
use crate::error::Error;
use crate::output::write_as;
use crate::render::equity::chart;

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The Backtest.
    pub name: String,
    /// Every run, by index, instead of the best ones.
    #[arg(long)]
    pub all: bool,
    /// Print the Backtest's status and the chosen run's results artifact instead of the
    /// table and the curve.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Draw (or with `-o`, print) this run's results instead of the best run's.
    #[arg(long, value_name = "INDEX")]
    pub run: Option<i32>,
}

/// Plot rows of the equity curve.
const CHART_HEIGHT: usize = 12;

pub async fn run(target: &Target, args: &BacktestArgs, out: &mut dyn Write) -> Result<(), Error> {
    let (backtest, document) = load(target, &args.name, args.run).await?;
    match args.output {
        Some(format) => write_as(out, format, &document),
        None => {
            out.write_all(render(&backtest, args.all).as_bytes())?;
            if let Some(index) = document.run {
                let results = match (document.results, document.results_error) {
                    (Some(results), _) => Ok(results),
                    (None, problem) => Err(problem.unwrap_or_default()),
                };
                out.write_all(curve(index, &results).as_bytes())?;
            }
            Ok(())
        }
    }
}

/// The Backtest `name`, read as the user, and its [`Document`] for run `run` (else the best
/// run): what `-o json` prints and the console's Backtest page shows.
pub async fn load(
    target: &Target,
    name: &str,
    run: Option<i32>,
) -> Result<(Backtest, Document), Error> {
    let backtest = target
        .api::<Backtest>()
        .get(name)
        .await
        .map_err(|e| Error::from_kube(e, "get", "backtests", &target.namespace))?;
    let status = backtest.status.clone().unwrap_or_default();
    let index = chosen_run(&status, run);
    let results = match index {
        Some(index) => Some(load_results(target, &status, index).await),
        None => None,
    };
    let (results, results_error) = match results {
        Some(Ok(results)) => (Some(results), None),
        Some(Err(problem)) => (None, Some(problem)),
        None => (None, None),
    };
    let document = Document {
        status: backtest.status.clone(),
        run: index,
        results,
        results_error,
    };
    Ok((backtest, document))
}

/// `-o json|yaml`: the status, and the results artifact of the run the curve would show.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub status: Option<BacktestStatus>,
    /// The run whose results follow: `--run`, else the best run.
    pub run: Option<i32>,
    pub results: Option<RunResults>,
    /// Why `results` is missing, when a run was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_error: Option<String>,
}

/// The run whose curve is drawn: `--run`, else the best run, else the only run.
fn chosen_run(status: &BacktestStatus, run: Option<i32>) -> Option<i32> {
    run.or_else(|| status.best_runs.first().map(|b| b.index))
        .or_else(|| (status.runs.len() == 1).then(|| status.runs[0].index))
}

/// The heading and the equity chart, or the heading and why there is none.
fn curve(index: i32, results: &Result<RunResults, String>) -> String {
    let heading = format!("\nEquity of run {index}\n");
    match results {
        Ok(results) => format!("{heading}{}", chart(results, WIDTH, CHART_HEIGHT)),
        Err(problem) => format!("{heading}{problem}\n"),
    }
}

/// Run `index`'s results artifact, read with the user's own credentials, or why it cannot
/// be shown (reading it may fail on its own without losing the table).
async fn load_results(
    target: &Target,
    status: &BacktestStatus,
    index: i32,
) -> Result<RunResults, String> {
    let artifact = status
        .runs
        .iter()
        .find(|r| r.index == index)
        .and_then(|r| r.artifact.clone());
    match artifact {
        None => Err(format!("no results artifact for run {index} yet")),
        Some(RunArtifact {
            s3: Some(object), ..
        }) => Err(format!(
            "results in s3://{}/{}{} (the plugin does not read buckets)",
            object.bucket,
            object.key,
            object
                .endpoint
                .map(|e| format!(" at {e}"))
                .unwrap_or_default()
        )),
        Some(RunArtifact {
            config_map: Some(name),
            key,
            ..
        }) => read_artifact(target, &name, key.as_deref().unwrap_or(RESULTS_KEY)).await,
        Some(_) => Err(format!("run {index}'s artifact names no place")),
    }
}

async fn read_artifact(target: &Target, name: &str, key: &str) -> Result<RunResults, String> {
    let map = target
        .api::<ConfigMap>()
        .get(name)
        .await
        .map_err(|e| Error::from_kube(e, "get", "configmaps", &target.namespace).to_string())?;
    let text = map
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(|| format!("ConfigMap {name} has no key {key} yet"))?;
    serde_json::from_str(text).map_err(|e| format!("ConfigMap {name} key {key}: {e}"))
}

const WIDTH: usize = 80;
const PARAMS_WIDTH: usize = 30;

/// The screen: a heading, then one line per run.
pub fn render(backtest: &Backtest, all: bool) -> String {
    let name = backtest.metadata.name.clone().unwrap_or_default();
    let status = backtest.status.clone().unwrap_or_default();
    let mut text = heading(&name, &status);
    let runs = selected(&status, all);
    if runs.is_empty() {
        text.push_str("no run has reported yet\n");
        return text;
    }
    text.push_str(&format!(
        "{:>4}  {:<PARAMS_WIDTH$} {:>8} {:>6} {:>7} {:>6} {:>8}\n",
        "RUN", "PARAMS", "RETURN", "SHARPE", "MAX DD", "TRADES", "B&H"
    ));
    let sweep = backtest.spec.sweep.as_ref();
    for run in runs {
        let point = sweep
            .and_then(|s| usize::try_from(run.index).ok().and_then(|i| s.point(i)))
            .unwrap_or_default();
        text.push_str(&line(run, &point));
        text.push('\n');
    }
    text
}

fn heading(name: &str, status: &BacktestStatus) -> String {
    let phase = status.phase.as_deref().unwrap_or("Pending");
    let progress = status.progress.as_deref().unwrap_or("0/0");
    let mut text = fit(&format!("Backtest {name}  {phase}  {progress} runs"), WIDTH);
    text.push('\n');
    if let Some(failed) = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Failed" && c.status == "True")
    {
        text.push_str(&fit(&format!("failed: {}", failed.message), WIDTH));
        text.push('\n');
    }
    text
}

/// The best runs in rank order, or every run by index.
fn selected(status: &BacktestStatus, all: bool) -> Vec<&RunResult> {
    if all {
        let mut runs: Vec<&RunResult> = status.runs.iter().collect();
        runs.sort_by_key(|r| r.index);
        return runs;
    }
    status
        .best_runs
        .iter()
        .filter_map(|best| status.runs.iter().find(|r| r.index == best.index))
        .collect()
}

fn line(run: &RunResult, point: &BTreeMap<String, f64>) -> String {
    let params = point
        .iter()
        .map(|(path, value)| format!("{}={value}", path.rsplit('.').next().unwrap_or(path)))
        .collect::<Vec<_>>()
        .join(" ");
    let params = fit(&params, PARAMS_WIDTH);
    match (run.phase, run.stats.as_ref()) {
        (RunPhase::Succeeded, Some(stats)) => format!(
            "{:>4}  {params:<PARAMS_WIDTH$} {:>8} {:>6} {:>7} {:>6} {:>8}",
            run.index,
            signed_percent(stats.total_return),
            stats.sharpe.map_or("-".to_string(), |v| format!("{v:.2}")),
            stats
                .max_drawdown
                .map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0)),
            stats.trades.map_or("-".to_string(), |v| v.to_string()),
            signed_percent(stats.buy_and_hold_return),
        ),
        (RunPhase::Failed, _) => fit(
            &format!(
                "{:>4}  {params:<PARAMS_WIDTH$} failed: {}",
                run.index,
                run.message.as_deref().unwrap_or("")
            ),
            WIDTH,
        ),
        _ => format!("{:>4}  {params:<PARAMS_WIDTH$} running", run.index),
    }
}

fn signed_percent(fraction: Option<f64>) -> String {
    fraction.map_or("-".to_string(), |v| format!("{:+.2}%", v * 100.0))
}

/// `text` cut to `width` characters, ending in `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backtest() -> Backtest {
        serde_json::from_value(json!({
            "apiVersion": "tradeplane.io/v1alpha1", "kind": "Backtest",
            "metadata": {"name": "sma-sweep"},
            "spec": {
                "strategyRef": {"name": "sma"},
                "data": {"configMap": {"name": "bars", "key": "AAPL.csv"}},
                "sweep": {"axes": [
                    {"path": "analysts[0].params.fastPeriod", "values": [5, 10]},
                    {"path": "analysts[0].params.slowPeriod", "values": [30, 50]},
                ]},
            },
            "status": {
                "phase": "Failed", "progress": "4/4",
                "conditions": [{"type": "Failed", "status": "True", "reason": "RunFailed",
                    "message": "1 run(s) failed, first run 3: bars: /var/lib/tradeplane-data/AAPL.csv line 57: low above high",
                    "lastTransitionTime": "2026-12-07T05:00:00Z"}],
                "bestRuns": [{"index": 2}, {"index": 0}],
                "runs": [
                    {"index": 0, "phase": "Succeeded", "stats": {"totalReturn": 0.05, "sharpe": 0.5, "maxDrawdown": 0.1, "trades": 3, "buyAndHoldReturn": 0.2}},
                    {"index": 1, "phase": "Running"},
                    {"index": 2, "phase": "Succeeded", "stats": {"totalReturn": 0.124, "sharpe": 1.31, "maxDrawdown": 0.079, "trades": 9, "buyAndHoldReturn": 0.2}},
                    {"index": 3, "phase": "Failed", "message": "bars: /var/lib/tradeplane-data/AAPL.csv line 57: low above high"},
                ],
            },
        }))
        .unwrap()
    }

    #[test]
    fn the_best_runs_come_in_rank_order_with_their_sweep_points() {
        let text = render(&backtest(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Backtest sma-sweep  Failed  4/4 runs");
        assert!(
            lines[1].starts_with("failed: 1 run(s) failed, first run 3"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            "   2  fastPeriod=10 slowPeriod=30     +12.40%   1.31   7.90%      9  +20.00%"
        );
        assert!(
            lines[4].starts_with("   0  fastPeriod=5 slowPeriod=30 "),
            "{text}"
        );
        assert_eq!(lines.len(), 5, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    }

    #[test]
    fn all_lists_every_run_by_index_and_says_why_one_failed() {
        let text = render(&backtest(), true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[4].starts_with("   1  fastPeriod=5 slowPeriod=50"),
            "{text}"
        );
        assert!(lines[4].ends_with("running"), "{text}");
        assert!(
            lines[6].contains("failed: bars: /var/lib/tradeplane-data/AAP…"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    }

    #[test]
    fn the_curve_is_the_best_runs_unless_a_run_is_asked_for() {
        let status = backtest().status.unwrap();
        assert_eq!(chosen_run(&status, None), Some(2));
        assert_eq!(chosen_run(&status, Some(3)), Some(3));
        assert_eq!(chosen_run(&BacktestStatus::default(), None), None);
    }

    #[test]
    fn a_run_without_a_readable_artifact_says_why_under_its_heading() {
        let text = curve(4, &Err("no results artifact for run 4 yet".to_string()));
        assert_eq!(
            text,
            "\nEquity of run 4\nno results artifact for run 4 yet\n"
        );
    }
}
