//! The runtime configuration. Its types and validation are the operator ↔ runtime contract and
//! live in the `tradeplane-contract` crate (re-exported here, so the runtime's code reads
//! `crate::config::…`); this module adds what only the runtime does with a config: watching
//! the mounted file for a new trading state.

pub use tradeplane_contract::config::*;

mod watch;

pub use watch::TradingStateWatch;
