//! `spec.promotionGates` and `status.gates`: what a revision must have passed before the
//! operator renders it onto a Live BrokerAccount.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a decision-relevant revision (the same revision `rollout` analyses) must have passed
/// before the operator renders it onto a `Live` BrokerAccount. Until every gate given is met
/// the strategy is `Stalled` (reason `BacktestGateNotMet` or `ShadowGateNotMet`): on its
/// first rollout no trader is rendered; on a revision change the live pods keep the revision
/// they run. Ignored for a `Paper` account. A revision once admitted stays admitted: the
/// gates do not stop a revision that already trades. Default: no gates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.backtest) || has(self.shadow)").message("promotionGates needs backtest or shadow (or both)").reason(Reason::FieldValueRequired),
)]
pub struct PromotionGates {
    /// Met when a Backtest in this namespace with `strategyRef` naming this strategy and no
    /// `sweep` is `Complete`, tested exactly the revision to roll (its
    /// `status.strategyRevision`) and its run's statistics meet every threshold given.
    /// Default: no backtest gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtest: Option<BacktestGate>,
    /// Met when the revision passed a shadow analysis (verdict `Succeeded` or `Promoted`) of
    /// at least these thresholds; they raise `rollout.analysis`'s own where stricter. Needs
    /// `rollout.strategy: Shadow`. A first revision has nothing live to shadow: it is
    /// admitted by the backtest gate, so a first rollout with only a shadow gate stays
    /// `Stalled` until a backtest gate is added (or the strategy starts on a Paper account).
    /// Default: no shadow gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowGate>,
}

/// Thresholds on the statistics of a backtest run (as `Backtest.status.runs[].stats`).
/// Each one given must be met; none given: a Complete backtest of the revision suffices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BacktestGate {
    /// The least total return, a fraction (e.g. `0.02` for +2%). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1.0, max = 1000.0))]
    pub min_total_return: Option<f64>,
    /// The least annualised Sharpe ratio. A run without one (no variance) fails it.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -100.0, max = 100.0))]
    pub min_sharpe: Option<f64>,
    /// The largest maximum drawdown, a fraction of the peak (0–1). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_drawdown: Option<f64>,
    /// The least closed round trips. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000))]
    pub min_trades: Option<i64>,
}

/// The least a shadow analysis of the revision must have shown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowGate {
    /// Cycles compared. Default: `rollout.analysis.minCycles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub min_cycles: Option<i32>,
    /// Agreement with the live revision (0–1). Default: `rollout.analysis.minAgreement`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_agreement: Option<f64>,
}

/// The promotion gates as the operator last evaluated them (a strategy on a Live account
/// with `spec.promotionGates`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatesStatus {
    /// The decision revision the gates were evaluated for: the one the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The decision revision last admitted onto the live account (every gate met).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_revision: Option<String>,
    /// The decision revision that last passed a shadow analysis meeting the shadow gate;
    /// kept after its promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_passed_revision: Option<String>,
    /// The backtest gate, with `promotionGates.backtest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtest: Option<GateState>,
    /// The shadow gate, with `promotionGates.shadow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<GateState>,
}

/// One gate's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateState {
    /// Whether the gate is met for `revision`.
    pub met: bool,
    /// Which Backtest or analysis met it, or what is missing.
    pub message: String,
}
