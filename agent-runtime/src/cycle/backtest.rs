//! The simulated broker: in-memory fills for `backtest`, `replay`, benches and tests.
//!
//! A backtest needs a broker that answers in microseconds and forgets everything when the
//! process ends; trading — even paper trading — needs one whose state survives restarts (the
//! broker module's paper broker keeps it in the journal). This is the former. The fill model
//! (`docs/backtest.md`):
//!
//! - [`FillModel::Close`]: an order fills when placed, at its reference price (the deciding
//!   bar's close);
//! - [`FillModel::NextOpen`]: an order is accepted and waits; it fills at the open of the
//!   symbol's next bar, when the driver releases that bar ([`BacktestBroker::open_bars`])
//!   and the next cycle settles. The pipeline already keeps one working order per symbol,
//!   so nothing is decided on top of it.
//!
//! Either way the price moves against the trader by `slippageBps` (up for a buy, down for a
//! sell), commission is `commissionBps` of the filled notional, it is long only (a sell
//! beyond the position is rejected) and a buy the cash cannot pay for, commission included,
//! is rejected rather than financed. Orders are idempotent by client order id within a
//! cycle. Every fill is also kept for the run's statistics until [`take_fills`] collects it,
//! so memory does not grow with the number of bars.
//!
//! [`take_fills`]: BacktestBroker::take_fills

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
pub use tradeplane_contract::command::FillModel;

use super::ports::{AccountState, Execution, OrderOutcome, PortError, Settlement};
use crate::domain::{Bar, Fill, OrderRequest, OrderStatus, Position, Side};

pub struct BacktestBroker {
    state: Mutex<State>,
    commission_bps: f64,
    slippage_bps: f64,
    fill: FillModel,
}

#[derive(Default)]
struct State {
    cash: f64,
    positions: BTreeMap<String, Position>,
    /// Outcomes of the current cycle's orders, by client order id.
    seen: FxHashMap<String, OrderOutcome>,
    seen_cycle: String,
    /// Orders waiting for their symbol's next bar (next-open fills).
    waiting: Vec<(OrderRequest, DateTime<Utc>)>,
    /// The open of each symbol's latest released bar, and its time.
    opens: FxHashMap<String, (DateTime<Utc>, f64)>,
    /// Fills not yet collected by [`BacktestBroker::take_fills`].
    fills: Vec<Fill>,
}

impl BacktestBroker {
    /// A broker filling at the close, holding `cash`.
    pub fn new(cash: f64, commission_bps: f64, slippage_bps: f64) -> Self {
        Self {
            state: Mutex::new(State {
                cash,
                ..State::default()
            }),
            commission_bps,
            slippage_bps,
            fill: FillModel::Close,
        }
    }

    /// The same broker filling by `fill`.
    pub fn with_fill(mut self, fill: FillModel) -> Self {
        self.fill = fill;
        self
    }

    /// Releases new bars: waiting orders of their symbols fill at their opens when the next
    /// cycle settles.
    pub fn open_bars(&self, bars: &[Bar]) -> Result<(), PortError> {
        let mut state = self.lock()?;
        // Only a waiting order reads an open, and only one newer than the order: an open
        // released while nothing waits is older than any order still to come.
        if state.waiting.is_empty() {
            return Ok(());
        }
        for bar in bars {
            match state.opens.get_mut(bar.symbol.as_str()) {
                Some(open) => *open = (bar.time, bar.open),
                None => {
                    state.opens.insert(bar.symbol.clone(), (bar.time, bar.open));
                }
            }
        }
        Ok(())
    }

    /// Every fill since the last call, oldest first.
    pub fn take_fills(&self) -> Result<Vec<Fill>, PortError> {
        Ok(std::mem::take(&mut self.lock()?.fills))
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, PortError> {
        self.state.lock().map_err(|_| PortError {
            kind: "internal",
            message: "backtest broker state poisoned".into(),
        })
    }

    /// Fills `order` at `reference` moved by slippage, at `at`, or rejects it.
    fn fill_at(
        &self,
        state: &mut State,
        order: &OrderRequest,
        reference: f64,
        at: DateTime<Utc>,
    ) -> OrderOutcome {
        let slip = self.slippage_bps / 10_000.0;
        let price = match order.side {
            Side::Buy => reference * (1.0 + slip),
            Side::Sell => reference * (1.0 - slip),
        };
        let notional = price * order.quantity;
        let commission = notional * self.commission_bps / 10_000.0;
        let held = state
            .positions
            .get(&order.symbol)
            .map_or(0.0, |p| p.quantity);
        let refusal = match order.side {
            Side::Buy if notional + commission > state.cash + 1e-9 => Some("not enough cash"),
            Side::Sell if held + 1e-9 < order.quantity => Some("not enough to sell"),
            _ => None,
        };
        if let Some(reason) = refusal {
            return rejected(reason);
        }
        apply_fill(state, order, notional, commission);
        let fill = Fill {
            // The simulation fills each order whole, once.
            fill_id: order.client_order_id.clone(),
            client_order_id: order.client_order_id.clone(),
            symbol: order.symbol.clone(),
            side: order.side,
            quantity: order.quantity,
            price,
            commission,
            time: at,
        };
        state.fills.push(fill.clone());
        OrderOutcome {
            status: OrderStatus::Filled,
            fills: vec![fill],
            message: None,
        }
    }
}

fn rejected(reason: &str) -> OrderOutcome {
    OrderOutcome {
        status: OrderStatus::Rejected,
        fills: vec![],
        message: Some(reason.into()),
    }
}

/// Moves cash and the position by one whole fill.
fn apply_fill(state: &mut State, order: &OrderRequest, notional: f64, commission: f64) {
    let position = state
        .positions
        .entry(order.symbol.clone())
        .or_insert_with(|| Position {
            symbol: order.symbol.clone(),
            ..Position::default()
        });
    match order.side {
        Side::Buy => {
            let cost = position.average_price * position.quantity + notional;
            position.quantity += order.quantity;
            position.average_price = cost / position.quantity;
            state.cash -= notional + commission;
        }
        Side::Sell => {
            position.quantity -= order.quantity;
            state.cash += notional - commission;
        }
    }
}

impl BacktestBroker {
    /// The account, positions marked at `marks` (their average price where unmarked),
    /// written over `account`: its positions are last read's, copied over in place.
    fn account_into(
        &self,
        marks: &BTreeMap<String, f64>,
        account: &mut AccountState,
    ) -> Result<(), PortError> {
        let state = self.lock()?;
        let mut held = 0;
        let mut value = 0.0;
        for position in state.positions.values().filter(|p| p.quantity > 0.0) {
            match account.positions.get_mut(held) {
                Some(kept) => kept.clone_from(position),
                None => account.positions.push(position.clone()),
            }
            held += 1;
            let mark = marks.get(&position.symbol).copied();
            value += position.quantity * mark.unwrap_or(position.average_price);
        }
        account.positions.truncate(held);
        account.cash = state.cash;
        account.equity = state.cash + value;
        Ok(())
    }

    /// Fills the waiting orders whose symbol has a bar newer than the order, at its open;
    /// what it did written over `settlement`.
    fn settle_now(&self, settlement: &mut Settlement) -> Result<(), PortError> {
        self.lock().map(|mut state| {
            settlement.fills.clear();
            settlement.corrections.clear();
            if !settlement.open_symbols.is_empty() {
                settlement.open_symbols.clear();
            }
            // Most bars nothing waits: no list to take apart and rebuild.
            if state.waiting.is_empty() {
                return;
            }
            for (order, placed) in std::mem::take(&mut state.waiting) {
                match state.opens.get(&order.symbol).copied() {
                    Some((time, open)) if time > placed => {
                        let outcome = self.fill_at(&mut state, &order, open, time);
                        settlement.fills.extend(outcome.fills);
                    }
                    _ => {
                        settlement.open_symbols.insert(order.symbol.clone());
                        state.waiting.push((order, placed));
                    }
                }
            }
        })
    }
}

impl Execution for BacktestBroker {
    fn account<'a>(
        &'a self,
        marks: &'a BTreeMap<String, f64>,
    ) -> BoxFuture<'a, Result<AccountState, PortError>> {
        let mut account = AccountState::default();
        let read = self.account_into(marks, &mut account).map(|()| account);
        futures::future::ready(read).boxed()
    }

    fn account_into_at_once(
        &self,
        marks: &BTreeMap<String, f64>,
        account: &mut AccountState,
    ) -> Option<Result<(), PortError>> {
        Some(self.account_into(marks, account))
    }

    /// Its account moves only by the fills of the orders the cycle submits, at once or when
    /// a later cycle settles them.
    fn account_moves_only_with_orders(&self) -> bool {
        true
    }

    fn settle<'a>(&'a self, _cycle_id: &'a str) -> BoxFuture<'a, Result<Settlement, PortError>> {
        let mut settlement = Settlement::default();
        let settled = self.settle_now(&mut settlement).map(|()| settlement);
        futures::future::ready(settled).boxed()
    }

    fn settle_at_once(
        &self,
        _cycle_id: &str,
        into: &mut Settlement,
    ) -> Option<Result<(), PortError>> {
        Some(self.settle_now(into))
    }

    fn submit<'a>(
        &'a self,
        cycle_id: &'a str,
        order: &'a OrderRequest,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderOutcome, PortError>> {
        let outcome = self.lock().map(|mut state| {
            if state.seen_cycle != cycle_id {
                state.seen.clear();
                state.seen_cycle = cycle_id.to_string();
            }
            if let Some(outcome) = state.seen.get(&order.client_order_id) {
                return outcome.clone();
            }
            let outcome = match self.fill {
                FillModel::Close => self.fill_at(&mut state, order, order.reference_price, at),
                FillModel::NextOpen => {
                    state.waiting.push((order.clone(), at));
                    OrderOutcome {
                        status: OrderStatus::Accepted,
                        fills: vec![],
                        message: None,
                    }
                }
            };
            state
                .seen
                .insert(order.client_order_id.clone(), outcome.clone());
            outcome
        });
        futures::future::ready(outcome).boxed()
    }
}
