//! Orders as a broker knows them, and the position arithmetic of a fill: shared by the
//! brokers, which report orders, and the journal, which stores them and their fills. Here
//! rather than in `broker` so the journal does not depend on the brokers that write to it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Fill, OrderStatus, Position, Side};

/// An order as the broker knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BrokerOrder {
    /// The broker's own id.
    pub id: String,
    pub client_order_id: String,
    pub symbol: String,
    pub side: Side,
    /// Units ordered.
    pub quantity: f64,
    /// Units filled so far.
    pub filled_quantity: f64,
    /// Average fill price, once anything filled.
    pub filled_average_price: Option<f64>,
    /// Commission charged on the fills (0 where the broker charges none or does not say).
    pub commission: f64,
    pub status: OrderStatus,
    pub submitted_at: Option<DateTime<Utc>>,
    pub filled_at: Option<DateTime<Utc>>,
}

impl BrokerOrder {
    /// The part of this order filled since what the journal holds of it (`journalled`), as
    /// one fill at its own average price; `None` when the broker reports nothing new.
    ///
    /// Brokers report an order's fills cumulatively (filled quantity, average price,
    /// commission), so the new part is the difference. Its id is the broker's order id and
    /// the cumulative quantity it brings the order to: the same broker answer always gives the
    /// same id, whoever reads it and however often.
    pub fn fill_since(&self, journalled: &FilledSoFar, at: DateTime<Utc>) -> Option<Fill> {
        let average = self.filled_average_price?;
        let quantity = self.filled_quantity - journalled.quantity;
        if quantity < QUANTITY_EPSILON || !average.is_finite() || average <= 0.0 {
            return None;
        }
        let price = (self.filled_quantity * average - journalled.notional) / quantity;
        // A broker that rounds its average price can make the difference meaningless for a
        // tiny increment; the order's average is then the best price there is.
        let price = if price.is_finite() && price > 0.0 {
            price
        } else {
            average
        };
        Some(Fill {
            fill_id: fill_id(&self.id, self.filled_quantity),
            client_order_id: self.client_order_id.clone(),
            symbol: self.symbol.clone(),
            side: self.side,
            quantity,
            price,
            commission: (self.commission - journalled.commission).max(0.0),
            time: self.filled_at.unwrap_or(at),
        })
    }

    /// True once the broker will not change the order any more.
    pub fn is_final(&self) -> bool {
        is_final(self.status)
    }
}

/// What the journal holds of one order's fills, summed: what [`BrokerOrder::fill_since`]
/// subtracts from the broker's cumulative figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FilledSoFar {
    pub quantity: f64,
    /// Σ quantity × price.
    pub notional: f64,
    pub commission: f64,
}

/// The id of the fill that brings broker order `broker_order_id` to `cumulative` units.
pub fn fill_id(broker_order_id: &str, cumulative: f64) -> String {
    format!("{broker_order_id}@{cumulative}")
}

/// Filled, rejected, canceled and expired orders never change again; the others may.
pub fn is_final(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Filled | OrderStatus::Rejected | OrderStatus::Canceled | OrderStatus::Expired
    )
}

/// Whether the market is open, where the broker has a clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarketClock {
    pub is_open: bool,
    pub timestamp: DateTime<Utc>,
    pub next_open: Option<DateTime<Utc>>,
    pub next_close: Option<DateTime<Utc>>,
}

/// `position` after a fill of `quantity` units on `side` at `price`: quantities add up
/// (a sell subtracts); the average price is the weighted average while the position grows,
/// unchanged while it shrinks, and the fill price when it flips sides.
pub fn position_after_fill(
    position: Option<&Position>,
    symbol: &str,
    side: Side,
    quantity: f64,
    price: f64,
) -> Position {
    let (held, average) = position.map_or((0.0, 0.0), |p| (p.quantity, p.average_price));
    let delta = match side {
        Side::Buy => quantity,
        Side::Sell => -quantity,
    };
    let after = held + delta;
    let average_price = if after.abs() < QUANTITY_EPSILON {
        0.0
    } else if held == 0.0 || held.signum() != after.signum() {
        price
    } else if held.signum() == delta.signum() {
        (held * average + delta * price) / after
    } else {
        average
    };
    Position {
        symbol: symbol.to_string(),
        quantity: if after.abs() < QUANTITY_EPSILON {
            0.0
        } else {
            after
        },
        average_price,
    }
}

/// Quantities closer to zero than this are zero (float dust after partial sells).
pub const QUANTITY_EPSILON: f64 = 1e-9;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn pos(q: f64, p: f64) -> Position {
        Position {
            symbol: "X".into(),
            quantity: q,
            average_price: p,
        }
    }

    #[test]
    fn buying_more_averages_the_entry_price() {
        let p = position_after_fill(Some(&pos(10.0, 100.0)), "X", Side::Buy, 10.0, 110.0);
        assert_eq!(p.quantity, 20.0);
        assert!((p.average_price - 105.0).abs() < 1e-12);
    }

    #[test]
    fn selling_part_keeps_the_entry_price_and_selling_all_clears_it() {
        let p = position_after_fill(Some(&pos(10.0, 100.0)), "X", Side::Sell, 4.0, 120.0);
        assert_eq!((p.quantity, p.average_price), (6.0, 100.0));
        let p = position_after_fill(Some(&p), "X", Side::Sell, 6.0, 90.0);
        assert_eq!((p.quantity, p.average_price), (0.0, 0.0));
    }

    #[test]
    fn flipping_sides_starts_a_new_entry_price() {
        let p = position_after_fill(Some(&pos(5.0, 100.0)), "X", Side::Sell, 8.0, 90.0);
        assert_eq!((p.quantity, p.average_price), (-3.0, 90.0));
        let p = position_after_fill(None, "X", Side::Buy, 2.0, 50.0);
        assert_eq!((p.quantity, p.average_price), (2.0, 50.0));
    }

    fn order(filled: f64, average: Option<f64>, commission: f64) -> BrokerOrder {
        BrokerOrder {
            id: "b".into(),
            client_order_id: "c".into(),
            symbol: "X".into(),
            side: Side::Buy,
            quantity: 10.0,
            filled_quantity: filled,
            filled_average_price: average,
            commission,
            status: OrderStatus::PartiallyFilled,
            submitted_at: None,
            filled_at: None,
        }
    }

    #[test]
    fn the_new_fill_is_the_difference_from_what_the_journal_holds() {
        let at = Utc::now();
        assert!(
            order(0.0, None, 0.0)
                .fill_since(&FilledSoFar::default(), at)
                .is_none()
        );
        let first = order(4.0, Some(12.5), 1.0)
            .fill_since(&FilledSoFar::default(), at)
            .expect("a first fill");
        assert_eq!(
            (first.quantity, first.price, first.commission),
            (4.0, 12.5, 1.0)
        );
        assert_eq!(first.fill_id, "b@4");
        // 6 more at 15: the average over 10 is (4 × 12.5 + 6 × 15) / 10 = 14.
        let journalled = FilledSoFar {
            quantity: 4.0,
            notional: 50.0,
            commission: 1.0,
        };
        let second = order(10.0, Some(14.0), 2.5)
            .fill_since(&journalled, at)
            .expect("a second fill");
        assert_eq!(second.quantity, 6.0);
        assert!((second.price - 15.0).abs() < 1e-9, "{}", second.price);
        assert!((second.commission - 1.5).abs() < 1e-12);
        assert_eq!(second.fill_id, "b@10");
        // The same broker answer again brings nothing new.
        let all = FilledSoFar {
            quantity: 10.0,
            notional: 140.0,
            commission: 2.5,
        };
        assert!(order(10.0, Some(14.0), 2.5).fill_since(&all, at).is_none());
    }
}
