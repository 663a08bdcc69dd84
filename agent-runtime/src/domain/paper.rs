//! The paper broker's accounting: cash, positions and marks, and what one simulated fill
//! does to them. Pure, so the journal can store a book and the paper broker can run one
//! without either depending on the other.

use std::collections::BTreeMap;

use super::orders::{QUANTITY_EPSILON, position_after_fill};
use super::{OrderRequest, Position, Side};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperSettings {
    pub starting_cash: f64,
    pub commission_bps: f64,
    pub slippage_bps: f64,
    /// Allow selling more than is held (negative positions). Off by default.
    pub allow_short: bool,
}

/// The paper account: cash, positions and the last price (mark) of each symbol held.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PaperBook {
    pub cash: f64,
    pub positions: BTreeMap<String, Position>,
    pub marks: BTreeMap<String, f64>,
}

/// The result of one simulated fill.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperFill {
    pub price: f64,
    pub commission: f64,
    pub cash_after: f64,
    pub position_after: Position,
}

impl PaperBook {
    /// Cash plus every position at its mark (at its entry price when never marked).
    pub fn equity(&self) -> f64 {
        self.cash
            + self
                .positions
                .values()
                .map(|p| p.quantity * self.mark(&p.symbol).unwrap_or(p.average_price))
                .sum::<f64>()
    }

    pub fn mark(&self, symbol: &str) -> Option<f64> {
        self.marks.get(symbol).copied()
    }

    /// Fills `order` and updates the book, or says why it cannot (the book is then unchanged).
    pub fn execute(
        &mut self,
        order: &OrderRequest,
        settings: &PaperSettings,
    ) -> Result<PaperFill, String> {
        let quantity = order.quantity;
        let reference = order.reference_price;
        if !(quantity.is_finite() && quantity > 0.0) {
            return Err(format!("quantity must be positive, got {quantity}"));
        }
        if !(reference.is_finite() && reference > 0.0) {
            return Err(format!("reference price must be positive, got {reference}"));
        }
        let slip = settings.slippage_bps / 10_000.0;
        let price = match order.side {
            Side::Buy => reference * (1.0 + slip),
            Side::Sell => reference * (1.0 - slip),
        };
        let notional = quantity * price;
        let commission = notional * settings.commission_bps / 10_000.0;
        let held = self.positions.get(&order.symbol);
        let cash_after = match order.side {
            Side::Buy => {
                let cost = notional + commission;
                if cost > self.cash + 1e-9 {
                    return Err(format!(
                        "insufficient cash: buying {quantity} {} costs {cost:.2}, cash is {:.2}",
                        order.symbol, self.cash
                    ));
                }
                self.cash - cost
            }
            Side::Sell => {
                let held_quantity = held.map_or(0.0, |p| p.quantity);
                if !settings.allow_short && quantity > held_quantity + QUANTITY_EPSILON {
                    return Err(format!(
                        "long-only: selling {quantity} {} but holding {held_quantity}",
                        order.symbol
                    ));
                }
                self.cash + notional - commission
            }
        };
        let position_after = position_after_fill(held, &order.symbol, order.side, quantity, price);
        self.cash = cash_after;
        if position_after.quantity == 0.0 {
            self.positions.remove(&order.symbol);
            self.marks.remove(&order.symbol);
        } else {
            self.positions
                .insert(order.symbol.clone(), position_after.clone());
            // Marked at the market price, not the slipped fill price: slippage is a cost.
            self.marks.insert(order.symbol.clone(), reference);
        }
        Ok(PaperFill {
            price,
            commission,
            cash_after,
            position_after,
        })
    }
}

#[cfg(test)]
#[path = "paper_tests.rs"]
mod tests;
