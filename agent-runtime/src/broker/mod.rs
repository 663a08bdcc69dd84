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
pub mod follow;
pub mod order_id;
pub mod paper;
pub mod paper_store;
pub mod reconcile;

use std::path::PathBuf;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::config::BrokerConfig;
use crate::domain::Position;
pub use crate::domain::orders::{
    BrokerOrder, FilledSoFar, MarketClock, QUANTITY_EPSILON, fill_id, is_final, position_after_fill,
};
use crate::journal::{Journal, JournalError};

/// Cash and equity as the broker reports them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub cash: f64,
    /// Cash plus positions at the broker's (or the paper broker's last) prices.
    pub equity: f64,
    pub buying_power: f64,
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

    /// Asks the broker to cancel an order still open. `Ok` means the broker took the request
    /// or the order was already final; look the order up for its outcome (a fill may have
    /// come first).
    fn cancel_order<'a>(&'a self, order: &'a BrokerOrder)
    -> BoxFuture<'a, Result<(), BrokerError>>;

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
    connect_seeded(config, &[], journal).await
}

/// [`connect`], a paper account opening with the positions `seed` the first time (a
/// shadow's copy of the live book; see `ShadowConfig`). A real broker holds its own book, so
/// there the seed is not used — and the config's validation refuses a shadow on one.
pub async fn connect_seeded(
    config: &BrokerConfig,
    seed: &[Position],
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
                paper::PaperBroker::open_seeded(journal.clone(), settings, seed).await?,
            ))
        }
        BrokerConfig::Alpaca {
            base_url,
            key_id_file,
            secret_key_file,
            timeout_seconds,
            time_in_force,
            ..
        } => {
            let credentials = alpaca::Credentials::from_files(key_id_file, secret_key_file)?;
            Ok(Box::new(
                alpaca::AlpacaBroker::new(
                    base_url,
                    credentials,
                    std::time::Duration::from_secs(*timeout_seconds),
                )?
                .with_time_in_force(*time_in_force),
            ))
        }
    }
}
