//! The Tradeplane agent runtime: one trading system per process.
//!
//! A cycle, per symbol: market data → analysts → (debate) → decision → risk → broker →
//! journal → metrics and status. The operator starts this crate's binary in one of its modes
//! (`trader`, `worker`, `cycle`, `backup`, `restore`, `check-config`) with a [`config::RuntimeConfig`].

pub mod agents;
pub mod config;
pub mod domain;
