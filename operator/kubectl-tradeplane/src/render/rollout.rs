//! `rollout NAME`: the shadow analysis as the operator wrote it (status.rollout), and the
//! cycles in which the live and the shadow decisions differ, side by side.
//!
//! "Differ" is the operator's rule of agreement, restated here because the plugin never
//! depends on the operator's code: the same action, the same order side (or neither
//! ordered), and sizes within 10% (the order's quantity, or without an order the position
//! aimed at). A symbol only one side decided on differs too.

use serde::Serialize;
use tradeplane_api::trading_strategy::RolloutStatus;
use tradeplane_contract::journal_api::{CycleDetail, DecisionView};

use super::Style;

/// The sizes two agreeing decisions may differ by, a fraction of the larger.
pub const SIZE_TOLERANCE: f64 = 0.1;

/// One side's decision on one symbol in one cycle.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    pub action: String,
    /// The side of its order; absent when it placed none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_side: Option<String>,
    pub size: f64,
}

/// A symbol whose live and shadow decisions differ in a cycle both completed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub cycle: String,
    pub symbol: String,
    pub live: Option<Side>,
    pub shadow: Option<Side>,
}

fn side(decision: &DecisionView) -> Side {
    let size = if decision.orders.is_empty() {
        decision.target_quantity
    } else {
        decision.orders.iter().map(|o| o.quantity).sum()
    };
    Side {
        action: decision.action.clone(),
        order_side: decision.orders.first().map(|o| o.side.clone()),
        size,
    }
}

fn agree(a: &Side, b: &Side) -> bool {
    let larger = a.size.abs().max(b.size.abs());
    a.action == b.action
        && a.order_side == b.order_side
        && (larger == 0.0 || (a.size - b.size).abs() <= SIZE_TOLERANCE * larger)
}

/// The symbols of one cycle whose decisions differ, in the live side's symbol order, then
/// the symbols only the shadow decided on.
pub fn differences(live: &CycleDetail, shadow: &CycleDetail) -> Vec<Difference> {
    let find = |cycle: &CycleDetail, symbol: &str| {
        cycle
            .decisions
            .iter()
            .find(|d| d.symbol == symbol)
            .map(side)
    };
    let mut symbols: Vec<&str> = live.decisions.iter().map(|d| d.symbol.as_str()).collect();
    for decision in &shadow.decisions {
        if !symbols.contains(&decision.symbol.as_str()) {
            symbols.push(&decision.symbol);
        }
    }
    symbols
        .into_iter()
        .filter_map(|symbol| {
            let (ours, theirs) = (find(live, symbol), find(shadow, symbol));
            let same = matches!((&ours, &theirs), (Some(a), Some(b)) if agree(a, b));
            (!same).then(|| Difference {
                cycle: live.cycle.id.clone(),
                symbol: symbol.to_string(),
                live: ours,
                shadow: theirs,
            })
        })
        .collect()
}

/// Where the side-by-side decisions came from, or why there are none.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "source")]
pub enum Decisions {
    /// Both journals were read: `compared` cycles both sides completed, and the differences.
    Journals {
        compared: usize,
        differences: Vec<Difference>,
    },
    /// The journals could not be read (the shadow no longer runs, or a refusal): why.
    Unread { reason: String },
}

/// What `rollout -o json|yaml` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    pub strategy: String,
    pub rollout: Option<RolloutStatus>,
    pub decisions: Decisions,
}

fn field(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

fn count(value: Option<i32>) -> String {
    value.map_or_else(|| "-".to_string(), |n| n.to_string())
}

fn describe(side: Option<&Side>) -> String {
    match side {
        None => "no decision".to_string(),
        Some(s) => match &s.order_side {
            Some(order) => format!("{} ({order} {})", s.action, s.size),
            None => format!("{} (target {})", s.action, s.size),
        },
    }
}

/// The screen.
pub fn screen(view: &RolloutView, style: Style) -> String {
    let Some(r) = view.rollout.as_ref().filter(|r| r.verdict.is_some()) else {
        return format!(
            "strategy '{}': no shadow analysis; the live pods run the revision the spec asks \
             for (rollout Direct, or no decision-relevant change since)\n",
            view.strategy
        );
    };
    let verdict = field(r.verdict.as_deref());
    let painted = match verdict {
        "Failed" => style.bad(verdict),
        "Succeeded" | "Promoted" => style.good(verdict),
        _ => style.warn(verdict),
    };
    let mut text = format!(
        "strategy '{}'  live {}  shadow {}\nverdict   {painted}: {}\n",
        view.strategy,
        field(r.live_revision.as_deref()),
        field(r.shadow_revision.as_deref()),
        field(r.reason.as_deref()),
    );
    text.push_str(&format!(
        "cycles    {} compared, {} agreed (agreement {})\n\
         shadow    {} cycles, {} errors, drawdown {}, LLM cost ${}\n\
         P&L       shadow less live {}\n\
         first disagreement {}, last cycle compared {}\n",
        count(r.cycles_compared),
        count(r.cycles_agreed),
        field(r.agreement.as_deref()),
        count(r.shadow_cycles),
        count(r.errors),
        field(r.drawdown.as_deref()),
        field(r.llm_cost_usd.as_deref()),
        field(r.pnl_difference.as_deref()),
        field(r.first_disagreement.as_deref()),
        field(r.last_cycle.as_deref()),
    ));
    text.push_str(&decisions(&view.decisions));
    text
}

fn decisions(decisions: &Decisions) -> String {
    match decisions {
        Decisions::Unread { reason } => format!("\ndecisions not shown: {reason}\n"),
        Decisions::Journals {
            compared,
            differences,
        } if differences.is_empty() => {
            format!("\nthe decisions agree in the {compared} newest cycles both completed\n")
        }
        Decisions::Journals {
            compared,
            differences,
        } => {
            let mut text = format!(
                "\ndecisions that differ, of the {compared} newest cycles both completed:\n\
                 {:<17} {:<8} {:<24} {:<24}\n",
                "CYCLE", "SYMBOL", "LIVE", "SHADOW"
            );
            for d in differences {
                text.push_str(&format!(
                    "{:<17} {:<8} {:<24} {:<24}\n",
                    d.cycle,
                    d.symbol,
                    describe(d.live.as_ref()),
                    describe(d.shadow.as_ref())
                ));
            }
            text
        }
    }
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
