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

use std::collections::VecDeque;

use super::{Bands, Macd};

/// The latest `capacity` values, oldest first.
#[derive(Clone, Debug)]
struct Ring {
    values: VecDeque<f64>,
    capacity: usize,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Self {
            values: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
        }
    }

    /// Adds `value`; returns the value that fell out of the window, if one did.
    fn push(&mut self, value: f64) -> Option<f64> {
        self.values.push_back(value);
        if self.values.len() > self.capacity {
            self.values.pop_front()
        } else {
            None
        }
    }

    fn is_full(&self) -> bool {
        self.values.len() == self.capacity
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

    pub fn update(&mut self, value: f64) -> Option<f64> {
        self.sum += value;
        if let Some(old) = self.ring.push(value) {
            self.sum -= old;
        }
        self.value()
    }

    pub fn value(&self) -> Option<f64> {
        self.ring
            .is_full()
            .then(|| self.sum / self.ring.capacity as f64)
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
        self.value()
    }

    /// Sums recomputed around the window's mean: O(period) once per `period` updates.
    fn recentre(&mut self) {
        let n = self.ring.values.len() as f64;
        self.shift = self.ring.values.iter().sum::<f64>() / n;
        self.sum = self.ring.values.iter().map(|v| v - self.shift).sum();
        self.sum_squares = self
            .ring
            .values
            .iter()
            .map(|v| (v - self.shift).powi(2))
            .sum();
        self.until_recentre = self.ring.capacity;
    }

    pub fn value(&self) -> Option<(f64, f64)> {
        if !self.ring.is_full() {
            return None;
        }
        let n = self.ring.capacity as f64;
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
        let (mean, std) = self.value()?;
        Some(Bands {
            lower: mean - width * std,
            middle: mean,
            upper: mean + width * std,
        })
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

    pub fn update(&mut self, value: f64) -> f64 {
        self.sum += value;
        if let Some(old) = self.ring.push(value) {
            self.sum -= old;
        }
        self.sum / self.ring.values.len() as f64
    }

    pub fn len(&self) -> usize {
        self.ring.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.values.is_empty()
    }
}
