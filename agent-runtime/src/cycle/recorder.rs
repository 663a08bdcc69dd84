//! The journal behind the cycle's [`Recorder`] port: [`JournalRecorder`] writes the cycle's
//! entries as journal rows.
//!
//! Cycles, decisions, rejections, equity and missed slots have tables of their own; what
//! else the cycle says becomes an event row, built by the pure [`event_record`]. Order rows
//! are written by `broker::execute`, so the recorder keeps only what it adds to them (risk
//! clips) from the cycle's `Order` and `OrderResult` entries.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::ports::{CyclePhase, JournalEntry, PortError, Recorder};
use crate::agents::llm::{AnswerBook, AnswerStore, LlmMode};
use crate::domain::{LlmEvent, SpendLedger};
use crate::journal::{
    CycleRecord, CycleStatus, EventRecord, Journal, JournalError, RejectionRecord,
};

/// Writes the cycle's entries to the journal database.
pub struct JournalRecorder {
    journal: Journal,
    answers: Option<Arc<AnswerBook>>,
}

impl JournalRecorder {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            answers: None,
        }
    }

    /// When `record` (`llm.record`), the in-process providers store every answer in this
    /// journal, so a backtest can replay the decisions later; calls go out as before, with
    /// no cap beyond the providers' and the strategy's daily budgets.
    pub fn recording_answers(mut self, record: bool) -> Self {
        self.answers = record.then(|| {
            let store = Arc::new(self.journal.clone()) as Arc<dyn AnswerStore>;
            Arc::new(AnswerBook::new(LlmMode::Record, Some(store), None))
        });
        self
    }
}

impl Recorder for JournalRecorder {
    fn record<'a>(&'a self, entry: &'a JournalEntry) -> BoxFuture<'a, Result<(), PortError>> {
        async move { self.write(entry).await.map_err(journal_error) }.boxed()
    }

    fn last_cycle(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, PortError>> {
        async move { self.journal.last_cycle_time().await.map_err(journal_error) }.boxed()
    }

    fn spend_ledger(&self) -> Option<Arc<dyn SpendLedger>> {
        Some(Arc::new(self.journal.clone()))
    }

    fn answer_book(&self) -> Option<Arc<AnswerBook>> {
        self.answers.clone()
    }
}

impl JournalRecorder {
    async fn write(&self, entry: &JournalEntry) -> Result<(), JournalError> {
        match entry {
            JournalEntry::Cycle {
                cycle_id,
                time,
                phase,
                summary,
            } => {
                let status = match phase {
                    CyclePhase::Running => CycleStatus::Running,
                    CyclePhase::Completed => CycleStatus::Completed,
                    CyclePhase::Failed => CycleStatus::Failed,
                };
                let record = CycleRecord {
                    cycle_id: cycle_id.clone(),
                    started_at: *time,
                    finished_at: (status != CycleStatus::Running).then(Utc::now),
                    status,
                    summary: summary.clone(),
                };
                self.journal.record_cycle(&record).await
            }
            JournalEntry::Decision {
                cycle_id,
                time,
                decision,
                window,
            } => self
                .journal
                .record_decision_seen(cycle_id, *time, decision, window.as_ref())
                .await
                .map(|_| ()),
            JournalEntry::RiskRejected {
                cycle_id,
                time,
                symbol,
                rejection,
            } => {
                let record = RejectionRecord {
                    cycle_id: cycle_id.clone(),
                    symbol: symbol.clone(),
                    reason: rejection.reason.as_str().to_string(),
                    detail: rejection.detail.clone(),
                    rejected_at: *time,
                };
                self.journal.record_rejection(&record).await
            }
            JournalEntry::Equity { time, account, .. } => {
                self.journal
                    .record_equity(*time, account.cash, account.equity)
                    .await
            }
            JournalEntry::MissedCycle { cycle_id, time } => {
                let record = CycleRecord {
                    cycle_id: cycle_id.clone(),
                    started_at: *time,
                    finished_at: None,
                    status: CycleStatus::Missed,
                    summary: Some("no leader ran this slot".into()),
                };
                self.journal.record_missed_cycle(&record).await
            }
            _ => match event_record(entry) {
                Some(event) => self.journal.record_event(&event).await,
                None => Ok(()),
            },
        }
    }
}

/// The event row an entry without a table of its own becomes; `None` for entries the
/// journal keeps elsewhere (an order without clips, an order's result: the order rows).
///
/// Long on purpose: a table, one arm per kind of entry with the event kind, message and
/// details it is journalled as, so every event row's wording is read in one place.
pub fn event_record(entry: &JournalEntry) -> Option<EventRecord> {
    let (cycle_id, time, kind, message, details) = match entry {
        JournalEntry::Order {
            cycle_id,
            time,
            order,
            clips,
            ..
        } if !clips.is_empty() => (
            cycle_id,
            time,
            "risk_clipped".to_string(),
            format!(
                "{} {} clipped to {}",
                order.symbol,
                order.side.as_str(),
                order.quantity
            ),
            serde_json::to_value(clips).ok(),
        ),
        JournalEntry::KillSwitch {
            cycle_id,
            time,
            trip,
        } => (
            cycle_id,
            time,
            "kill_switch".to_string(),
            trip.to_string(),
            serde_json::to_value(trip).ok(),
        ),
        JournalEntry::Llm {
            cycle_id,
            time,
            symbol,
            event,
        } => return Some(llm_event_record(cycle_id, *time, symbol, event)),
        JournalEntry::TradingState {
            cycle_id,
            time,
            from,
            to,
        } => (
            cycle_id,
            time,
            "trading_state".to_string(),
            format!(
                "configured trading state {} -> {}",
                from.as_str(),
                to.as_str()
            ),
            Some(serde_json::json!({"from": from, "to": to})),
        ),
        JournalEntry::OrderAbandoned {
            cycle_id,
            time,
            order,
            reason,
        } => (
            cycle_id,
            time,
            "order_abandoned".to_string(),
            format!(
                "{} {} {}: not sent, {reason}",
                order.side.as_str(),
                order.quantity,
                order.symbol
            ),
            serde_json::to_value(order).ok(),
        ),
        JournalEntry::OrderWorking {
            cycle_id,
            time,
            symbol,
        } => (
            cycle_id,
            time,
            "order_working".to_string(),
            format!("{symbol}: no new order, one placed earlier is still open at the broker"),
            None,
        ),
        _ => return None,
    };
    Some(EventRecord {
        cycle_id: Some(cycle_id.clone()),
        kind,
        message,
        details,
        created_at: *time,
    })
}

/// An LLM event as an event row: its kind prefixed `llm_`, the symbol added to its details.
fn llm_event_record(
    cycle_id: &str,
    time: DateTime<Utc>,
    symbol: &str,
    event: &LlmEvent,
) -> EventRecord {
    let mut details = serde_json::to_value(event).unwrap_or_default();
    if let Some(map) = details.as_object_mut() {
        map.insert("symbol".into(), symbol.to_string().into());
    }
    EventRecord {
        cycle_id: Some(cycle_id.to_string()),
        kind: format!("llm_{}", event.kind()),
        message: format!("{symbol}: {event}"),
        details: Some(details),
        created_at: time,
    }
}

/// A journal failure as the cycle's ports report it (the adapters' and the recorder's).
pub(super) fn journal_error(err: JournalError) -> PortError {
    PortError {
        kind: "storage",
        message: err.to_string(),
    }
}
