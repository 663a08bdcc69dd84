//! Market data: where the bars a cycle analyses come from.
//!
//! One trait, [`MarketData`], with three sources behind it: CSV files, the [`ReplayFeed`]
//! that plays history a bar at a time (the demo default: a synthetic data set built into the
//! runtime, so no key is needed), and an Alpaca-compatible market data API for live bars.
//! The cycle does not know which it has.

pub mod alpaca;
pub mod csv;
mod decimal;
mod layout;
pub mod replay;
mod rows;
pub mod stream;
pub mod synthetic;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::domain::{Bar, BarWindow};

pub use alpaca::AlpacaMarketData;
pub use replay::ReplayFeed;

#[derive(Debug, thiserror::Error)]
pub enum MarketDataError {
    #[error("no bars for {0}")]
    UnknownSymbol(String),
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} line {line}: {message}")]
    Parse {
        path: String,
        line: u64,
        message: String,
    },
    #[error("market data request failed: {0}")]
    Http(String),
    #[error("market data API answered {status}: {body}")]
    Status { status: u16, body: String },
}

impl MarketDataError {
    /// Every [`kind`](Self::kind), so `market_data_errors_total` can show each at zero.
    pub const KINDS: [&'static str; 5] = ["unknown_symbol", "read", "parse", "http", "status"];

    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownSymbol(_) => "unknown_symbol",
            Self::Read { .. } => "read",
            Self::Parse { .. } => "parse",
            Self::Http(_) => "http",
            Self::Status { .. } => "status",
        }
    }
}

/// A source of bars.
pub trait MarketData: Send + Sync {
    /// Up to `limit` of the latest bars of `symbol` as of the source's clock, oldest first.
    fn latest_bars<'a>(
        &'a self,
        symbol: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Bar>, MarketDataError>>;

    /// [`latest_bars`](Self::latest_bars) written over `into` (last cycle's bars). A source
    /// that holds its bars in memory slides `into` forward by the bars it lacks
    /// ([`BarWindow::follow`]), so a cycle copies no window; the others replace it.
    fn latest_bars_into<'a>(
        &'a self,
        symbol: &'a str,
        limit: usize,
        into: &'a mut BarWindow,
    ) -> BoxFuture<'a, Result<(), MarketDataError>> {
        async move {
            *into = self.latest_bars(symbol, limit).await?.into();
            Ok(())
        }
        .boxed()
    }

    /// [`latest_bars_into`](Self::latest_bars_into) at once, for a source that holds its
    /// bars in memory (a backtest's feed); `None` for the others, which the cycle awaits. A
    /// backtest reads once per symbol per bar, and a boxed future per read cost more than
    /// the read.
    fn latest_bars_into_at_once(
        &self,
        _symbol: &str,
        _limit: usize,
        _into: &mut BarWindow,
    ) -> Option<Result<(), MarketDataError>> {
        None
    }

    /// The source's notion of now: the latest bar time for a replay, `None` for live sources
    /// (which use the wall clock).
    fn clock(&self) -> Option<DateTime<Utc>> {
        None
    }
}
