//! One trading cycle over all symbols: the broker's news since the last cycle (fills of
//! orders still open, position differences) → market data → analysts → (debate) → decision
//! → risk → orders → broker → fills → journal → metrics.
//!
//! Determinism is the design constraint: given the same bars, account and config, a cycle
//! makes the same decisions, orders and journal entries. So "now" is passed in (the replay
//! feed's bar time, or the trader's scheduled slot), the cycle id and every client order id
//! derive from it, symbols are processed in config order, and nothing here reads the wall
//! clock or a random source. Analysis runs concurrently across symbols (it is where LLM
//! latency lives); orders go out one at a time, sells before buys so cash freed by a sale is
//! there for a purchase, with the leader check before each.

pub mod adapters;
pub mod backtest;
pub mod build;
mod debate;
pub mod ports;
pub mod recorder;
pub mod runner;
mod soon;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::agents::llm::LlmEvent;
use crate::agents::{Analyst, Snapshot};
use crate::broker::order_id::client_order_id;
use crate::config::{Identity, TradingState, TradingStateWatch};
use crate::decision::{DecisionInput, PortfolioManager};
use crate::domain::{
    Action, AnalystReport, DataWindow, Decision, OrderRequest, OrderStatus, PositionCorrection,
    Side,
};
use crate::leadership::Leadership;
use crate::market::MarketData;
use crate::metrics::Metrics;
use crate::risk::{ApprovedOrder, Exposure, RiskManager, RiskOutcome};
use crate::worker::PoolClient;
use ports::{
    AccountState, CyclePhase, Debate, Execution, JournalEntry, PortError, Recorder, Routine,
};
use soon::Soon;

#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error("broker: {0}")]
    Broker(PortError),
    #[error("journal: {0}")]
    Journal(PortError),
    #[error("abandoned at shutdown")]
    Abandoned,
}

impl CycleError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Broker(_) => "broker",
            Self::Journal(_) => "journal",
            Self::Abandoned => "abandoned",
        }
    }
}

/// What a cycle did, for logs, the `replay` summary and status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleReport {
    pub cycle_id: String,
    pub decisions: Vec<Decision>,
    pub orders_sent: usize,
    pub orders_filled: usize,
    pub rejections: usize,
    pub account: AccountState,
    pub drawdown: f64,
    /// Fills of earlier cycles' orders journalled at this cycle's start.
    pub fills_followed_up: usize,
    /// Differences between the journal's positions and the broker's found at this cycle's
    /// start, corrected to the broker's.
    pub corrections: Vec<PositionCorrection>,
}

/// One symbol's analysis: the decision, the LLM events on the way to it, and the data window
/// the seats saw (when the journal keeps decisions).
type Analysis = (Decision, Vec<LlmEvent>, Option<DataWindow>);

/// Everything a cycle needs, built once per process through [`CycleRunner::builder`], which
/// checks the rules the pipeline relies on (see [`runner`]).
pub struct CycleRunner {
    /// The strategy: names its client order ids.
    identity: Identity,
    /// Empty only when `pool` is set.
    analysts: Vec<Box<dyn Analyst>>,
    /// The debate and its rounds (at least one).
    debate: Option<(Box<dyn Debate>, u32)>,
    manager: PortfolioManager,
    risk: RiskManager,
    market: Arc<dyn MarketData>,
    broker: Arc<dyn Execution>,
    journal: Arc<dyn Recorder>,
    leadership: Arc<dyn Leadership>,
    metrics: Metrics,
    /// Bars of history each analyst sees; at least `MIN_HISTORY`.
    history: usize,
    /// The AgentPool that serves this strategy's analyses, when it has one; its reports join
    /// the in-process seats' (if any).
    pool: Option<PoolClient>,
    /// The mounted config file, re-read for a new `tradingState` before each cycle and each
    /// order (see [`TradingStateWatch`]); `None` where there is no file to watch.
    state_watch: Option<TradingStateWatch>,
    /// Each symbol's snapshot of the last cycle, in config order (non-empty, each symbol
    /// once), read over by the next so a cycle allocates no window.
    windows: Vec<Snapshot>,
    /// Last cycle's price of each symbol, updated in place by the next (see
    /// [`update_marks`]).
    marks: BTreeMap<String, f64>,
    /// The order in which the last cycle placed its symbols' orders; a buffer.
    placement_order: Vec<usize>,
    /// What the last cycle's settling found, kept for the next to write over: an `Option`,
    /// so that taking it out for a cycle leaves nothing behind that would have to be dropped.
    settlement: Option<ports::Settlement>,
}

/// The cycle id for a cycle at `time`: the same slot always gets the same id,
/// `%Y%m%dT%H%M%SZ` (years 0–9999).
pub fn cycle_id(time: DateTime<Utc>) -> String {
    let mut id = String::with_capacity(16);
    write_cycle_id(&mut id, time);
    id
}

/// [`cycle_id`] written over `id`, whose buffer a backtest reuses from cycle to cycle.
fn write_cycle_id(id: &mut String, time: DateTime<Utc>) {
    // Written two digits at a time from the date's and the clock's fields as chrono stores
    // them (a year and a day of the year; seconds since midnight): a backtest makes one per
    // bar, and counting days from an epoch and back, or a format string, cost more than the
    // id.
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let (date, clock) = (time.naive_utc().date(), time.naive_utc().time());
    let of_day = clock.num_seconds_from_midnight();
    let year = date.year().clamp(0, 9999) as u32;
    let mut text = *b"00000000T000000Z";
    let fields = [
        year / 100,
        year % 100,
        date.month(),
        date.day(),
        of_day / 3_600,
        of_day / 60 % 60,
        of_day % 60,
    ];
    // Where each field's two digits go: the date's four, then the clock's three after `T`.
    let places = [0, 2, 4, 6, 9, 11, 13];
    for (value, at) in fields.into_iter().zip(places) {
        let pair = value as usize % 100 * 2;
        text[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    id.clear();
    if let Ok(text) = std::str::from_utf8(&text) {
        id.push_str(text);
    }
}

/// The `Cycle` entry that ends cycle `cycle_id` at `now` with `result`, which `report` tells.
fn cycle_end(
    cycle_id: &str,
    now: DateTime<Utc>,
    (report, result): (&CycleReport, &Result<(), CycleError>),
) -> JournalEntry {
    let (phase, summary) = match result {
        Ok(()) => (
            CyclePhase::Completed,
            format!(
                "{} decisions, {} orders, {} rejections",
                report.decisions.len(),
                report.orders_sent,
                report.rejections
            ),
        ),
        Err(err) => (CyclePhase::Failed, err.to_string()),
    };
    JournalEntry::Cycle {
        cycle_id: cycle_id.to_string(),
        time: now,
        phase,
        summary: Some(summary),
    }
}

/// Sets `marks` to each symbol's last price this cycle, in place: the map (and its keys) are
/// last cycle's, so a cycle in which no symbol came or went allocates nothing for it. A symbol
/// without a price this cycle has no mark.
fn update_marks(marks: &mut BTreeMap<String, f64>, windows: &[Snapshot]) {
    let mut priced = 0;
    for window in windows {
        let Some(price) = window.last_price() else {
            continue;
        };
        priced += 1;
        match marks.get_mut(&window.symbol) {
            Some(mark) => *mark = price,
            None => {
                marks.insert(window.symbol.clone(), price);
            }
        }
    }
    if marks.len() != priced {
        marks.retain(|symbol, _| {
            windows
                .iter()
                .any(|w| w.symbol == *symbol && w.last_price().is_some())
        });
    }
}

fn exposure_of(snapshot: &Snapshot, account: &AccountState) -> Exposure {
    // Read in place: the cycle asks for every symbol, and a copy of the position (its
    // symbol included) cost more than the two numbers.
    let (quantity, average_price) = account
        .position(&snapshot.symbol)
        .map_or((0.0, 0.0), |p| (p.quantity, p.average_price));
    Exposure {
        price: snapshot.last_price().unwrap_or(0.0),
        cash: account.cash,
        quantity,
        average_price,
    }
}

impl CycleRunner {
    /// Runs one cycle at `now`; its report. A broker or journal failure ends the cycle early
    /// (what was journalled stays); a symbol without data is skipped.
    pub async fn run(&mut self, now: DateTime<Utc>) -> Result<CycleReport, CycleError> {
        let mut report = CycleReport::default();
        self.run_into(now, &mut report).await.map(|()| report)
    }

    /// [`run`](Self::run), the report written over `report`: last cycle's, whose buffers
    /// (the id, the decisions and their report lists, the account's positions) the new one
    /// reuses. A backtest runs a cycle per bar this way, so that it neither allocates a
    /// report nor moves one around; after a failure `report` holds what the cycle got to.
    pub async fn run_into(
        &mut self,
        now: DateTime<Utc>,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let timer = self.metrics.cycle_timer();
        // The id is a pure function of `now`, the same should the cycle fail.
        let mut cycle_id = std::mem::take(&mut report.cycle_id);
        write_cycle_id(&mut cycle_id, now);
        let started = self.record_routine(Routine::Cycle, || JournalEntry::Cycle {
            cycle_id: cycle_id.clone(),
            time: now,
            phase: CyclePhase::Running,
            summary: None,
        });
        // Last cycle's windows and marks are lent to this one and kept for the next.
        let result = match started.await {
            Ok(()) => {
                let mut windows = std::mem::take(&mut self.windows);
                let mut marks = std::mem::take(&mut self.marks);
                let lent = (windows.as_mut_slice(), &mut marks);
                let result = self.run_in(now, &mut cycle_id, lent, report).await;
                self.windows = windows;
                self.marks = marks;
                result
            }
            Err(err) => Err(err),
        };
        let finished = self.record_routine(Routine::Cycle, || {
            cycle_end(&cycle_id, now, (report, &result))
        });
        if let Err(err) = finished.await {
            tracing::warn!(%err, "cannot journal the end of the cycle");
        }
        if let Some(timer) = timer {
            timer.observe_duration();
        }
        self.metrics.hot.cycle(result.is_ok()).inc();
        report.cycle_id = cycle_id;
        result
    }

    /// The cycle proper, written over `report` (last cycle's, whose buffers it reuses), on
    /// last cycle's `windows` and `marks` (lent, and kept by the runner for the next).
    async fn run_in(
        &mut self,
        now: DateTime<Utc>,
        cycle_id: &mut String,
        (windows, marks): (&mut [Snapshot], &mut BTreeMap<String, f64>),
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        // Taken for the steps that read them while `report` is written; put back by `close`.
        let mut decisions = std::mem::take(&mut report.decisions);
        let mut account = std::mem::take(&mut report.account);
        if let Some(state) = self.trading_state_change() {
            self.apply_trading_state(cycle_id, now, state).await?;
        }
        let mut settlement = self.settlement.take().unwrap_or_default();
        self.settle(cycle_id, &mut settlement).await?;
        self.read_windows(windows).await;
        update_marks(marks, windows);
        self.account_into(marks, &mut account).await?;
        for window in windows.iter_mut() {
            // Into last cycle's position where there was one: it keeps its buffers.
            match (window.position.as_mut(), account.position(&window.symbol)) {
                (Some(kept), Some(position)) => kept.clone_from(position),
                (_, position) => window.position = position.cloned(),
            }
        }
        // The symbols with bars, in config order: all of them, unless a source failed.
        let snapshots: Cow<'_, [Snapshot]> = if windows.iter().all(|w| !w.bars.is_empty()) {
            Cow::Borrowed(windows)
        } else {
            Cow::Owned(
                windows
                    .iter()
                    .filter(|w| !w.bars.is_empty())
                    .cloned()
                    .collect(),
            )
        };
        if let Some(trip) = self.risk.observe_equity(now, account.equity) {
            tracing::error!(
                cycle_id = cycle_id.as_str(),
                ?trip,
                "kill switch tripped: trading halted"
            );
            self.publish_risk_state();
            self.record(JournalEntry::KillSwitch {
                cycle_id: cycle_id.to_string(),
                time: now,
                trip,
            })
            .await?;
        }

        report.fills_followed_up = settlement.fills.len();
        report.corrections.clone_from(&settlement.corrections);
        report.orders_sent = 0;
        report.orders_filled = 0;
        report.rejections = 0;
        self.decide_all(cycle_id, now, &snapshots, &account, &mut decisions)
            .await?;
        self.place_all(
            cycle_id,
            now,
            (&snapshots, &decisions),
            &settlement,
            &mut account,
            report,
        )
        .await?;
        self.settlement = Some(settlement);
        report.decisions = decisions;
        self.close(cycle_id, now, (marks, account), report).await
    }

    /// Every symbol's decision, in `snapshots`' order, journalled with the LLM events on the
    /// way to it, written over `decisions` (last cycle's, whose symbols and report lists the
    /// new ones reuse).
    async fn decide_all(
        &self,
        cycle_id: &str,
        now: DateTime<Utc>,
        snapshots: &[Snapshot],
        account: &AccountState,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), CycleError> {
        let windowed = self.journal.keeps(Routine::Decision);
        if self.analysis_waits() {
            let analyses = futures::future::join_all(snapshots.iter().map(|snapshot| {
                let mut reports = Vec::with_capacity(self.analysts.len() + 1);
                let waiting = self.reports_at_once(snapshot, &mut reports);
                self.analyze_waiting(
                    snapshot,
                    account,
                    windowed,
                    (reports, waiting),
                    String::new(),
                )
            }))
            .await;
            decisions.clear();
            for (snapshot, analysis) in snapshots.iter().zip(analyses) {
                decisions.push(
                    self.journal_analysis(cycle_id, now, snapshot, analysis)
                        .await?,
                );
            }
            return Ok(());
        }
        // Nothing to overlap: one symbol after the other, each journalled as it is decided,
        // without holding every symbol's analysis side by side, and without a future where
        // every seat has answered at once.
        for (i, snapshot) in snapshots.iter().enumerate() {
            let (symbol, mut reports) = decisions.get_mut(i).map_or_else(Default::default, |d| {
                (
                    std::mem::take(&mut d.symbol),
                    std::mem::take(&mut d.reports),
                )
            });
            let waiting = self.reports_at_once(snapshot, &mut reports);
            let analysis = match waiting.is_empty() {
                true => (
                    self.decision(snapshot, account, reports, None, symbol),
                    Vec::new(),
                    self.data_window(snapshot, windowed),
                ),
                // Boxed, as the journal's writes are (see `journal_analysis`).
                false => {
                    let waits = self.analyze_waiting(
                        snapshot,
                        account,
                        windowed,
                        (reports, waiting),
                        symbol,
                    );
                    Box::pin(waits).await
                }
            };
            let decision = self
                .journal_analysis(cycle_id, now, snapshot, analysis)
                .await?;
            match decisions.get_mut(i) {
                Some(kept) => *kept = decision,
                None => decisions.push(decision),
            }
        }
        decisions.truncate(snapshots.len());
        Ok(())
    }

    /// Journals one symbol's analysis (its LLM events, then its decision); the decision.
    fn journal_analysis<'a>(
        &'a self,
        cycle_id: &'a str,
        now: DateTime<Utc>,
        snapshot: &'a Snapshot,
        (decision, events, window): Analysis,
    ) -> Soon<'a, Result<Decision, CycleError>> {
        self.metrics.hot.decision(decision.action).inc();
        if events.is_empty() && !self.journal.keeps(Routine::Decision) {
            return Soon::now(Ok(decision));
        }
        Soon::later(self.write_analysis(cycle_id, now, snapshot, (decision, events, window)))
    }

    /// [`journal_analysis`](Self::journal_analysis)'s writes.
    async fn write_analysis(
        &self,
        cycle_id: &str,
        now: DateTime<Utc>,
        snapshot: &Snapshot,
        (decision, events, window): Analysis,
    ) -> Result<Decision, CycleError> {
        for event in events {
            self.record(JournalEntry::Llm {
                cycle_id: cycle_id.to_string(),
                time: now,
                symbol: snapshot.symbol.clone(),
                event,
            })
            .await?;
        }
        self.record_routine(Routine::Decision, || JournalEntry::Decision {
            cycle_id: cycle_id.to_string(),
            time: now,
            decision: decision.clone(),
            window,
        })
        .await?;
        Ok(decision)
    }

    /// Places the decided orders, sells first; none for a symbol whose earlier order still
    /// works.
    async fn place_all(
        &mut self,
        cycle_id: &str,
        now: DateTime<Utc>,
        (snapshots, decisions): (&[Snapshot], &[Decision]),
        settlement: &ports::Settlement,
        account: &mut AccountState,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        // Sells first: they free cash the buys may need. Stable sort keeps symbol order. The
        // order is last cycle's buffer, taken for the loop (which needs `self`) and returned.
        let mut order = std::mem::take(&mut self.placement_order);
        order.clear();
        order.extend(0..snapshots.len().min(decisions.len()));
        order.sort_by_key(|&i| {
            let exposure = exposure_of(&snapshots[i], account);
            !(decisions[i].action == Action::Sell || self.risk.stop_loss_hit(&exposure).is_some())
        });
        let placed = async {
            for &i in &order {
                let (snapshot, decision) = (&snapshots[i], &decisions[i]);
                if settlement.open_symbols.contains(&snapshot.symbol) {
                    // The position the decision sized from does not count what that order may
                    // still fill: a second order on top could overshoot the target. So one order
                    // works per symbol at a time — a stop loss included: the working order ends
                    // (filled, expired, or canceled by `orders.cancelAfterSeconds`) first.
                    let exposure = exposure_of(snapshot, account);
                    if decision.action != Action::Hold
                        || self.risk.stop_loss_hit(&exposure).is_some()
                    {
                        self.record_routine(Routine::Order, || JournalEntry::OrderWorking {
                            cycle_id: cycle_id.to_string(),
                            time: now,
                            symbol: snapshot.symbol.clone(),
                        })
                        .await?;
                    }
                    continue;
                }
                // Just before the risk review, so `suspend` stops the very next order.
                if let Some(state) = self.trading_state_change() {
                    self.apply_trading_state(cycle_id, now, state).await?;
                }
                let exposure = exposure_of(snapshot, account);
                let review = self.risk.review(now, decision, &exposure);
                if !matches!(review, RiskOutcome::NoOrder) {
                    // Boxed: most cycles place nothing, and the order's path, inline, would
                    // size (and have every backtest bar move) the cycle's own future.
                    let symbol = snapshot.symbol.as_str();
                    Box::pin(self.execute(now, cycle_id, symbol, review, account, report)).await?;
                }
            }
            Ok(())
        }
        .await;
        self.placement_order = order;
        placed
    }

    /// Ends the cycle: the account read again after the orders where they may have moved
    /// it (over the cycle's first read, whose buffers it reuses) and put in `report`, the
    /// equity and risk gauges, and the equity journalled.
    async fn close(
        &self,
        cycle_id: &mut String,
        now: DateTime<Utc>,
        (marks, mut account): (&mut BTreeMap<String, f64>, AccountState),
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        // Read again only where the orders may have moved it (see
        // `Execution::account_moves_only_with_orders`).
        if report.orders_sent > 0 || !self.broker.account_moves_only_with_orders() {
            self.account_into(marks, &mut account).await?;
        }
        let drawdown = self.risk.drawdown(account.equity);
        self.metrics.equity.set(account.equity);
        self.metrics.cash.set(account.cash);
        self.metrics.drawdown.set(drawdown);
        self.metrics
            .daily_pnl
            .set(self.risk.daily_pnl(now, account.equity));
        self.publish_risk_state();
        self.metrics
            .last_cycle_timestamp
            .set(now.timestamp() as f64);
        report.drawdown = drawdown;
        // The id, the account and the marks are lent to the entry and taken back.
        let entry = JournalEntry::Equity {
            cycle_id: std::mem::take(cycle_id),
            time: now,
            account,
            marks: std::mem::take(marks),
        };
        let recorded = self.record_ref(&entry).await;
        if let JournalEntry::Equity {
            cycle_id: id,
            account,
            marks: lent,
            ..
        } = entry
        {
            *cycle_id = id;
            report.account = account;
            *marks = lent;
        }
        recorded
    }

    /// Reads each symbol's latest bars into its window (last cycle's, whose buffers are
    /// reused); a symbol without bars this cycle is left with none. The windows a feed fills
    /// at once are read first, one after the other; the others are awaited together.
    fn read_windows<'a>(&'a self, windows: &'a mut [Snapshot]) -> Soon<'a, ()> {
        let history = self.window();
        let mut waiting = Vec::new();
        for (i, window) in windows.iter_mut().enumerate() {
            let symbol = window.symbol.as_str();
            match self
                .market
                .latest_bars_into_at_once(symbol, history, &mut window.bars)
            {
                Some(read) => self.window_read(window, read),
                None => waiting.push(i),
            }
        }
        if waiting.is_empty() {
            return Soon::now(());
        }
        Soon::later(async move {
            let fetches = windows
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| waiting.binary_search(i).is_ok())
                .map(|(_, window)| async move {
                    let symbol = window.symbol.as_str();
                    let read = self
                        .market
                        .latest_bars_into(symbol, history, &mut window.bars)
                        .await;
                    self.window_read(window, read);
                });
            futures::future::join_all(fetches).await;
        })
    }

    /// Leaves `window` empty, and says why, when its read failed or found no bars.
    fn window_read(&self, window: &mut Snapshot, read: Result<(), crate::market::MarketDataError>) {
        let symbol = window.symbol.as_str();
        match read {
            Ok(()) if !window.bars.is_empty() => {}
            Ok(()) => tracing::warn!(symbol, "no bars yet; skipping the symbol this cycle"),
            Err(err) => {
                window.bars.clear();
                self.metrics
                    .market_data_errors
                    .with_label_values(&[err.kind()])
                    .inc();
                tracing::warn!(symbol, %err, "market data unavailable; skipping the symbol this cycle");
            }
        }
    }

    /// The decision for one symbol whose analysis waits on something (a seat that is not
    /// answered at once, the pool, a debate), from the `reports` answered at once and the
    /// seats still `waiting`; the LLM events on the way to it (the seats', the pool's, the
    /// debate's) so the journal can say why a seat said what it said, and the data window
    /// the seats saw.
    async fn analyze_waiting(
        &self,
        snapshot: &Snapshot,
        account: &AccountState,
        windowed: bool,
        (reports, waiting): (Vec<AnalystReport>, Vec<usize>),
        symbol: String,
    ) -> Analysis {
        let local = self.waiting_reports(snapshot, reports, waiting);
        let ((mut reports, mut events), pooled) = match &self.pool {
            Some(pool) => {
                let (local, pooled) =
                    futures::future::join(local, pool.reports_or_hold(snapshot)).await;
                (local, Some(pooled))
            }
            None => (local.await, None),
        };
        // After the analyses: a seat with rolling state reads its indicators off it.
        let window = self.data_window(snapshot, windowed);
        if let Some(pooled) = pooled {
            reports.extend(pooled.reports);
            events.extend(pooled.events);
        }
        let debate = match &self.debate {
            Some((debate, rounds)) => {
                let (conclusion, debate_events) =
                    debate.debate_detailed(snapshot, &reports, *rounds).await;
                events.extend(debate_events);
                conclusion
            }
            None => None,
        };
        let decision = self.decision(snapshot, account, reports, debate, symbol);
        (decision, events, window)
    }

    /// The decision for one symbol once every report is in (and the debate's conclusion, if
    /// any), named by `symbol` (a buffer, overwritten).
    fn decision(
        &self,
        snapshot: &Snapshot,
        account: &AccountState,
        mut reports: Vec<AnalystReport>,
        debate: Option<AnalystReport>,
        mut symbol: String,
    ) -> Decision {
        let position_quantity = snapshot.position.as_ref().map_or(0.0, |p| p.quantity);
        let verdict = self.manager.judge(&DecisionInput {
            symbol: &snapshot.symbol,
            price: snapshot.last_price().unwrap_or(0.0),
            equity: account.equity,
            position_quantity,
            reports: &reports,
            debate: debate.as_ref(),
        });
        reports.extend(debate);
        symbol.clear();
        symbol.push_str(&snapshot.symbol);
        verdict.into_decision(symbol, reports)
    }

    /// The window the seats saw, with each seat's indicators, for a journal that keeps
    /// decisions (`windowed`).
    fn data_window(&self, snapshot: &Snapshot, windowed: bool) -> Option<DataWindow> {
        if !windowed {
            return None;
        }
        let mut window = DataWindow::of(snapshot)?;
        window.indicators = self
            .analysts
            .iter()
            .map(|a| (a.role().to_string(), a.indicators(snapshot)))
            .collect();
        Some(window)
    }

    /// Whether an analysis may wait on something (a provider, the pool, a debate), so the
    /// symbols' analyses are worth running concurrently.
    fn analysis_waits(&self) -> bool {
        self.pool.is_some()
            || self.debate.is_some()
            || self
                .analysts
                .iter()
                .any(|analyst| !analyst.answers_at_once())
    }

    /// The in-process seats that answer at once, their reports written over `reports` in
    /// config order (last bar's reports, which each seat rewrites in place, or an empty list;
    /// no future is built for them); the seats left waiting, ascending, none when the pool and
    /// the debate are not there either. A seat that breaks its word to answer at once is
    /// waited for like the others.
    fn reports_at_once(&self, snapshot: &Snapshot, reports: &mut Vec<AnalystReport>) -> Vec<usize> {
        // Last bar's debate and pool reports go; room for the debate's conclusion, one more.
        reports.truncate(self.analysts.len());
        reports.reserve(self.analysts.len() + 1 - reports.len());
        let mut answered = 0;
        let mut waiting = Vec::new();
        for (seat, analyst) in self.analysts.iter().enumerate() {
            let answers = match reports.get_mut(answered) {
                Some(kept) => analyst.analyze_at_once_into(snapshot, kept),
                None => match analyst.analyze_at_once(snapshot) {
                    Some(report) => {
                        reports.push(report);
                        true
                    }
                    None => false,
                },
            };
            match answers {
                true => answered += 1,
                false => waiting.push(seat),
            }
        }
        reports.truncate(answered);
        waiting
    }

    /// `reports` with the `waiting` seats' reports, awaited together, each where config
    /// order puts it; their LLM events.
    async fn waiting_reports(
        &self,
        snapshot: &Snapshot,
        mut reports: Vec<AnalystReport>,
        waiting: Vec<usize>,
    ) -> (Vec<AnalystReport>, Vec<LlmEvent>) {
        let mut events = Vec::new();
        if waiting.is_empty() {
            return (reports, events);
        }
        let analyses = futures::future::join_all(
            waiting
                .iter()
                .map(|&i| self.analysts[i].analyze_detailed(snapshot)),
        )
        .await;
        // Ascending seats: each lands where config order puts it.
        for (seat, analysis) in waiting.into_iter().zip(analyses) {
            reports.insert(seat, analysis.report);
            events.extend(analysis.events);
        }
        (reports, events)
    }

    /// Acts on risk's review of one decision: a rejection counted and journalled, or the
    /// approved order journalled, fenced by the lease and placed.
    async fn execute(
        &mut self,
        now: DateTime<Utc>,
        cycle_id: &str,
        symbol: &str,
        review: RiskOutcome,
        account: &mut AccountState,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let Some(approved) = self.approve(now, cycle_id, symbol, review, report).await? else {
            return Ok(());
        };
        let order = OrderRequest {
            // One order per (strategy, cycle, symbol, side): a stop loss and a decision never
            // both trade a symbol in one cycle, so the intent need not be part of the id.
            client_order_id: client_order_id(&self.identity, cycle_id, symbol, approved.side),
            symbol: symbol.to_string(),
            side: approved.side,
            quantity: approved.quantity,
            reference_price: approved.reference_price,
            lease_epoch: self.leadership.epoch(),
        };
        self.record_routine(Routine::Order, || JournalEntry::Order {
            cycle_id: cycle_id.into(),
            time: now,
            order: order.clone(),
            intent: approved.intent,
            clips: approved.clips.clone(),
        })
        .await?;
        // The fence: checked by this process's own clock right before the order leaves, so a
        // leader that was frozen past its lease places nothing when it wakes.
        if !self.leadership.is_leader().await {
            return self.abandon(cycle_id, now, order).await;
        }
        self.place(now, cycle_id, order, account, report).await
    }

    /// What risk's `review` of one decision leads to: an order to place, or nothing (no order
    /// needed, or a rejection, counted and journalled).
    async fn approve(
        &mut self,
        now: DateTime<Utc>,
        cycle_id: &str,
        symbol: &str,
        review: RiskOutcome,
        report: &mut CycleReport,
    ) -> Result<Option<ApprovedOrder>, CycleError> {
        let approved = match review {
            RiskOutcome::NoOrder => return Ok(None),
            RiskOutcome::Rejected(rejection) => {
                self.metrics
                    .risk_rejections
                    .with_label_values(&[rejection.reason.as_str()])
                    .inc();
                tracing::info!(cycle_id, symbol, reason = rejection.reason.as_str(), detail = %rejection.detail, "risk rejected the order");
                report.rejections += 1;
                let entry = JournalEntry::RiskRejected {
                    cycle_id: cycle_id.into(),
                    time: now,
                    symbol: symbol.into(),
                    rejection,
                };
                return self.record(entry).await.map(|()| None);
            }
            RiskOutcome::Approved(order) => order,
        };
        for clip in &approved.clips {
            self.metrics
                .risk_rejections
                .with_label_values(&[clip.reason.as_str()])
                .inc();
        }
        Ok(Some(approved))
    }

    /// Sends an order the fence let through, and journals what the broker said (an unknown
    /// outcome as pending); the cash its fills moved is taken from `account` at once.
    async fn place(
        &mut self,
        now: DateTime<Utc>,
        cycle_id: &str,
        order: OrderRequest,
        account: &mut AccountState,
        report: &mut CycleReport,
    ) -> Result<(), CycleError> {
        let symbol = order.symbol.as_str();
        report.orders_sent += 1;
        let submitted = self.broker.submit(cycle_id, &order, now).await;
        self.metrics.broker_answered("submit", submitted.is_ok());
        let outcome = match submitted {
            Ok(outcome) => outcome,
            Err(err) => {
                // Unknown outcome: journalled as pending, so restart reconciliation looks it up.
                tracing::error!(cycle_id, symbol, %err, client_order_id = order.client_order_id, "order outcome unknown");
                ports::OrderOutcome {
                    status: OrderStatus::Pending,
                    fills: Vec::new(),
                    message: Some(err.to_string()),
                }
            }
        };
        self.metrics
            .orders
            .with_label_values(&[outcome.status.as_str()])
            .inc();
        self.metrics
            .hot
            .fills_placement
            .inc_by(outcome.fills.len() as u64);
        for fill in &outcome.fills {
            let notional = fill.quantity * fill.price;
            account.cash += match fill.side {
                Side::Buy => -(notional + fill.commission),
                Side::Sell => notional - fill.commission,
            };
        }
        if !outcome.fills.is_empty() {
            report.orders_filled += 1;
        }
        self.record_routine(Routine::Order, || JournalEntry::OrderResult {
            cycle_id: cycle_id.into(),
            time: now,
            client_order_id: order.client_order_id,
            outcome,
        })
        .await
    }

    /// Journals an order the leader could not confirm its lease for, places nothing, and
    /// steps down: a standby may already lead.
    async fn abandon(
        &self,
        cycle_id: &str,
        now: DateTime<Utc>,
        order: OrderRequest,
    ) -> Result<(), CycleError> {
        tracing::error!(
            cycle_id,
            symbol = order.symbol,
            client_order_id = order.client_order_id,
            "the lease is no longer confirmed: abandoning the order and stepping down"
        );
        self.metrics.orders.with_label_values(&["not_leader"]).inc();
        self.leadership.step_down();
        self.record(JournalEntry::OrderAbandoned {
            cycle_id: cycle_id.into(),
            time: now,
            order,
            reason: "the lease could not be confirmed before the order was sent".into(),
        })
        .await
    }

    /// The `tradingState` the config file asks for, when it is not the one in force.
    fn trading_state_change(&self) -> Option<TradingState> {
        let state = self
            .state_watch
            .as_ref()
            .and_then(TradingStateWatch::poll)?;
        (state != self.risk.configured_state()).then_some(state)
    }

    /// Applies a `tradingState` changed in the config file, journalling the change.
    async fn apply_trading_state(
        &mut self,
        cycle_id: &str,
        now: DateTime<Utc>,
        state: TradingState,
    ) -> Result<(), CycleError> {
        let from = self.risk.configured_state();
        self.risk.set_configured_state(state);
        self.publish_risk_state();
        tracing::warn!(
            cycle_id,
            from = from.as_str(),
            to = state.as_str(),
            "the config changed the trading state"
        );
        self.record(JournalEntry::TradingState {
            cycle_id: cycle_id.into(),
            time: now,
            from,
            to: state,
        })
        .await
    }

    /// Follows the orders still open and holds the journal's positions to the broker's, what
    /// was found written over `settlement` (last cycle's) and counted in the metrics.
    fn settle<'a>(
        &'a self,
        cycle_id: &'a str,
        settlement: &'a mut ports::Settlement,
    ) -> Soon<'a, Result<(), CycleError>> {
        match self.broker.settle_at_once(cycle_id, settlement) {
            Some(settled) => Soon::now(self.settled(cycle_id, settled, settlement)),
            None => Soon::later(async move {
                let settled = self.broker.settle(cycle_id).await;
                let settled = settled.map(|found| *settlement = found);
                self.settled(cycle_id, settled, settlement)
            }),
        }
    }

    /// What [`settle`](Self::settle) found, counted.
    fn settled(
        &self,
        cycle_id: &str,
        settled: Result<(), PortError>,
        settlement: &ports::Settlement,
    ) -> Result<(), CycleError> {
        self.metrics.broker_answered("settle", settled.is_ok());
        settled.map_err(CycleError::Broker)?;
        self.metrics
            .hot
            .fills_follow_up
            .inc_by(settlement.fills.len() as u64);
        for correction in &settlement.corrections {
            tracing::warn!(cycle_id, %correction, "the journal's position differed from the broker's");
            self.metrics
                .position_corrections
                .with_label_values(&[&correction.symbol])
                .inc();
        }
        Ok(())
    }

    /// The account at `marks`, written over `account`; the broker's answer counted in the
    /// broker metrics.
    fn account_into<'a>(
        &'a self,
        marks: &'a BTreeMap<String, f64>,
        account: &'a mut AccountState,
    ) -> Soon<'a, Result<(), CycleError>> {
        let counted = |read: Result<(), PortError>| {
            self.metrics.broker_answered("account", read.is_ok());
            read.map_err(CycleError::Broker)
        };
        match self.broker.account_into_at_once(marks, account) {
            Some(read) => Soon::now(counted(read)),
            None => Soon::later(async move {
                let read = self.broker.account(marks).await;
                counted(read.map(|fresh| *account = fresh))
            }),
        }
    }

    /// The trading state and each kill switch, as gauges.
    fn publish_risk_state(&self) {
        self.metrics.trading_state.set(self.risk.state() as i64);
        for (switch, gauge) in crate::metrics::KILL_SWITCHES
            .iter()
            .zip(&self.metrics.hot.kill_switches)
        {
            gauge.set(i64::from(self.risk.tripped(switch)));
        }
    }

    fn record(&self, entry: JournalEntry) -> Soon<'_, Result<(), CycleError>> {
        match self.journal.record_at_once(&entry) {
            Some(recorded) => Soon::now(recorded.map_err(CycleError::Journal)),
            None => Soon::later(async move {
                let recorded = self.journal.record(&entry).await;
                recorded.map_err(CycleError::Journal)
            }),
        }
    }

    fn record_ref<'a>(&'a self, entry: &'a JournalEntry) -> Soon<'a, Result<(), CycleError>> {
        match self.journal.record_at_once(entry) {
            Some(recorded) => Soon::now(recorded.map_err(CycleError::Journal)),
            None => Soon::later(async move {
                let recorded = self.journal.record(entry).await;
                recorded.map_err(CycleError::Journal)
            }),
        }
    }

    /// Records the entry `build` makes, when the journal keeps `routine` entries; otherwise
    /// builds nothing (see [`Recorder::keeps`]).
    fn record_routine(
        &self,
        routine: Routine,
        build: impl FnOnce() -> JournalEntry,
    ) -> Soon<'_, Result<(), CycleError>> {
        if !self.journal.keeps(routine) {
            return Soon::now(Ok(()));
        }
        self.record(build())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn cycle_ids_read_as_chrono_writes_them() {
        let start = Utc.with_ymd_and_hms(999, 12, 31, 23, 59, 59).unwrap();
        for step in [
            0,
            1,
            59,
            3_599,
            86_399,
            86_400 * 400 + 7,
            86_400 * 365 * 1100,
        ] {
            let time = start + Duration::seconds(step);
            assert_eq!(
                super::cycle_id(time),
                time.format("%Y%m%dT%H%M%SZ").to_string()
            );
        }
    }

    fn snapshot(symbol: &str, close: Option<f64>) -> crate::agents::Snapshot {
        let bars = close.map(|close| crate::domain::Bar {
            symbol: symbol.into(),
            time: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        });
        crate::agents::Snapshot {
            symbol: symbol.into(),
            bars: bars.into_iter().collect(),
            position: None,
        }
    }

    /// The marks kept from cycle to cycle are the ones a fresh map would hold: a price
    /// moves, a symbol without bars loses its mark, and one that comes back gets it again.
    #[test]
    fn marks_follow_the_windows_from_cycle_to_cycle() {
        let mut marks = std::collections::BTreeMap::new();
        let cycles = [
            [("SPY", Some(1.0)), ("QQQ", Some(2.0))],
            [("SPY", Some(1.5)), ("QQQ", None)],
            [("SPY", None), ("QQQ", Some(3.0))],
            [("SPY", Some(4.0)), ("QQQ", Some(5.0))],
        ];
        for cycle in cycles {
            let windows: Vec<_> = cycle.iter().map(|(s, c)| snapshot(s, *c)).collect();
            super::update_marks(&mut marks, &windows);
            let fresh: std::collections::BTreeMap<String, f64> = cycle
                .iter()
                .filter_map(|(s, c)| Some((s.to_string(), (*c)?)))
                .collect();
            assert_eq!(marks, fresh);
        }
    }

    /// Every 7th day from year 0 to 9999 (leap days, century and 400-year rules included)
    /// against chrono's format, at a time of day that moves through the hours, minutes and
    /// seconds.
    #[test]
    fn cycle_ids_match_chrono_across_ten_millennia() {
        let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap();
        let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
        let mut days = 0_i64;
        let mut id = String::new();
        loop {
            let moment = first + Duration::seconds(days * 86_400 + days * 7_919 % 86_400);
            if moment > last {
                break;
            }
            super::write_cycle_id(&mut id, moment);
            assert_eq!(id, moment.format("%Y%m%dT%H%M%SZ").to_string());
            days += 7;
        }
        assert!(days > 3_650_000, "walked {days} days");
    }
}
