//! What the backtest keeps of its journal: running totals, not rows.
//!
//! The pipeline journals through the same [`Recorder`] port as a live trader. A backtest
//! needs only the statistics, so this recorder folds each equity entry into the equity
//! curve's totals as it arrives (returns, drawdown, exposure) and each fill the simulated
//! broker reports into the round trips; LLM spend arrives through the spend ledger the
//! providers write to. Memory stays flat however many bars run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use rustc_hash::FxHashMap;

use super::results::Collector;
use super::stats::{Drawdown, Moments, TradeTotals};
use crate::agents::llm::AnswerBook;
use crate::cycle::ports::{JournalEntry, PortError, Recorder, Routine};
use crate::domain::{Fill, LlmCall, Side, SpendLedger};

/// The equity curve and trades, as totals.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub starting_equity: f64,
    pub final_equity: f64,
    pub first_time: Option<DateTime<Utc>>,
    pub last_time: Option<DateTime<Utc>>,
    pub returns: Moments,
    pub drawdown: Drawdown,
    /// Cycles that ended holding a position.
    pub exposed: u64,
    pub cycles: u64,
    pub trades: TradeTotals,
    pub fills: u64,
    /// The sampled equity curve and the fills, for the results artifact.
    pub collected: Collector,
    /// Per symbol with a position: the cash that went out (negative) and came back so far.
    open_trades: FxHashMap<String, (f64, f64)>,
}

impl Totals {
    pub fn new(starting_equity: f64) -> Self {
        Self {
            starting_equity,
            final_equity: starting_equity,
            drawdown: Drawdown {
                peak: starting_equity,
                max: 0.0,
            },
            ..Self::default()
        }
    }

    /// `buy_and_hold` is what the starting equity held in the symbols would be worth now,
    /// as a multiple of it.
    fn equity(&mut self, time: DateTime<Utc>, equity: f64, holding: bool, buy_and_hold: f64) {
        self.collected
            .equity(time, equity, self.starting_equity * buy_and_hold);
        if self.final_equity > 0.0 {
            self.returns.push(equity / self.final_equity - 1.0);
        }
        self.final_equity = equity;
        self.drawdown.push(equity);
        self.first_time.get_or_insert(time);
        self.last_time = Some(time);
        self.cycles += 1;
        self.exposed += u64::from(holding);
    }

    /// A round trip closes when its symbol's position is back to zero; its profit is the
    /// cash that came back less the cash that went out, commissions included.
    pub fn fill(&mut self, fill: &Fill) {
        self.fills += 1;
        self.collected.fill(fill);
        let notional = fill.quantity * fill.price;
        let entry = self
            .open_trades
            .entry(fill.symbol.clone())
            .or_insert((0.0, 0.0));
        match fill.side {
            Side::Buy => {
                entry.0 -= notional + fill.commission;
                entry.1 += fill.quantity;
            }
            Side::Sell => {
                entry.0 += notional - fill.commission;
                entry.1 -= fill.quantity;
            }
        }
        if entry.1.abs() < 1e-9 {
            let profit = entry.0;
            self.open_trades.remove(&fill.symbol);
            self.trades.close(profit);
        }
    }
}

/// The [`Recorder`] a backtest's runner journals to.
#[derive(Debug)]
pub struct RunRecorder {
    totals: Mutex<Totals>,
    spend: Arc<CostLedger>,
    answers: Option<Arc<AnswerBook>>,
    /// The buy-and-hold multiple at the bars of the cycle under way (`f64` bits): set by the
    /// driver before each cycle, read when the cycle's equity arrives. An atomic, not the
    /// totals' lock, because it is written every bar.
    buy_and_hold: AtomicU64,
}

impl RunRecorder {
    pub fn new(starting_equity: f64) -> Self {
        Self {
            totals: Mutex::new(Totals::new(starting_equity)),
            spend: Arc::new(CostLedger::default()),
            answers: None,
            buy_and_hold: AtomicU64::new(1f64.to_bits()),
        }
    }

    /// The buy-and-hold multiple (mean over symbols of close / first close) at the bars the
    /// next cycle sees; the equity curve carries it beside the strategy's equity.
    pub fn buy_and_hold(&self, multiple: f64) {
        self.buy_and_hold
            .store(multiple.to_bits(), Ordering::Relaxed);
    }

    /// The LLM providers record, replay and keep the run's cap through `book`.
    pub fn with_answers(mut self, book: Arc<AnswerBook>) -> Self {
        self.answers = Some(book);
        self
    }

    pub fn fills(&self, fills: &[Fill]) {
        // Most bars fill nothing: no lock to take.
        if fills.is_empty() {
            return;
        }
        let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
        fills.iter().for_each(|fill| totals.fill(fill));
    }

    pub fn totals(&self) -> Totals {
        self.totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn llm_cost_usd(&self) -> f64 {
        *self
            .spend
            .total
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl RunRecorder {
    /// Adds an `Equity` entry to the run's totals; the others carry nothing they count.
    fn add_up(&self, entry: &JournalEntry) {
        if let JournalEntry::Equity { time, account, .. } = entry {
            let holding = account.positions.iter().any(|p| p.quantity > 0.0);
            let buy_and_hold = f64::from_bits(self.buy_and_hold.load(Ordering::Relaxed));
            let mut totals = self.totals.lock().unwrap_or_else(PoisonError::into_inner);
            totals.equity(*time, account.equity, holding, buy_and_hold);
        }
    }
}

impl Recorder for RunRecorder {
    fn record<'a>(&'a self, entry: &'a JournalEntry) -> BoxFuture<'a, Result<(), PortError>> {
        self.add_up(entry);
        futures::future::ready(Ok(())).boxed()
    }

    fn record_at_once(&self, entry: &JournalEntry) -> Option<Result<(), PortError>> {
        self.add_up(entry);
        Some(Ok(()))
    }

    /// Only the equity curve (and the rare entries, which are always built): a backtest's
    /// statistics read nothing else, so the cycle need not build them.
    fn keeps(&self, _routine: Routine) -> bool {
        false
    }

    fn spend_ledger(&self) -> Option<Arc<dyn SpendLedger>> {
        Some(self.spend.clone())
    }

    fn answer_book(&self) -> Option<Arc<AnswerBook>> {
        self.answers.clone()
    }
}

/// The run's LLM spend: a ledger that only adds up (a backtest has no earlier life to
/// restore and no rate-limit hold to keep).
#[derive(Debug, Default)]
pub struct CostLedger {
    total: Mutex<f64>,
}

impl SpendLedger for CostLedger {
    fn record<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<(), String>> {
        *self.total.lock().unwrap_or_else(PoisonError::into_inner) += call.cost_usd;
        futures::future::ready(Ok(())).boxed()
    }

    fn spent_on(&self, _day: NaiveDate) -> BoxFuture<'_, Result<BTreeMap<String, f64>, String>> {
        futures::future::ready(Ok(BTreeMap::new())).boxed()
    }

    fn record_hold<'a>(
        &'a self,
        _: &'a str,
        _: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), String>> {
        futures::future::ready(Ok(())).boxed()
    }

    fn holds(
        &self,
        _: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, String>> {
        futures::future::ready(Ok(BTreeMap::new())).boxed()
    }
}
