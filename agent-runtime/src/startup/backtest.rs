//! The `backtest` command: runs [`crate::backtest::run`] and prints its JSON summary on
//! stdout (and to `--output` when given). A refused setting or a bad bar is logged once,
//! naming the field or the line, and the process exits non-zero.

use std::process::ExitCode;

use tradeplane_contract::command::BacktestArgs;

use crate::backtest::{self, Overrides, job};
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
    let result = backtest::run(&config, &overrides(&args)).await;
    if let Some(target) = &target
        && !job::report(target, None, job::finished(target, &result)).await
    {
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
