//! Promotion gates for live money (`spec.promotionGates`): whether the decision revision the
//! spec asks for may be rendered onto a Live BrokerAccount, and `status.gates`. Pure.
//!
//! A revision is admitted when every configured gate is met for it, and stays admitted
//! (`status.gates.admittedRevision`) so that a revision already trading is not stopped when,
//! say, its Backtest is deleted. What is not admitted is held by the reconcile: on a first
//! rollout nothing is rendered, on a revision change the live pods keep their template.

use crate::api::backtest::{Backtest, RunPhase, RunStats};
use crate::api::trading_strategy::{
    BacktestGate, GateState, GatesStatus, PromotionGates, RolloutStatus, ShadowGate,
};
use crate::controllers::Blocker;
use crate::controllers::backtest::status::COMPLETE;
use crate::controllers::trading_strategy::shadow::analysis::{Thresholds, Verdict};
use crate::controllers::trading_strategy::shadow::gate::PROMOTED;

pub const BACKTEST_GATE_NOT_MET: &str = "BacktestGateNotMet";
pub const SHADOW_GATE_NOT_MET: &str = "ShadowGateNotMet";

/// Whether `blocker` is a promotion gate's (the phase says `Gated`, not `Failed`).
pub fn holds(blocker: &Blocker) -> bool {
    blocker.reason == BACKTEST_GATE_NOT_MET || blocker.reason == SHADOW_GATE_NOT_MET
}

/// What the gates say of the revision the spec asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub status: GatesStatus,
    /// Why the revision may not be rendered onto the live account; `None`: it is admitted.
    pub blocker: Option<Blocker>,
}

/// What the gates are evaluated against.
pub struct Inputs<'a> {
    pub gates: Option<&'a PromotionGates>,
    /// Whether the strategy's BrokerAccount is Live: a Paper strategy has no gates.
    pub live: bool,
    pub strategy: &'a str,
    /// The decision revision the spec asks for.
    pub revision: &'a str,
    /// The Backtests of the strategy's namespace.
    pub backtests: &'a [&'a Backtest],
    pub rollout: Option<&'a RolloutStatus>,
    /// The shadow analysis' own thresholds (`rollout.analysis` with its defaults): what an
    /// unset shadow gate threshold means.
    pub analysis: Option<&'a Thresholds>,
    pub previous: Option<&'a GatesStatus>,
}

/// Evaluates the gates; `None` for a Paper strategy or one without gates.
pub fn evaluate(inputs: &Inputs) -> Option<Evaluation> {
    let gates = inputs.gates.filter(|_| inputs.live)?;
    let previous = inputs.previous.cloned().unwrap_or_default();
    let revision = inputs.revision;
    let backtest = gates
        .backtest
        .as_ref()
        .map(|gate| backtest_gate(gate, inputs.strategy, revision, inputs.backtests));
    let passed_shadow = gates.shadow.as_ref().and_then(|gate| {
        shadow_passed(gate, inputs.analysis, revision, inputs.rollout).or_else(|| {
            (previous.shadow_passed_revision.as_deref() == Some(revision))
                .then_some(format!("revision {revision} passed its shadow analysis"))
        })
    });
    let first = previous.admitted_revision.is_none();
    let shadow = gates.shadow.as_ref().map(|gate| match &passed_shadow {
        Some(message) => GateState {
            met: true,
            message: message.clone(),
        },
        None => shadow_not_met(
            gate,
            inputs.analysis,
            revision,
            inputs.rollout,
            first,
            gates,
        ),
    });
    let all_met = [&backtest, &shadow]
        .into_iter()
        .flatten()
        .all(|state| state.met);
    let admitted = all_met || previous.admitted_revision.as_deref() == Some(revision);
    let blocker = (!admitted).then(|| blocker(revision, backtest.as_ref(), shadow.as_ref()));
    let status = GatesStatus {
        revision: Some(revision.to_string()),
        admitted_revision: if all_met {
            Some(revision.to_string())
        } else {
            previous.admitted_revision.clone()
        },
        shadow_passed_revision: if passed_shadow.is_some() {
            Some(revision.to_string())
        } else {
            previous.shadow_passed_revision.clone()
        },
        backtest,
        shadow,
    };
    Some(Evaluation { status, blocker })
}

/// The `Stalled` blocker naming the first gate not met, with every unmet gate's message.
fn blocker(revision: &str, backtest: Option<&GateState>, shadow: Option<&GateState>) -> Blocker {
    let unmet: Vec<&str> = [backtest, shadow]
        .into_iter()
        .flatten()
        .filter(|s| !s.met)
        .map(|s| s.message.as_str())
        .collect();
    let reason = if backtest.is_some_and(|s| !s.met) {
        BACKTEST_GATE_NOT_MET
    } else {
        SHADOW_GATE_NOT_MET
    };
    Blocker::new(
        reason,
        format!(
            "revision {revision} is not rendered onto the live account until its promotion \
             gates are met: {}",
            unmet.join("; ")
        ),
    )
}

/// The backtest gate: met by a Complete, unswept Backtest of this strategy that tested
/// `revision` and whose run meets every threshold.
fn backtest_gate(
    gate: &BacktestGate,
    strategy: &str,
    revision: &str,
    backtests: &[&Backtest],
) -> GateState {
    let mut ours: Vec<&Backtest> = backtests
        .iter()
        .copied()
        .filter(|b| {
            b.spec
                .strategy_ref
                .as_ref()
                .is_some_and(|r| r.name == strategy)
                && b.spec.sweep.is_none()
        })
        .filter(|b| {
            b.status
                .as_ref()
                .and_then(|s| s.strategy_revision.as_deref())
                == Some(revision)
        })
        .collect();
    ours.sort_by_key(|b| b.metadata.name.clone());
    let mut shortfalls = Vec::new();
    for backtest in &ours {
        let name = backtest.metadata.name.as_deref().unwrap_or_default();
        if !complete(backtest) {
            shortfalls.push(format!("Backtest {name} of it is not Complete yet"));
            continue;
        }
        let Some(stats) = run_stats(backtest) else {
            shortfalls.push(format!("Backtest {name} reported no statistics"));
            continue;
        };
        match shortfall(gate, stats) {
            None => {
                return GateState {
                    met: true,
                    message: format!(
                        "Backtest {name} tested revision {revision} and met every threshold"
                    ),
                };
            }
            Some(problem) => shortfalls.push(format!("Backtest {name}: {problem}")),
        }
    }
    let message = if shortfalls.is_empty() {
        format!(
            "no Backtest with strategyRef {strategy} and no sweep has tested revision \
             {revision}: create one (the gate counts only a Complete one of this revision)"
        )
    } else {
        format!("revision {revision}: {}", shortfalls.join("; "))
    };
    GateState {
        met: false,
        message,
    }
}

fn complete(backtest: &Backtest) -> bool {
    backtest.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == COMPLETE && c.status == "True")
    })
}

/// The statistics of the one run of an unswept backtest.
fn run_stats(backtest: &Backtest) -> Option<&RunStats> {
    let status = backtest.status.as_ref()?;
    let run = status
        .runs
        .iter()
        .find(|r| r.index == 0 && r.phase == RunPhase::Succeeded)?;
    run.stats.as_ref()
}

/// The first threshold `stats` misses, in words.
pub fn shortfall(gate: &BacktestGate, stats: &RunStats) -> Option<String> {
    let below = |name: &str, value: Option<f64>, least: Option<f64>| {
        let least = least?;
        match value {
            Some(v) if v >= least => None,
            Some(v) => Some(format!("{name} {v:.4} is below the gate's {least}")),
            None => Some(format!("{name} is not defined for its run (gate {least})")),
        }
    };
    below("totalReturn", stats.total_return, gate.min_total_return)
        .or_else(|| below("sharpe", stats.sharpe, gate.min_sharpe))
        .or_else(|| {
            let most = gate.max_drawdown?;
            match stats.max_drawdown {
                Some(v) if v <= most => None,
                Some(v) => Some(format!("maxDrawdown {v:.4} exceeds the gate's {most}")),
                None => Some(format!(
                    "maxDrawdown is not defined for its run (gate {most})"
                )),
            }
        })
        .or_else(|| {
            let least = gate.min_trades?;
            let trades = stats.trades.unwrap_or(0);
            (trades < least).then(|| format!("trades {trades} is below the gate's {least}"))
        })
}

/// The shadow gate's thresholds: the gate's own, or else the analysis'.
pub fn shadow_thresholds(gate: &ShadowGate, analysis: Option<&Thresholds>) -> (u32, f64) {
    let cycles = gate
        .min_cycles
        .and_then(|n| u32::try_from(n).ok())
        .or(analysis.map(|a| a.min_cycles))
        .unwrap_or(1);
    let agreement = gate
        .min_agreement
        .or(analysis.map(|a| a.min_agreement))
        .unwrap_or(0.0);
    (cycles, agreement)
}

/// Why `rollout` shows `revision` passed a shadow analysis meeting the gate, if it does.
fn shadow_passed(
    gate: &ShadowGate,
    analysis: Option<&Thresholds>,
    revision: &str,
    rollout: Option<&RolloutStatus>,
) -> Option<String> {
    let rollout = rollout.filter(|r| r.shadow_revision.as_deref() == Some(revision))?;
    let verdict = rollout.verdict.as_deref()?;
    if verdict != Verdict::Succeeded.as_str() && verdict != PROMOTED {
        return None;
    }
    let (cycles, agreement) = shadow_thresholds(gate, analysis);
    let compared = rollout.cycles_compared.unwrap_or(0).max(0) as u32;
    let agreed = rollout.cycles_agreed.unwrap_or(0).max(0) as u32;
    let share = if compared == 0 {
        0.0
    } else {
        f64::from(agreed) / f64::from(compared)
    };
    (compared >= cycles && share >= agreement).then(|| {
        format!(
            "revision {revision} passed its shadow analysis: {compared} cycles, agreement \
             {share:.2}"
        )
    })
}

/// The shadow gate not met, and what to do.
fn shadow_not_met(
    gate: &ShadowGate,
    analysis: Option<&Thresholds>,
    revision: &str,
    rollout: Option<&RolloutStatus>,
    first: bool,
    gates: &PromotionGates,
) -> GateState {
    if first && gates.backtest.is_some() {
        // Nothing live to shadow: the first revision is the backtest gate's to admit.
        return GateState {
            met: true,
            message: format!(
                "revision {revision} is the first on the live account: there is nothing live \
                 to shadow, the backtest gate admits it"
            ),
        };
    }
    let (cycles, agreement) = shadow_thresholds(gate, analysis);
    let message = if first {
        format!(
            "revision {revision} is the first on the live account and there is nothing live \
             to shadow: add promotionGates.backtest and a Backtest of it"
        )
    } else {
        match rollout.filter(|r| r.shadow_revision.as_deref() == Some(revision)) {
            Some(r) => format!(
                "revision {revision}'s shadow analysis is {} ({} cycles compared, agreement \
                 {}); the gate needs {cycles} cycles at agreement {agreement}",
                r.verdict.as_deref().unwrap_or("not started"),
                r.cycles_compared.unwrap_or(0),
                r.agreement.as_deref().unwrap_or("-"),
            ),
            None => format!(
                "revision {revision} has not passed a shadow analysis of {cycles} cycles at \
                 agreement {agreement}"
            ),
        }
    };
    GateState {
        met: false,
        message,
    }
}
