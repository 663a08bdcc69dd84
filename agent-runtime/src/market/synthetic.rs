//! The built-in data set: deterministic synthetic daily bars for any symbol.
//!
//! `make demo` must run without a key or a download, and a replay must give the same journal
//! every time, so the default history is generated, not fetched: a geometric random walk
//! whose drift and volatility switch between bull, bear and sideways regimes, seeded from the
//! symbol's name. The same symbol always gets the same bars (on the same build), different
//! symbols differ, and the regimes give the trend and mean-reversion analysts something to
//! find. It is not a model of any real instrument.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::csv::BarSet;
use crate::domain::Bar;

/// First trading day of the built-in data set.
pub fn default_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 2).unwrap_or_default()
}

/// About two years of weekdays.
pub const DEFAULT_BARS: usize = 504;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Regime {
    Bull,
    Bear,
    Sideways,
}

impl Regime {
    /// Daily log-drift and volatility.
    fn parameters(self) -> (f64, f64) {
        match self {
            Regime::Bull => (0.0012, 0.012),
            Regime::Bear => (-0.0015, 0.022),
            Regime::Sideways => (0.0, 0.009),
        }
    }
}

/// Daily bars on weekdays from `start`, `count` of them, for each symbol.
pub fn generate(symbols: &[String], start: NaiveDate, count: usize) -> BarSet {
    symbols
        .iter()
        .map(|symbol| (symbol.clone(), series(symbol, start, count)))
        .collect()
}

/// The built-in data set for `symbols`.
pub fn default_set(symbols: &[String]) -> BarSet {
    generate(symbols, default_start(), DEFAULT_BARS)
}

fn series(symbol: &str, start: NaiveDate, count: usize) -> Vec<Bar> {
    let mut rng = SplitMix64::new(fnv1a(symbol.as_bytes()));
    let mut price = 50.0 + rng.next_f64() * 350.0;
    let mut regime = Regime::Sideways;
    let mut bars = Vec::with_capacity(count);
    let mut day = start;
    while bars.len() < count {
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            day += Duration::days(1);
            continue;
        }
        if rng.next_f64() < 1.0 / 60.0 {
            regime = match rng.next_u64() % 3 {
                0 => Regime::Bull,
                1 => Regime::Bear,
                _ => Regime::Sideways,
            };
        }
        let (drift, volatility) = regime.parameters();
        let open = price * (1.0 + 0.002 * rng.normal());
        let close = open * (drift + volatility * rng.normal()).exp();
        let wick = volatility * 0.5;
        let high = open.max(close) * (1.0 + wick * rng.normal().abs());
        let low = open.min(close) * (1.0 - wick * rng.normal().abs()).max(0.5);
        let volume = (1_000_000.0 * (1.0 + rng.normal().abs())).round();
        let time = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        bars.push(Bar {
            symbol: symbol.to_string(),
            time,
            open: round(open),
            high: round(high),
            low: round(low),
            close: round(close),
            volume,
        });
        price = close;
        day += Duration::days(1);
    }
    bars
}

/// Cents, as a market would quote them (and so CSV exports round-trip exactly).
fn round(price: f64) -> f64 {
    (price * 100.0).round() / 100.0
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64: tiny, fast, and fixed forever (a library RNG may change its stream).
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_symbol_same_bars_and_symbols_differ() {
        let symbols = vec!["AAPL".to_string(), "MSFT".to_string()];
        let a = default_set(&symbols);
        let b = default_set(&symbols);
        assert_eq!(a, b);
        assert_eq!(a["AAPL"].len(), DEFAULT_BARS);
        assert_ne!(a["AAPL"][10].close, a["MSFT"][10].close);
    }

    #[test]
    fn bars_are_consistent_weekdays() {
        let bars = series("XYZ", default_start(), 300);
        for bar in &bars {
            assert!(
                bar.low <= bar.open.min(bar.close) && bar.high >= bar.open.max(bar.close),
                "{bar:?}"
            );
            assert!(bar.low > 0.0);
            assert!(!matches!(bar.time.weekday(), Weekday::Sat | Weekday::Sun));
        }
        assert!(bars.windows(2).all(|w| w[0].time < w[1].time));
    }
}
