//! Instant in-memory fills for the `replay` command, benches and tests.
//!
//! A backtest needs a broker that answers in microseconds and forgets everything when the
//! process ends; trading — even paper trading — needs one whose state survives restarts (the
//! broker module's paper broker keeps it in the journal). This is the former. Fills at the
//! reference price moved against the trader by `slippageBps`, commission in bps of notional,
//! long only (a sell beyond the position is rejected), idempotent by client order id.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::ports::{AccountState, Execution, OrderOutcome, PortError};
use crate::domain::{Fill, OrderRequest, OrderStatus, Position, Side};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

pub struct BacktestBroker {
    state: Mutex<State>,
    commission_bps: f64,
    slippage_bps: f64,
}

struct State {
    cash: f64,
    positions: BTreeMap<String, Position>,
    seen: HashMap<String, OrderOutcome>,
}

impl BacktestBroker {
    pub fn new(cash: f64, commission_bps: f64, slippage_bps: f64) -> Self {
        Self {
            state: Mutex::new(State {
                cash,
                positions: BTreeMap::new(),
                seen: HashMap::new(),
            }),
            commission_bps,
            slippage_bps,
        }
    }
}

impl Execution for BacktestBroker {
    fn account<'a>(
        &'a self,
        marks: &'a BTreeMap<String, f64>,
    ) -> BoxFuture<'a, Result<AccountState, PortError>> {
        let Ok(state) = self.state.lock() else {
            return futures::future::ready(Err(poisoned())).boxed();
        };
        let positions: Vec<Position> = state
            .positions
            .values()
            .filter(|p| p.quantity > 0.0)
            .cloned()
            .collect();
        let value: f64 = positions
            .iter()
            .map(|p| p.quantity * marks.get(&p.symbol).copied().unwrap_or(p.average_price))
            .sum();
        futures::future::ready(Ok(AccountState {
            cash: state.cash,
            equity: state.cash + value,
            positions,
        }))
        .boxed()
    }

    fn submit<'a>(
        &'a self,
        _cycle_id: &'a str,
        order: &'a OrderRequest,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<OrderOutcome, PortError>> {
        let Ok(mut state) = self.state.lock() else {
            return futures::future::ready(Err(poisoned())).boxed();
        };
        if let Some(outcome) = state.seen.get(&order.client_order_id) {
            return futures::future::ready(Ok(outcome.clone())).boxed();
        }
        let slip = self.slippage_bps / 10_000.0;
        let price = match order.side {
            Side::Buy => order.reference_price * (1.0 + slip),
            Side::Sell => order.reference_price * (1.0 - slip),
        };
        let notional = price * order.quantity;
        let commission = notional * self.commission_bps / 10_000.0;
        let position = state
            .positions
            .entry(order.symbol.clone())
            .or_insert_with(|| Position {
                symbol: order.symbol.clone(),
                ..Position::default()
            });
        let ok = match order.side {
            Side::Buy => true,
            Side::Sell => position.quantity + 1e-9 >= order.quantity,
        };
        let outcome = if !ok {
            OrderOutcome {
                status: OrderStatus::Rejected,
                fills: vec![],
                message: Some("not enough to sell".into()),
            }
        } else {
            match order.side {
                Side::Buy => {
                    let cost = position.average_price * position.quantity + notional;
                    position.quantity += order.quantity;
                    position.average_price = cost / position.quantity;
                }
                Side::Sell => position.quantity -= order.quantity,
            }
            let cash_change = match order.side {
                Side::Buy => -(notional + commission),
                Side::Sell => notional - commission,
            };
            state.cash += cash_change;
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
            OrderOutcome {
                status: OrderStatus::Filled,
                fills: vec![fill],
                message: None,
            }
        };
        state
            .seen
            .insert(order.client_order_id.clone(), outcome.clone());
        futures::future::ready(Ok(outcome)).boxed()
    }
}

fn poisoned() -> PortError {
    PortError {
        kind: "internal",
        message: "backtest broker state poisoned".into(),
    }
}
