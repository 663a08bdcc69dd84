//! The four methods as rolling state over bars, and the view each takes of its state.
//!
//! A [`MethodState`] is fed one bar at a time (O(1), memory bounded by the longest period it
//! was given) and reads out a [`View`] — signal, confidence, rationale — whenever asked. The
//! rules each view applies are documented on it; the numbers come from [`QuantParams`].

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

/// One symbol's rolling state for one method.
#[derive(Clone, Debug)]
pub enum MethodState {
    Trend(Trend),
    Momentum(Momentum),
    MeanReversion(MeanReversion),
    Volatility(Volatility),
}

impl MethodState {
    pub fn new(method: QuantMethod, params: &QuantParams) -> Self {
        let p = |v: u32| v as usize;
        match method {
            QuantMethod::Trend => Self::Trend(Trend {
                fast: Sma::new(p(params.fast_period)),
                slow: Sma::new(p(params.slow_period)),
                now: None,
                before: None,
            }),
            QuantMethod::Momentum => Self::Momentum(Momentum {
                macd: MacdState::new(
                    p(params.macd_fast),
                    p(params.macd_slow),
                    p(params.macd_signal),
                ),
                rsi: Rsi::new(p(params.rsi_period)),
                latest: (None, None),
            }),
            QuantMethod::MeanReversion => Self::MeanReversion(MeanReversion {
                stats: RollingStats::new(p(params.band_period)),
                close: 0.0,
            }),
            QuantMethod::Volatility => Self::Volatility(Volatility {
                atr: Atr::new(p(params.atr_period)),
                baseline: TrailingMean::new(p(params.atr_baseline)),
                latest: None,
            }),
        }
    }

    #[inline]
    pub fn update(&mut self, bar: &Bar) {
        match self {
            Self::Trend(s) => s.update(bar.close),
            Self::Momentum(s) => s.latest = (s.macd.update(bar.close), s.rsi.update(bar.close)),
            Self::MeanReversion(s) => {
                s.stats.push(bar.close);
                s.close = bar.close;
            }
            Self::Volatility(s) => s.update(bar),
        }
    }

    /// The latest value of each indicator the method reads, named with its period (`sma20`,
    /// `rsi14`): what the seat saw, for the journal. One without enough history yet is left
    /// out.
    pub fn indicators(&self, params: &QuantParams) -> BTreeMap<String, f64> {
        let mut values = BTreeMap::new();
        let mut put = |name: String, value: Option<f64>| {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                values.insert(name, value);
            }
        };
        match self {
            Self::Trend(s) => {
                put(format!("sma{}", params.fast_period), s.now.map(|n| n.0));
                put(format!("sma{}", params.slow_period), s.now.map(|n| n.1));
            }
            Self::Momentum(s) => {
                put(format!("rsi{}", params.rsi_period), s.latest.1);
                put("macdHistogram".into(), s.latest.0.map(|m| m.histogram));
                put("macdSignal".into(), s.latest.0.map(|m| m.signal));
            }
            Self::MeanReversion(s) => {
                let z = s.stats.value().map(|(mean, std)| match std {
                    0.0 => 0.0,
                    std => (s.close - mean) / std,
                });
                put(format!("zScore{}", params.band_period), z);
                let bands = s.stats.bands(params.band_width);
                put("bollingerLower".into(), bands.map(|b| b.lower));
                put("bollingerMiddle".into(), bands.map(|b| b.middle));
                put("bollingerUpper".into(), bands.map(|b| b.upper));
            }
            Self::Volatility(s) => {
                // Relative to price, as the view reads them.
                put(
                    format!("atr{}Relative", params.atr_period),
                    s.latest.map(|l| l.0),
                );
                put("atrBaselineRelative".into(), s.latest.map(|l| l.1));
            }
        }
        values
    }

    #[inline]
    pub fn view(&self, params: &QuantParams) -> View {
        match self {
            Self::Trend(s) => s.view(params),
            Self::Momentum(s) => momentum_view(s.latest.0?, s.latest.1?, params),
            Self::MeanReversion(s) => {
                let stats = s.stats.value()?;
                let bands = bands_around(stats, params.band_width);
                mean_reversion_view(s.close, stats, bands, params)
            }
            Self::Volatility(s) => s.view(),
        }
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

impl Trend {
    fn update(&mut self, close: f64) {
        let (fast, slow) = (self.fast.update(close), self.slow.update(close));
        self.before = self.now;
        self.now = fast.zip(slow);
    }

    /// Fast SMA against slow SMA: the side is the fast average's; confidence
    /// `baseConfidence` plus `spreadGain` × the relative spread, plus `crossoverBonus` on the
    /// bar of a fresh crossover. Spreads under `neutralBand` are too close to call.
    fn view(&self, params: &QuantParams) -> View {
        let (f, s) = self.now?;
        if s <= 0.0 {
            return None;
        }
        let spread = (f - s) / s;
        let crossed = self
            .before
            .is_some_and(|(pf, ps)| (pf - ps).signum() != (f - s).signum());
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

impl Volatility {
    fn update(&mut self, bar: &Bar) {
        let Some(atr) = self.atr.update(bar.high, bar.low, bar.close) else {
            return;
        };
        if bar.close > 0.0 {
            let relative = atr / bar.close;
            self.latest = Some((relative, self.baseline.update(relative)));
        }
    }

    /// ATR as a fraction of price against its own average over the last `atrBaseline` bars:
    /// at or below the average the market is calm (confidence 1); at twice the average or
    /// more, turbulent (0).
    fn view(&self) -> View {
        let (current, baseline) = self.latest?;
        let ratio = if baseline > 0.0 {
            current / baseline
        } else {
            1.0
        };
        let calm = 1.0 - (ratio - 1.0);
        let why = Why::Volatility {
            current,
            ratio,
            baseline_bars: self.baseline.len(),
        };
        Some((Signal::Neutral, calm, why))
    }
}
