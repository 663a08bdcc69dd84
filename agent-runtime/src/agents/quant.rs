//! Deterministic quantitative analysts: trend, momentum, mean reversion and volatility.
//!
//! They are the demo's analysts (no key needed), the LLM seats' fallback, and the baseline an
//! LLM analyst has to beat. Each is a pure function of the snapshot's bars, so a replay gives
//! the same reports every time. Confidence mappings are deliberately simple and documented per
//! method; with too little history an analyst reports neutral with zero confidence.
//!
//! The volatility analyst never picks a side: it reports `Neutral` with a confidence that
//! measures how calm the market is (1 = calm, 0 = turbulent), and the decision uses that to
//! scale conviction (see `decision`).

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Analyst, Snapshot};
use crate::config::QuantMethod;
use crate::domain::{AnalystReport, Signal};
use crate::indicators::{atr, bollinger, last, macd, previous, rsi, sma, z_score};

/// Moving averages of the trend analyst.
pub const TREND_FAST: usize = 20;
pub const TREND_SLOW: usize = 50;
/// RSI period and MACD (fast, slow, signal) of the momentum analyst.
pub const RSI_PERIOD: usize = 14;
pub const MACD_PERIODS: (usize, usize, usize) = (12, 26, 9);
/// Bollinger window and width of the mean-reversion analyst.
pub const BAND_PERIOD: usize = 20;
pub const BAND_WIDTH: f64 = 2.0;
/// ATR period, and the window its level is compared against, of the volatility analyst.
pub const ATR_PERIOD: usize = 14;
pub const ATR_BASELINE: usize = 40;

/// Bars a quant analyst needs to say anything; the cycle fetches at least this many.
pub const MIN_HISTORY: usize = TREND_SLOW + 1;

/// The `source` a volatility report carries; the decision looks for it.
pub const VOLATILITY_SOURCE: &str = "quant:volatility";

/// A quantitative analyst seated as `role`.
pub fn quant_analyst(role: impl Into<String>, method: QuantMethod) -> Box<dyn Analyst> {
    Box::new(QuantAnalyst {
        role: role.into(),
        method,
    })
}

/// The analysis itself, synchronous, for callers that are not async (and benches).
pub fn analyze(role: &str, method: QuantMethod, snapshot: &Snapshot) -> AnalystReport {
    let closes: Vec<f64> = snapshot.bars.iter().map(|b| b.close).collect();
    let view = match method {
        QuantMethod::Trend => trend(&closes),
        QuantMethod::Momentum => momentum(&closes),
        QuantMethod::MeanReversion => mean_reversion(&closes),
        QuantMethod::Volatility => {
            let highs: Vec<f64> = snapshot.bars.iter().map(|b| b.high).collect();
            let lows: Vec<f64> = snapshot.bars.iter().map(|b| b.low).collect();
            volatility(&highs, &lows, &closes)
        }
    };
    let (signal, confidence, rationale) = view.unwrap_or_else(|| {
        (
            Signal::Neutral,
            0.0,
            format!("not enough history ({} bars)", closes.len()),
        )
    });
    AnalystReport {
        role: role.to_string(),
        source: source_of(method).to_string(),
        signal,
        confidence: clamp01(confidence),
        rationale,
    }
}

pub fn source_of(method: QuantMethod) -> &'static str {
    match method {
        QuantMethod::Trend => "quant:trend",
        QuantMethod::Momentum => "quant:momentum",
        QuantMethod::MeanReversion => "quant:meanReversion",
        QuantMethod::Volatility => VOLATILITY_SOURCE,
    }
}

struct QuantAnalyst {
    role: String,
    method: QuantMethod,
}

impl Analyst for QuantAnalyst {
    fn role(&self) -> &str {
        &self.role
    }

    fn analyze<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, AnalystReport> {
        futures::future::ready(analyze(&self.role, self.method, snapshot)).boxed()
    }

    fn indicators(&self, snapshot: &Snapshot) -> BTreeMap<String, f64> {
        indicators(self.method, snapshot)
    }
}

/// The latest value of each indicator `method` reads, named with its period (`sma20`,
/// `rsi14`): what the analyst saw, for the journal. One missing for want of history is
/// left out.
pub fn indicators(method: QuantMethod, snapshot: &Snapshot) -> BTreeMap<String, f64> {
    let closes: Vec<f64> = snapshot.bars.iter().map(|b| b.close).collect();
    let mut values = BTreeMap::new();
    let mut put = |name: String, value: Option<f64>| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            values.insert(name, value);
        }
    };
    match method {
        QuantMethod::Trend => {
            put(format!("sma{TREND_FAST}"), last(&sma(&closes, TREND_FAST)));
            put(format!("sma{TREND_SLOW}"), last(&sma(&closes, TREND_SLOW)));
        }
        QuantMethod::Momentum => {
            let (fast, slow, signal) = MACD_PERIODS;
            let macd_now = last(&macd(&closes, fast, slow, signal));
            put(format!("rsi{RSI_PERIOD}"), last(&rsi(&closes, RSI_PERIOD)));
            put("macdHistogram".into(), macd_now.map(|m| m.histogram));
            put("macdSignal".into(), macd_now.map(|m| m.signal));
        }
        QuantMethod::MeanReversion => {
            let bands = last(&bollinger(&closes, BAND_PERIOD, BAND_WIDTH));
            put(
                format!("zScore{BAND_PERIOD}"),
                last(&z_score(&closes, BAND_PERIOD)),
            );
            put("bollingerLower".into(), bands.map(|b| b.lower));
            put("bollingerMiddle".into(), bands.map(|b| b.middle));
            put("bollingerUpper".into(), bands.map(|b| b.upper));
        }
        QuantMethod::Volatility => {
            let highs: Vec<f64> = snapshot.bars.iter().map(|b| b.high).collect();
            let lows: Vec<f64> = snapshot.bars.iter().map(|b| b.low).collect();
            put(
                format!("atr{ATR_PERIOD}"),
                last(&atr(&highs, &lows, &closes, ATR_PERIOD)),
            );
        }
    }
    values
}

type View = Option<(Signal, f64, String)>;

fn clamp01(value: f64) -> f64 {
    if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// SMA(20) against SMA(50): the side is the fast average's; confidence 0.4 plus 20× the
/// relative spread (a 3% spread is full conviction), +0.1 on the bar of a fresh crossover.
/// Spreads under 0.2% are too close to call.
fn trend(closes: &[f64]) -> View {
    let fast = sma(closes, TREND_FAST);
    let slow = sma(closes, TREND_SLOW);
    let (f, s) = (last(&fast)?, last(&slow)?);
    if s <= 0.0 {
        return None;
    }
    let spread = (f - s) / s;
    let crossed = match (previous(&fast), previous(&slow)) {
        (Some(pf), Some(ps)) => (pf - ps).signum() != (f - s).signum(),
        _ => false,
    };
    let mut rationale = format!(
        "SMA{TREND_FAST} {f:.2} vs SMA{TREND_SLOW} {s:.2} ({:+.2}%)",
        spread * 100.0
    );
    if spread.abs() < 0.002 {
        rationale.push_str(": averages too close to call");
        return Some((Signal::Neutral, 0.2, rationale));
    }
    let signal = if spread > 0.0 {
        Signal::Bullish
    } else {
        Signal::Bearish
    };
    let mut confidence = 0.4 + spread.abs() * 20.0;
    if crossed {
        confidence += 0.1;
        rationale.push_str(": fresh crossover");
    }
    Some((signal, confidence, rationale))
}

/// MACD histogram sign (half the score) and RSI distance from 50 in units of 20 points (the
/// other half). An RSI beyond 70/30 means the move is stretched: the score is halved.
/// Scores under 0.2 in size are neutral; confidence is the score's size.
fn momentum(closes: &[f64]) -> View {
    let (fast, slow, signal_period) = MACD_PERIODS;
    let m = last(&macd(closes, fast, slow, signal_period))?;
    let r = last(&rsi(closes, RSI_PERIOD))?;
    let macd_part = if m.histogram > 0.0 {
        1.0
    } else if m.histogram < 0.0 {
        -1.0
    } else {
        0.0
    };
    let rsi_part = ((r - 50.0) / 20.0).clamp(-1.0, 1.0);
    let mut score = 0.5 * macd_part + 0.5 * rsi_part;
    let mut rationale = format!("RSI{RSI_PERIOD} {r:.1}, MACD histogram {:+.3}", m.histogram);
    if !(30.0..=70.0).contains(&r) {
        score *= 0.5;
        rationale.push_str(if r > 70.0 {
            ": overbought"
        } else {
            ": oversold"
        });
    }
    let signal = if score >= 0.2 {
        Signal::Bullish
    } else if score <= -0.2 {
        Signal::Bearish
    } else {
        Signal::Neutral
    };
    Some((signal, score.abs(), rationale))
}

/// Price against Bollinger(20, 2): far below the mean is a buy, far above a sell. Within one
/// standard deviation nothing is stretched (neutral); confidence grows from 0 at |z| = 1 to
/// 1 at |z| = 2.5.
fn mean_reversion(closes: &[f64]) -> View {
    let z = last(&z_score(closes, BAND_PERIOD))?;
    let bands = last(&bollinger(closes, BAND_PERIOD, BAND_WIDTH))?;
    let rationale = format!(
        "z-score {z:+.2}; bands {:.2} / {:.2} / {:.2}",
        bands.lower, bands.middle, bands.upper
    );
    if z.abs() < 1.0 {
        return Some((Signal::Neutral, 0.0, rationale));
    }
    let signal = if z < 0.0 {
        Signal::Bullish
    } else {
        Signal::Bearish
    };
    Some((signal, (z.abs() - 1.0) / 1.5, rationale))
}

/// ATR(14) as a fraction of price against its own average over the last 40 bars: at or below
/// the average the market is calm (confidence 1); at twice the average or more, turbulent (0).
fn volatility(highs: &[f64], lows: &[f64], closes: &[f64]) -> View {
    let series = atr(highs, lows, closes, ATR_PERIOD);
    let relative: Vec<f64> = series
        .iter()
        .zip(closes)
        .filter_map(|(a, c)| a.filter(|_| *c > 0.0).map(|a| a / c))
        .collect();
    let current = *relative.last()?;
    let window = &relative[relative.len().saturating_sub(ATR_BASELINE)..];
    let baseline = window.iter().sum::<f64>() / window.len() as f64;
    let ratio = if baseline > 0.0 {
        current / baseline
    } else {
        1.0
    };
    let calm = 1.0 - (ratio - 1.0);
    let regime = if ratio > 1.5 {
        "turbulent"
    } else if ratio > 1.0 {
        "elevated"
    } else {
        "calm"
    };
    let rationale = format!(
        "ATR{ATR_PERIOD} {:.2}% of price, {ratio:.2}× its {}-bar average: {regime}",
        current * 100.0,
        window.len()
    );
    Some((Signal::Neutral, calm, rationale))
}
