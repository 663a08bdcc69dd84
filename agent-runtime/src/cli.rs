//! Start-up for every mode of the command line (`agent-runtime trader|cycle|worker|replay|
//! check-config`, defined in the contract crate's `command` module so the operator renders
//! the same modes this parses).
//!
//! Kept here so `main.rs` stays a line long: parse arguments, set up JSON logs, load and
//! validate the config (a bad config never starts anything), wire SIGTERM/SIGINT to a
//! shutdown signal, and hand over to the mode. The trading modes are wired in
//! [`crate::startup`], not here: this module only parses and calls.

mod backup;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use tokio::sync::watch;
use tradeplane_contract::command::{BackupsCommand, Command, LogFormat, Mode};

use crate::config::{ConfigPurpose, RuntimeConfig};
use crate::startup;

/// Parses the command line and runs the mode.
pub fn main() -> ExitCode {
    let command = Command::parse();
    init_logging(command.log_format);
    if let Mode::CheckConfig { .. } = &command.mode {
        return check_config(command.mode.config_path(), command.mode.purpose());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(
        command.mode,
        command.kubeconfig.as_deref(),
        command.listen,
    ))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(err) = result {
        eprintln!("agent-runtime: cannot set up logging: {err}");
    }
}

fn check_config(path: &Path, purpose: ConfigPurpose) -> ExitCode {
    let config = match RuntimeConfig::read_file(path) {
        Ok(config) => config,
        Err(err) => {
            println!("{err}");
            return ExitCode::FAILURE;
        }
    };
    match config.validate_for(purpose) {
        Ok(()) => {
            println!(
                "{}: valid ({} symbols, {} analysts)",
                path.display(),
                config.symbols.len(),
                config.analysts.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors {
                println!("{}: {error}", path.display());
            }
            println!("{}: {} problem(s)", path.display(), errors.len());
            ExitCode::FAILURE
        }
    }
}

async fn run(mode: Mode, kubeconfig: Option<&Path>, listen: Option<String>) -> ExitCode {
    // Lists a destination: no config, no journal.
    if let Mode::Backups {
        command: BackupsCommand::List { destination, json },
    } = &mode
    {
        return backup::list(destination, *json).await;
    }
    let config_path = mode.config_path().to_path_buf();
    let mut config = match load(&config_path, mode.purpose()) {
        Some(config) => config,
        None => return ExitCode::FAILURE,
    };
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    let shutdown = shutdown_signal();
    match mode {
        Mode::Trader(_) => startup::trader(config, &config_path, kubeconfig, shutdown, false).await,
        Mode::Cycle(_) => startup::trader(config, &config_path, kubeconfig, shutdown, true).await,
        Mode::Replay {
            max_cycles,
            journal,
            journal_db,
            json,
            ..
        } => {
            let options = startup::replay::Options {
                max_cycles,
                journal_file: journal,
                journal_db,
                json,
            };
            startup::replay::command(config, shutdown, options).await
        }
        Mode::Backtest(args) => startup::backtest::command(config, *args).await,
        Mode::Worker(_) => {
            let mut stop = shutdown;
            let drained = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            match crate::worker::run(config, drained).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(%err, "worker failed");
                    ExitCode::FAILURE
                }
            }
        }
        Mode::CheckConfig { .. } => ExitCode::SUCCESS,
        Mode::Backup(args) => backup::backup(config, &args, kubeconfig).await,
        Mode::Restore(args) => backup::restore(config, &args, kubeconfig).await,
        // Handled before a config is loaded.
        Mode::Backups { .. } => ExitCode::FAILURE,
    }
}

fn load(path: &Path, purpose: ConfigPurpose) -> Option<RuntimeConfig> {
    let config = match RuntimeConfig::read_file(path) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(%err, "cannot load the config");
            return None;
        }
    };
    if let Err(errors) = config.validate_for(purpose) {
        for error in &errors {
            tracing::error!(
                field = error.path,
                problem = error.message,
                "invalid config"
            );
        }
        return None;
    }
    Some(config)
}

/// A watch channel that turns true on SIGTERM or SIGINT.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(err) => {
                    tracing::warn!(%err, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = terminate => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = tx.send(true);
        // Keep the sender alive so receivers see `true`, not a closed channel.
        std::future::pending::<()>().await;
    });
    rx
}
