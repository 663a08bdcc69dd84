//! `spec.rollout` and `status.rollout`: how a new decision-relevant revision reaches the
//! live pods — at once (`Direct`), or after deciding on paper beside them (`Shadow`).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a new decision-relevant revision (image, analysts, providers, models, prompts,
/// decision, risk, quant parameters) reaches the live pods. Any other change (a restart,
/// resources, the trading state, rotated keys) rolls as `upgrade` says, whatever this is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.analysis) || (has(self.strategy) && self.strategy == 'Shadow')").message("analysis applies only to strategy Shadow").reason(Reason::FieldValueForbidden).field_path(".analysis"),
)]
pub struct RolloutSpec {
    /// `Direct` (default): the new revision rolls onto the live pods (within the upgrade
    /// policy's windows). `Shadow`: the live pods keep the old revision while
    /// `<name>-shadow` runs the new one on a paper account of its own, seeded from the live
    /// book, with its own journal and no Lease; the operator compares the two journals'
    /// decisions cycle by cycle and promotes or refuses the new revision as `analysis` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RolloutStrategy>,
    /// The analysis of a shadow. Default: each setting's own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<ShadowAnalysis>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RolloutStrategy {
    /// Roll the new revision onto the live pods.
    #[default]
    Direct,
    /// Analyse it in a shadow first.
    Shadow,
}

/// When a shadow passes, and what happens then.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShadowAnalysis {
    /// Cycles both the live pods and the shadow must complete before the shadow can pass.
    /// Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub min_cycles: Option<i32>,
    /// The fraction (0–1) of compared cycles in which every symbol's decision must agree:
    /// the same action, the same order side, sizes within 10%. Disagreements beyond what
    /// it allows over `minCycles` fail the shadow at once. Default 0.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_agreement: Option<f64>,
    /// The paper drawdown (0–1, a fraction of the shadow's peak equity) that fails it.
    /// Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_drawdown: Option<f64>,
    /// The fraction (0–1) of the shadow's cycles that may fail. Default 0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_error_rate: Option<f64>,
    /// US dollars of LLM spend by the shadow that fail it. Default: no limit beyond the
    /// strategy's own budgets.
    #[serde(
        rename = "maxLLMSpendUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 0.0, max = 1000000.0))]
    pub max_llm_spend_usd: Option<f64>,
    /// `Wait` (default): a shadow that passed waits for a manual promote — the annotation
    /// `tradeplane.io/promote-shadow: <status.rollout.shadowRevision>` on the strategy.
    /// `Promote`: the operator promotes it at once (within the upgrade policy's windows).
    /// Either way, the annotation `tradeplane.io/abort-shadow: <status.rollout.shadowRevision>`
    /// refuses a running or passed (not yet promoted) shadow instead, as `onFailure` says;
    /// `kubectl tradeplane promote|abort NAME` and the Argo CD actions `promote-shadow` and
    /// `abort-shadow` write these annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<OnSuccess>,
    /// `Abort` (the only choice, and the default): the shadow is removed, the live pods keep
    /// their revision, and status.rollout says which revision was refused and why. A user's
    /// abort — the annotation `tradeplane.io/abort-shadow: <status.rollout.shadowRevision>` on
    /// the strategy — does the same to a running or passed shadow (reason `AbortedByUser`). A
    /// later change of the decision-relevant spec starts a new analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OnSuccess {
    /// Wait for a manual promote.
    #[default]
    Wait,
    /// Promote at once.
    Promote,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OnFailure {
    /// Remove the shadow and keep the live revision.
    #[default]
    Abort,
}

/// The shadow analysis as the operator last saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The decision revision the live pods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_revision: Option<String>,
    /// The decision revision analysed (running, passed, promoted or refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_revision: Option<String>,
    /// `Seeding`, `Running`, `Succeeded`, `Failed` or `Promoted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Why the analysis stands where it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Cycles both the live pods and the shadow completed, compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycles_compared: Option<i32>,
    /// Of those, the cycles whose decisions agreed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycles_agreed: Option<i32>,
    /// Agreed over compared, e.g. `0.95`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<String>,
    /// The shadow's paper P&L less the live pods' over the same time, in account currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pnl_difference: Option<String>,
    /// The shadow's paper drawdown, a fraction of its peak equity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drawdown: Option<String>,
    /// Cycles the shadow ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_cycles: Option<i32>,
    /// Of those, the cycles that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<i32>,
    /// The shadow's LLM spend, US dollars.
    #[serde(
        rename = "llmCostUSD",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub llm_cost_usd: Option<String>,
    /// The newest shadow cycle taken into the tally: the comparison goes on after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cycle: Option<String>,
    /// The first compared cycle whose decisions disagreed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_disagreement: Option<String>,
}
