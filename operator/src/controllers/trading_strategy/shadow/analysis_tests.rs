use serde_json::json;
use tradeplane_contract::journal_api::CycleDetail;

use super::analysis::{Tally, Thresholds, Verdict, cycles_agree, judge};

/// An order: `(side, quantity)`.
type Order<'a> = Option<(&'a str, f64)>;

/// One cycle's detail as the journal API serves it: `(symbol, action, order)` per decision.
fn cycle(id: &str, decisions: &[(&str, &str, Order<'_>)]) -> CycleDetail {
    let decisions: Vec<_> = decisions
        .iter()
        .enumerate()
        .map(|(i, (symbol, action, order))| {
            let orders: Vec<_> = order
                .iter()
                .map(|(side, quantity)| {
                    json!({"clientOrderId": format!("{id}-{symbol}"), "symbol": symbol,
                           "side": side, "quantity": quantity, "referencePrice": 100.0,
                           "status": "filled", "createdAt": "2026-12-07T10:00:00Z",
                           "updatedAt": "2026-12-07T10:00:00Z"})
                })
                .collect();
            json!({"id": i, "cycleId": id, "symbol": symbol,
                   "decidedAt": "2026-12-07T10:00:00Z", "action": action,
                   "targetQuantity": order.map_or(0.0, |o| o.1), "confidence": 0.7,
                   "rationale": "r", "analysts": [], "risk": {"outcome": "approved"},
                   "orders": orders})
        })
        .collect();
    serde_json::from_value(json!({
        "cycle": {"id": id, "startedAt": "2026-12-07T10:00:00Z", "status": "completed"},
        "decisions": decisions, "events": [],
    }))
    .expect("a cycle detail the journal API could serve")
}

fn thresholds() -> Thresholds {
    Thresholds {
        min_cycles: 10,
        min_agreement: 0.8,
        max_drawdown: 0.1,
        max_error_rate: 0.1,
        max_llm_spend_usd: Some(5.0),
    }
}

fn tally(compared: u32, agreed: u32) -> Tally {
    Tally {
        cycles_compared: compared,
        cycles_agreed: agreed,
        shadow_cycles: compared,
        first_disagreement: (agreed < compared).then(|| "20261207T100000Z".to_string()),
        ..Tally::default()
    }
}

#[test]
fn decisions_agree_on_action_side_and_a_size_within_ten_percent() {
    let live = cycle(
        "c1",
        &[("AAPL", "buy", Some(("buy", 10.0))), ("MSFT", "hold", None)],
    );
    let close = cycle(
        "c1",
        &[("AAPL", "buy", Some(("buy", 10.9))), ("MSFT", "hold", None)],
    );
    assert!(cycles_agree(&live, &close));
    let bigger = cycle(
        "c1",
        &[("AAPL", "buy", Some(("buy", 12.0))), ("MSFT", "hold", None)],
    );
    assert!(
        !cycles_agree(&live, &bigger),
        "20% larger is another decision"
    );
    let flipped = cycle(
        "c1",
        &[
            ("AAPL", "sell", Some(("sell", 10.0))),
            ("MSFT", "hold", None),
        ],
    );
    assert!(!cycles_agree(&live, &flipped));
    let held = cycle("c1", &[("AAPL", "buy", None), ("MSFT", "hold", None)]);
    assert!(
        !cycles_agree(&live, &held),
        "a buy that placed no order differs"
    );
    let missing = cycle("c1", &[("AAPL", "buy", Some(("buy", 10.0)))]);
    assert!(!cycles_agree(&live, &missing), "a symbol left out differs");
}

#[test]
fn the_tally_counts_agreement_and_remembers_the_first_disagreement() {
    let mut tally = Tally::default();
    let buy = cycle("c1", &[("AAPL", "buy", Some(("buy", 10.0)))]);
    tally.compare(&buy, &buy);
    let sell = cycle("c2", &[("AAPL", "sell", Some(("sell", 10.0)))]);
    tally.compare(&cycle("c2", &[("AAPL", "hold", None)]), &sell);
    tally.compare(&cycle("c3", &[("AAPL", "hold", None)]), &sell);
    assert_eq!((tally.cycles_compared, tally.cycles_agreed), (3, 1));
    assert_eq!(tally.first_disagreement.as_deref(), Some("c2"));
    assert!((tally.agreement() - 1.0 / 3.0).abs() < 1e-9);
}

#[test]
fn the_verdict_waits_for_min_cycles_then_succeeds_on_enough_agreement() {
    let running = judge(&thresholds(), &tally(5, 5));
    assert_eq!(running.verdict, Verdict::Running);
    assert_eq!(running.reason, "5 of 10 cycles compared, agreement 100%");
    let done = judge(&thresholds(), &tally(10, 8));
    assert_eq!(done.verdict, Verdict::Succeeded, "{}", done.reason);
    assert!(
        done.reason.starts_with("10 cycles compared, agreement 80%"),
        "{}",
        done.reason
    );
}

#[test]
fn disagreements_beyond_what_min_agreement_allows_fail_before_min_cycles() {
    // 2 of 10 may disagree: the third fails at once, after 3 cycles.
    assert_eq!(judge(&thresholds(), &tally(2, 0)).verdict, Verdict::Running);
    let failed = judge(&thresholds(), &tally(3, 0));
    assert_eq!(failed.verdict, Verdict::Failed);
    assert!(
        failed
            .reason
            .starts_with("3 of 3 compared cycles disagreed (first: cycle 20261207T100000Z)"),
        "{}",
        failed.reason
    );
    // Past min_cycles the allowance grows with the cycles compared.
    assert_eq!(
        judge(&thresholds(), &tally(20, 16)).verdict,
        Verdict::Succeeded
    );
    assert_eq!(
        judge(&thresholds(), &tally(20, 15)).verdict,
        Verdict::Failed
    );
}

#[test]
fn drawdown_spend_and_errors_each_fail_the_shadow_naming_the_limit() {
    let deep = Tally {
        drawdown: 0.15,
        ..tally(10, 10)
    };
    let judged = judge(&thresholds(), &deep);
    assert_eq!(judged.verdict, Verdict::Failed);
    assert_eq!(
        judged.reason,
        "paper drawdown 15.0% is above maxDrawdown 10.0%"
    );
    let costly = Tally {
        llm_cost_usd: 5.5,
        ..tally(1, 1)
    };
    assert_eq!(
        judge(&thresholds(), &costly).reason,
        "LLM spend $5.50 is above maxLLMSpendUSD $5.00"
    );
    let unlimited = Thresholds {
        max_llm_spend_usd: None,
        ..thresholds()
    };
    assert_eq!(judge(&unlimited, &costly).verdict, Verdict::Running);
    // One failed cycle of ten is allowed; two are not, even before the tenth.
    let erring = |errors| Tally {
        shadow_errors: errors,
        ..tally(4, 4)
    };
    assert_eq!(judge(&thresholds(), &erring(1)).verdict, Verdict::Running);
    let failed = judge(&thresholds(), &erring(2));
    assert_eq!(failed.verdict, Verdict::Failed);
    assert_eq!(
        failed.reason,
        "2 of 4 shadow cycles failed, above maxErrorRate 10%"
    );
}
