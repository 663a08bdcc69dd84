//! The shadow analysis as pure functions: whether two journals' decisions for one cycle
//! agree, and the verdict a tally of compared cycles comes to under the analysis'
//! thresholds. No I/O: `journal` reads the journals, `reconcile` acts on the verdict.

use tradeplane_contract::journal_api::{CycleDetail, DecisionView};

/// Two sizes agree when they differ by at most this fraction of the larger: a changed quant
/// parameter that moves a position size a little is the same decision, one that halves it
/// is not.
pub const SIZE_TOLERANCE: f64 = 0.1;

/// What the analysis asks of the shadow (`spec.rollout.analysis`, defaults applied).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Cycles compared before a success can be declared.
    pub min_cycles: u32,
    /// Fraction of compared cycles whose decisions must agree, 0–1.
    pub min_agreement: f64,
    /// The shadow's paper drawdown (a fraction of its peak equity) that fails it.
    pub max_drawdown: f64,
    /// Fraction of the shadow's cycles that may fail.
    pub max_error_rate: f64,
    /// US dollars of LLM spend that fail the shadow; `None`: no limit.
    pub max_llm_spend_usd: Option<f64>,
}

/// What the comparison has seen so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Cycles both the live pods and the shadow completed.
    pub cycles_compared: u32,
    /// Of those, the ones whose decisions agreed symbol by symbol.
    pub cycles_agreed: u32,
    /// Cycles the shadow ran in all, and how many of them failed.
    pub shadow_cycles: u32,
    pub shadow_errors: u32,
    /// The shadow's paper drawdown now, a fraction.
    pub drawdown: f64,
    /// The shadow's LLM spend, US dollars.
    pub llm_cost_usd: f64,
    /// The first cycle compared that disagreed, for the reason.
    pub first_disagreement: Option<String>,
}

impl Tally {
    /// Agreed over compared, 0 when nothing was compared yet.
    pub fn agreement(&self) -> f64 {
        if self.cycles_compared == 0 {
            return 0.0;
        }
        f64::from(self.cycles_agreed) / f64::from(self.cycles_compared)
    }

    /// Adds one cycle both sides completed.
    pub fn compare(&mut self, live: &CycleDetail, shadow: &CycleDetail) {
        self.cycles_compared += 1;
        if cycles_agree(live, shadow) {
            self.cycles_agreed += 1;
        } else if self.first_disagreement.is_none() {
            self.first_disagreement = Some(live.cycle.id.clone());
        }
    }
}

/// Where the analysis stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough cycles yet, and nothing has failed.
    Running,
    Succeeded,
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }
}

/// A verdict and the sentence that explains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reason: String,
}

/// The verdict `tally` comes to. A limit that is broken fails at once, whatever the cycle
/// count: a drawdown or a spend is not undone by more cycles, and disagreements beyond what
/// `min_agreement` allows over `min_cycles` cannot be made up — so a change that flips
/// decisions fails early rather than after the whole analysis.
pub fn judge(thresholds: &Thresholds, tally: &Tally) -> Judgement {
    let failed = |reason: String| Judgement {
        verdict: Verdict::Failed,
        reason,
    };
    if tally.drawdown > thresholds.max_drawdown {
        return failed(format!(
            "paper drawdown {:.1}% is above maxDrawdown {:.1}%",
            tally.drawdown * 100.0,
            thresholds.max_drawdown * 100.0
        ));
    }
    if let Some(limit) = thresholds.max_llm_spend_usd
        && tally.llm_cost_usd > limit
    {
        return failed(format!(
            "LLM spend ${:.2} is above maxLLMSpendUSD ${limit:.2}",
            tally.llm_cost_usd
        ));
    }
    let judged_cycles = tally.shadow_cycles.max(thresholds.min_cycles);
    let allowed_errors = thresholds.max_error_rate * f64::from(judged_cycles);
    if f64::from(tally.shadow_errors) > allowed_errors {
        return failed(format!(
            "{} of {} shadow cycles failed, above maxErrorRate {:.0}%",
            tally.shadow_errors,
            tally.shadow_cycles,
            thresholds.max_error_rate * 100.0
        ));
    }
    let judged = tally.cycles_compared.max(thresholds.min_cycles);
    let allowed_disagreements = (1.0 - thresholds.min_agreement) * f64::from(judged);
    let disagreed = tally.cycles_compared - tally.cycles_agreed;
    if f64::from(disagreed) > allowed_disagreements + 1e-9 {
        let first = tally.first_disagreement.as_deref().unwrap_or("unknown");
        return failed(format!(
            "{disagreed} of {} compared cycles disagreed (first: cycle {first}), so agreement \
             cannot reach minAgreement {:.0}% over {judged} cycles",
            tally.cycles_compared,
            thresholds.min_agreement * 100.0
        ));
    }
    if tally.cycles_compared < thresholds.min_cycles {
        return Judgement {
            verdict: Verdict::Running,
            reason: format!(
                "{} of {} cycles compared, agreement {:.0}%",
                tally.cycles_compared,
                thresholds.min_cycles,
                tally.agreement() * 100.0
            ),
        };
    }
    Judgement {
        verdict: Verdict::Succeeded,
        reason: format!(
            "{} cycles compared, agreement {:.0}% (minAgreement {:.0}%), drawdown {:.1}%, \
             {} errors",
            tally.cycles_compared,
            tally.agreement() * 100.0,
            thresholds.min_agreement * 100.0,
            tally.drawdown * 100.0,
            tally.shadow_errors
        ),
    }
}

/// Whether two runs of one cycle decided the same for every symbol, and for the same
/// symbols.
pub fn cycles_agree(live: &CycleDetail, shadow: &CycleDetail) -> bool {
    live.decisions.len() == shadow.decisions.len()
        && live.decisions.iter().all(|decision| {
            shadow
                .decisions
                .iter()
                .find(|other| other.symbol == decision.symbol)
                .is_some_and(|other| decisions_agree(decision, other))
        })
}

/// Same action, same order side (or neither ordered), and sizes within [`SIZE_TOLERANCE`].
pub fn decisions_agree(a: &DecisionView, b: &DecisionView) -> bool {
    a.action == b.action && side(a) == side(b) && sizes_agree(size(a), size(b))
}

/// The side of the decision's order; `None` when it placed none.
fn side(decision: &DecisionView) -> Option<&str> {
    decision.orders.first().map(|o| o.side.as_str())
}

/// What the decision ordered, or — without an order — the position it aimed at.
fn size(decision: &DecisionView) -> f64 {
    if decision.orders.is_empty() {
        decision.target_quantity
    } else {
        decision.orders.iter().map(|o| o.quantity).sum()
    }
}

fn sizes_agree(a: f64, b: f64) -> bool {
    let larger = a.abs().max(b.abs());
    larger == 0.0 || (a - b).abs() <= SIZE_TOLERANCE * larger
}
