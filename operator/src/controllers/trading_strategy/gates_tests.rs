use serde_json::json;

use super::gates::{BACKTEST_GATE_NOT_MET, Evaluation, Inputs, SHADOW_GATE_NOT_MET, evaluate};
use super::shadow::analysis::Thresholds;
use super::shadow::revision::decision_revision;
use super::validate::{raised, shadow_policy, validate};
use crate::api::backtest::Backtest;
use crate::api::broker_account::BrokerAccount;
use crate::api::trading_strategy::{
    GatesStatus, PromotionGates, RolloutSpec, RolloutStatus, ShadowGate, TradingStrategy,
};
use crate::controllers::backtest::validate::tested_revision;

fn gates(value: serde_json::Value) -> PromotionGates {
    serde_json::from_value(value).expect("gates")
}

/// A Backtest of `strategy` that tested `revision`, Complete (or not) with one run's stats.
fn backtest(name: &str, strategy: &str, revision: &str, complete: bool) -> Backtest {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "Backtest",
        "metadata": {"name": name, "namespace": "desk"},
        "spec": {"strategyRef": {"name": strategy},
                 "data": {"configMap": {"name": "bars", "key": "AAPL.csv"}}},
        "status": {
            "strategyRevision": revision,
            "conditions": [{"type": "Complete", "status": if complete { "True" } else { "False" },
                            "reason": "R", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "runs": [{"index": 0, "phase": "Succeeded",
                      "stats": {"totalReturn": 0.05, "sharpe": 1.2, "maxDrawdown": 0.08, "trades": 6}}],
        },
    }))
    .expect("a backtest")
}

fn swept(mut backtest: Backtest) -> Backtest {
    backtest.spec.sweep = Some(
        serde_json::from_value(
            json!({"axes": [{"path": "risk.stopLossPercent", "values": [1.0]}]}),
        )
        .expect("a sweep"),
    );
    backtest
}

fn analysis() -> Thresholds {
    Thresholds {
        min_cycles: 3,
        min_agreement: 0.9,
        max_drawdown: 0.1,
        max_error_rate: 0.1,
        max_llm_spend_usd: None,
    }
}

fn run(
    gates: &PromotionGates,
    live: bool,
    backtests: &[&Backtest],
    rollout: Option<&RolloutStatus>,
    previous: Option<&GatesStatus>,
) -> Option<Evaluation> {
    let analysis = analysis();
    evaluate(&Inputs {
        gates: Some(gates),
        live,
        strategy: "momo",
        revision: "rev-b",
        backtests,
        rollout,
        analysis: Some(&analysis),
        previous,
    })
}

#[test]
fn a_paper_strategy_or_one_without_gates_has_none() {
    let gates = gates(json!({"backtest": {"minSharpe": 5.0}}));
    assert_eq!(
        run(&gates, false, &[], None, None),
        None,
        "paper ignores the gates"
    );
    let analysis = analysis();
    let none = evaluate(&Inputs {
        gates: None,
        live: true,
        strategy: "momo",
        revision: "rev-b",
        backtests: &[],
        rollout: None,
        analysis: Some(&analysis),
        previous: None,
    });
    assert_eq!(none, None);
}

#[test]
fn a_complete_backtest_of_the_revision_meeting_every_threshold_admits_it() {
    let gates = gates(
        json!({"backtest": {"minTotalReturn": 0.02, "minSharpe": 1.0,
                                          "maxDrawdown": 0.1, "minTrades": 5}}),
    );
    let bt = backtest("bt-1", "momo", "rev-b", true);
    let evaluation = run(&gates, true, &[&bt], None, None).expect("live and gated");
    assert_eq!(evaluation.blocker, None);
    let state = evaluation.status.backtest.expect("the backtest gate");
    assert!(state.met, "{}", state.message);
    assert!(state.message.contains("bt-1"), "{}", state.message);
    assert_eq!(
        evaluation.status.admitted_revision.as_deref(),
        Some("rev-b")
    );
}

#[test]
fn each_threshold_missed_holds_the_revision_naming_it() {
    let bt = backtest("bt-1", "momo", "rev-b", true);
    for (gate, named) in [
        (json!({"minTotalReturn": 0.10}), "totalReturn"),
        (json!({"minSharpe": 2.0}), "sharpe"),
        (json!({"maxDrawdown": 0.05}), "maxDrawdown"),
        (json!({"minTrades": 7}), "trades"),
    ] {
        let gates = gates(json!({ "backtest": gate }));
        let evaluation = run(&gates, true, &[&bt], None, None).expect("gated");
        let blocker = evaluation.blocker.expect("held");
        assert_eq!(blocker.reason, BACKTEST_GATE_NOT_MET);
        assert!(
            blocker.message.contains(named),
            "{named}: {}",
            blocker.message
        );
        assert!(blocker.message.contains("bt-1"), "{}", blocker.message);
        assert_eq!(evaluation.status.admitted_revision, None);
    }
}

#[test]
fn a_backtest_of_another_revision_or_strategy_a_sweep_or_an_unfinished_one_does_not_count() {
    let gates = gates(json!({"backtest": {}}));
    let other_revision = backtest("old", "momo", "rev-a", true);
    let other_strategy = backtest("theirs", "other", "rev-b", true);
    let sweep = swept(backtest("sweep", "momo", "rev-b", true));
    let running = backtest("running", "momo", "rev-b", false);
    let evaluation = run(
        &gates,
        true,
        &[&other_revision, &other_strategy, &sweep],
        None,
        None,
    )
    .expect("gated");
    let blocker = evaluation.blocker.expect("held");
    assert_eq!(blocker.reason, BACKTEST_GATE_NOT_MET);
    assert!(
        blocker
            .message
            .contains("no Backtest with strategyRef momo")
            && blocker.message.contains("rev-b"),
        "{}",
        blocker.message
    );
    let evaluation = run(&gates, true, &[&running], None, None).expect("gated");
    let blocker = evaluation.blocker.expect("held");
    assert!(
        blocker.message.contains("running of it is not Complete"),
        "{}",
        blocker.message
    );
}

#[test]
fn an_admitted_revision_stays_admitted_once_its_backtest_is_gone() {
    let gates = gates(json!({"backtest": {}}));
    let previous = GatesStatus {
        admitted_revision: Some("rev-b".into()),
        ..GatesStatus::default()
    };
    let evaluation = run(&gates, true, &[], None, Some(&previous)).expect("gated");
    assert_eq!(evaluation.blocker, None);
    assert!(!evaluation.status.backtest.expect("state").met);
    let other = GatesStatus {
        admitted_revision: Some("rev-a".into()),
        ..GatesStatus::default()
    };
    let evaluation = run(&gates, true, &[], None, Some(&other)).expect("gated");
    assert!(
        evaluation.blocker.is_some(),
        "another admitted revision admits nothing new"
    );
    assert_eq!(
        evaluation.status.admitted_revision.as_deref(),
        Some("rev-a")
    );
}

fn passed(revision: &str, verdict: &str, compared: i32, agreed: i32) -> RolloutStatus {
    RolloutStatus {
        shadow_revision: Some(revision.into()),
        verdict: Some(verdict.into()),
        cycles_compared: Some(compared),
        cycles_agreed: Some(agreed),
        ..RolloutStatus::default()
    }
}

#[test]
fn the_shadow_gate_needs_a_passed_analysis_of_the_revision_at_its_thresholds() {
    let gates = gates(json!({"shadow": {"minCycles": 5, "minAgreement": 0.8}}));
    let admitted = GatesStatus {
        admitted_revision: Some("rev-a".into()),
        ..GatesStatus::default()
    };
    let cases = [
        (passed("rev-b", "Succeeded", 5, 4), true),
        (passed("rev-b", "Promoted", 6, 6), true),
        (passed("rev-b", "Succeeded", 4, 4), false),
        (passed("rev-b", "Succeeded", 5, 3), false),
        (passed("rev-b", "Running", 9, 9), false),
        (passed("rev-b", "Failed", 9, 0), false),
        (passed("rev-c", "Succeeded", 9, 9), false),
    ];
    for (rollout, met) in cases {
        let evaluation = run(&gates, true, &[], Some(&rollout), Some(&admitted)).expect("gated");
        assert_eq!(evaluation.blocker.is_none(), met, "{rollout:?}");
        if !met {
            assert_eq!(
                evaluation.blocker.expect("held").reason,
                SHADOW_GATE_NOT_MET
            );
        } else {
            assert_eq!(
                evaluation.status.shadow_passed_revision.as_deref(),
                Some("rev-b")
            );
        }
    }
    // Recorded, the pass survives a later analysis of another revision.
    let recorded = GatesStatus {
        admitted_revision: Some("rev-a".into()),
        shadow_passed_revision: Some("rev-b".into()),
        ..GatesStatus::default()
    };
    let later = passed("rev-c", "Running", 1, 1);
    let evaluation = run(&gates, true, &[], Some(&later), Some(&recorded)).expect("gated");
    assert_eq!(evaluation.blocker, None);
}

#[test]
fn a_first_revision_has_nothing_to_shadow_and_is_the_backtest_gates_to_admit() {
    let only_shadow = gates(json!({"shadow": {}}));
    let evaluation = run(&only_shadow, true, &[], None, None).expect("gated");
    let blocker = evaluation.blocker.expect("held");
    assert_eq!(blocker.reason, SHADOW_GATE_NOT_MET);
    assert!(
        blocker.message.contains("add promotionGates.backtest"),
        "{}",
        blocker.message
    );

    let both = gates(json!({"shadow": {}, "backtest": {}}));
    let bt = backtest("bt-1", "momo", "rev-b", true);
    let evaluation = run(&both, true, &[&bt], None, None).expect("gated");
    assert_eq!(evaluation.blocker, None);
    assert!(
        evaluation
            .status
            .shadow
            .expect("state")
            .message
            .contains("first")
    );
    let evaluation = run(&both, true, &[], None, None).expect("gated");
    assert_eq!(
        evaluation.blocker.expect("held").reason,
        BACKTEST_GATE_NOT_MET
    );
}

#[test]
fn a_shadow_gate_raises_the_analysis_of_a_live_strategy_only() {
    let rollout: RolloutSpec =
        serde_json::from_value(json!({"strategy": "Shadow", "analysis": {"minCycles": 3}}))
            .expect("rollout");
    let policy = shadow_policy(Some(&rollout)).expect("shadow");
    let gate = ShadowGate {
        min_cycles: Some(8),
        min_agreement: Some(0.5),
    };
    let raised = raised(policy.clone(), &gate);
    assert_eq!(raised.thresholds.min_cycles, 8);
    assert_eq!(
        raised.thresholds.min_agreement, 0.9,
        "the stricter of the two"
    );

    let mut gated = strategy("alpaca");
    gated.spec.rollout = Some(rollout);
    gated.spec.promotion_gates = Some(gates(json!({"shadow": {"minCycles": 8}})));
    let live = validate(&gated, &live_account(), "desk", "runtime:1").expect("valid");
    assert_eq!(live.shadow.expect("shadow").thresholds.min_cycles, 8);
    gated.spec.broker_account_ref.name = "paper".into();
    let paper = validate(&gated, &paper_account(), "desk", "runtime:1").expect("valid");
    assert_eq!(
        paper.shadow.expect("shadow").thresholds.min_cycles,
        3,
        "a Paper strategy ignores its gates"
    );
}

fn paper_account() -> BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "paper", "namespace": "desk"},
        "spec": {"broker": "Paper"},
    }))
    .expect("an account")
}

fn strategy(account: &str) -> TradingStrategy {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "TradingStrategy",
        "metadata": {"name": "momo", "namespace": "desk"},
        "spec": {"symbols": ["AAPL"], "brokerAccountRef": {"name": account},
                 "providers": [{"name": "rules", "kind": "Rules"}],
                 "analysts": [{"role": "quant", "providers": ["rules"], "method": "Trend"}],
                 "promotionGates": {"backtest": {}}},
    }))
    .expect("a strategy")
}

fn live_account() -> BrokerAccount {
    serde_json::from_value(json!({
        "apiVersion": "tradeplane.io/v1alpha1", "kind": "BrokerAccount",
        "metadata": {"name": "alpaca", "namespace": "desk"},
        "spec": {"broker": "Alpaca", "environment": "Live", "liveTradingAcknowledged": true,
                 "credentialsSecretRef": {"name": "alpaca-keys"}},
    }))
    .expect("an account")
}

#[test]
fn a_backtest_records_the_same_decision_revision_the_strategy_rolls() {
    let strategy = strategy("alpaca");
    let account = live_account();
    let valid = validate(&strategy, &account, "desk", "runtime:1").expect("valid");
    let rolled = decision_revision(&valid.image, &valid.runtime_config);
    assert_eq!(
        tested_revision(&strategy, &account, "desk", "runtime:1").as_deref(),
        Some(rolled.as_str())
    );
    assert_ne!(
        tested_revision(&strategy, &account, "desk", "runtime:2").as_deref(),
        Some(rolled.as_str()),
        "another image is another revision"
    );
}

/// The trader Deployment `strategy` renders, marked as running `decision`.
fn rendered_deployment(
    strategy: &TradingStrategy,
    account: &BrokerAccount,
) -> (
    k8s_openapi::api::apps::v1::Deployment,
    super::shadow::apply::ShadowPlan,
) {
    let valid = validate(strategy, account, "desk", "runtime:1").expect("valid");
    let inputs = super::render::Inputs {
        valid: &valid,
        credentials: Default::default(),
    };
    let children = super::render::render(strategy, &inputs).expect("rendered");
    let plan = super::shadow::apply::ShadowPlan {
        policy: valid.shadow.clone(),
        decision_revision: decision_revision(&valid.image, &valid.runtime_config),
        config: valid.runtime_config.clone(),
        image: valid.image.clone(),
        credentials: Default::default(),
        gates_hold: false,
    };
    (children.deployment.expect("a trader Deployment"), plan)
}

#[test]
fn a_revision_the_gates_hold_leaves_the_live_pods_on_their_template() {
    let account = live_account();
    let old = strategy("alpaca");
    let (mut live, old_plan) = rendered_deployment(&old, &account);
    live.metadata.annotations.get_or_insert_default().insert(
        super::shadow::names::DECISION_REVISION_ANNOTATION.into(),
        old_plan.decision_revision.clone(),
    );
    let mut new = old.clone();
    new.spec.risk = Some(serde_json::from_value(json!({"positionSizePercent": 3})).expect("risk"));
    let (mut deployment, mut plan) = rendered_deployment(&new, &account);
    assert_ne!(plan.decision_revision, old_plan.decision_revision);
    let live_template = live.spec.as_ref().expect("spec").template.clone();
    assert_ne!(
        deployment.spec.as_ref().expect("spec").template,
        live_template
    );

    plan.gates_hold = true;
    let now = k8s_openapi::jiff::Timestamp::now();
    let (pending, _, applied) = super::apply::hold(&new, &plan, &mut deployment, Some(&live), now);
    assert_eq!(
        deployment.spec.as_ref().expect("spec").template,
        live_template
    );
    let pending = pending.expect("the revision waits");
    assert_eq!(pending.reason, "PromotionGates");
    assert!(
        pending.message.contains(&plan.decision_revision),
        "{}",
        pending.message
    );
    assert_eq!(
        applied.as_deref(),
        Some(old_plan.decision_revision.as_str())
    );

    // Admitted, the same change rolls.
    let (mut deployment, mut plan) = rendered_deployment(&new, &account);
    plan.gates_hold = false;
    let rendered = deployment.spec.as_ref().expect("spec").template.clone();
    let (pending, _, applied) = super::apply::hold(&new, &plan, &mut deployment, Some(&live), now);
    assert_eq!(pending, None);
    assert_eq!(deployment.spec.as_ref().expect("spec").template, rendered);
    assert_eq!(applied.as_deref(), Some(plan.decision_revision.as_str()));
}
