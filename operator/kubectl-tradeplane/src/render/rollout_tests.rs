#![allow(clippy::unwrap_used)]

use super::*;
use crate::render::status::tests_fixtures::cycle_detail;
use crate::render::{Style, WIDTH};

fn with_decision(action: &str, size: f64, ordered: bool) -> CycleDetail {
    let mut cycle = cycle_detail();
    let decision = &mut cycle.decisions[0];
    decision.action = action.to_string();
    decision.target_quantity = size;
    if ordered {
        decision.orders[0].quantity = size;
    } else {
        decision.orders.clear();
    }
    cycle
}

fn passed() -> RolloutStatus {
    RolloutStatus {
        live_revision: Some("3f1c".into()),
        shadow_revision: Some("9ab2".into()),
        verdict: Some("Succeeded".into()),
        reason: Some("3 of 3 cycles agreed (1.00 ≥ 0.90)".into()),
        cycles_compared: Some(3),
        cycles_agreed: Some(3),
        agreement: Some("1.00".into()),
        pnl_difference: Some("-0.40".into()),
        drawdown: Some("0.0010".into()),
        shadow_cycles: Some(3),
        errors: Some(0),
        llm_cost_usd: Some("0.00".into()),
        last_cycle: Some("20300101T000300Z".into()),
        first_disagreement: None,
    }
}

#[test]
fn decisions_agree_as_the_operator_counts_them() {
    let live = with_decision("buy", 10.0, true);
    assert!(differences(&live, &with_decision("buy", 10.9, true)).is_empty());
    let bigger = differences(&live, &with_decision("buy", 11.5, true));
    assert_eq!(bigger.len(), 1, "beyond 10% is a difference");
    assert_eq!(bigger[0].shadow.as_ref().map(|s| s.size), Some(11.5));
    let held = differences(&live, &with_decision("hold", 10.0, false));
    assert_eq!(
        held[0].live.as_ref().and_then(|s| s.order_side.as_deref()),
        Some("buy")
    );
    assert_eq!(
        held[0].shadow.as_ref().map(|s| s.action.as_str()),
        Some("hold")
    );

    let mut other = with_decision("buy", 10.0, true);
    other.decisions[0].symbol = "MSFT".into();
    let missing = differences(&live, &other);
    assert_eq!(
        missing.len(),
        2,
        "a symbol one side did not decide on differs"
    );
    assert!(missing[0].shadow.is_none() && missing[1].live.is_none());
}

#[test]
fn the_screen_shows_every_figure_and_the_differences_side_by_side() {
    let live = with_decision("buy", 10.0, true);
    let view = RolloutView {
        strategy: "momo".into(),
        rollout: Some(passed()),
        decisions: Decisions::Journals {
            compared: 3,
            differences: differences(&live, &with_decision("hold", 0.0, false)),
        },
    };
    let text = screen(&view, Style::PLAIN);
    for expected in [
        "live 3f1c  shadow 9ab2",
        "Succeeded: 3 of 3 cycles agreed",
        "3 compared, 3 agreed (agreement 1.00)",
        "0 errors, drawdown 0.0010, LLM cost $0.00",
        "shadow less live -0.40",
        "20300101T000000Z  AAPL     buy (buy 10)",
        "hold (target 0)",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
}

#[test]
fn without_journals_or_analysis_the_screen_says_why() {
    let unread = RolloutView {
        strategy: "momo".into(),
        rollout: Some(passed()),
        decisions: Decisions::Unread {
            reason: "the shadow no longer runs".into(),
        },
    };
    assert!(
        screen(&unread, Style::PLAIN).contains("decisions not shown: the shadow no longer runs")
    );
    let none = RolloutView {
        rollout: None,
        ..unread
    };
    assert!(screen(&none, Style::PLAIN).contains("no shadow analysis"));
    let json = serde_json::to_value(RolloutView {
        strategy: "momo".into(),
        rollout: Some(passed()),
        decisions: Decisions::Journals {
            compared: 1,
            differences: Vec::new(),
        },
    })
    .unwrap();
    assert_eq!(json["decisions"]["source"], "journals");
    assert_eq!(json["rollout"]["shadowRevision"], "9ab2");
}
