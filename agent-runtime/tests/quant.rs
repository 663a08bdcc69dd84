//! Quant analysts on series whose right answer is obvious by construction.

use agent_runtime::agents::Snapshot;
use agent_runtime::agents::quant::{analyze, quant_analyst, quiet_quant_analyst};
use agent_runtime::config::QuantMethod;
use agent_runtime::domain::{Bar, Signal};
use chrono::{Duration, TimeZone, Utc};

/// Bars with the given closes; high/low a fixed `range` around the close.
fn bars(closes: &[f64], range: f64) -> Snapshot {
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let bars = closes
        .iter()
        .enumerate()
        .map(|(i, c)| Bar {
            symbol: "T".into(),
            time: start + Duration::days(i as i64),
            open: *c,
            high: c + range,
            low: c - range,
            close: *c,
            volume: 1.0,
        })
        .collect();
    Snapshot {
        symbol: "T".into(),
        bars,
        position: None,
    }
}

fn ramp(from: f64, step: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| from + step * i as f64).collect()
}

#[test]
fn trend_follows_the_moving_averages() {
    let up = analyze(
        "trend",
        QuantMethod::Trend,
        &bars(&ramp(100.0, 0.5, 80), 0.5),
    );
    assert_eq!(up.signal, Signal::Bullish);
    // SMA20 of the last 20 = 100 + .5 × 69.5 = 134.75; SMA50 = 100 + .5 × 54.5 = 127.25;
    // spread 5.9% → 0.4 + 20 × 0.059 > 1 → capped at 1.
    assert_eq!(up.confidence, 1.0);
    assert_eq!(up.source, "quant:trend".into());
    let down = analyze(
        "trend",
        QuantMethod::Trend,
        &bars(&ramp(200.0, -0.5, 80), 0.5),
    );
    assert_eq!(down.signal, Signal::Bearish);
    let flat = analyze("trend", QuantMethod::Trend, &bars(&[100.0; 80], 0.5));
    assert_eq!(flat.signal, Signal::Neutral);
}

#[test]
fn too_little_history_is_neutral_with_zero_confidence() {
    for method in [
        QuantMethod::Trend,
        QuantMethod::Momentum,
        QuantMethod::MeanReversion,
        QuantMethod::Volatility,
    ] {
        let report = analyze("x", method, &bars(&ramp(100.0, 1.0, 10), 0.5));
        assert_eq!(
            (report.signal, report.confidence),
            (Signal::Neutral, 0.0),
            "{method:?}: {report:?}"
        );
        assert!(report.rationale.contains("not enough history"));
    }
}

#[test]
fn momentum_reads_rsi_and_macd() {
    // A zigzag that rises on balance: RSI between 50 and 70, MACD histogram positive as the
    // rise accelerates.
    let mut closes: Vec<f64> = (0..60)
        .map(|i| 100.0 + if i % 2 == 0 { 0.0 } else { 0.6 })
        .collect();
    closes.extend((0..20).map(|i| 100.0 + 0.3 * i as f64 + if i % 2 == 0 { 0.0 } else { 0.5 }));
    let report = analyze("momentum", QuantMethod::Momentum, &bars(&closes, 0.5));
    assert_eq!(report.signal, Signal::Bullish, "{report:?}");
    // A mirror image falls.
    let mirrored: Vec<f64> = closes.iter().map(|c| 300.0 - c).collect();
    let report = analyze("momentum", QuantMethod::Momentum, &bars(&mirrored, 0.5));
    assert_eq!(report.signal, Signal::Bearish, "{report:?}");
}

#[test]
fn momentum_damps_an_overbought_market() {
    // Accelerating: every move up (RSI 100), the fast EMA pulling away (histogram > 0).
    let accelerating: Vec<f64> = (0..80).map(|i| 100.0 + 0.02 * f64::from(i * i)).collect();
    let report = analyze("momentum", QuantMethod::Momentum, &bars(&accelerating, 0.5));
    // Score (0.5 + 0.5) halved as overbought → 0.5.
    assert_eq!(report.signal, Signal::Bullish);
    assert!((report.confidence - 0.5).abs() < 1e-12, "{report:?}");
    assert!(report.rationale.contains("overbought"));
}

#[test]
fn mean_reversion_buys_a_drop_and_sells_a_spike() {
    let mut closes: Vec<f64> = (0..40)
        .map(|i| 100.0 + if i % 2 == 0 { -1.0 } else { 1.0 })
        .collect();
    let mut drop = closes.clone();
    drop.push(94.0);
    let report = analyze("mr", QuantMethod::MeanReversion, &bars(&drop, 0.5));
    assert_eq!(report.signal, Signal::Bullish, "{report:?}");
    assert!(report.confidence > 0.5, "{report:?}");
    closes.push(106.0);
    let report = analyze("mr", QuantMethod::MeanReversion, &bars(&closes, 0.5));
    assert_eq!(report.signal, Signal::Bearish, "{report:?}");
    let mut quiet: Vec<f64> = (0..40)
        .map(|i| 100.0 + if i % 2 == 0 { -1.0 } else { 1.0 })
        .collect();
    quiet.push(100.0);
    assert_eq!(
        analyze("mr", QuantMethod::MeanReversion, &bars(&quiet, 0.5)).signal,
        Signal::Neutral
    );
}

#[test]
fn volatility_is_calm_when_ranges_are_steady_and_low_when_they_blow_out() {
    let steady = analyze("vol", QuantMethod::Volatility, &bars(&[100.0; 80], 1.0));
    assert_eq!(steady.signal, Signal::Neutral);
    assert!((steady.confidence - 1.0).abs() < 1e-9, "{steady:?}");
    let mut snapshot = bars(&[100.0; 80], 1.0);
    for bar in snapshot.bars.iter_mut().skip(70) {
        bar.high = 106.0;
        bar.low = 94.0;
    }
    let turbulent = analyze("vol", QuantMethod::Volatility, &snapshot);
    assert_eq!(
        turbulent.signal,
        Signal::Neutral,
        "volatility never picks a side"
    );
    assert!(turbulent.confidence < 0.2, "{turbulent:?}");
    assert!(turbulent.rationale.contains("turbulent"));
}

#[tokio::test]
async fn the_boxed_analyst_reports_under_its_seat() {
    let analyst = quant_analyst("technical", QuantMethod::Trend);
    assert_eq!(analyst.role(), "technical");
    let report = analyst.analyze(&bars(&ramp(100.0, 0.5, 80), 0.5)).await;
    assert_eq!(
        (report.role.as_ref(), report.signal),
        ("technical", Signal::Bullish)
    );
}

#[tokio::test]
async fn a_seat_fed_bar_by_bar_reports_what_a_fresh_analysis_of_the_window_does() {
    // The rolling state only ever sees the new bars; the one-off analysis recomputes from
    // the window. For sums and windows they agree; the EMAs of momentum are seeded where the
    // seat's history began, so that method is compared from one shared start.
    let closes: Vec<f64> = (0..300)
        .map(|i| 100.0 + 10.0 * ((i as f64) * 0.11).sin() + 0.03 * i as f64)
        .collect();
    let all = bars(&closes, 0.8);
    for method in [
        QuantMethod::Trend,
        QuantMethod::Momentum,
        QuantMethod::MeanReversion,
        QuantMethod::Volatility,
    ] {
        let seat = quant_analyst("seat", method);
        for end in 1..=all.bars.len() {
            let window = Snapshot {
                bars: all.bars[end.saturating_sub(60)..end].to_vec().into(),
                ..all.clone()
            };
            let incremental = seat.analyze(&window).await;
            let from_start = Snapshot {
                bars: all.bars[..end].to_vec().into(),
                ..all.clone()
            };
            let fresh = analyze("seat", method, &from_start);
            assert_eq!(incremental.signal, fresh.signal, "{method:?} at {end}");
            assert!(
                (incremental.confidence - fresh.confidence).abs() < 1e-9,
                "{method:?} at {end}: {incremental:?} vs {fresh:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_quiet_seat_reports_the_same_signal_and_confidence_without_the_text() {
    // A backtest's seats are quiet (their journal keeps no decisions): only the rationale
    // may differ, bar by bar, from a seat that explains itself.
    let closes: Vec<f64> = (0..200)
        .map(|i| 100.0 + 12.0 * ((i as f64) * 0.09).sin() + 0.02 * i as f64)
        .collect();
    let all = bars(&closes, 0.7);
    for method in [
        QuantMethod::Trend,
        QuantMethod::Momentum,
        QuantMethod::MeanReversion,
        QuantMethod::Volatility,
    ] {
        let (loud, quiet) = (
            quant_analyst("seat", method),
            quiet_quant_analyst("seat", method, Default::default()),
        );
        for end in 1..=all.bars.len() {
            let window = Snapshot {
                bars: all.bars[end.saturating_sub(60)..end].to_vec().into(),
                ..all.clone()
            };
            let (said, kept) = (loud.analyze(&window).await, quiet.analyze(&window).await);
            assert!(!said.rationale.is_empty(), "{method:?} at {end}");
            assert_eq!(kept.rationale, "", "{method:?} at {end}");
            assert_eq!(
                (
                    kept.role,
                    kept.source,
                    kept.signal,
                    kept.confidence.to_bits()
                ),
                (
                    said.role,
                    said.source,
                    said.signal,
                    said.confidence.to_bits()
                ),
                "{method:?} at {end}"
            );
        }
    }
}
