//! The four methods as rolling state over bars, and the view each takes of its state.
//!
//! A [`Method`]'s state is fed one bar at a time (O(1), memory bounded by the longest period
//! it was given) and reads out a [`View`] — signal, confidence, rationale — whenever asked.
//! The rules each view applies are documented on it; the numbers come from [`QuantParams`].

use std::collections::BTreeMap;

use crate::config::{QuantMethod, QuantParams};
use crate::domain::{Bar, Signal};
use crate::indicators::rolling::{
    Atr, MacdState, RollingStats, Rsi, Sma, TrailingMean, bands_around,
};
use crate::indicators::{Bands, Macd};

/// A signal, a confidence (not yet clamped) and why; `None` until enough history.
pub type View = Option<(Signal, f64, Why)>;

/// The figures behind a view, written out as its rationale only when someone reads it
/// ([`Why::text`]): a backtest that journals no decisions would format four sentences a bar
/// and drop them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Why {
    Trend {
        fast: f64,
        slow: f64,
        spread: f64,
        /// The spread is inside `neutralBand`.
        too_close: bool,
        crossed: bool,
    },
    Momentum {
        rsi: f64,
        histogram: f64,
    },
    MeanReversion {
        z: f64,
        bands: Bands,
    },
    Volatility {
        /// ATR as a fraction of price, and that over its baseline.
        current: f64,
        ratio: f64,
        baseline_bars: usize,
    },
}

impl Why {
    /// The rationale, as the report carries it.
    pub fn text(&self, params: &QuantParams) -> String {
        match *self {
            Self::Trend {
                fast: f,
                slow: s,
                spread,
                too_close,
                crossed,
            } => {
                let (fast, slow) = (params.fast_period, params.slow_period);
                let figures = format!(
                    "SMA{fast} {f:.2} vs SMA{slow} {s:.2} ({:+.2}%)",
                    spread * 100.0
                );
                match (too_close, crossed) {
                    (true, _) => figures + ": averages too close to call",
                    (false, true) => figures + ": fresh crossover",
                    (false, false) => figures,
                }
            }
            Self::Momentum { rsi: r, histogram } => {
                let figures = format!(
                    "RSI{} {r:.1}, MACD histogram {histogram:+.3}",
                    params.rsi_period
                );
                if (params.oversold..=params.overbought).contains(&r) {
                    figures
                } else if r > params.overbought {
                    figures + ": overbought"
                } else {
                    figures + ": oversold"
                }
            }
            Self::MeanReversion { z, bands } => format!(
                "z-score {z:+.2}; bands {:.2} / {:.2} / {:.2}",
                bands.lower, bands.middle, bands.upper
            ),
            Self::Volatility {
                current,
                ratio,
                baseline_bars,
            } => {
                let regime = if ratio > 1.5 {
                    "turbulent"
                } else if ratio > 1.0 {
                    "elevated"
                } else {
                    "calm"
                };
                format!(
                    "ATR{} {:.2}% of price, {ratio:.2}× its {baseline_bars}-bar average: {regime}",
                    params.atr_period,
                    current * 100.0,
                )
            }
        }
    }
}

/// Bars a method needs before it says anything but neutral.
pub fn history_needed(method: QuantMethod, params: &QuantParams) -> usize {
    let p = |v: u32| v as usize;
    match method {
        QuantMethod::Trend => p(params.slow_period) + 1,
        QuantMethod::Momentum => {
            (p(params.macd_slow) + p(params.macd_signal) - 1).max(p(params.rsi_period) + 1)
        }
        QuantMethod::MeanReversion => p(params.band_period),
        QuantMethod::Volatility => p(params.atr_period),
    }
}

/// One method's rolling state over one symbol's bars: fed a bar at a time, read whenever
/// asked.
///
/// A seat is generic over its method rather than holding one of four states in an enum:
/// each seat runs one method for good, so choosing it once, when the seat is made, leaves
/// its per-bar path one function with the method's arithmetic inlined, not a dispatch on the
/// method to update and another to read out, on every bar of every seat.
pub trait Method: Send + 'static {
    fn new(params: &QuantParams) -> Self;

    /// Takes in the next bar.
    fn update(&mut self, bar: &Bar);

    /// The view of the bars taken in; `None` until enough history.
    fn view(&self, params: &QuantParams) -> View;

    /// The latest value of each indicator the method reads, named with its period (`sma20`,
    /// `rsi14`), put into `put`: what the seat saw, for the journal.
    fn indicators(&self, params: &QuantParams, put: &mut dyn FnMut(String, Option<f64>));
}

/// [`Method::indicators`] as a map; one without enough history yet (or not finite) is left
/// out.
pub fn indicators_of(state: &impl Method, params: &QuantParams) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    state.indicators(params, &mut |name, value| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            values.insert(name, value);
        }
    });
    values
}

fn period(value: u32) -> usize {
    value as usize
}

impl Method for Trend {
    fn new(params: &QuantParams) -> Self {
        Self {
            fast: Sma::new(period(params.fast_period)),
            slow: Sma::new(period(params.slow_period)),
            now: None,
            before: None,
        }
    }

    #[inline(always)]
    fn update(&mut self, bar: &Bar) {
        let (fast, slow) = (self.fast.update(bar.close), self.slow.update(bar.close));
        self.before = self.now;
        self.now = fast.zip(slow);
    }

    #[inline(always)]
    fn view(&self, params: &QuantParams) -> View {
        trend_view(self.now?, self.before, params)
    }

    fn indicators(&self, params: &QuantParams, put: &mut dyn FnMut(String, Option<f64>)) {
        put(format!("sma{}", params.fast_period), self.now.map(|n| n.0));
        put(format!("sma{}", params.slow_period), self.now.map(|n| n.1));
    }
}

impl Method for Momentum {
    fn new(params: &QuantParams) -> Self {
        Self {
            macd: MacdState::new(
                period(params.macd_fast),
                period(params.macd_slow),
                period(params.macd_signal),
            ),
            rsi: Rsi::new(period(params.rsi_period)),
            latest: (None, None),
        }
    }

    #[inline(always)]
    fn update(&mut self, bar: &Bar) {
        self.latest = (self.macd.update(bar.close), self.rsi.update(bar.close));
    }

    #[inline(always)]
    fn view(&self, params: &QuantParams) -> View {
        momentum_view(self.latest.0?, self.latest.1?, params)
    }

    fn indicators(&self, params: &QuantParams, put: &mut dyn FnMut(String, Option<f64>)) {
        put(format!("rsi{}", params.rsi_period), self.latest.1);
        put("macdHistogram".into(), self.latest.0.map(|m| m.histogram));
        put("macdSignal".into(), self.latest.0.map(|m| m.signal));
    }
}

impl Method for MeanReversion {
    fn new(params: &QuantParams) -> Self {
        Self {
            stats: RollingStats::new(period(params.band_period)),
            close: 0.0,
        }
    }

    #[inline(always)]
    fn update(&mut self, bar: &Bar) {
        self.stats.push(bar.close);
        self.close = bar.close;
    }

    #[inline(always)]
    fn view(&self, params: &QuantParams) -> View {
        let stats = self.stats.value()?;
        let bands = bands_around(stats, params.band_width);
        mean_reversion_view(self.close, stats, bands, params)
    }

    fn indicators(&self, params: &QuantParams, put: &mut dyn FnMut(String, Option<f64>)) {
        let z = self.stats.value().map(|(mean, std)| match std {
            0.0 => 0.0,
            std => (self.close - mean) / std,
        });
        put(format!("zScore{}", params.band_period), z);
        let bands = self.stats.bands(params.band_width);
        put("bollingerLower".into(), bands.map(|b| b.lower));
        put("bollingerMiddle".into(), bands.map(|b| b.middle));
        put("bollingerUpper".into(), bands.map(|b| b.upper));
    }
}

impl Method for Volatility {
    fn new(params: &QuantParams) -> Self {
        Self {
            atr: Atr::new(period(params.atr_period)),
            baseline: TrailingMean::new(period(params.atr_baseline)),
            latest: None,
        }
    }

    #[inline(always)]
    fn update(&mut self, bar: &Bar) {
        let Some(atr) = self.atr.update(bar.high, bar.low, bar.close) else {
            return;
        };
        if bar.close > 0.0 {
            let relative = atr / bar.close;
            self.latest = Some((relative, self.baseline.update(relative)));
        }
    }

    #[inline(always)]
    fn view(&self, _params: &QuantParams) -> View {
        volatility_view(self.latest?, self.baseline.len())
    }

    fn indicators(&self, params: &QuantParams, put: &mut dyn FnMut(String, Option<f64>)) {
        // Relative to price, as the view reads them.
        put(
            format!("atr{}Relative", params.atr_period),
            self.latest.map(|l| l.0),
        );
        put("atrBaselineRelative".into(), self.latest.map(|l| l.1));
    }
}

#[derive(Clone, Debug)]
pub struct Trend {
    fast: Sma,
    slow: Sma,
    /// (fast, slow) at the latest bar and the one before.
    now: Option<(f64, f64)>,
    before: Option<(f64, f64)>,
}

/// Fast SMA against slow SMA (`(f, s)` now, and at the bar before): the side is the fast
/// average's; confidence `baseConfidence` plus `spreadGain` × the relative spread, plus
/// `crossoverBonus` on the bar of a fresh crossover. Spreads under `neutralBand` are too
/// close to call.
#[inline]
fn trend_view((f, s): (f64, f64), before: Option<(f64, f64)>, params: &QuantParams) -> View {
    if s <= 0.0 {
        return None;
    }
    let spread = (f - s) / s;
    let crossed = before.is_some_and(|(pf, ps)| (pf - ps).signum() != (f - s).signum());
    let too_close = spread.abs() < params.neutral_band;
    let why = Why::Trend {
        fast: f,
        slow: s,
        spread,
        too_close,
        crossed,
    };
    if too_close {
        return Some((Signal::Neutral, 0.2, why));
    }
    let signal = if spread > 0.0 {
        Signal::Bullish
    } else {
        Signal::Bearish
    };
    let mut confidence = params.base_confidence + spread.abs() * params.spread_gain;
    if crossed {
        confidence += params.crossover_bonus;
    }
    Some((signal, confidence, why))
}

#[derive(Clone, Debug)]
pub struct Momentum {
    macd: MacdState,
    rsi: Rsi,
    latest: (Option<Macd>, Option<f64>),
}

/// MACD histogram sign (half the score) and RSI distance from 50 in units of 20 points (the
/// other half). An RSI beyond `overbought`/`oversold` means the move is stretched: the score
/// is halved. Scores under 0.2 in size are neutral; confidence is the score's size.
#[inline]
fn momentum_view(m: Macd, r: f64, params: &QuantParams) -> View {
    let macd_part = if m.histogram > 0.0 {
        1.0
    } else if m.histogram < 0.0 {
        -1.0
    } else {
        0.0
    };
    let rsi_part = ((r - 50.0) / 20.0).clamp(-1.0, 1.0);
    let mut score = 0.5 * macd_part + 0.5 * rsi_part;
    if !(params.oversold..=params.overbought).contains(&r) {
        score *= 0.5;
    }
    let signal = if score >= 0.2 {
        Signal::Bullish
    } else if score <= -0.2 {
        Signal::Bearish
    } else {
        Signal::Neutral
    };
    let why = Why::Momentum {
        rsi: r,
        histogram: m.histogram,
    };
    Some((signal, score.abs(), why))
}

#[derive(Clone, Debug)]
pub struct MeanReversion {
    stats: RollingStats,
    close: f64,
}

/// Price against Bollinger bands: far below the mean is a buy, far above a sell. Within
/// `entryZ` standard deviations nothing is stretched (neutral); confidence grows from 0 at
/// |z| = `entryZ` to 1 at |z| = `fullZ`. A flat window has z = 0.
#[inline]
fn mean_reversion_view(
    close: f64,
    (mean, std): (f64, f64),
    bands: Bands,
    params: &QuantParams,
) -> View {
    let z = if std == 0.0 {
        0.0
    } else {
        (close - mean) / std
    };
    let why = Why::MeanReversion { z, bands };
    if z.abs() < params.entry_z {
        return Some((Signal::Neutral, 0.0, why));
    }
    let signal = if z < 0.0 {
        Signal::Bullish
    } else {
        Signal::Bearish
    };
    Some((
        signal,
        (z.abs() - params.entry_z) / (params.full_z - params.entry_z),
        why,
    ))
}

#[derive(Clone, Debug)]
pub struct Volatility {
    atr: Atr,
    /// ATR as a fraction of price, over the last `atrBaseline` bars.
    baseline: TrailingMean,
    /// (current relative ATR, its baseline).
    latest: Option<(f64, f64)>,
}

/// ATR as a fraction of price against its own average over the last `atrBaseline` bars
/// (`baseline_bars` of them so far): at or below the average the market is calm
/// (confidence 1); at twice the average or more, turbulent (0).
#[inline]
fn volatility_view((current, baseline): (f64, f64), baseline_bars: usize) -> View {
    let ratio = if baseline > 0.0 {
        current / baseline
    } else {
        1.0
    };
    let calm = 1.0 - (ratio - 1.0);
    let why = Why::Volatility {
        current,
        ratio,
        baseline_bars,
    };
    Some((Signal::Neutral, calm, why))
}
