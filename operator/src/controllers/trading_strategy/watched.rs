//! What a strategy's reconcile reads beside the strategy itself, from the controller's own
//! watches (see `run`): a leaf both the reconcile and its report step read.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::reflector::Store;

use super::leader_pod::LeaderMarks;
use super::leadership::LeaseHistory;
use crate::api::backtest::Backtest;
use crate::api::broker_account::BrokerAccount;

/// What the reconcile reads beside the strategy: the watched BrokerAccounts and Leases, and
/// what the Lease watch remembers of past holders.
#[derive(Clone)]
pub struct Watched {
    pub accounts: Store<BrokerAccount>,
    pub leases: Store<Lease>,
    pub history: LeaseHistory,
    /// The strategies' backup and restore Jobs (`backup::jobs`).
    pub jobs: Store<Job>,
    /// The Backtests, for `spec.promotionGates.backtest` (`gates`).
    pub backtests: Store<Backtest>,
    /// Which pod carries each strategy's leader mark (`leader_pod`).
    pub marks: LeaderMarks,
}
