//! Start-up for every mode of the command line (`agent-runtime trader|cycle|worker|replay|
//! check-config`, defined in the contract crate's `command` module so the operator renders
//! the same modes this parses).
//!
//! Start-up lives here so `main.rs` stays a line long: parse arguments, set up JSON logs,
//! load and validate the config (a bad config never starts anything), build the ports, wire
//! SIGTERM/SIGINT to a shutdown signal, and hand over to the mode.

mod backup;
mod replay;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::sync::watch;
use tradeplane_contract::command::{BackupsCommand, Command, LogFormat, Mode};

use crate::broker;
use crate::cluster;
use crate::config::{ConfigPurpose, RuntimeConfig, TradingStateWatch};
use crate::cycle::adapters::{BrokerExecution, JournalRecorder};
use crate::cycle::build;
use crate::cycle::ports::{Execution, Recorder};
use crate::cycle::runner::Ports;
use crate::journal::Journal;
use crate::leadership::{AlwaysLeader, Leadership, LeaseLeadership};
use crate::metrics::Metrics;
use crate::schedule::CycleSchedule;
use crate::server::{self, Health};
use crate::status_report::StatusReporter;
use crate::trader::Trader;

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
        Mode::Trader(_) => trader(config, &config_path, kubeconfig, shutdown, false).await,
        Mode::Cycle(_) => trader(config, &config_path, kubeconfig, shutdown, true).await,
        Mode::Replay {
            max_cycles,
            journal,
            journal_db,
            json,
            ..
        } => {
            let options = replay::Options {
                max_cycles,
                journal_file: journal,
                journal_db,
                json,
            };
            replay::command(config, shutdown, options).await
        }
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

/// The journal and the broker behind it: orders are journalled pending-first and the paper
/// broker keeps its book in the same journal, so a restart continues where it stopped.
async fn journalled_ports(
    config: &RuntimeConfig,
) -> Result<(Arc<dyn Execution>, Arc<dyn Recorder>, Option<f64>), String> {
    let journal = Journal::open(&config.journal)
        .await
        .map_err(|e| format!("journal: {e}"))?;
    let broker = broker::connect(&config.broker, &journal)
        .await
        .map_err(|e| format!("broker: {e}"))?;
    tracing::info!(
        journal = journal.backend_name(),
        broker = broker.kind(),
        "journal and broker open"
    );
    let baseline = pnl_baseline(config, &journal).await?;
    let execution =
        Arc::new(BrokerExecution::new(broker, journal.clone()).with_policy(&config.orders));
    Ok((execution, Arc::new(JournalRecorder::new(journal)), baseline))
}

/// The equity P&L is measured from: the paper broker's starting cash, or the first equity the
/// journal recorded (a new journal: the first the trader records).
async fn pnl_baseline(config: &RuntimeConfig, journal: &Journal) -> Result<Option<f64>, String> {
    if let crate::config::BrokerConfig::Paper { starting_cash, .. } = &config.broker {
        return Ok(Some(*starting_cash));
    }
    let curve = journal
        .equity_curve(None)
        .await
        .map_err(|e| format!("journal: {e}"))?;
    Ok(curve.first().map(|snapshot| snapshot.equity))
}

/// What the trader needs from the cluster: with `leaderElection` (the operator renders it
/// for every strategy), the Lease and the status reporter; without it, nothing. A `cycle`
/// (one CronJob-started run; the CronJob forbids two at once) needs no election.
struct ClusterParts {
    election: Option<Arc<LeaseLeadership>>,
    status: Option<StatusReporter>,
}

async fn cluster_parts(
    config: &RuntimeConfig,
    kubeconfig: Option<&Path>,
    once: bool,
) -> Result<ClusterParts, String> {
    let none = ClusterParts {
        election: None,
        status: None,
    };
    let Some(election) = config.leader_election.as_ref().filter(|_| !once) else {
        return Ok(none);
    };
    let identity = std::env::var("POD_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .ok_or("leaderElection needs POD_NAME, the pod's name (the operator sets it from the downward API)")?;
    let client = cluster::connect(kubeconfig)
        .await
        .map_err(|e| e.to_string())?;
    let namespace = &config.identity.namespace;
    tracing::info!(lease = election.lease_name, %identity, "taking part in leader election");
    Ok(ClusterParts {
        election: Some(Arc::new(LeaseLeadership::new(
            client.clone(),
            namespace,
            election,
            &identity,
        ))),
        status: Some(StatusReporter::new(
            client,
            namespace,
            &config.identity.name,
        )),
    })
}

/// The `trader` mode (cycles on the schedule until SIGTERM) or, with `once`, the `cycle`
/// mode. Both serve the probes and metrics while they run, so a CronJob's pod is observable
/// like the Deployment's.
async fn trader(
    config: RuntimeConfig,
    config_path: &Path,
    kubeconfig: Option<&Path>,
    shutdown: watch::Receiver<bool>,
    once: bool,
) -> ExitCode {
    let parts = (|| -> Result<_, String> {
        let source = build::market_source(&config).map_err(|e| e.to_string())?;
        let schedule = CycleSchedule::from_config(&config.schedule).map_err(|e| e.to_string())?;
        let metrics = Metrics::new().map_err(|e| e.to_string())?;
        let listen: SocketAddr = config
            .server
            .listen
            .parse()
            .map_err(|e| format!("server.listen: {e}"))?;
        Ok((source, schedule, metrics, listen))
    })();
    let (source, schedule, metrics, listen) = match parts {
        Ok(parts) => parts,
        Err(err) => {
            tracing::error!(%err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let stale = schedule.nominal_interval() * config.server.stale_after_intervals.max(1);
    let health = Arc::new(Health::new(stale.max(Duration::from_secs(10))));
    let (broker, journal, baseline) = match journalled_ports(&config).await {
        Ok(ports) => ports,
        Err(err) => {
            tracing::error!(%err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let cluster = match cluster_parts(&config, kubeconfig, once).await {
        Ok(cluster) => cluster,
        Err(err) => {
            // Never trade without confirming the Lease: a replica that cannot take part in
            // the election must not place orders as if it were alone.
            tracing::error!(%err, "cannot take part in leader election");
            return ExitCode::FAILURE;
        }
    };
    let leadership: Arc<dyn Leadership> = match &cluster.election {
        Some(election) => election.clone(),
        None => Arc::new(AlwaysLeader),
    };
    let ports = Ports {
        market: source.as_dyn(),
        broker,
        journal,
        leadership,
    };
    let runner = build::builder(&config, ports, metrics.clone()).and_then(|builder| {
        let watch = TradingStateWatch::new(config_path);
        Ok(builder.state_watch(watch).build()?)
    });
    let runner = match runner {
        Ok(runner) => runner,
        Err(err) => {
            tracing::error!(%err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let (lease_stop_tx, lease_stop) = watch::channel(false);
    let lease_loop = cluster
        .election
        .clone()
        .map(|election| tokio::spawn(async move { election.run(lease_stop).await }));
    let trader = Trader {
        runner,
        source,
        schedule,
        health: health.clone(),
        election: cluster.election,
        status: cluster.status,
        baseline,
    };
    // The server stops when the mode is done, not only on SIGTERM (a `cycle` ends by itself).
    let (server_stop_tx, server_stop) = watch::channel(false);
    let server = tokio::spawn(server::serve(listen, health, metrics, server_stop));
    let exit = if once {
        match trader.run_once(shutdown).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(%err, "cycle failed");
                ExitCode::FAILURE
            }
        }
    } else {
        trader.run(shutdown).await;
        ExitCode::SUCCESS
    };
    // The Lease was released by the trader; only now may its loop stop.
    let _ = lease_stop_tx.send(true);
    if let Some(lease_loop) = lease_loop {
        let _ = lease_loop.await;
    }
    let _ = server_stop_tx.send(true);
    let served = match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            tracing::error!(%err, "the HTTP server failed");
            ExitCode::FAILURE
        }
        Err(err) => {
            tracing::error!(%err, "the HTTP server task failed");
            ExitCode::FAILURE
        }
    };
    if exit == ExitCode::SUCCESS {
        served
    } else {
        exit
    }
}
