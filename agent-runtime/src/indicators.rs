//! Technical indicators over price series, as the quantitative analysts use them.
//!
//! Each function returns a series aligned with its input: element `i` is the indicator as of
//! bar `i`, `None` until enough bars exist. Aligned series make crossovers ("fast above slow
//! now, below one bar ago") plain index arithmetic and keep the functions pure and testable.
//! Smoothing follows the textbook definitions: EMA seeded with the SMA of its first window,
//! RSI and ATR with Wilder's smoothing (alpha = 1/period) seeded the same way.
//!
//! The analysts do not recompute these over a window each cycle: they keep the [`rolling`]
//! states, O(1) per bar. The series functions here are the reference those are tested
//! against, and what one-off callers use.

pub mod rolling;

/// Simple moving average of the last `period` values.
pub fn sma(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; values.len()];
    if period == 0 {
        return out;
    }
    let mut sum = 0.0;
    for (i, value) in values.iter().enumerate() {
        sum += value;
        if i >= period {
            sum -= values[i - period];
        }
        if i + 1 >= period {
            out[i] = Some(sum / period as f64);
        }
    }
    out
}

/// Exponential moving average, alpha = 2 / (period + 1), seeded with the first window's SMA.
pub fn ema(values: &[f64], period: usize) -> Vec<Option<f64>> {
    smoothed(values, period, 2.0 / (period as f64 + 1.0))
}

/// Wilder's moving average (alpha = 1 / period), seeded with the first window's SMA.
pub fn wilder(values: &[f64], period: usize) -> Vec<Option<f64>> {
    smoothed(values, period, 1.0 / period as f64)
}

fn smoothed(values: &[f64], period: usize, alpha: f64) -> Vec<Option<f64>> {
    let mut out = vec![None; values.len()];
    if period == 0 || values.len() < period {
        return out;
    }
    let mut current = values[..period].iter().sum::<f64>() / period as f64;
    out[period - 1] = Some(current);
    for i in period..values.len() {
        current += alpha * (values[i] - current);
        out[i] = Some(current);
    }
    out
}

/// Relative strength index (Wilder), 0–100. The first value is at index `period` (it needs
/// `period` price changes). A series with no losses reads 100; with no moves at all, 50.
pub fn rsi(closes: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; closes.len()];
    if period == 0 || closes.len() <= period {
        return out;
    }
    let changes: Vec<f64> = closes.windows(2).map(|w| w[1] - w[0]).collect();
    let gains: Vec<f64> = changes.iter().map(|c| c.max(0.0)).collect();
    let losses: Vec<f64> = changes.iter().map(|c| (-c).max(0.0)).collect();
    let avg_gain = wilder(&gains, period);
    let avg_loss = wilder(&losses, period);
    for (i, (gain, loss)) in avg_gain.iter().zip(&avg_loss).enumerate() {
        if let (Some(gain), Some(loss)) = (gain, loss) {
            // changes[i] is the move into closes[i + 1].
            out[i + 1] = Some(rsi_from(*gain, *loss));
        }
    }
    out
}

#[inline]
fn rsi_from(avg_gain: f64, avg_loss: f64) -> f64 {
    if avg_loss == 0.0 {
        if avg_gain == 0.0 { 50.0 } else { 100.0 }
    } else {
        100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    }
}

/// MACD line, signal line and histogram at one bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Macd {
    pub macd: f64,
    pub signal: f64,
    pub histogram: f64,
}

/// MACD(fast, slow, signal): EMA(fast) − EMA(slow), its EMA(signal), and their difference.
/// The first value is at index `slow - 1 + signal - 1`.
pub fn macd(closes: &[f64], fast: usize, slow: usize, signal: usize) -> Vec<Option<Macd>> {
    let mut out = vec![None; closes.len()];
    let fast_ema = ema(closes, fast);
    let slow_ema = ema(closes, slow);
    let line: Vec<(usize, f64)> = fast_ema
        .iter()
        .zip(&slow_ema)
        .enumerate()
        .filter_map(|(i, (f, s))| Some((i, (*f)? - (*s)?)))
        .collect();
    let values: Vec<f64> = line.iter().map(|(_, v)| *v).collect();
    let signal_line = ema(&values, signal);
    for ((i, value), signal) in line.iter().zip(signal_line) {
        if let Some(signal) = signal {
            out[*i] = Some(Macd {
                macd: *value,
                signal,
                histogram: value - signal,
            });
        }
    }
    out
}

/// Population standard deviation of the last `period` values.
pub fn rolling_std(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let means = sma(values, period);
    means
        .iter()
        .enumerate()
        .map(|(i, mean)| {
            let mean = (*mean)?;
            let window = &values[i + 1 - period..=i];
            let variance = window.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / period as f64;
            Some(variance.sqrt())
        })
        .collect()
}

/// Bollinger bands at one bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    pub lower: f64,
    pub middle: f64,
    pub upper: f64,
}

/// Bollinger bands: SMA(period) ± `width` population standard deviations.
pub fn bollinger(closes: &[f64], period: usize, width: f64) -> Vec<Option<Bands>> {
    sma(closes, period)
        .into_iter()
        .zip(rolling_std(closes, period))
        .map(|(mean, std)| {
            let (mean, std) = (mean?, std?);
            Some(Bands {
                lower: mean - width * std,
                middle: mean,
                upper: mean + width * std,
            })
        })
        .collect()
}

/// How many standard deviations the latest value sits from its rolling mean; 0 for a flat
/// window (no dispersion means no surprise).
pub fn z_score(values: &[f64], period: usize) -> Vec<Option<f64>> {
    sma(values, period)
        .into_iter()
        .zip(rolling_std(values, period))
        .enumerate()
        .map(|(i, (mean, std))| {
            let (mean, std) = (mean?, std?);
            Some(if std == 0.0 {
                0.0
            } else {
                (values[i] - mean) / std
            })
        })
        .collect()
}

/// True range of each bar: the largest of high − low, |high − previous close| and
/// |low − previous close|; the first bar has no previous close and uses high − low.
pub fn true_range(highs: &[f64], lows: &[f64], closes: &[f64]) -> Vec<f64> {
    let n = highs.len().min(lows.len()).min(closes.len());
    (0..n)
        .map(|i| {
            let range = highs[i] - lows[i];
            if i == 0 {
                range
            } else {
                let prev = closes[i - 1];
                range
                    .max((highs[i] - prev).abs())
                    .max((lows[i] - prev).abs())
            }
        })
        .collect()
}

/// Average true range with Wilder's smoothing, seeded with the mean of the first `period`
/// true ranges (the first bar's being high − low).
pub fn atr(highs: &[f64], lows: &[f64], closes: &[f64], period: usize) -> Vec<Option<f64>> {
    wilder(&true_range(highs, lows, closes), period)
}

/// The latest value of an aligned series, if defined.
pub fn last<T: Copy>(series: &[Option<T>]) -> Option<T> {
    series.last().copied().flatten()
}

/// The value one bar before the latest, if defined.
pub fn previous<T: Copy>(series: &[Option<T>]) -> Option<T> {
    series.len().checked_sub(2).and_then(|i| series[i])
}
