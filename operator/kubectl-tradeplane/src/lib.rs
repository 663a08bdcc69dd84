//! The `kubectl tradeplane` plugin: what a user asks of a TradingStrategy from a terminal —
//! its status on one screen, its journal, one decision explained, and the actions the spec
//! offers (suspend, resume, restart, switchover, backup, restore).
//!
//! It acts only as the user: the kubeconfig's credentials, the user's RBAC, and the API
//! server's service proxy to reach the runtime's read-only journal API. It never holds the
//! operator's credentials, and it depends on the CRD types (`tradeplane-api`) and the
//! runtime's contract (`tradeplane-contract`) only, never on the operator's controllers or
//! the runtime itself, so it builds small and cannot drift into either's internals.
//!
//! Layout: [`cli`] the arguments; one module per subcommand (fetching, then handing plain
//! data to [`render`], whose functions are pure and tested without a cluster); [`proxy`] the
//! runtime client; [`cluster`] the Kubernetes reads and the errors they turn into.

pub mod actions;
pub mod backtest;
pub mod backup;
pub mod cli;
pub mod cluster;
pub mod completion;
pub mod dashboard;
pub mod error;
pub mod explain;
pub mod journal;
pub mod logs;
pub mod names;
pub mod output;
pub mod proxy;
pub mod render;
pub mod report;
pub mod restore;
pub mod rollout;
pub mod status;
pub mod version;
pub mod zip;

use std::io::Write;

pub use error::Error;

use cli::{Cli, Command};

/// Runs one command line, writing its output to `out` (progress lines go to stderr).
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), Error> {
    if let Command::Completion(args) = &cli.command {
        return completion::run(args, out);
    }
    let target = cluster::Target::connect(&cli.global).await?;
    match cli.command {
        Command::Status(args) => status::run(&target, &args, out).await,
        Command::Journal(args) => journal::run(&target, &args, out).await,
        Command::Explain(args) => explain::run(&target, &args, out).await,
        Command::Suspend(args) => actions::run(&target, actions::Action::Suspend, &args, out).await,
        Command::Resume(args) => actions::run(&target, actions::Action::Resume, &args, out).await,
        Command::Restart(args) => actions::run(&target, actions::Action::Restart, &args, out).await,
        Command::Switchover(args) => {
            actions::run(&target, actions::Action::Switchover, &args, out).await
        }
        Command::Backup(args) => backup::run(&target, &args, out).await,
        Command::Restore(args) => restore::run(&target, &args, out).await,
        Command::Logs(args) => logs::run(&target, &args, out).await,
        Command::Report(args) => report::run(&target, &args, out).await,
        Command::Version(args) => version::run(&target, &args, out).await,
        Command::Rollout(args) => rollout::show(&target, &args, out).await,
        Command::Promote(args) => {
            rollout::act(&target, rollout::ShadowAction::Promote, &args, out).await
        }
        Command::Abort(args) => {
            rollout::act(&target, rollout::ShadowAction::Abort, &args, out).await
        }
        Command::Backtest(args) => backtest::run(&target, &args, out).await,
        Command::Dashboard(args) => dashboard::run(&target, &args, out).await,
        Command::Completion(_) => Ok(()),
    }
}
