//! Analysts: each turns a [`Snapshot`] of one symbol into an [`AnalystReport`].
//!
//! Quantitative analysts are pure functions of the bars; LLM analysts call a provider. Either
//! way an analyst never fails a cycle: when it cannot answer (provider down, budget spent) it
//! reports its configured fallback and says so in the report's `source` and `rationale`.

pub mod llm;
pub mod quant;

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::domain::AnalystReport;
pub use crate::domain::Snapshot;
use llm::{Analysis, LlmEvent};

/// One analyst seat.
pub trait Analyst: Send + Sync {
    /// The seat's role, e.g. `technical`.
    fn role(&self) -> &str;

    /// Bars of history the seat needs before it says anything but neutral; the cycle fetches
    /// at least that many. Seats that read no bars need none.
    fn history_needed(&self) -> usize {
        0
    }

    /// Reads the snapshot and reports; never fails (see the module docs).
    fn analyze<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, AnalystReport>;

    /// The report at once, for a seat that computes it in-process without waiting on
    /// anything (the quant seats); `None` for the others, which the cycle awaits. A backtest
    /// runs one cycle per bar, and building and polling a future per seat per bar cost more
    /// than the quant seats' arithmetic.
    fn analyze_at_once(&self, _snapshot: &Snapshot) -> Option<AnalystReport> {
        None
    }

    /// [`analyze_at_once`](Self::analyze_at_once) written over `report` (the seat's report
    /// on the previous bar, say) rather than returned; `false`, leaving `report` as it was,
    /// for a seat that does not answer at once. A seat that knows what stays the same from
    /// one report to the next (its role and source) rewrites only the rest, sparing a
    /// caller that keeps its reports a new one to build, move in and drop on every bar.
    fn analyze_at_once_into(&self, snapshot: &Snapshot, report: &mut AnalystReport) -> bool {
        match self.analyze_at_once(snapshot) {
            Some(answer) => {
                *report = answer;
                true
            }
            None => false,
        }
    }

    /// Whether [`analyze_at_once`](Self::analyze_at_once) always answers.
    fn answers_at_once(&self) -> bool {
        false
    }

    /// The report and what happened on the way to it ([`LlmEvent`]s: retries, budgets,
    /// fallbacks), for the journal. Analysts that call nothing have no events.
    fn analyze_detailed<'a>(&'a self, snapshot: &'a Snapshot) -> BoxFuture<'a, Analysis> {
        async move {
            Analysis {
                report: self.analyze(snapshot).await,
                events: Vec::<LlmEvent>::new(),
            }
        }
        .boxed()
    }

    /// The indicator values the seat computes from the snapshot (name → value), journalled
    /// with the decision's data window so the decision can be audited. Seats that compute
    /// none (an LLM seat reads the bars as text) have none.
    fn indicators(&self, _snapshot: &Snapshot) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }
}
