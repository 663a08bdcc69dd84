//! What the cycle needs from the broker, the journal and the debate, as small traits.
//!
//! The pipeline is written against these seams rather than the concrete broker and journal
//! modules, so it can be tested with in-memory doubles and each side can change without the
//! other. Adapters from the real `broker` and `journal` modules implement them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::config::TradingState;
use crate::domain::orders::MarketClock;
use crate::domain::risk::{Clip, Intent, Rejection, Trip};
use crate::domain::{
    AnalystReport, DataWindow, Decision, Fill, LlmEvent, OrderRequest, OrderStatus, Position,
    PositionCorrection, Snapshot, SpendLedger,
};

/// Cash, equity and positions, with positions marked at the cycle's prices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub cash: f64,
    pub equity: f64,
    pub positions: Vec<Position>,
}

impl AccountState {
    pub fn position(&self, symbol: &str) -> Option<&Position> {
        self.positions.iter().find(|p| p.symbol == symbol)
    }
}

/// What the broker did since the last look, as the cycle learns it before deciding: fills of
/// orders placed in earlier cycles, the symbols with an order still working, and the
/// differences found between the journal's positions and the broker's (now corrected).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settlement {
    pub fills: Vec<Fill>,
    pub open_symbols: BTreeSet<String>,
    pub corrections: Vec<PositionCorrection>,
}

/// What the broker said about one order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderOutcome {
    pub status: OrderStatus,
    pub fills: Vec<Fill>,
    /// The broker's reason for a rejection, if any.
    pub message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct PortError {
    /// A stable label (`unreachable`, `rejected`, `storage`, ...).
    pub kind: &'static str,
    pub message: String,
}

/// The broker, as the cycle uses it.
pub trait Execution: Send + Sync {
    /// The account, positions marked at `marks` (last prices by symbol) where the broker
    /// does not mark them itself.
    fn account<'a>(
        &'a self,
        marks: &'a BTreeMap<String, f64>,
    ) -> BoxFuture<'a, Result<AccountState, PortError>>;

    /// [`account`](Self::account) at once, written over `account` (whose list of positions
    /// and their symbols it reuses), for a broker that answers in-process without waiting on
    /// anything (the backtest's); `None` for the others, which the cycle awaits. A backtest
    /// asks twice per bar, and a boxed future and a new list per ask cost more than the answer.
    fn account_into_at_once(
        &self,
        _marks: &BTreeMap<String, f64>,
        _account: &mut AccountState,
    ) -> Option<Result<(), PortError>> {
        None
    }

    /// Whether the account changes only through the cycle's own orders and [`settle`]:
    /// true for an in-process simulation, which nothing else touches; false (the default)
    /// for a real broker, where fills of earlier orders, deposits and corporate actions
    /// arrive at any time. The cycle reads the account again after its orders to journal the
    /// equity; where this holds and it placed none, that read would return the first one's
    /// answer, and a backtest (which places none on most bars) skips it.
    ///
    /// [`settle`]: Self::settle
    fn account_moves_only_with_orders(&self) -> bool {
        false
    }

    /// Brings local state in line with the broker after a start (open orders with unknown
    /// outcomes looked up by client order id). The trader is not ready until this succeeded.
    fn reconcile(&self) -> BoxFuture<'_, Result<(), PortError>> {
        futures::future::ready(Ok(())).boxed()
    }

    /// Reads the account and positions and writes nothing: how a standby learns the broker
    /// answers while another replica leads and owns the journal.
    fn check(&self) -> BoxFuture<'_, Result<(), PortError>> {
        futures::future::ready(Ok(())).boxed()
    }

    /// Follows the orders still open (their new fills and statuses journalled, an overdue one
    /// canceled as the policy says) and holds the journal's positions to the broker's. Runs
    /// before each cycle decides; a broker that fills every order when placed has nothing to
    /// settle.
    fn settle<'a>(&'a self, _cycle_id: &'a str) -> BoxFuture<'a, Result<Settlement, PortError>> {
        futures::future::ready(Ok(Settlement::default())).boxed()
    }

    /// [`settle`](Self::settle) at once, written over `into` (last cycle's, whose lists it
    /// reuses), as [`account_into_at_once`](Self::account_into_at_once).
    fn settle_at_once(
        &self,
        _cycle_id: &str,
        _into: &mut Settlement,
    ) -> Option<Result<(), PortError>> {
        None
    }

    /// The broker's market clock, for `marketHoursOnly`; `None` where the broker has none
    /// (the schedule's own calendar then decides).
    fn market_clock(&self) -> BoxFuture<'_, Result<Option<MarketClock>, PortError>> {
        futures::future::ready(Ok(None)).boxed()
    }

    /// Places an order (idempotent by `client_order_id`) for cycle `cycle_id` at cycle time
    /// `at`. The cycle records `Order` before and `OrderResult` after; a journal whose broker
    /// writes order rows itself (pending first) may treat those entries as notes.
    fn submit<'a>(
        &'a self,
        cycle_id: &'a str,
        order: &'a OrderRequest,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderOutcome, PortError>>;
}

/// Everything the cycle journals, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum JournalEntry {
    /// A cycle started (`Running`) or ended.
    Cycle {
        cycle_id: String,
        time: DateTime<Utc>,
        phase: CyclePhase,
        summary: Option<String>,
    },
    Decision {
        cycle_id: String,
        time: DateTime<Utc>,
        decision: Decision,
        /// The bars the seats saw and what each computed; `None` from older entries.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<DataWindow>,
    },
    RiskRejected {
        cycle_id: String,
        time: DateTime<Utc>,
        symbol: String,
        rejection: Rejection,
    },
    Order {
        cycle_id: String,
        time: DateTime<Utc>,
        order: OrderRequest,
        intent: Intent,
        clips: Vec<Clip>,
    },
    OrderResult {
        cycle_id: String,
        time: DateTime<Utc>,
        client_order_id: String,
        outcome: OrderOutcome,
    },
    /// An order not sent because the leader could not confirm its lease (it stepped down).
    OrderAbandoned {
        cycle_id: String,
        time: DateTime<Utc>,
        order: OrderRequest,
        reason: String,
    },
    /// No order for `symbol` this cycle: one placed earlier is still open at the broker.
    OrderWorking {
        cycle_id: String,
        time: DateTime<Utc>,
        symbol: String,
    },
    /// A scheduled slot no leader ran (nobody held the Lease then).
    MissedCycle {
        cycle_id: String,
        time: DateTime<Utc>,
    },
    KillSwitch {
        cycle_id: String,
        time: DateTime<Utc>,
        trip: Trip,
    },
    /// Something on the way to an LLM report for `symbol`: a retry, a malformed answer, a
    /// provider given up, a budget spent, a fallback.
    Llm {
        cycle_id: String,
        time: DateTime<Utc>,
        symbol: String,
        event: LlmEvent,
    },
    /// The configured trading state changed while running (the config file was updated,
    /// e.g. `suspend: true`), from `from` to `to`.
    TradingState {
        cycle_id: String,
        time: DateTime<Utc>,
        from: TradingState,
        to: TradingState,
    },
    Equity {
        cycle_id: String,
        time: DateTime<Utc>,
        account: AccountState,
        marks: BTreeMap<String, f64>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CyclePhase {
    Running,
    Completed,
    Failed,
}

/// The entries a cycle writes on every run, whatever happens: the ones a recorder may say it
/// does not keep (see [`Recorder::keeps`]). Rare entries (a kill switch, a rejection, an
/// abandoned order, a trading-state change, LLM events) are always built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routine {
    /// `Cycle` at the start and the end, with its summary.
    Cycle,
    /// `Decision`, with its data window and each seat's indicators.
    Decision,
    /// `Order`, `OrderResult` and `OrderWorking`.
    Order,
}

/// The journal, as the cycle uses it.
pub trait Recorder: Send + Sync {
    fn record<'a>(&'a self, entry: &'a JournalEntry) -> BoxFuture<'a, Result<(), PortError>>;

    /// [`record`](Self::record) at once, for a recorder that keeps entries in memory and
    /// waits on nothing; `None` for the others (a database), which the cycle awaits.
    fn record_at_once(&self, _entry: &JournalEntry) -> Option<Result<(), PortError>> {
        None
    }

    /// Whether this recorder keeps `routine` entries. The cycle does not build the ones it
    /// does not keep: a backtest keeps only the equity curve, and building, formatting and
    /// dropping the others cost more than the rest of its cycle. A journal keeps everything.
    fn keeps(&self, _routine: Routine) -> bool {
        true
    }

    /// The time of the newest cycle journalled (run, failed or missed): where a new leader
    /// resumes. `None` when nothing was journalled, or the journal keeps no history.
    fn last_cycle(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, PortError>> {
        futures::future::ready(Ok(None)).boxed()
    }

    /// Where the in-process LLM providers record their spend and restore it after a restart;
    /// `None` (memory only) for journals that do not outlive the process.
    fn spend_ledger(&self) -> Option<Arc<dyn SpendLedger>> {
        None
    }

    /// The book the in-process LLM providers record answers in, replay them from, and keep
    /// their spending cap with; `None`: they call out as configured and store nothing.
    fn answer_book(&self) -> Option<Arc<crate::agents::llm::AnswerBook>> {
        None
    }
}

/// Keeps entries in memory: for tests, benches and the `replay` summary.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    entries: Mutex<Vec<JournalEntry>>,
}

impl MemoryJournal {
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl MemoryJournal {
    fn keep(&self, entry: &JournalEntry) -> Result<(), PortError> {
        match self.entries.lock() {
            Ok(mut entries) => {
                entries.push(entry.clone());
                Ok(())
            }
            Err(_) => Err(PortError {
                kind: "storage",
                message: "journal lock poisoned".into(),
            }),
        }
    }
}

impl Recorder for MemoryJournal {
    fn record<'a>(&'a self, entry: &'a JournalEntry) -> BoxFuture<'a, Result<(), PortError>> {
        futures::future::ready(self.keep(entry)).boxed()
    }

    fn record_at_once(&self, entry: &JournalEntry) -> Option<Result<(), PortError>> {
        Some(self.keep(entry))
    }
}

/// Writes entries to the log (one JSON line each), for modes without a journal database.
#[derive(Debug, Default)]
pub struct LogJournal;

impl Recorder for LogJournal {
    fn record<'a>(&'a self, entry: &'a JournalEntry) -> BoxFuture<'a, Result<(), PortError>> {
        match serde_json::to_string(entry) {
            Ok(json) => tracing::info!(target: "journal", entry = %json),
            Err(err) => tracing::warn!(target: "journal", %err, "cannot serialise a journal entry"),
        }
        futures::future::ready(Ok(())).boxed()
    }
}

/// The bull/bear debate: given the reports, argues both sides and concludes, as a report
/// with role `debate`. `None` when it cannot (the decision then goes without it).
pub trait Debate: Send + Sync {
    fn debate<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        reports: &'a [AnalystReport],
        rounds: u32,
    ) -> BoxFuture<'a, Option<AnalystReport>>;

    /// The conclusion and the LLM events on the way to it, for the journal.
    fn debate_detailed<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        reports: &'a [AnalystReport],
        rounds: u32,
    ) -> BoxFuture<'a, (Option<AnalystReport>, Vec<LlmEvent>)> {
        async move { (self.debate(snapshot, reports, rounds).await, Vec::new()) }.boxed()
    }
}
