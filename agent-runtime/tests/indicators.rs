//! Indicators against reference values worked out independently: by hand on small series
//! (the arithmetic is in the comments) and, for RSI, the published StockCharts example of
//! Wilder's RSI(14), whose spreadsheet rounds intermediate values (hence the 0.1 tolerance).

use agent_runtime::indicators::{
    atr, bollinger, ema, last, macd, previous, rsi, sma, true_range, z_score,
};

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn sma_averages_the_window() {
    assert_eq!(
        sma(&[1.0, 2.0, 3.0, 4.0, 5.0], 2),
        [None, Some(1.5), Some(2.5), Some(3.5), Some(4.5)]
    );
    assert_eq!(sma(&[1.0, 2.0], 3), [None, None]);
}

#[test]
fn ema_is_seeded_with_the_sma_and_uses_alpha_two_over_n_plus_one() {
    // period 3 → alpha 0.5; seed (10+11+12)/3 = 11; then 11+.5(10-11)=10.5; 10.5+.5(9-10.5)=9.75;
    // 9.75+.5(15-9.75)=12.375.
    let values = ema(&[10.0, 11.0, 12.0, 10.0, 9.0, 15.0], 3);
    assert_eq!(
        values,
        [None, None, Some(11.0), Some(10.5), Some(9.75), Some(12.375)]
    );
}

#[test]
fn rsi_matches_the_stockcharts_wilder_example() {
    let closes = [
        44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61,
        46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35,
        44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13,
    ];
    let published = [
        70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
        41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
    ];
    let series = rsi(&closes, 14);
    assert!(series[..14].iter().all(Option::is_none));
    for (i, want) in published.iter().enumerate() {
        let got = series[14 + i].unwrap();
        assert!(
            close(got, *want, 0.1),
            "RSI at {}: got {got}, want {want}",
            14 + i
        );
    }
}

#[test]
fn rsi_extremes() {
    let up: Vec<f64> = (0..20).map(f64::from).collect();
    assert_eq!(last(&rsi(&up, 14)), Some(100.0));
    assert_eq!(last(&rsi(&[5.0; 20], 14)), Some(50.0));
    let down: Vec<f64> = (0..20).map(|i| 100.0 - f64::from(i)).collect();
    assert_eq!(last(&rsi(&down, 14)), Some(0.0));
}

#[test]
fn macd_by_hand() {
    // fast 2 (alpha 2/3), slow 3 (alpha 1/2), signal 2 on 1, 2, 4, 7, 11:
    // EMA2 = _, 3/2, 19/6, 103/18, 499/54; EMA3 = _, _, 7/3, 14/3, 47/6;
    // MACD = 5/6, 19/18, 76/54; signal = seed (5/6+19/18)/2 = 17/18, then 17/18 + 2/3(76/54 − 17/18)
    // = 203/162; histogram = 76/54 − 203/162 = 25/162.
    let series = macd(&[1.0, 2.0, 4.0, 7.0, 11.0], 2, 3, 2);
    assert!(series[..3].iter().all(Option::is_none));
    let at3 = series[3].unwrap();
    assert!(close(at3.macd, 19.0 / 18.0, 1e-12) && close(at3.signal, 17.0 / 18.0, 1e-12));
    let at4 = series[4].unwrap();
    assert!(close(at4.macd, 76.0 / 54.0, 1e-12), "{at4:?}");
    assert!(close(at4.signal, 203.0 / 162.0, 1e-12), "{at4:?}");
    assert!(close(at4.histogram, 25.0 / 162.0, 1e-12), "{at4:?}");
}

#[test]
fn bollinger_and_z_score_on_the_textbook_deviation_example() {
    // 2 4 4 4 5 5 7 9: mean 5, population standard deviation 2.
    let values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
    let bands = last(&bollinger(&values, 8, 2.0)).unwrap();
    assert!(
        close(bands.middle, 5.0, 1e-12)
            && close(bands.lower, 1.0, 1e-12)
            && close(bands.upper, 9.0, 1e-12)
    );
    assert!(close(last(&z_score(&values, 8)).unwrap(), 2.0, 1e-12));
    assert_eq!(last(&z_score(&[3.0; 5], 5)), Some(0.0));
}

#[test]
fn atr_uses_gaps_and_wilder_smoothing() {
    // H/L/C: (10,8,9) (11,9,10.5) (12,10,10) (14,13,13.5) (10,9,9.5)
    // TR: 2; max(2,|11-9|,|9-9|)=2; max(2,1.5,.5)=2; gap up max(1,|14-10|,|13-10|)=4;
    // gap down max(1,|10-13.5|,|9-13.5|)=4.5.
    let highs = [10.0, 11.0, 12.0, 14.0, 10.0];
    let lows = [8.0, 9.0, 10.0, 13.0, 9.0];
    let closes = [9.0, 10.5, 10.0, 13.5, 9.5];
    assert_eq!(
        true_range(&highs, &lows, &closes),
        [2.0, 2.0, 2.0, 4.0, 4.5]
    );
    // period 2: seed (2+2)/2 = 2; 2+.5(2-2) = 2; 2+.5(4-2) = 3; 3+.5(4.5-3) = 3.75.
    let series = atr(&highs, &lows, &closes, 2);
    assert_eq!(series, [None, Some(2.0), Some(2.0), Some(3.0), Some(3.75)]);
    assert_eq!(previous(&series), Some(3.0));
}

/// A deterministic wiggly series with a trend, for comparing rolling states with series.
fn wiggle(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 100.0 + 0.05 * i as f64 + 3.0 * ((i as f64) * 0.37).sin() + ((i * 7) % 5) as f64)
        .collect()
}

#[test]
fn rolling_states_agree_with_the_series_bar_by_bar() {
    use agent_runtime::indicators::rolling::{Atr, MacdState, RollingStats, Rsi, Sma, Smoothed};
    let closes = wiggle(400);
    let highs: Vec<f64> = closes.iter().map(|c| c + 1.5).collect();
    let lows: Vec<f64> = closes.iter().map(|c| c - 1.0).collect();
    use agent_runtime::indicators::{rolling_std, wilder};
    let (sma20, ema12, wilder14) = (sma(&closes, 20), ema(&closes, 12), wilder(&closes, 14));
    let (rsi14, macd_series) = (rsi(&closes, 14), macd(&closes, 12, 26, 9));
    let (atr14, std20) = (atr(&highs, &lows, &closes, 14), rolling_std(&closes, 20));
    let (mut s, mut e, mut w) = (Sma::new(20), Smoothed::ema(12), Smoothed::wilder(14));
    let (mut r, mut m, mut a, mut st) = (
        Rsi::new(14),
        MacdState::new(12, 26, 9),
        Atr::new(14),
        RollingStats::new(20),
    );
    for i in 0..closes.len() {
        let c = closes[i];
        // Sums taken in the same order: exactly equal.
        assert_eq!(s.update(c), sma20[i], "sma at {i}");
        assert_eq!(e.update(c), ema12[i], "ema at {i}");
        assert_eq!(w.update(c), wilder14[i], "wilder at {i}");
        assert_eq!(r.update(c), rsi14[i], "rsi at {i}");
        assert_eq!(m.update(c), macd_series[i], "macd at {i}");
        assert_eq!(a.update(highs[i], lows[i], c), atr14[i], "atr at {i}");
        // Shifted sums: equal to rounding.
        let rolling = st.update(c).map(|(_, std)| std);
        match (rolling, std20[i]) {
            (Some(x), Some(y)) => assert!((x - y).abs() < 1e-9, "std at {i}: {x} vs {y}"),
            (x, y) => assert_eq!(x.is_some(), y.is_some(), "std at {i}"),
        }
    }
}
