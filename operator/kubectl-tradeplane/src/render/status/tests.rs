use super::tests_fixtures::{now, status_view};
use super::*;
use crate::render::visible_width;

#[test]
fn the_screen_holds_every_section_within_80_columns() {
    let text = render(&status_view(), now(), Style::PLAIN);
    for expected in [
        "Strategy  desk/momo   phase Trading   mode Paper",
        "Trading   Active   replicas 2/2 ready",
        "Leader    momo-trader-7d9f-abcde   lease renewed 2s ago",
        "Revision  5f2a9c",
        "momo-trader-7d9f-abcde",
        "leader  Ready",
        "standby NotReady restarts 2",
        "equity 99,722.76  cash 43,204.19  P&L -277.24  drawdown 0.31%",
        "Positions  AAPL 63 @ 368.01 · MSFT 621 @ 54.11",
        "20300101T000000Z completed 1 decisions, 1 orders, 0 rejections",
        "AAPL BUY 12 conf 0.72  risk approved",
        "trend        bullish  0.80 fast average above the slow one for 12 bars",
        "debate       bullish  0.70 the trend outweighs the news",
        "AAPL   buy          12 @     190.00  filled",
        "fee 1.00",
        "LLM spend  2030-01-01 openai 14 calls $0.04",
        "Backups    last momo-20300101T000000Z (12h ago)   next in 10h",
        "failed 2h ago (momo-backup-now-1): bucket not found",
        "BackupSucceeded=False BackupFailed: the last backup failed",
        "3x BackupFailed 2h ago: backup Job momo-backup-now-1 failed",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // Fine conditions are not listed; only the first line of a multi-line text is shown.
    assert!(!text.contains("Stalled"), "{text}");
    assert!(!text.contains("second line"), "{text}");
    assert!(!text.contains("more detail"), "{text}");
    assert!(text.lines().all(|l| visible_width(l) <= 80), "{text}");
    assert!(!text.contains('\x1b'), "colour without a terminal:\n{text}");
}

#[test]
fn colour_only_when_asked_and_the_width_still_holds() {
    let text = render(&status_view(), now(), Style { colour: true });
    assert!(text.contains("\x1b[32mTrading\x1b[0m"), "{text}");
    assert!(text.lines().all(|l| visible_width(l) <= 80), "{text}");
}

#[test]
fn an_unreachable_runtime_still_shows_the_cluster_side() {
    let mut view = status_view();
    view.runtime = RuntimeSection::Unavailable(
        "the runtime of 'momo' is not reachable through Service desk/momo-metrics port \
         'http-metrics': no ready endpoint answered"
            .into(),
    );
    view.unavailable
        .push("Lease: forbidden: you need get on leases in desk".into());
    let text = render(&view, now(), Style::PLAIN);
    assert!(
        text.contains("Journal unavailable:\n  the runtime of 'momo'"),
        "{text}"
    );
    // Wrapped, not cut: the whole reason is there.
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined
            .contains("Service desk/momo-metrics port 'http-metrics': no ready endpoint answered"),
        "{text}"
    );
    assert!(text.contains("Not shown: Lease: forbidden"), "{text}");
    assert!(text.contains("phase Trading"), "{text}");
    assert!(!text.contains("Account"), "{text}");
    assert!(text.lines().all(|l| visible_width(l) <= 80), "{text}");
}

#[test]
fn a_stricter_trading_state_and_a_pending_revision_are_called_out() {
    let mut view = status_view();
    if let Some(status) = view.strategy.status.as_mut() {
        status.trading_state = Some(TradingState::Reducing);
        status.desired_revision = Some("9e8d7c".into());
    }
    let text = render(&view, now(), Style::PLAIN);
    assert!(text.contains("Reducing (spec says Active)"), "{text}");
    assert!(
        text.contains("5f2a9c → 9e8d7c (rolling or pending)"),
        "{text}"
    );
}

#[test]
fn the_json_view_carries_the_strategy_and_the_journal() {
    let json = serde_json::to_value(status_view()).unwrap_or_default();
    assert_eq!(json["strategy"]["metadata"]["name"], "momo");
    assert_eq!(json["runtime"]["answered"]["summary"]["strategy"], "momo");
    assert_eq!(json["replicas"][0]["leader"], true);
}

#[test]
fn conditions_that_warn_when_true_are_listed_only_then() {
    assert!(
        !not_fine("FailingOver", "False"),
        "no failover going on is fine"
    );
    assert!(not_fine("FailingOver", "True"));
    assert!(!not_fine("UpgradePending", "False"));
    assert!(not_fine("BrokerReady", "False"));
    assert!(!not_fine("Ready", "True"));
}
