use super::analysis::{Judgement, Tally, Thresholds, Verdict};
use super::gate::{
    ABORTED_BY_USER, Comparison, Gate, PROMOTED, aborted, conditions, decide, event, rollout_status,
};
use crate::api::trading_strategy::{OnSuccess, RolloutStatus};
use crate::controllers::trading_strategy::validate::ShadowPolicy;

fn policy(on_success: OnSuccess) -> ShadowPolicy {
    ShadowPolicy {
        thresholds: Thresholds {
            min_cycles: 3,
            min_agreement: 0.9,
            max_drawdown: 0.1,
            max_error_rate: 0.1,
            max_llm_spend_usd: None,
        },
        on_success,
    }
}

fn analysed(revision: &str, verdict: &str) -> RolloutStatus {
    RolloutStatus {
        shadow_revision: Some(revision.into()),
        verdict: Some(verdict.into()),
        reason: Some("why".into()),
        ..RolloutStatus::default()
    }
}

#[test]
fn only_a_new_decision_revision_of_a_shadow_strategy_is_held_for_its_shadow() {
    let wait = policy(OnSuccess::Wait);
    assert_eq!(
        decide(None, Some("old"), "new", None, None),
        Gate::Roll,
        "Direct"
    );
    assert_eq!(
        decide(Some(&wait), None, "new", None, None),
        Gate::Roll,
        "first rollout"
    );
    assert_eq!(
        decide(Some(&wait), Some("new"), "new", None, None),
        Gate::Roll
    );
    assert_eq!(
        decide(Some(&wait), Some("old"), "new", None, None),
        Gate::Shadow
    );
    let running = analysed("new", "Running");
    assert_eq!(
        decide(Some(&wait), Some("old"), "new", Some(&running), None),
        Gate::Shadow
    );
}

#[test]
fn a_refused_revision_stays_refused_until_the_spec_asks_for_another() {
    let wait = policy(OnSuccess::Wait);
    let failed = analysed("new", "Failed");
    assert_eq!(
        decide(Some(&wait), Some("old"), "new", Some(&failed), None),
        Gate::Refused
    );
    // Another change: a new analysis.
    assert_eq!(
        decide(Some(&wait), Some("old"), "newer", Some(&failed), None),
        Gate::Shadow
    );
    // Back to the live revision: nothing to analyse.
    assert_eq!(
        decide(Some(&wait), Some("old"), "old", Some(&failed), None),
        Gate::Roll
    );
}

#[test]
fn a_passed_shadow_rolls_at_once_or_on_a_promote_naming_its_revision() {
    let passed = analysed("new", "Succeeded");
    let promote = policy(OnSuccess::Promote);
    assert_eq!(
        decide(Some(&promote), Some("old"), "new", Some(&passed), None),
        Gate::Roll
    );
    let wait = policy(OnSuccess::Wait);
    assert_eq!(
        decide(Some(&wait), Some("old"), "new", Some(&passed), None),
        Gate::Shadow
    );
    assert_eq!(
        decide(
            Some(&wait),
            Some("old"),
            "new",
            Some(&passed),
            Some("older")
        ),
        Gate::Shadow,
        "a promote meant for another revision promotes nothing"
    );
    assert_eq!(
        decide(Some(&wait), Some("old"), "new", Some(&passed), Some("new")),
        Gate::Roll
    );
}

#[test]
fn the_status_starts_a_new_tally_per_revision_and_says_promoted_once_it_runs_live() {
    let judged = |compared, agreed| Comparison::Judged {
        tally: Tally {
            cycles_compared: compared,
            cycles_agreed: agreed,
            shadow_cycles: compared,
            ..Tally::default()
        },
        last_cycle: Some("20261207T100000Z".into()),
        judgement: Judgement {
            verdict: Verdict::Running,
            reason: "so far".into(),
        },
        pnl_difference: Some(-1.5),
    };
    let status = rollout_status(None, &Gate::Shadow, Some("old"), "new", judged(2, 2));
    assert_eq!(status.shadow_revision.as_deref(), Some("new"));
    assert_eq!(status.live_revision.as_deref(), Some("old"));
    assert_eq!(status.verdict.as_deref(), Some("Running"));
    assert_eq!(status.agreement.as_deref(), Some("1.00"));
    assert_eq!(status.pnl_difference.as_deref(), Some("-1.50"));
    assert_eq!(status.cycles_compared, Some(2));

    let waiting = Comparison::Waiting {
        seeding: true,
        reason: "no cycle yet".into(),
    };
    let seeding = rollout_status(Some(&status), &Gate::Shadow, Some("old"), "newer", waiting);
    assert_eq!(seeding.verdict.as_deref(), Some("Seeding"));
    assert_eq!(
        seeding.cycles_compared, None,
        "another revision's tally is not carried over"
    );

    let passed = analysed("new", "Succeeded");
    let promoted = rollout_status(
        Some(&passed),
        &Gate::Roll,
        Some("new"),
        "new",
        Comparison::Skipped,
    );
    assert_eq!(promoted.verdict.as_deref(), Some(PROMOTED));
    assert_eq!(promoted.live_revision.as_deref(), Some("new"));
    let quiet = rollout_status(None, &Gate::Roll, Some("new"), "new", Comparison::Skipped);
    assert_eq!((quiet.verdict, quiet.shadow_revision), (None, None));
}

#[test]
fn conditions_and_events_follow_the_verdict() {
    let failed = analysed("new", "Failed");
    let [running, succeeded, failed_condition] = conditions(&failed, OnSuccess::Wait);
    assert!(!running.status && running.reason == "Aborted");
    assert!(!succeeded.status);
    assert!(failed_condition.status && failed_condition.reason == "AnalysisFailed");
    assert_eq!(
        failed_condition.message,
        "revision new refused, the live pods keep theirs: why"
    );
    let passed = analysed("new", "Succeeded");
    let [running, succeeded, _] = conditions(&passed, OnSuccess::Wait);
    assert!(running.status && running.reason == "AwaitingPromotion");
    assert!(running.message.contains("tradeplane.io/promote-shadow=new"));
    assert!(succeeded.status);

    let started = analysed("new", "Seeding");
    assert_eq!(event(None, &started).map(|e| e.1), Some("ShadowStarted"));
    assert_eq!(
        event(Some(&started), &started),
        None,
        "no Event without a change"
    );
    let (warning, reason, _) = event(Some(&started), &failed).expect("an Event");
    assert!(warning && reason == "ShadowFailed");
    let promoted = analysed("new", PROMOTED);
    assert_eq!(
        event(Some(&passed), &promoted).map(|e| e.1),
        Some("ShadowPromoted")
    );
}

#[test]
fn an_abort_refuses_only_the_revision_it_names_and_says_so() {
    assert!(aborted(Some("old"), "new", Some("new")));
    assert!(
        !aborted(Some("old"), "newer", Some("new")),
        "an abort of one revision does not refuse a later one"
    );
    assert!(
        !aborted(Some("new"), "new", Some("new")),
        "nothing to abort"
    );
    assert!(!aborted(Some("old"), "new", None));

    let passed = analysed("new", "Succeeded");
    let status = rollout_status(
        Some(&passed),
        &Gate::Refused,
        Some("old"),
        "new",
        Comparison::Skipped,
    );
    assert_eq!(status.verdict.as_deref(), Some("Failed"));
    assert_eq!(status.live_revision.as_deref(), Some("old"));
    assert_eq!(status.shadow_revision.as_deref(), Some("new"));
    let reason = status.reason.clone().unwrap_or_default();
    assert!(reason.starts_with(ABORTED_BY_USER), "{reason}");
    let [running, _, failed] = conditions(&status, OnSuccess::Wait);
    assert!(!running.status);
    assert!(failed.status && failed.reason == "AbortedByUser");
    let (warning, reason, note) = event(Some(&passed), &status).expect("an Event");
    assert!(warning && reason == "ShadowFailed" && note.contains(ABORTED_BY_USER));

    // A failed analysis keeps its own reason when the gate restates the refusal.
    let failed = analysed("new", "Failed");
    let kept = rollout_status(
        Some(&failed),
        &Gate::Refused,
        Some("old"),
        "new",
        Comparison::Skipped,
    );
    assert_eq!(kept.reason.as_deref(), Some("why"));
}
