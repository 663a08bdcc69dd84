//! The Tradeplane operator: the API types and one controller per kind.

pub mod api;
pub mod controllers;
pub mod leader;
pub mod telemetry;
