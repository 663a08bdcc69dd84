//! The `backtest` command: runs [`crate::backtest::run`] and prints its JSON summary on
//! stdout (and to `--output` when given). A refused setting or a bad bar is logged once,
//! naming the field or the line, and the process exits non-zero.

use std::process::ExitCode;

use tradeplane_contract::command::BacktestArgs;

use crate::backtest::sources::{ApiSource, ObjectSource, SourceError};
use crate::backtest::{self, BacktestError, Overrides, Summary, artifact, job};
use crate::config::RuntimeConfig;

/// The command line's settings as the backtest takes them.
pub fn overrides(args: &BacktestArgs) -> Overrides {
    Overrides {
        data: args.data.clone(),
        cash: args.cash,
        commission_bps: args.commission_bps,
        slippage_bps: args.slippage_bps,
        fill: args.fill,
        allow_gaps: args.allow_gaps,
        llm: args.llm,
        max_cost_usd: args.max_cost_usd,
    }
}

pub async fn command(config: RuntimeConfig, args: BacktestArgs) -> ExitCode {
    // A run of a Backtest's Job reports into its status (`backtest::job`); others do not.
    let target = match job::RunTarget::from_env(&config) {
        Ok(target) => target,
        Err(err) => {
            eprintln!("backtest: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(target) = &target {
        job::report(target, None, job::running(target)).await;
    }
    let result = run(&config, &args).await;
    let artifact = match &result {
        Ok(summary) => keep_results(&config, &args, summary).await,
        Err(_) => Ok(None),
    };
    if let Some(target) = &target
        && !job::report(target, None, job::finished(target, &result, &artifact)).await
    {
        return ExitCode::FAILURE;
    }
    if let Err(problem) = &artifact {
        tracing::error!(%problem, "cannot write the results artifact");
        eprintln!("backtest: {problem}");
        return ExitCode::FAILURE;
    }
    let summary = match result {
        Ok(summary) => summary,
        Err(err) => {
            tracing::error!(%err, "backtest failed");
            eprintln!("backtest: {err}");
            return ExitCode::FAILURE;
        }
    };
    let json = match serde_json::to_string_pretty(&summary) {
        Ok(json) => json,
        Err(err) => {
            tracing::error!(%err, "cannot write the summary");
            return ExitCode::FAILURE;
        }
    };
    println!("{json}");
    if let Some(path) = &args.output
        && let Err(err) = std::fs::write(path, format!("{json}\n"))
    {
        tracing::error!(%err, path = %path.display(), "cannot write the summary");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Writes the results artifact wherever the flags say; the cluster place the status should
/// name (`None` without one), or the first failure.
async fn keep_results(
    config: &RuntimeConfig,
    args: &BacktestArgs,
    summary: &Summary,
) -> Result<Option<serde_json::Value>, String> {
    let mut place = None;
    for target in artifact::targets(args, &config.identity.namespace) {
        target
            .write(&summary.results)
            .await
            .map_err(|e| e.to_string())?;
        place = place.or(target.status());
    }
    Ok(place)
}

/// Why a run failed: its bars could not be fetched, or the backtest itself failed.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Backtest(#[from] BacktestError),
}

/// Fetches the bars when they are an S3 object or come from a market data API (into a scratch
/// directory removed after the run), then runs the backtest over them.
async fn run(config: &RuntimeConfig, args: &BacktestArgs) -> Result<Summary, RunError> {
    let mut overrides = overrides(args);
    let api = ApiSource::from_args(args)?;
    let object = ObjectSource::from_args(args);
    if api.is_none() && object.is_none() {
        return Ok(backtest::run(config, &overrides).await?);
    }
    let dir = crate::backtest::sources::scratch_dir();
    let fetched = match (object, api) {
        (Some(object), _) => object.fetch(&dir).await,
        (None, Some(api)) => api.fetch(&config.symbols, &dir).await,
        (None, None) => Ok(dir.clone()),
    };
    let result = match fetched {
        Ok(path) => {
            overrides.data = Some(path);
            backtest::run(config, &overrides)
                .await
                .map_err(RunError::from)
        }
        Err(err) => Err(err.into()),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}
