//! The replay feed: recorded (or built-in synthetic) history played one step at a time.
//!
//! The feed has its own clock — the time of the latest bar released — and the cycle uses it
//! as "now" for everything (order ids, rate limits, daily loss), which is what makes a replay
//! reproducible: nothing in a replayed cycle reads the wall clock. The pace is the caller's:
//! the trader advances once per scheduled cycle, the `replay` command as fast as it can.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::csv::BarSet;
use super::{MarketData, MarketDataError, synthetic};
use crate::domain::Bar;

pub struct ReplayFeed {
    bars: BarSet,
    /// Every distinct bar time across symbols, ascending.
    timeline: Vec<DateTime<Utc>>,
    /// Index into `timeline` of the latest released time; `usize::MAX` before the first.
    cursor: AtomicUsize,
}

impl ReplayFeed {
    /// A feed over `bars` with `warmup` steps already released (so analysts have history
    /// at the first cycle).
    pub fn new(bars: BarSet, warmup: usize) -> Self {
        let timeline: Vec<_> = bars
            .values()
            .flatten()
            .map(|bar| bar.time)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let feed = Self {
            bars,
            timeline,
            cursor: AtomicUsize::new(usize::MAX),
        };
        if warmup > 0 {
            feed.cursor.store(
                (warmup - 1).min(feed.timeline.len().saturating_sub(1)),
                Ordering::SeqCst,
            );
        }
        feed
    }

    /// The built-in synthetic data set for `symbols`.
    pub fn builtin(symbols: &[String], warmup: usize) -> Self {
        Self::new(synthetic::default_set(symbols), warmup)
    }

    /// Bars from a CSV file or directory; every symbol must be present.
    pub fn from_csv(
        path: &Path,
        symbols: &[String],
        warmup: usize,
    ) -> Result<Self, MarketDataError> {
        let mut bars = super::csv::load(path)?;
        if let Some(missing) = symbols.iter().find(|s| !bars.contains_key(*s)) {
            return Err(MarketDataError::UnknownSymbol(missing.clone()));
        }
        bars.retain(|symbol, _| symbols.contains(symbol));
        Ok(Self::new(bars, warmup))
    }

    /// Releases the next `steps` bar times; returns the new clock, or `None` when the history
    /// is exhausted (the clock then stays at the last bar).
    pub fn advance(&self, steps: usize) -> Option<DateTime<Utc>> {
        let current = self.cursor.load(Ordering::SeqCst);
        let next = if current == usize::MAX {
            steps.checked_sub(1)?
        } else {
            current.checked_add(steps)?
        };
        if next >= self.timeline.len() {
            return None;
        }
        self.cursor.store(next, Ordering::SeqCst);
        Some(self.timeline[next])
    }

    /// Bar times not yet released.
    pub fn remaining(&self) -> usize {
        let current = self.cursor.load(Ordering::SeqCst);
        if current == usize::MAX {
            self.timeline.len()
        } else {
            self.timeline.len() - current - 1
        }
    }

    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.timeline
            .get(self.cursor.load(Ordering::SeqCst))
            .copied()
    }

    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        self.bars.keys().map(String::as_str)
    }

    fn released(&self, symbol: &str, limit: usize) -> Result<Vec<Bar>, MarketDataError> {
        let bars = self
            .bars
            .get(symbol)
            .ok_or_else(|| MarketDataError::UnknownSymbol(symbol.to_string()))?;
        let Some(now) = self.now() else {
            return Ok(Vec::new());
        };
        let end = bars.partition_point(|bar| bar.time <= now);
        Ok(bars[end.saturating_sub(limit)..end].to_vec())
    }
}

impl MarketData for ReplayFeed {
    fn latest_bars<'a>(
        &'a self,
        symbol: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Bar>, MarketDataError>> {
        futures::future::ready(self.released(symbol, limit)).boxed()
    }

    fn clock(&self) -> Option<DateTime<Utc>> {
        self.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn releases_history_step_by_step() {
        let symbols = vec!["AAA".to_string()];
        let feed = ReplayFeed::new(
            synthetic::generate(&symbols, synthetic::default_start(), 10),
            3,
        );
        let bars = feed.latest_bars("AAA", 100).await.unwrap();
        assert_eq!(bars.len(), 3);
        assert_eq!(feed.remaining(), 7);
        let t = feed.advance(2).unwrap();
        let bars = feed.latest_bars("AAA", 2).await.unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[1].time, t);
        assert_eq!(feed.remaining(), 5);
        assert!(feed.advance(6).is_none(), "only 5 steps remain");
        assert!(feed.advance(5).is_some());
        assert_eq!(feed.remaining(), 0);
        let err = feed.latest_bars("ZZZ", 1).await.unwrap_err().to_string();
        assert!(err.contains("ZZZ"), "the error names the symbol: {err}");
    }
}
