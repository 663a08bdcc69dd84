//! The market data a backtest's cycles read: the latest `window` bars of each symbol, kept
//! in a ring as the driver releases them, so memory is bounded by the window.

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
    /// Each symbol's ring, in the order their first bars came.
    rings: Vec<Ring>,
    /// Where each symbol's ring is in `rings`.
    index: FxHashMap<String, usize>,
    /// The ring looked for next. Every step releases its symbols in the same order, and
    /// every cycle reads them in the same order, so one comparison of symbols nearly
    /// always finds the ring without hashing the symbol.
    next: usize,
    now: Option<DateTime<Utc>>,
}

impl Released {
    /// `symbol`'s ring, if it has one.
    #[inline(always)]
    fn find(&mut self, symbol: &str) -> Option<&mut Ring> {
        let at = match self.rings.get(self.next) {
            Some(ring) if ring.symbol == symbol => self.next,
            _ => *self.index.get(symbol)?,
        };
        self.next = if at + 1 == self.rings.len() {
            0
        } else {
            at + 1
        };
        self.rings.get_mut(at)
    }

    /// A new, empty ring for `symbol`.
    fn add(&mut self, symbol: &str, window: usize) -> &mut Ring {
        self.index.insert(symbol.to_string(), self.rings.len());
        self.rings.push(Ring {
            symbol: symbol.to_string(),
            bars: Vec::with_capacity(window),
            oldest: 0,
        });
        // The ring after the last is the first, as `find` counts.
        self.next = 0;
        let last = self.rings.len() - 1;
        &mut self.rings[last]
    }
}

/// One symbol's latest bars: in order until the ring is full, then the newest written over
/// the oldest, so the bars oldest first are `bars[oldest..]` then `bars[..oldest]`.
struct Ring {
    symbol: String,
    bars: Vec<Bar>,
    oldest: usize,
}

impl Ring {
    /// Adds `bar` (of this ring's symbol), the oldest leaving when `window` are held. The
    /// bar written over already has the symbol, so only the rest is copied.
    fn push(&mut self, bar: &Bar, window: usize) {
        if self.bars.len() < window {
            self.bars.push(bar.clone());
            return;
        }
        let Some(slot) = self.bars.get_mut(self.oldest) else {
            return;
        };
        debug_assert_eq!(slot.symbol, bar.symbol);
        slot.copy_values_from(bar);
        self.oldest = if self.oldest + 1 == self.bars.len() {
            0
        } else {
            self.oldest + 1
        };
    }

    /// The bars oldest first, as two runs.
    fn halves(&self) -> (&[Bar], &[Bar]) {
        let (newer, older) = self.bars.split_at(self.oldest.min(self.bars.len()));
        (older, newer)
    }
}

impl WindowFeed {
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            state: Mutex::new(Released::default()),
        }
    }

    /// Makes `bars` (one step, at `time`) the latest; the clock moves to `time`. A full
    /// ring's oldest bar is overwritten with the new one, so releasing a step allocates
    /// nothing once the window is full.
    pub fn release(&self, time: DateTime<Utc>, bars: &[Bar]) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.now = Some(time);
        for bar in bars {
            match state.find(&bar.symbol) {
                Some(ring) => ring.push(bar, self.window),
                None => state.add(&bar.symbol, self.window).push(bar, self.window),
            }
        }
    }

    /// Slides `into` forward to the latest `limit` bars of `symbol` released so far.
    fn follow(&self, symbol: &str, limit: usize, into: &mut BarWindow) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.find(symbol) {
            Some(ring) => {
                let (older, newer) = ring.halves();
                into.follow(older, newer, limit);
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
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bars = match state.find(symbol) {
            Some(ring) => {
                let (older, newer) = ring.halves();
                let held = older.len() + newer.len();
                older
                    .iter()
                    .chain(newer)
                    .skip(held.saturating_sub(limit))
                    .cloned()
                    .collect()
            }
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use futures::FutureExt;

    use super::WindowFeed;
    use crate::domain::{Bar, BarWindow};
    use crate::market::MarketData;

    fn bar(symbol: &str, day: i64) -> Bar {
        Bar {
            symbol: symbol.into(),
            time: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::days(day),
            open: day as f64,
            high: day as f64 + 1.0,
            low: day as f64 - 1.0,
            close: day as f64 + 0.5,
            volume: 10.0,
        }
    }

    /// The feed gives each symbol's last bars released, whatever order the symbols come
    /// and are read in, and whichever steps lack one of them.
    #[test]
    fn each_symbol_reads_its_latest_released_bars() {
        for window in [1, 2, 5, 7] {
            let feed = WindowFeed::new(window);
            let mut released: Vec<Vec<Bar>> = vec![Vec::new(); 3];
            let mut windows: [BarWindow; 3] = Default::default();
            let symbols = ["SPY", "QQQ", "IWM"];
            for day in 0..40 {
                // QQQ misses every third day, IWM starts late; the order varies.
                let mut step: Vec<(usize, Bar)> = Vec::new();
                for (i, symbol) in symbols.iter().enumerate() {
                    let present = match i {
                        1 => day % 3 != 0,
                        2 => day >= 10,
                        _ => true,
                    };
                    if present {
                        step.push((i, bar(symbol, day)));
                    }
                }
                if day % 4 == 0 {
                    step.reverse();
                }
                let bars: Vec<Bar> = step.iter().map(|(_, b)| b.clone()).collect();
                feed.release(bars[0].time, &bars);
                for (i, b) in step {
                    released[i].push(b);
                }
                for (i, symbol) in symbols.iter().enumerate().rev() {
                    let expected: Vec<Bar> = released[i]
                        .iter()
                        .skip(released[i].len().saturating_sub(window))
                        .cloned()
                        .collect();
                    let latest = feed.latest_bars(symbol, window).now_or_never().unwrap();
                    assert_eq!(latest.unwrap(), expected, "{symbol} day {day}");
                    feed.latest_bars_into_at_once(symbol, window, &mut windows[i])
                        .unwrap()
                        .unwrap();
                    assert_eq!(*windows[i], *expected, "{symbol} day {day} window {window}");
                }
            }
        }
    }
}
