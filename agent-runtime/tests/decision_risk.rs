//! The portfolio manager's weighing and sizing, and every rule of the risk manager.

use agent_runtime::config::{
    AnalystConfig, AnalystKind, DecisionConfig, QuantMethod, RiskConfig, TradingState,
};
use agent_runtime::decision::{DecisionInput, PortfolioManager, round_down_to_lot};
use agent_runtime::domain::{Action, AnalystReport, Decision, Side, Signal};
use agent_runtime::risk::{Exposure, Intent, RejectReason, RiskManager, RiskOutcome, Trip};
use chrono::{DateTime, TimeZone, Utc};

fn report(role: &str, signal: Signal, confidence: f64) -> AnalystReport {
    AnalystReport {
        role: role.into(),
        source: format!("quant:{role}").into(),
        signal,
        confidence,
        rationale: String::new(),
        usage: None,
    }
}

fn calm(confidence: f64) -> AnalystReport {
    AnalystReport {
        source: "quant:volatility".into(),
        ..report("volatility", Signal::Neutral, confidence)
    }
}

fn seat(role: &str, weight: f64) -> AnalystConfig {
    AnalystConfig {
        role: role.into(),
        kind: AnalystKind::Quant {
            method: QuantMethod::Trend,
            params: Default::default(),
        },
        weight,
    }
}

fn manager(min_confidence: f64) -> PortfolioManager {
    let config = DecisionConfig {
        debate_rounds: 0,
        min_confidence,
        target_position_fraction: 0.5,
    };
    PortfolioManager::new(
        &config,
        &[
            seat("trend", 2.0),
            seat("momentum", 1.0),
            seat("meanReversion", 1.0),
        ],
    )
}

fn decide(
    pm: &PortfolioManager,
    reports: &[AnalystReport],
    held: f64,
    debate: Option<&AnalystReport>,
) -> Decision {
    pm.decide(&DecisionInput {
        symbol: "AAPL",
        price: 100.0,
        equity: 100_000.0,
        position_quantity: held,
        reports,
        debate,
    })
}

#[test]
fn unanimous_bulls_buy_sized_by_confidence() {
    let reports = [
        report("trend", Signal::Bullish, 0.8),
        report("momentum", Signal::Bullish, 0.5),
    ];
    let d = decide(&manager(0.3), &reports, 0.0, None);
    // agreement 1; strength (2×0.8 + 1×0.5) / 3 = 0.7; size 0.5 × 100000 × 0.7 / 100 = 350.
    assert_eq!(d.action, Action::Buy);
    assert!((d.confidence - 0.7).abs() < 1e-12, "{}", d.confidence);
    assert_eq!(d.target_quantity, 350.0);
    assert_eq!(d.reports.len(), 2);
}

#[test]
fn disagreement_and_weights_lower_confidence_to_a_hold() {
    // net (2×0.6 − 1×0.9) = 0.3 over spoken 2.1 → agreement 1/7; strength 0.6 → 0.0857 < 0.3.
    let reports = [
        report("trend", Signal::Bullish, 0.6),
        report("momentum", Signal::Bearish, 0.9),
    ];
    let d = decide(&manager(0.3), &reports, 10.0, None);
    assert_eq!(d.action, Action::Hold);
    assert_eq!(d.target_quantity, 10.0, "a hold keeps the position");
    assert!((d.confidence - 0.6 / 7.0).abs() < 1e-12, "{}", d.confidence);
}

#[test]
fn zero_confidence_reports_abstain_and_turbulence_halves_at_most() {
    let reports = [
        report("trend", Signal::Bullish, 0.8),
        report("meanReversion", Signal::Neutral, 0.0),
        calm(0.0),
    ];
    let d = decide(&manager(0.1), &reports, 0.0, None);
    // agreement 1 (the neutral abstains), strength 0.8, volatility scale 0.5 → 0.4.
    assert!((d.confidence - 0.4).abs() < 1e-12, "{}", d.confidence);
    assert_eq!(d.target_quantity, 200.0);
}

#[test]
fn bearish_closes_a_long_and_holds_when_flat() {
    let reports = [report("trend", Signal::Bearish, 0.9)];
    let pm = manager(0.3);
    let d = decide(&pm, &reports, 40.0, None);
    assert_eq!((d.action, d.target_quantity), (Action::Sell, 0.0));
    assert_eq!(decide(&pm, &reports, 0.0, None).action, Action::Hold);
}

#[test]
fn near_target_positions_do_not_churn() {
    let reports = [
        report("trend", Signal::Bullish, 0.8),
        report("momentum", Signal::Bullish, 0.5),
    ];
    let pm = manager(0.3);
    assert_eq!(
        decide(&pm, &reports, 300.0, None).action,
        Action::Hold,
        "300 ≥ 350 × 0.8"
    );
    assert_eq!(decide(&pm, &reports, 250.0, None).action, Action::Buy);
}

#[test]
fn a_debate_verdict_is_half_the_call() {
    let reports = [report("trend", Signal::Bullish, 0.6)];
    let debate = AnalystReport {
        source: "debate".into(),
        ..report("debate", Signal::Bearish, 1.0)
    };
    // agreement 0.5×1 + 0.5×(−1) = 0 → neutral hold.
    let d = decide(&manager(0.1), &reports, 0.0, Some(&debate));
    assert_eq!(d.action, Action::Hold);
    assert_eq!(
        d.reports.len(),
        2,
        "the debate is journalled with the reports"
    );
}

#[test]
fn lots_round_down() {
    assert_eq!(round_down_to_lot(12.999, 1.0), 12.0);
    assert_eq!(round_down_to_lot(0.00039, 0.0001), 0.0003);
    assert_eq!(round_down_to_lot(f64::NAN, 1.0), 0.0);
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 15, 0, 0).unwrap()
}

fn buy(target: f64) -> Decision {
    Decision {
        symbol: "AAPL".into(),
        action: Action::Buy,
        target_quantity: target,
        confidence: 0.9,
        rationale: String::new(),
        reports: vec![],
    }
}

fn sell() -> Decision {
    Decision {
        action: Action::Sell,
        target_quantity: 0.0,
        ..buy(0.0)
    }
}

fn exposure(quantity: f64, average_price: f64) -> Exposure {
    Exposure {
        price: 100.0,
        cash: 1_000_000.0,
        quantity,
        average_price,
    }
}

fn approved(outcome: RiskOutcome) -> agent_runtime::risk::ApprovedOrder {
    match outcome {
        RiskOutcome::Approved(order) => order,
        other => panic!("expected approval, got {other:?}"),
    }
}

fn rejected(outcome: RiskOutcome) -> RejectReason {
    match outcome {
        RiskOutcome::Rejected(r) => r.reason,
        other => panic!("expected rejection, got {other:?}"),
    }
}

#[test]
fn buys_are_clipped_to_order_then_position_then_cash() {
    let config = RiskConfig {
        max_order_notional: Some(5_000.0),
        max_position_notional: Some(8_000.0),
        ..RiskConfig::default()
    };
    let mut risk = RiskManager::new(&config, TradingState::Active);
    let order = approved(risk.review(now(), &buy(100.0), &exposure(0.0, 0.0)));
    assert_eq!((order.side, order.quantity), (Side::Buy, 50.0));
    assert_eq!(order.clips[0].reason, RejectReason::OrderNotional);
    // Holding 60 (6000): headroom 2000 → 20 units.
    let order = approved(risk.review(now(), &buy(100.0), &exposure(60.0, 100.0)));
    assert_eq!(order.quantity, 20.0);
    assert_eq!(
        order.clips.last().unwrap().reason,
        RejectReason::PositionNotional
    );
    // At the position limit: nothing left, rejected with the position reason.
    assert_eq!(
        rejected(risk.review(now(), &buy(100.0), &exposure(80.0, 100.0))),
        RejectReason::PositionNotional
    );
    // Cash 1234 → 12 units.
    let poor = Exposure {
        cash: 1_234.0,
        ..exposure(0.0, 0.0)
    };
    let order = approved(risk.review(now(), &buy(30.0), &poor));
    assert_eq!(order.quantity, 12.0);
    assert_eq!(
        order.clips.last().unwrap().reason,
        RejectReason::InsufficientCash
    );
}

#[test]
fn trading_states_gate_orders() {
    let mut halted = RiskManager::new(&RiskConfig::default(), TradingState::Halted);
    assert_eq!(
        rejected(halted.review(now(), &sell(), &exposure(10.0, 100.0))),
        RejectReason::Halted
    );
    let mut reducing = RiskManager::new(&RiskConfig::default(), TradingState::Reducing);
    assert_eq!(
        rejected(reducing.review(now(), &buy(10.0), &exposure(0.0, 0.0))),
        RejectReason::ReducingOnly
    );
    let order = approved(reducing.review(now(), &sell(), &exposure(10.0, 100.0)));
    assert_eq!((order.side, order.quantity), (Side::Sell, 10.0));
    let mut active = RiskManager::new(&RiskConfig::default(), TradingState::Active);
    let hold = Decision {
        action: Action::Hold,
        ..buy(0.0)
    };
    assert_eq!(
        active.review(now(), &hold, &exposure(0.0, 0.0)),
        RiskOutcome::NoOrder
    );
}

#[test]
fn stop_loss_overrides_the_decision_but_not_halted() {
    let config = RiskConfig {
        stop_loss: Some(0.1),
        ..RiskConfig::default()
    };
    let mut risk = RiskManager::new(&config, TradingState::Active);
    // Bought at 112, now 100: down 10.7% → close all 7, even though the decision says buy.
    let order = approved(risk.review(now(), &buy(50.0), &exposure(7.0, 112.0)));
    assert_eq!(
        (order.side, order.quantity, order.intent),
        (Side::Sell, 7.0, Intent::StopLoss)
    );
    // Down 9%: no stop; the buy goes ahead.
    let order = approved(risk.review(now(), &buy(50.0), &exposure(7.0, 109.9)));
    assert_eq!((order.side, order.intent), (Side::Buy, Intent::Decision));
    let mut halted = RiskManager::new(&config, TradingState::Halted);
    assert_eq!(
        rejected(halted.review(now(), &buy(50.0), &exposure(7.0, 112.0))),
        RejectReason::Halted
    );
}

#[test]
fn allowed_symbols_and_rate_limit_reject() {
    let config = RiskConfig {
        allowed_symbols: vec!["MSFT".into()],
        ..RiskConfig::default()
    };
    let mut risk = RiskManager::new(&config, TradingState::Active);
    assert_eq!(
        rejected(risk.review(now(), &buy(1.0), &exposure(0.0, 0.0))),
        RejectReason::SymbolNotAllowed
    );

    let config = RiskConfig {
        max_orders_per_minute: Some(2),
        ..RiskConfig::default()
    };
    let mut risk = RiskManager::new(&config, TradingState::Active);
    approved(risk.review(now(), &buy(1.0), &exposure(0.0, 0.0)));
    approved(risk.review(
        now() + chrono::Duration::seconds(30),
        &buy(1.0),
        &exposure(0.0, 0.0),
    ));
    let third = risk.review(
        now() + chrono::Duration::seconds(59),
        &buy(1.0),
        &exposure(0.0, 0.0),
    );
    assert_eq!(rejected(third), RejectReason::RateLimited);
    // A minute after the first, one slot is free again.
    approved(risk.review(
        now() + chrono::Duration::seconds(61),
        &buy(1.0),
        &exposure(0.0, 0.0),
    ));
}

#[test]
fn drawdown_latches_halted() {
    let config = RiskConfig {
        max_drawdown: Some(0.2),
        ..RiskConfig::default()
    };
    let mut risk = RiskManager::new(&config, TradingState::Active);
    assert!(risk.observe_equity(now(), 100_000.0).is_none());
    assert!(risk.observe_equity(now(), 120_000.0).is_none());
    assert!(
        risk.observe_equity(now(), 96_001.0).is_none(),
        "19.999% is not 20%"
    );
    let trip = risk.observe_equity(now(), 96_000.0).unwrap();
    assert!(matches!(trip, Trip::MaxDrawdown { peak, .. } if peak == 120_000.0));
    assert_eq!(risk.state(), TradingState::Halted);
    assert!(risk.tripped("max_drawdown"));
    assert!(!risk.tripped("max_daily_loss"));
    risk.observe_equity(now() + chrono::Duration::days(5), 130_000.0);
    assert_eq!(risk.state(), TradingState::Halted, "latched");
    assert!(
        risk.tripped("max_drawdown"),
        "the gauge stays up while latched"
    );
}

#[test]
fn daily_loss_halts_until_the_next_day() {
    let config = RiskConfig {
        max_daily_loss: Some(1_000.0),
        ..RiskConfig::default()
    };
    let mut risk = RiskManager::new(&config, TradingState::Active);
    assert_eq!(
        risk.daily_pnl(now(), 50_000.0),
        0.0,
        "no equity seen yet today"
    );
    risk.observe_equity(now(), 50_000.0);
    assert!(risk.observe_equity(now(), 49_001.0).is_none());
    assert_eq!(risk.daily_pnl(now(), 49_001.0), -999.0);
    assert!(!risk.tripped("max_daily_loss"));
    assert!(matches!(
        risk.observe_equity(now(), 49_000.0),
        Some(Trip::MaxDailyLoss { .. })
    ));
    assert!(risk.tripped("max_daily_loss"));
    assert!(!risk.tripped("max_drawdown"));
    assert_eq!(
        rejected(risk.review(now(), &buy(1.0), &exposure(0.0, 0.0))),
        RejectReason::Halted
    );
    risk.observe_equity(now() + chrono::Duration::days(1), 49_000.0);
    assert_eq!(risk.state(), TradingState::Active);
    assert!(!risk.tripped("max_daily_loss"), "a new day clears it");
    assert_eq!(
        risk.daily_pnl(now() + chrono::Duration::days(1), 49_500.0),
        500.0,
        "measured from the new day's first equity"
    );
}

#[test]
fn a_quiet_manager_decides_the_same_without_the_text() {
    // A backtest's manager is quiet: every number and the action are the explaining one's.
    let bull = report("trend", Signal::Bullish, 0.8);
    let bear = report("momentum", Signal::Bearish, 0.9);
    let cases: [(Vec<AnalystReport>, f64, Option<&AnalystReport>); 5] = [
        (vec![bull.clone(), calm(0.6)], 0.0, None),
        (vec![bull.clone()], 400.0, None),
        (vec![bear.clone()], 30.0, None),
        (vec![bear.clone()], 0.0, Some(&bull)),
        (vec![report("trend", Signal::Neutral, 0.1)], 0.0, None),
    ];
    for (reports, held, debate) in cases {
        let said = decide(&manager(0.3), &reports, held, debate);
        let kept = decide(&manager(0.3).quiet(), &reports, held, debate);
        assert!(!said.rationale.is_empty());
        assert_eq!(
            kept,
            Decision {
                rationale: String::new(),
                ..said
            }
        );
    }
}
