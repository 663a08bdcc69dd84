//! Brokers: where orders go, behind one object-safe trait.
//!
//! The runtime holds a `Box<dyn Broker>` chosen by [`crate::config::BrokerConfig`]: the
//! built-in [`paper`] broker (simulated fills, state in the journal) or the Alpaca-compatible
//! REST client in [`alpaca`]. Both behave like a real broker as far as the trader can tell:
//! orders are keyed by a client order id ([`order_id`]), a second order with an id the
//! broker has seen is never placed twice, and every order can be looked up by that id.
//!
//! Errors say what the trader may do next. [`BrokerError::Rejected`] means the broker
//! definitely did not place the order: the next cycle may decide again.
//! [`BrokerError::OutcomeUnknown`] (timeout, 5xx, 429, connection lost) means it may or may not
//! have: the order stays `Pending` in the journal and is looked up by its client order id
//! ([`execute`], [`reconcile`]) before anything is sent again.

pub mod alpaca;
pub mod execute;
pub mod order_id;
pub mod paper;
pub mod reconcile;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::config::BrokerConfig;
use crate::domain::{Fill, OrderStatus, Position, Side};
use crate::journal::{Journal, JournalError};

/// Cash and equity as the broker reports them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub cash: f64,
    /// Cash plus positions at the broker's (or the paper broker's last) prices.
    pub equity: f64,
    pub buying_power: f64,
}

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
    /// The (cumulative) fill of this order, if anything filled.
    pub fn fill(&self) -> Option<Fill> {
        let price = self.filled_average_price?;
        if self.filled_quantity <= 0.0 {
            return None;
        }
        Some(Fill {
            client_order_id: self.client_order_id.clone(),
            symbol: self.symbol.clone(),
            side: self.side,
            quantity: self.filled_quantity,
            price,
            commission: self.commission,
            time: self
                .filled_at
                .or(self.submitted_at)
                .unwrap_or_else(Utc::now),
        })
    }

    /// True once the broker will not change the order any more.
    pub fn is_final(&self) -> bool {
        is_final(self.status)
    }
}

/// Filled, rejected and canceled orders never change again; the others may.
pub fn is_final(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Filled | OrderStatus::Rejected | OrderStatus::Canceled
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

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker definitely did not place the order (invalid, insufficient funds, long-only).
    #[error("rejected by the broker: {message}")]
    Rejected { message: String },
    /// The request may or may not have taken effect (timeout, 5xx, 429, connection lost).
    /// For an order: look it up by client order id before sending it again.
    #[error("outcome unknown: {message}")]
    OutcomeUnknown { message: String },
    /// The broker refused the credentials (401/403 on a read).
    #[error("the broker refused the credentials: {message}")]
    Unauthorized { message: String },
    #[error("cannot read the broker credential file {path}: {source}")]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The broker answered something this client does not understand.
    #[error("unexpected answer from the broker: {message}")]
    InvalidResponse { message: String },
    #[error("invalid broker configuration: {message}")]
    Config { message: String },
    #[error("paper broker storage: {0}")]
    Journal(#[from] JournalError),
}

impl BrokerError {
    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::OutcomeUnknown { .. } => "outcome_unknown",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Credentials { .. } => "credentials",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::Config { .. } => "config",
            Self::Journal(_) => "storage",
        }
    }

    /// True when an order definitely was not placed, so deciding again is safe.
    pub fn is_definitely_rejected(&self) -> bool {
        matches!(self, Self::Rejected { .. })
    }
}

/// A broker account. Object safe: the runtime holds a `Box<dyn Broker>`.
pub trait Broker: Send + Sync {
    /// `paper` or `alpaca`, for logs and metrics.
    fn kind(&self) -> &'static str;

    fn account(&self) -> BoxFuture<'_, Result<Account, BrokerError>>;

    /// Open positions (non-zero quantities only).
    fn positions(&self) -> BoxFuture<'_, Result<Vec<Position>, BrokerError>>;

    /// Places a market order. Idempotent by `order.client_order_id`: if the broker already has
    /// an order with that id, that order is returned and nothing new is placed.
    fn submit_order<'a>(
        &'a self,
        order: &'a crate::domain::OrderRequest,
    ) -> BoxFuture<'a, Result<BrokerOrder, BrokerError>>;

    /// The order with this client order id; `None` when the broker never received it.
    fn order_by_client_id<'a>(
        &'a self,
        client_order_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BrokerOrder>, BrokerError>>;

    /// Orders accepted but not yet final.
    fn open_orders(&self) -> BoxFuture<'_, Result<Vec<BrokerOrder>, BrokerError>>;

    /// The market clock; `None` where the broker has none (the paper broker).
    fn clock(&self) -> BoxFuture<'_, Result<Option<MarketClock>, BrokerError>>;
}

/// The broker `config` describes. The paper broker keeps its state in `journal`.
pub async fn connect(
    config: &BrokerConfig,
    journal: &Journal,
) -> Result<Box<dyn Broker>, BrokerError> {
    match config {
        BrokerConfig::Paper {
            starting_cash,
            commission_bps,
            slippage_bps,
        } => {
            let settings = paper::PaperSettings {
                starting_cash: *starting_cash,
                commission_bps: *commission_bps,
                slippage_bps: *slippage_bps,
                allow_short: false,
            };
            Ok(Box::new(
                paper::PaperBroker::open(journal.clone(), settings).await?,
            ))
        }
        BrokerConfig::Alpaca {
            base_url,
            key_id_file,
            secret_key_file,
            timeout_seconds,
            ..
        } => {
            let credentials = alpaca::Credentials::from_files(key_id_file, secret_key_file)?;
            Ok(Box::new(alpaca::AlpacaBroker::new(
                base_url,
                credentials,
                std::time::Duration::from_secs(*timeout_seconds),
            )?))
        }
    }
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

    #[test]
    fn cumulative_fill_comes_from_filled_fields() {
        let mut order = BrokerOrder {
            id: "b".into(),
            client_order_id: "c".into(),
            symbol: "X".into(),
            side: Side::Buy,
            quantity: 10.0,
            filled_quantity: 0.0,
            filled_average_price: None,
            commission: 0.0,
            status: OrderStatus::Accepted,
            submitted_at: None,
            filled_at: None,
        };
        assert!(order.fill().is_none());
        order.filled_quantity = 4.0;
        order.filled_average_price = Some(12.5);
        let fill = order.fill().expect("filled");
        assert_eq!((fill.quantity, fill.price), (4.0, 12.5));
    }
}
