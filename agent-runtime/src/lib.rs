//! The Tradeplane agent runtime: one trading system per process.
//!
//! A cycle, per symbol: market data → analysts → (debate) → decision → risk → broker →
//! journal → metrics and status. The operator starts this crate's binary in one of its modes
//! (`trader`, `worker`, `cycle`, `backup`, `restore`, `check-config`) with a [`config::RuntimeConfig`].

pub mod agents;
pub mod api;
pub mod backtest;
pub mod backup;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod cycle;
pub mod decision;
pub mod domain;
pub mod indicators;
pub mod journal;
pub mod leadership;
pub mod market;
pub mod metrics;
pub mod replay;
pub mod risk;
pub mod schedule;
pub mod server;
pub mod startup;
pub mod status_report;
pub mod trader;
pub mod worker;
