//! Why a mode could not start, typed per step, so each failure is logged once (where the
//! mode gives up) with the message the step gave it.

use crate::broker::BrokerError;
use crate::cluster::ClusterError;
use crate::cycle::build::BuildError;
use crate::journal::JournalError;
use crate::market::MarketDataError;
use crate::schedule::ScheduleError;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    MarketData(#[from] MarketDataError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Metrics(#[from] prometheus::Error),
    #[error("server.listen: {0}")]
    Listen(#[from] std::net::AddrParseError),
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// A replica cannot take part in the leader election.
    #[error(
        "leaderElection needs POD_NAME, the pod's name (the operator sets it from the downward API)"
    )]
    NoPodName,
    /// The cluster client for the election could not be made.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Build(#[from] BuildError),
}

impl StartError {
    /// Logs the failure. An election failure is called out as such: a replica that cannot
    /// take part in the election must never trade as if it were alone, so it does not start.
    pub fn log(&self) {
        match self {
            Self::NoPodName | Self::Cluster(_) => {
                tracing::error!(err = %self, "cannot take part in leader election");
            }
            _ => tracing::error!(err = %self, "cannot start"),
        }
    }
}
