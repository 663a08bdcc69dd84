//! The LLM debate behind the cycle's [`Debate`] port. Implemented here, on the cycle's
//! side, so `agents` never depends on `cycle`: the analysts know nothing of the pipeline
//! that calls them.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::ports::Debate;
use crate::agents::llm::LlmDebate;
use crate::domain::{AnalystReport, LlmEvent, Snapshot};

impl Debate for LlmDebate {
    fn debate<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        reports: &'a [AnalystReport],
        rounds: u32,
    ) -> BoxFuture<'a, Option<AnalystReport>> {
        async move { self.run(snapshot, reports, rounds).await.conclusion }.boxed()
    }

    fn debate_detailed<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        reports: &'a [AnalystReport],
        rounds: u32,
    ) -> BoxFuture<'a, (Option<AnalystReport>, Vec<LlmEvent>)> {
        async move {
            let outcome = self.run(snapshot, reports, rounds).await;
            (outcome.conclusion, outcome.events)
        }
        .boxed()
    }
}
