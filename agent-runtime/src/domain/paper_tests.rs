//! Unit tests of the paper book's accounting (the broker's journal round trip is tested in
//! `tests/journal_support` — `paper_survives_restart`, on SQLite and PostgreSQL).

use std::collections::BTreeMap;

use super::*;

fn settings(commission_bps: f64, slippage_bps: f64) -> PaperSettings {
    PaperSettings {
        starting_cash: 10_000.0,
        commission_bps,
        slippage_bps,
        allow_short: false,
    }
}

fn order(symbol: &str, side: Side, quantity: f64, price: f64) -> OrderRequest {
    OrderRequest {
        client_order_id: format!("{symbol}-{side:?}-{quantity}-{price}"),
        symbol: symbol.into(),
        side,
        quantity,
        reference_price: price,
        lease_epoch: None,
    }
}

fn book(cash: f64) -> PaperBook {
    PaperBook {
        cash,
        ..PaperBook::default()
    }
}

#[test]
fn buy_pays_slippage_and_commission() {
    let mut b = book(10_000.0);
    let fill = b
        .execute(
            &order("AAPL", Side::Buy, 10.0, 100.0),
            &settings(10.0, 50.0),
        )
        .unwrap();
    assert!(
        (fill.price - 100.5).abs() < 1e-12,
        "buy slips up: {}",
        fill.price
    );
    assert!((fill.commission - 1.005).abs() < 1e-12);
    assert!((b.cash - (10_000.0 - 1005.0 - 1.005)).abs() < 1e-9);
    assert_eq!(b.positions["AAPL"].quantity, 10.0);
    assert_eq!(b.mark("AAPL"), Some(100.0));
    // Equity fell by exactly the costs: 5.0 slippage + 1.005 commission.
    assert!((b.equity() - (10_000.0 - 6.005)).abs() < 1e-9);
}

#[test]
fn sell_slips_down_and_closing_clears_the_position() {
    let mut b = book(0.0);
    b.positions.insert(
        "X".into(),
        Position {
            symbol: "X".into(),
            quantity: 2.0,
            average_price: 50.0,
        },
    );
    let fill = b
        .execute(&order("X", Side::Sell, 2.0, 100.0), &settings(0.0, 100.0))
        .unwrap();
    assert!((fill.price - 99.0).abs() < 1e-12);
    assert!((b.cash - 198.0).abs() < 1e-12);
    assert!(b.positions.is_empty());
    assert!(b.marks.is_empty());
}

#[test]
fn long_only_and_cash_limits_reject_without_changing_the_book() {
    let mut b = book(1_000.0);
    let before = b.clone();
    let err = b
        .execute(&order("X", Side::Sell, 1.0, 10.0), &settings(0.0, 0.0))
        .unwrap_err();
    assert!(err.contains("long-only"), "{err}");
    let err = b
        .execute(&order("X", Side::Buy, 100.0, 10.01), &settings(0.0, 0.0))
        .unwrap_err();
    assert!(err.contains("insufficient cash"), "{err}");
    for bad in [0.0, -1.0, f64::NAN] {
        let err = b
            .execute(&order("X", Side::Buy, bad, 10.0), &settings(0.0, 0.0))
            .unwrap_err();
        assert!(
            err.contains("quantity") && err.contains(&bad.to_string()),
            "{err}"
        );
        let err = b
            .execute(&order("X", Side::Buy, 1.0, bad), &settings(0.0, 0.0))
            .unwrap_err();
        assert!(
            err.contains("reference price") && err.contains(&bad.to_string()),
            "{err}"
        );
    }
    assert_eq!(b, before);
    let mut shorting = settings(0.0, 0.0);
    shorting.allow_short = true;
    b.execute(&order("X", Side::Sell, 1.0, 10.0), &shorting)
        .unwrap();
    assert_eq!(b.positions["X"].quantity, -1.0);
}

/// splitmix64: a tiny seeded generator, so every run replays the same sequences.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn equity_is_cash_plus_marked_positions_and_fills_only_cost_their_costs() {
    const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "BTC/USD"];
    for seed in 0..300u64 {
        let mut rng = Rng(seed);
        let settings = settings(rng.unit() * 30.0, rng.unit() * 30.0);
        let mut b = book(settings.starting_cash);
        let mut prices: BTreeMap<&str, f64> = SYMBOLS.iter().map(|s| (*s, 100.0)).collect();
        // An independent ledger of what cash and quantities must be.
        let mut ledger_cash = settings.starting_cash;
        let mut ledger_qty: BTreeMap<&str, f64> = BTreeMap::new();
        for step in 0..200 {
            let symbol = SYMBOLS[rng.below(SYMBOLS.len())];
            let price = prices[symbol] * (1.0 + (rng.unit() - 0.5) * 0.1);
            prices.insert(symbol, price);
            if b.positions.contains_key(symbol) {
                b.marks.insert(symbol.to_string(), price);
            }
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let quantity = 1.0 + rng.below(40) as f64 * 0.5;
            let before = b.clone();
            let equity_before = b.equity();
            match b.execute(&order(symbol, side, quantity, price), &settings) {
                Ok(fill) => {
                    let slippage = quantity * (fill.price - price).abs();
                    let expected = equity_before - fill.commission - slippage;
                    assert!(
                        (b.equity() - expected).abs() < 1e-6,
                        "seed {seed} step {step}: equity {} expected {expected}",
                        b.equity()
                    );
                    let notional = quantity * fill.price;
                    match side {
                        Side::Buy => {
                            ledger_cash -= notional + fill.commission;
                            *ledger_qty.entry(symbol).or_default() += quantity;
                        }
                        Side::Sell => {
                            ledger_cash += notional - fill.commission;
                            *ledger_qty.entry(symbol).or_default() -= quantity;
                        }
                    }
                }
                Err(_) => assert_eq!(
                    b, before,
                    "seed {seed} step {step}: rejection changed the book"
                ),
            }
            let marked: f64 = b
                .positions
                .values()
                .map(|p| p.quantity * b.marks[&p.symbol])
                .sum();
            assert!((b.equity() - (b.cash + marked)).abs() < 1e-9);
            assert!(
                (b.cash - ledger_cash).abs() < 1e-6,
                "seed {seed} step {step}: cash"
            );
            assert!(
                b.cash >= -1e-9,
                "seed {seed} step {step}: cash went negative"
            );
            for s in SYMBOLS {
                let held = b.positions.get(s).map_or(0.0, |p| p.quantity);
                assert!(held >= 0.0, "long-only broken");
                assert!((held - ledger_qty.get(s).copied().unwrap_or(0.0)).abs() < 1e-9);
            }
        }
    }
}

#[test]
fn without_costs_round_trips_at_the_same_price_return_the_starting_cash() {
    let mut rng = Rng(42);
    let mut b = book(50_000.0);
    let free = settings(0.0, 0.0);
    for _ in 0..1_000 {
        let q = 1.0 + rng.below(10) as f64;
        let p = 10.0 + rng.unit() * 100.0;
        b.execute(&order("X", Side::Buy, q, p), &free).unwrap();
        b.execute(&order("X", Side::Sell, q, p), &free).unwrap();
    }
    assert!((b.cash - 50_000.0).abs() < 1e-6);
    assert!(b.positions.is_empty());
}
