//! The contract between the Tradeplane operator and the agent runtime.
//!
//! Everything one side writes and the other reads is defined here, once:
//! - [`config`]: the runtime configuration the operator renders into a strategy's (or pool's)
//!   config Secret, and the validation the runtime applies before it starts anything;
//! - [`layout`]: where a pod finds its config, credentials and journal, and its port;
//! - [`command`]: the runtime's command line, including the pod modes the operator starts
//!   its containers in;
//! - [`backtest_job`]: a Backtest's run pods: their files, arguments and status entry;
//! - [`backup`]: backup destinations, retention, the backup and restore pods' arguments and
//!   what they report in the strategy's status;
//! - [`cron`]: how a five-field cron expression is read, by both sides;
//! - [`journal_api`]: what the runtime's read-only journal API (`/api/v1/...`) answers, as
//!   the plugin and the dashboard decode it;
//! - [`status`]: the runtime's part of a strategy's status, and the Lease annotation the
//!   operator hands a switchover over with.
//!
//! Architecture invariant: this crate does no I/O beyond reading a config file, and depends on
//! no database, HTTP or Kubernetes crate, so the operator links it without the runtime.

pub mod backtest_job;
pub mod backtest_results;
pub mod backup;
pub mod command;
pub mod config;
pub mod cron;
pub mod journal_api;
pub mod layout;
pub mod status;
