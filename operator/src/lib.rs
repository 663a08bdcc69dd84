//! The Tradeplane operator: one controller per kind. The API types are the `tradeplane-api`
//! crate (shared with the kubectl plugin and the tests), re-exported here as `api`.

pub use tradeplane_api as api;
pub mod controllers;
pub mod leader;
pub mod telemetry;
