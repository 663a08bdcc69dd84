//! The trader's production adapters, opened from its config: the journal and the broker
//! behind it, and — with `leaderElection` — the Lease and the status reporter.

use std::path::Path;
use std::sync::Arc;

use super::StartError;
use crate::broker;
use crate::cluster;
use crate::config::{BrokerConfig, RuntimeConfig};
use crate::cycle::adapters::{BrokerExecution, JournalRecorder};
use crate::cycle::ports::{Execution, Recorder};
use crate::domain::Position;
use crate::journal::Journal;
use crate::leadership::LeaseLeadership;
use crate::status_report::StatusReporter;

/// The journal and the broker behind it: orders are journalled pending-first and the paper
/// broker keeps its book in the same journal, so a restart continues where it stopped.
pub struct Journalled {
    pub execution: Arc<dyn Execution>,
    pub recorder: Arc<dyn Recorder>,
    /// The equity P&L is measured from (see [`pnl_baseline`]).
    pub baseline: Option<f64>,
    /// The journal itself, for the read-only journal API.
    pub journal: Journal,
}

impl Journalled {
    pub async fn open(config: &RuntimeConfig) -> Result<Self, StartError> {
        let journal = Journal::open(&config.journal).await?;
        let broker = broker::connect_seeded(&config.broker, &shadow_seed(config), &journal).await?;
        tracing::info!(
            journal = journal.backend_name(),
            broker = broker.kind(),
            "journal and broker open"
        );
        let baseline = pnl_baseline(config, &journal).await?;
        let execution =
            Arc::new(BrokerExecution::new(broker, journal.clone()).with_policy(&config.orders));
        Ok(Self {
            execution,
            recorder: Arc::new(
                JournalRecorder::new(journal.clone()).recording_answers(config.llm.record),
            ),
            baseline,
            journal,
        })
    }
}

/// The live book a shadow's paper account opens with; nothing for any other process.
fn shadow_seed(config: &RuntimeConfig) -> Vec<Position> {
    config
        .shadow
        .iter()
        .flat_map(|shadow| &shadow.seed_positions)
        .map(|seed| Position {
            symbol: seed.symbol.clone(),
            quantity: seed.quantity,
            average_price: seed.average_price,
        })
        .collect()
}

/// The equity P&L is measured from: the paper broker's starting cash, or the first equity the
/// journal recorded (a new journal: the first the trader records).
async fn pnl_baseline(
    config: &RuntimeConfig,
    journal: &Journal,
) -> Result<Option<f64>, StartError> {
    if let BrokerConfig::Paper { starting_cash, .. } = &config.broker {
        // A shadow's account opens holding the live book: its P&L counts from that equity.
        let seeded: f64 = shadow_seed(config)
            .iter()
            .map(|p| p.quantity * p.average_price)
            .sum();
        return Ok(Some(*starting_cash + seeded));
    }
    let curve = journal.equity_curve(None).await?;
    Ok(curve.first().map(|snapshot| snapshot.equity))
}

/// What the trader needs from the cluster: with `leaderElection` (the operator renders it
/// for every strategy), the Lease and the status reporter; without it, nothing. A `cycle`
/// (one CronJob-started run; the CronJob forbids two at once) needs no election.
#[derive(Default)]
pub struct ClusterParts {
    pub election: Option<Arc<LeaseLeadership>>,
    pub status: Option<StatusReporter>,
}

impl ClusterParts {
    pub async fn open(
        config: &RuntimeConfig,
        kubeconfig: Option<&Path>,
        once: bool,
    ) -> Result<Self, StartError> {
        let Some(election) = config.leader_election.as_ref().filter(|_| !once) else {
            return Ok(Self::default());
        };
        let identity = std::env::var("POD_NAME")
            .ok()
            .filter(|name| !name.is_empty())
            .ok_or(StartError::NoPodName)?;
        let client = cluster::connect(kubeconfig).await?;
        let watch_client = cluster::connect_for_watches(kubeconfig).await?;
        let namespace = &config.identity.namespace;
        tracing::info!(lease = election.lease_name, %identity, "taking part in leader election");
        Ok(Self {
            election: Some(Arc::new(LeaseLeadership::new(
                client.clone(),
                watch_client,
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
}
