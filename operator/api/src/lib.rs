//! The Tradeplane API: `TradingStrategy`, `BrokerAccount`, `AgentPool` and `Backtest` in
//! `tradeplane.io/v1alpha1`.
//!
//! These types are what users write by hand and what Argo CD syncs, so they follow the
//! Kubernetes API conventions: every field documented (that text is `kubectl explain`), every
//! check the API server can make expressed as a schema bound or a CEL rule whose message names
//! the field, defaults applied in code and stated in the description rather than written into
//! the schema (a schema default shows up as permanent drift in Argo CD's diff), and statuses
//! with `observedGeneration` and Kubernetes-shaped conditions.
// Printer columns repeat `type_ = "integer"` and the like; that is data, not a mistaken copy.
#![allow(clippy::duplicated_attributes)]

pub mod agent_pool;
pub mod alerting;
pub mod backtest;
pub mod broker_account;
pub mod common;
pub mod crd;
pub mod names;
pub mod trading_strategy;

pub use agent_pool::{AgentPool, AgentPoolSpec, AgentPoolStatus};
pub use backtest::{Backtest, BacktestSpec, BacktestStatus};
pub use broker_account::{BrokerAccount, BrokerAccountSpec, BrokerAccountStatus};
pub use trading_strategy::{TradingStrategy, TradingStrategySpec, TradingStrategyStatus};

/// The API group of every Tradeplane kind.
pub const GROUP: &str = "tradeplane.io";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";

#[cfg(test)]
mod schema_tests;
