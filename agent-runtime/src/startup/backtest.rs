//! The `backtest` command: runs [`crate::backtest::run`] and prints its JSON summary on
//! stdout (and to `--output` when given). A refused setting or a bad bar is logged once,
//! naming the field or the line, and the process exits non-zero.

use std::process::ExitCode;

use tradeplane_contract::command::BacktestArgs;

use crate::backtest::{self, Overrides};
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
    let summary = match backtest::run(&config, &overrides(&args)).await {
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
