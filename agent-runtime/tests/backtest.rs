//! `agent-runtime backtest`: the live pipeline against the simulated broker, held to an
//! independent reference implementation of a moving-average crossover, to a look-ahead trap,
//! and to refusing bad input and any broker but the simulated one.

#![allow(clippy::expect_used)] // helpers outside #[test] fns set up fixtures; a failure there is a test failure

use std::path::{Path, PathBuf};

use agent_runtime::backtest::{self, BacktestError, Overrides, SettingsError, Summary};
use agent_runtime::config::RuntimeConfig;
use agent_runtime::cycle::backtest::FillModel;
use agent_runtime::domain::{Fill, Side};
use chrono::{Duration, NaiveDate};

/// One daily bar: (open, high, low, close).
type Ohlc = (f64, f64, f64, f64);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tp-backtest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write_csv(dir: &Path, symbol: &str, bars: &[Ohlc]) -> PathBuf {
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    let mut text = String::from("date,open,high,low,close,volume\n");
    for (i, (o, h, l, c)) in bars.iter().enumerate() {
        let day = start + Duration::days(i as i64);
        text.push_str(&format!("{day},{o},{h},{l},{c},1000\n"));
    }
    let path = dir.join(format!("{symbol}.csv"));
    std::fs::write(&path, text).expect("write csv");
    path
}

/// A pure crossover: one trend seat whose confidence is always 1, no band, no risk limits.
fn crossover_config(fast: u32, slow: u32) -> RuntimeConfig {
    let yaml = format!(
        "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {{namespace: test, name: crossover}}
symbols: [SPY]
analysts:
  - role: trend
    kind: quant
    method: trend
    params: {{fastPeriod: {fast}, slowPeriod: {slow}, neutralBand: 0, baseConfidence: 1,
             spreadGain: 0, crossoverBonus: 0}}
decision: {{minConfidence: 0.5, targetPositionFraction: 0.95}}
broker: {{kind: paper, startingCash: 100000, commissionBps: 5, slippageBps: 3}}
"
    );
    RuntimeConfig::parse(&yaml, Path::new("crossover.yaml")).expect("config")
}

/// A deterministic random walk with overnight gaps, so next-open and close fills differ.
fn walk(n: usize) -> Vec<Ohlc> {
    let mut seed = 42u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let mut close = 100.0_f64;
    (0..n)
        .map(|_| {
            let open = ((close * (1.0 + 0.01 * next())) * 100.0).round() / 100.0;
            close = ((open * (1.0 + 0.03 * next())) * 100.0).round() / 100.0;
            (open, open.max(close) + 0.5, open.min(close) - 0.5, close)
        })
        .collect()
}

fn overrides(data: &Path, fill: FillModel) -> Overrides {
    Overrides {
        data: Some(data.to_path_buf()),
        fill,
        ..Overrides::default()
    }
}

fn run(
    config: &RuntimeConfig,
    overrides: &Overrides,
) -> Result<(Summary, Vec<Fill>), BacktestError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut fills = Vec::new();
    let summary = runtime.block_on(backtest::run_observed(config, overrides, &mut |f| {
        fills.push(f.clone())
    }))?;
    Ok((summary, fills))
}

/// A trade of the reference: bar index it filled at, side, quantity, price.
#[derive(Debug, PartialEq)]
struct RefFill {
    bar: usize,
    side: Side,
    quantity: f64,
    price: f64,
}

fn whole(units: f64) -> f64 {
    (units + 1e-9).floor().max(0.0)
}

/// The crossover's rules written out plainly over the whole series (no rolling state, no
/// pipeline): long while SMA(fast) > SMA(slow) at a bar's close, flat otherwise; a buy
/// targets 95% of equity in whole shares (topped up only below 80% of target), capped by
/// cash; fills at that close or the next open, slippage against the trader, commission on
/// notional, a buy the cash cannot pay for refused. Returns the fills and final equity.
fn reference(bars: &[Ohlc], fast: usize, slow: usize, fill: FillModel) -> (Vec<RefFill>, f64) {
    let (commission, slip) = (5.0 / 10_000.0, 3.0 / 10_000.0);
    let sma = |i: usize, n: usize| bars[i + 1 - n..=i].iter().map(|b| b.3).sum::<f64>() / n as f64;
    let (mut cash, mut held) = (100_000.0_f64, 0.0_f64);
    let mut fills = Vec::new();
    let mut waiting: Option<(Side, f64)> = None;
    for (i, bar) in bars.iter().enumerate() {
        if let Some((side, quantity)) = waiting.take() {
            execute(
                &mut cash,
                &mut held,
                &mut fills,
                i,
                side,
                quantity,
                bar.0,
                (commission, slip),
            );
        }
        if i + 1 < slow {
            continue;
        }
        let close = bar.3;
        let equity = cash + held * close;
        let order = if sma(i, fast) > sma(i, slow) {
            let target = whole(0.95 * equity / close);
            let quantity = whole(target - held).min(whole(cash / close));
            (target > 0.0 && held < target * 0.8 && quantity > 0.0).then_some((Side::Buy, quantity))
        } else {
            (held > 0.0).then_some((Side::Sell, held))
        };
        match (order, fill) {
            (Some((side, q)), FillModel::Close) => execute(
                &mut cash,
                &mut held,
                &mut fills,
                i,
                side,
                q,
                close,
                (commission, slip),
            ),
            (Some(order), FillModel::NextOpen) => waiting = Some(order),
            (None, _) => {}
        }
    }
    let last = bars.last().map_or(0.0, |b| b.3);
    (fills, cash + held * last)
}

#[allow(clippy::too_many_arguments)]
fn execute(
    cash: &mut f64,
    held: &mut f64,
    fills: &mut Vec<RefFill>,
    bar: usize,
    side: Side,
    quantity: f64,
    reference: f64,
    (commission, slip): (f64, f64),
) {
    let price = match side {
        Side::Buy => reference * (1.0 + slip),
        Side::Sell => reference * (1.0 - slip),
    };
    let notional = price * quantity;
    let fee = notional * commission;
    match side {
        Side::Buy if notional + fee > *cash + 1e-9 => return,
        Side::Buy => {
            *cash -= notional + fee;
            *held += quantity;
        }
        Side::Sell => {
            *cash += notional - fee;
            *held -= quantity;
        }
    }
    fills.push(RefFill {
        bar,
        side,
        quantity,
        price,
    });
}

#[test]
fn a_crossover_trades_as_the_reference_does_under_both_fill_models() {
    let bars = walk(600);
    let dir = temp_dir("crossover");
    let data = write_csv(&dir, "SPY", &bars);
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    for fill in [FillModel::Close, FillModel::NextOpen] {
        let (fast, slow) = (10, 30);
        let (summary, fills) =
            run(&crossover_config(fast, slow), &overrides(&data, fill)).expect("backtest");
        let (expected, final_equity) = reference(&bars, fast as usize, slow as usize, fill);
        let actual: Vec<RefFill> = fills
            .iter()
            .map(|f| RefFill {
                bar: (f.time.date_naive() - start).num_days() as usize,
                side: f.side,
                quantity: f.quantity,
                price: f.price,
            })
            .collect();
        assert!(
            expected.len() >= 10,
            "{fill:?}: the walk should cross often: {expected:?}"
        );
        assert_eq!(actual.len(), expected.len(), "{fill:?}");
        for (a, e) in actual.iter().zip(&expected) {
            assert_eq!(
                (a.bar, a.side, a.quantity),
                (e.bar, e.side, e.quantity),
                "{fill:?}"
            );
            assert!((a.price - e.price).abs() < 1e-9, "{fill:?}: {a:?} vs {e:?}");
        }
        assert!(
            (summary.final_equity - final_equity).abs() < 0.005,
            "{fill:?}: final equity {} vs reference {final_equity}",
            summary.final_equity
        );
        assert_eq!(summary.bars, 600);
    }
}

/// Bars that alternate up and down, each opening at the last close: a strategy that buys
/// after an up bar loses every time — unless it can see the bar it is about to hold.
fn alternating(n: usize) -> Vec<Ohlc> {
    let mut close = 100.0_f64;
    (0..n)
        .map(|i| {
            let open = close;
            close = if i % 2 == 0 { open * 1.02 } else { open / 1.02 };
            (open, open.max(close), open.min(close), close)
        })
        .collect()
}

#[test]
fn the_look_ahead_trap_catches_nothing() {
    let bars = alternating(300);
    // What knowing the next bar would earn: holding exactly the up bars.
    let clairvoyant: f64 = bars
        .iter()
        .filter(|b| b.3 > b.0)
        .map(|b| b.3 / b.0)
        .product();
    assert!(
        clairvoyant > 10.0,
        "the trap is armed: the future is worth {clairvoyant}×"
    );
    let dir = temp_dir("lookahead");
    let data = write_csv(&dir, "SPY", &bars);
    // SMA(1) above SMA(2) exactly when the latest bar closed up.
    for fill in [FillModel::Close, FillModel::NextOpen] {
        let (summary, fills) =
            run(&crossover_config(1, 2), &overrides(&data, fill)).expect("backtest");
        assert!(summary.trades >= 100, "{fill:?}: {summary:?}");
        assert_eq!(
            summary.win_rate,
            Some(0.0),
            "{fill:?}: no trade may win: {summary:?}"
        );
        assert!(summary.final_equity < 100_000.0, "{fill:?}: {summary:?}");
        assert!(fills.iter().all(|f| f.quantity > 0.0));
    }
}

#[test]
fn a_bad_row_is_refused_naming_its_line() {
    let dir = temp_dir("badrow");
    let mut bars = walk(80);
    bars[40].3 = f64::NAN;
    let data = write_csv(&dir, "SPY", &bars);
    let text = std::fs::read_to_string(&data)
        .expect("csv")
        .replace("NaN", "oops");
    std::fs::write(&data, text).expect("csv");
    let err = run(
        &crossover_config(10, 30),
        &overrides(&data, FillModel::NextOpen),
    )
    .expect_err("a bad row")
    .to_string();
    // Line 1 is the header; bar 40 is on line 42.
    assert!(
        err.contains("SPY.csv line 42") && err.contains("close \"oops\""),
        "{err}"
    );
}

#[test]
fn a_gap_in_daily_bars_is_refused_naming_its_line_unless_allowed() {
    let dir = temp_dir("gap");
    let data = write_csv(&dir, "SPY", &walk(80));
    let text = std::fs::read_to_string(&data).expect("csv");
    let lines: Vec<&str> = text.lines().collect();
    // Drop ten days after line 50: line 51 of the new file follows a 11-day gap.
    let gapped = [&lines[..50], &lines[60..]].concat().join("\n");
    std::fs::write(&data, gapped).expect("csv");
    let err = run(
        &crossover_config(10, 30),
        &overrides(&data, FillModel::Close),
    )
    .expect_err("a gap")
    .to_string();
    assert!(
        err.contains("SPY.csv line 51") && err.contains("gap"),
        "{err}"
    );
    let allowed = Overrides {
        allow_gaps: true,
        ..overrides(&data, FillModel::Close)
    };
    let (summary, _) = run(&crossover_config(10, 30), &allowed).expect("gaps allowed");
    assert_eq!(summary.bars, 70);
}

#[test]
fn a_backtest_never_reaches_a_real_broker() {
    let dir = temp_dir("alpaca");
    let data = write_csv(&dir, "SPY", &walk(40));
    let yaml = "apiVersion: runtime.tradeplane.io/v1alpha1
identity: {namespace: test, name: live}
symbols: [SPY]
analysts: [{role: trend, kind: quant, method: trend}]
broker: {kind: alpaca, baseUrl: 'https://paper-api.alpaca.markets',
         keyIdFile: /nonexistent/key, secretKeyFile: /nonexistent/secret}
";
    let config = RuntimeConfig::parse(yaml, Path::new("live.yaml")).expect("config");
    let err = run(&config, &overrides(&data, FillModel::Close)).expect_err("refused");
    assert!(
        matches!(
            err,
            BacktestError::Settings(SettingsError::NotSimulated { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("broker.kind: "), "{err}");
}

#[test]
fn execution_settings_are_checked_naming_the_field() {
    let dir = temp_dir("settings");
    let data = write_csv(&dir, "SPY", &walk(40));
    let bad = Overrides {
        slippage_bps: Some(-1.0),
        ..overrides(&data, FillModel::Close)
    };
    let err = run(&crossover_config(10, 30), &bad)
        .expect_err("negative slippage")
        .to_string();
    assert!(err.starts_with("--slippage-bps: "), "{err}");
    let no_cash = Overrides {
        cash: Some(0.0),
        ..overrides(&data, FillModel::Close)
    };
    let err = run(&crossover_config(10, 30), &no_cash)
        .expect_err("no cash")
        .to_string();
    assert!(err.starts_with("--cash: "), "{err}");
    let mut config = crossover_config(10, 30);
    config.symbols = vec!["QQQ".into()];
    let err = run(&config, &overrides(&data, FillModel::Close))
        .expect_err("no bars")
        .to_string();
    assert!(err.contains("QQQ"), "{err}");
}

#[test]
fn quant_params_are_validated_naming_the_field() {
    let mut config = crossover_config(10, 30);
    if let agent_runtime::config::AnalystKind::Quant { params, .. } = &mut config.analysts[0].kind {
        params.slow_period = 5;
    }
    let errors = config.validate().expect_err("fast above slow");
    assert!(
        errors
            .iter()
            .any(|e| e.path == "analysts[0].params.slowPeriod"),
        "{errors:?}"
    );
}
