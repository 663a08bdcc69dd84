//! The indicators as rolling state: each update takes one new value (or bar) in O(1) and
//! memory is bounded by the indicator's own window, never by the length of the history.
//!
//! This is what the quantitative analysts run on, live and in a backtest alike: an analyst
//! keeps one state per symbol and feeds it only the bars it has not seen yet, so a cycle
//! costs the same at bar 100 as at bar 1,000,000. The series functions in the parent module
//! are the textbook definitions these are tested against; the sums are taken in the same
//! order, so SMA, EMA, Wilder, RSI, MACD and ATR agree with them exactly. The rolling
//! standard deviation keeps shifted sums (re-centred once per window, so rounding cannot
//! build up) and agrees to within rounding.
//!
//! The per-value updates are `#[inline]`: each seat calls a few of them per bar from another
//! module, and a call costs about what the update does.

use super::{Bands, Macd};

/// The latest `capacity` values, oldest first.
///
/// A fixed buffer written round: once full, a push overwrites the oldest value in place, so
/// an update is a store and an index step (a `VecDeque` would check for growth and move its
/// head on every push and pop, for every indicator of every seat on every bar).
#[derive(Clone, Debug)]
struct Ring {
    /// The first `len` slots hold values; once full, the oldest is at `next`.
    values: Box<[f64]>,
    len: usize,
    /// Where the next value goes once the ring is full.
    next: usize,
    /// The capacity as a float, which the averages divide by: converting a `usize` costs
    /// about what the division does, on every update.
    size: f64,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            values: vec![0.0; capacity].into_boxed_slice(),
            len: 0,
            next: 0,
            size: capacity as f64,
        }
    }

    fn capacity(&self) -> usize {
        self.values.len()
    }

    /// [`capacity`](Self::capacity) as a float.
    fn size(&self) -> f64 {
        self.size
    }

    /// Adds `value`; returns the value that fell out of the window, if one did.
    #[inline]
    fn push(&mut self, value: f64) -> Option<f64> {
        if self.len < self.values.len() {
            self.values[self.len] = value;
            self.len += 1;
            return None;
        }
        let slot = self.values.get_mut(self.next)?;
        let old = std::mem::replace(slot, value);
        self.next += 1;
        if self.next == self.values.len() {
            self.next = 0;
        }
        Some(old)
    }

    fn is_full(&self) -> bool {
        self.len == self.values.len()
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The values, oldest first.
    fn iter(&self) -> impl Iterator<Item = &f64> {
        let (newest, oldest) = self.values[..self.len].split_at(self.next);
        oldest.iter().chain(newest)
    }
}

/// Simple moving average of the last `period` values.
#[derive(Clone, Debug)]
pub struct Sma {
    ring: Ring,
    sum: f64,
}

impl Sma {
    pub fn new(period: usize) -> Self {
        Self {
            ring: Ring::new(period),
            sum: 0.0,
        }
    }

    #[inline]
    pub fn update(&mut self, value: f64) -> Option<f64> {
        self.sum += value;
        if let Some(old) = self.ring.push(value) {
            self.sum -= old;
        }
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.ring.is_full().then(|| self.sum / self.ring.size())
    }
}

/// Exponential smoothing seeded with the mean of the first `period` values: EMA with
/// alpha = 2 / (period + 1), Wilder's average with alpha = 1 / period.
#[derive(Clone, Debug)]
pub struct Smoothed {
    period: usize,
    alpha: f64,
    seen: usize,
    seed_sum: f64,
    current: Option<f64>,
}

impl Smoothed {
    pub fn ema(period: usize) -> Self {
        Self::with_alpha(period, 2.0 / (period as f64 + 1.0))
    }

    pub fn wilder(period: usize) -> Self {
        Self::with_alpha(period, 1.0 / period as f64)
    }

    fn with_alpha(period: usize, alpha: f64) -> Self {
        Self {
            period: period.max(1),
            alpha,
            seen: 0,
            seed_sum: 0.0,
            current: None,
        }
    }

    #[inline]
    pub fn update(&mut self, value: f64) -> Option<f64> {
        match &mut self.current {
            Some(current) => *current += self.alpha * (value - *current),
            None => {
                self.seen += 1;
                self.seed_sum += value;
                if self.seen == self.period {
                    self.current = Some(self.seed_sum / self.period as f64);
                }
            }
        }
        self.current
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.current
    }
}

/// Wilder's RSI, 0–100; defined once `period` price changes were seen.
#[derive(Clone, Debug)]
pub struct Rsi {
    previous: Option<f64>,
    gains: Smoothed,
    losses: Smoothed,
}

impl Rsi {
    pub fn new(period: usize) -> Self {
        Self {
            previous: None,
            gains: Smoothed::wilder(period),
            losses: Smoothed::wilder(period),
        }
    }

    #[inline]
    pub fn update(&mut self, close: f64) -> Option<f64> {
        let previous = self.previous.replace(close)?;
        let change = close - previous;
        let gain = self.gains.update(change.max(0.0));
        let loss = self.losses.update((-change).max(0.0));
        Some(super::rsi_from(gain?, loss?))
    }
}

/// MACD(fast, slow, signal) one close at a time.
#[derive(Clone, Debug)]
pub struct MacdState {
    fast: Smoothed,
    slow: Smoothed,
    signal: Smoothed,
}

impl MacdState {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Self {
        Self {
            fast: Smoothed::ema(fast),
            slow: Smoothed::ema(slow),
            signal: Smoothed::ema(signal),
        }
    }

    #[inline]
    pub fn update(&mut self, close: f64) -> Option<Macd> {
        let (fast, slow) = (self.fast.update(close), self.slow.update(close));
        let line = fast? - slow?;
        let signal = self.signal.update(line)?;
        Some(Macd {
            macd: line,
            signal,
            histogram: line - signal,
        })
    }
}

/// Mean and population standard deviation of the last `period` values.
#[derive(Clone, Debug)]
pub struct RollingStats {
    ring: Ring,
    /// Values are summed as differences from `shift` (a recent mean), which keeps the sum of
    /// squares free of the cancellation a raw sum of squares of prices suffers.
    shift: f64,
    sum: f64,
    sum_squares: f64,
    until_recentre: usize,
}

impl RollingStats {
    pub fn new(period: usize) -> Self {
        Self {
            ring: Ring::new(period),
            shift: 0.0,
            sum: 0.0,
            sum_squares: 0.0,
            until_recentre: 0,
        }
    }

    /// Adds `value`; returns (mean, standard deviation) once the window is full.
    pub fn update(&mut self, value: f64) -> Option<(f64, f64)> {
        self.push(value);
        self.value()
    }

    /// [`update`](Self::update) without working out the mean and deviation, for a caller
    /// that reads them later, if at all (a square root and three divisions saved per value).
    #[inline]
    pub fn push(&mut self, value: f64) {
        let d = value - self.shift;
        self.sum += d;
        self.sum_squares += d * d;
        if let Some(old) = self.ring.push(value) {
            let d = old - self.shift;
            self.sum -= d;
            self.sum_squares -= d * d;
        }
        if self.until_recentre == 0 {
            self.recentre();
        } else {
            self.until_recentre -= 1;
        }
    }

    /// Sums recomputed around the window's mean: O(period) once per `period` updates.
    fn recentre(&mut self) {
        let n = self.ring.len() as f64;
        self.shift = self.ring.iter().sum::<f64>() / n;
        self.sum = self.ring.iter().map(|v| v - self.shift).sum();
        self.sum_squares = self.ring.iter().map(|v| (v - self.shift).powi(2)).sum();
        self.until_recentre = self.ring.capacity();
    }

    #[inline]
    pub fn value(&self) -> Option<(f64, f64)> {
        if !self.ring.is_full() {
            return None;
        }
        let n = self.ring.size();
        let mean_d = self.sum / n;
        let variance = (self.sum_squares / n - mean_d * mean_d).max(0.0);
        let mean = self.shift + mean_d;
        // What is left of a flat window after rounding is not dispersion.
        let std = variance.sqrt();
        let std = if std <= 1e-12 * mean.abs().max(1.0) {
            0.0
        } else {
            std
        };
        Some((mean, std))
    }

    /// Bollinger bands at `width` standard deviations.
    pub fn bands(&self, width: f64) -> Option<Bands> {
        Some(bands_around(self.value()?, width))
    }
}

/// Bollinger bands at `width` standard deviations around a (mean, standard deviation), for
/// a caller that already has them from [`RollingStats::value`] and need not take them again.
pub fn bands_around((mean, std): (f64, f64), width: f64) -> Bands {
    Bands {
        lower: mean - width * std,
        middle: mean,
        upper: mean + width * std,
    }
}

/// Wilder's average true range; the first bar's true range is its high − low.
#[derive(Clone, Debug)]
pub struct Atr {
    previous_close: Option<f64>,
    average: Smoothed,
}

impl Atr {
    pub fn new(period: usize) -> Self {
        Self {
            previous_close: None,
            average: Smoothed::wilder(period),
        }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let range = high - low;
        let true_range = match self.previous_close.replace(close) {
            None => range,
            Some(prev) => range.max((high - prev).abs()).max((low - prev).abs()),
        };
        self.average.update(true_range)
    }
}

/// The mean of up to the last `period` values (of as many as were seen, until then).
#[derive(Clone, Debug)]
pub struct TrailingMean {
    ring: Ring,
    sum: f64,
}

impl TrailingMean {
    pub fn new(period: usize) -> Self {
        Self {
            ring: Ring::new(period),
            sum: 0.0,
        }
    }

    #[inline]
    pub fn update(&mut self, value: f64) -> f64 {
        self.sum += value;
        if let Some(old) = self.ring.push(value) {
            self.sum -= old;
        }
        self.sum / self.ring.len() as f64
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::Ring;

    /// The ring written round gives what a queue of the last `capacity` values gives: the
    /// same value falling out of each push and the same values, oldest first.
    #[test]
    fn ring_matches_a_bounded_queue() {
        for capacity in [1, 2, 3, 7] {
            let mut ring = Ring::new(capacity);
            let mut queue = VecDeque::new();
            for i in 0..25 {
                let value = f64::from(i) * 1.5 - 4.0;
                queue.push_back(value);
                let expected = (queue.len() > capacity)
                    .then(|| queue.pop_front())
                    .flatten();
                assert_eq!(ring.push(value), expected, "capacity {capacity}, push {i}");
                assert_eq!(ring.len(), queue.len());
                assert_eq!(ring.is_full(), queue.len() == capacity);
                let values: Vec<f64> = ring.iter().copied().collect();
                assert_eq!(
                    values,
                    Vec::from(queue.clone()),
                    "capacity {capacity}, push {i}"
                );
            }
        }
    }

    #[test]
    fn a_zero_capacity_ring_keeps_one_value() {
        let mut ring = Ring::new(0);
        assert_eq!(ring.push(1.0), None);
        assert_eq!(ring.push(2.0), Some(1.0));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [2.0]);
    }
}
