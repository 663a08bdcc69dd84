//! The `trader` mode (cycles on the schedule until SIGTERM) and, with `once`, the `cycle`
//! mode: assembled from the config, then run with the probes, metrics and the Lease around
//! it. Both serve the probes and metrics while they run, so a CronJob's pod is observable
//! like the Deployment's.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::StartError;
use super::adapters::{ClusterParts, Journalled};
use crate::api::JournalApi;
use crate::config::{RuntimeConfig, TradingStateWatch};
use crate::cycle::build::{self, BuildError};
use crate::cycle::runner::Ports;
use crate::leadership::{AlwaysLeader, Leadership, LeaseLeadership};
use crate::metrics::Metrics;
use crate::schedule::CycleSchedule;
use crate::server::{self, Health};
use crate::trader::Trader;

/// Runs the trader (or, with `once`, one cycle) for `config`, read from `config_path` (which
/// is watched for a new trading state).
pub async fn trader(
    config: RuntimeConfig,
    config_path: &Path,
    kubeconfig: Option<&Path>,
    shutdown: watch::Receiver<bool>,
    once: bool,
) -> ExitCode {
    match assemble(&config, config_path, kubeconfig, once).await {
        Ok(assembled) => assembled.run(shutdown, once).await,
        Err(err) => {
            err.log();
            ExitCode::FAILURE
        }
    }
}

/// A trader ready to run: the runner on its production adapters, and what serves and elects
/// around it.
pub struct Assembled {
    pub trader: Trader,
    pub metrics: Metrics,
    pub listen: SocketAddr,
    /// The read-only journal API, served beside the probes.
    pub api: JournalApi,
}

/// Wires the trader from `config`, step by step, in the order a failure should be found:
/// the config's own values first, then the journal and the broker, then the election, then
/// the runner on those adapters. Never trades without confirming the Lease: a replica that
/// cannot take part in the election does not start.
pub async fn assemble(
    config: &RuntimeConfig,
    config_path: &Path,
    kubeconfig: Option<&Path>,
    once: bool,
) -> Result<Assembled, StartError> {
    let source = build::market_source(config)?;
    let schedule = CycleSchedule::from_config(&config.schedule)?;
    let metrics = Metrics::new()?;
    let listen: SocketAddr = config.server.listen.parse()?;
    let stale = schedule.nominal_interval() * config.server.stale_after_intervals.max(1);
    let health = Arc::new(Health::new(stale.max(Duration::from_secs(10))));
    let journalled = Journalled::open(config).await?;
    let api = JournalApi {
        journal: journalled.journal.clone(),
        identity: config.identity.clone(),
        metrics: metrics.clone(),
        pnl_baseline: journalled.baseline,
    };
    let cluster = ClusterParts::open(config, kubeconfig, once).await?;
    let leadership: Arc<dyn Leadership> = match &cluster.election {
        Some(election) => election.clone(),
        None => Arc::new(AlwaysLeader),
    };
    let ports = Ports {
        market: source.as_dyn(),
        broker: journalled.execution,
        journal: journalled.recorder,
        leadership,
    };
    let runner = build::builder(config, ports, metrics.clone())?
        .state_watch(TradingStateWatch::new(config_path))
        .build()
        .map_err(BuildError::from)?;
    Ok(Assembled {
        trader: Trader {
            runner,
            source,
            schedule,
            health,
            election: cluster.election,
            status: cluster.status,
            baseline: journalled.baseline,
            resume_after: config.shadow.as_ref().and_then(|s| s.resume_after),
        },
        metrics,
        listen,
        api,
    })
}

impl Assembled {
    /// Runs until SIGTERM (or, with `once`, for one cycle), with the Lease renewed and the
    /// probes and metrics served alongside; fails if the cycle or the server did.
    pub async fn run(self, shutdown: watch::Receiver<bool>, once: bool) -> ExitCode {
        let election: Option<Arc<LeaseLeadership>> = self.trader.election.clone();
        let (lease_stop_tx, lease_stop) = watch::channel(false);
        let lease_loop =
            election.map(|election| tokio::spawn(async move { election.run(lease_stop).await }));
        // The server stops when the mode is done, not only on SIGTERM (a `cycle` ends by
        // itself).
        let (server_stop_tx, server_stop) = watch::channel(false);
        let health = self.trader.health.clone();
        let server = tokio::spawn(server::serve(
            self.listen,
            health,
            self.metrics,
            Some(self.api),
            server_stop,
        ));
        let exit = if once {
            match self.trader.run_once(shutdown).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!(%err, "cycle failed");
                    ExitCode::FAILURE
                }
            }
        } else {
            self.trader.run(shutdown).await;
            ExitCode::SUCCESS
        };
        // The Lease was released by the trader; only now may its loop stop.
        let _ = lease_stop_tx.send(true);
        if let Some(lease_loop) = lease_loop {
            let _ = lease_loop.await;
        }
        let _ = server_stop_tx.send(true);
        let served = served(server.await);
        if exit == ExitCode::SUCCESS {
            served
        } else {
            exit
        }
    }
}

/// How the HTTP server ended, as an exit status (its failure logged).
fn served(outcome: Result<Result<(), std::io::Error>, tokio::task::JoinError>) -> ExitCode {
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            tracing::error!(%err, "the HTTP server failed");
            ExitCode::FAILURE
        }
        Err(err) => {
            tracing::error!(%err, "the HTTP server task failed");
            ExitCode::FAILURE
        }
    }
}
