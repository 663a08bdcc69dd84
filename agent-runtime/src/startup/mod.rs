//! Start-up of the trading modes: the one place a cycle runner is wired from a config and
//! the adapters a mode runs it on.
//!
//! The command line (`cli`) only parses and calls in here. A mode chooses its adapters —
//! market data, the broker (execution), the journal (recorder), leadership — and hands them
//! to [`crate::cycle::build::builder`], the single builder of a runner's parts from a
//! config; the trader's production adapters are opened in [`adapters`], and the replay (and
//! the backtest and shadow modes to come) call the same builder with their own. Every
//! failure on the way is a [`StartError`], logged once where the mode gives up.

pub mod adapters;
pub mod backtest;
mod error;
pub mod replay;
mod trader;

pub use error::StartError;
pub use trader::{Assembled, assemble, trader};
