//! The market data a backtest's cycles read: the latest `window` bars of each symbol, kept
//! in a ring as the driver releases them, so memory is bounded by the window.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::domain::{Bar, BarWindow};
use crate::market::{MarketData, MarketDataError};

pub struct WindowFeed {
    window: usize,
    state: Mutex<Released>,
}

#[derive(Default)]
struct Released {
    bars: FxHashMap<String, VecDeque<Bar>>,
    now: Option<DateTime<Utc>>,
}

impl WindowFeed {
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            state: Mutex::new(Released::default()),
        }
    }

    /// Makes `bars` (one step, at `time`) the latest; the clock moves to `time`. A full
    /// ring's oldest bar is overwritten with the new one (its symbol's buffer reused), so
    /// releasing a step allocates nothing once the window is full.
    pub fn release(&self, time: DateTime<Utc>, bars: &[Bar]) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.now = Some(time);
        for bar in bars {
            let ring = match state.bars.get_mut(bar.symbol.as_str()) {
                Some(ring) => ring,
                None => state
                    .bars
                    .entry(bar.symbol.clone())
                    .or_insert_with(|| VecDeque::with_capacity(self.window + 1)),
            };
            let oldest = (ring.len() == self.window)
                .then(|| ring.pop_front())
                .flatten();
            match oldest {
                Some(mut reused) => {
                    reused.clone_from(bar);
                    ring.push_back(reused);
                }
                None => ring.push_back(bar.clone()),
            }
        }
    }

    /// Slides `into` forward to the latest `limit` bars of `symbol` released so far.
    fn follow(&self, symbol: &str, limit: usize, into: &mut BarWindow) {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.bars.get(symbol) {
            Some(ring) => {
                let (front, back) = ring.as_slices();
                into.follow(front, back, limit);
            }
            None => into.clear(),
        }
    }
}

impl MarketData for WindowFeed {
    fn latest_bars<'a>(
        &'a self,
        symbol: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Bar>, MarketDataError>> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bars = match state.bars.get(symbol) {
            Some(ring) => ring
                .iter()
                .skip(ring.len().saturating_sub(limit))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        futures::future::ready(Ok(bars)).boxed()
    }

    fn latest_bars_into<'a>(
        &'a self,
        symbol: &'a str,
        limit: usize,
        into: &'a mut BarWindow,
    ) -> BoxFuture<'a, Result<(), MarketDataError>> {
        self.follow(symbol, limit, into);
        futures::future::ready(Ok(())).boxed()
    }

    fn latest_bars_into_at_once(
        &self,
        symbol: &str,
        limit: usize,
        into: &mut BarWindow,
    ) -> Option<Result<(), MarketDataError>> {
        self.follow(symbol, limit, into);
        Some(Ok(()))
    }

    fn clock(&self) -> Option<DateTime<Utc>> {
        self.state.lock().ok()?.now
    }
}
