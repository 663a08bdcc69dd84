//! The trading state, picked up from the mounted config file while the process runs.
//!
//! `suspend: true` on a TradingStrategy must halt trading at once. The operator renders it as
//! `tradingState: Halted` into the config Secret, and the Secret change also rolls the pods —
//! but a rollout waits for the old pod's cycle to finish, and a cycle may be about to place
//! orders. So the trader also re-reads the file (kubelet swaps a mounted Secret's files in
//! place) before each cycle and before each order, and applies a changed `tradingState` to
//! the risk manager then. Only the trading state is taken live; every other change needs the
//! restart the rollout brings. Reading a file of a few KB per order costs microseconds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{RuntimeConfig, TradingState};

/// Watches one config file for a new `tradingState`.
#[derive(Debug)]
pub struct TradingStateWatch {
    path: PathBuf,
    /// The file's content when last read: unchanged bytes are not parsed again.
    last: Mutex<Option<Vec<u8>>>,
}

impl TradingStateWatch {
    /// Watches `path`; the first [`poll`](Self::poll) reports the file's state.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            last: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's `tradingState` if the file changed since the last call and parses; `None`
    /// when it is unchanged or unreadable (the state in force then stays — a half-written
    /// or broken file must not loosen anything).
    pub fn poll(&self) -> Option<TradingState> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(path = %self.path.display(), %err, "cannot re-read the config for the trading state");
                return None;
            }
        };
        let mut last = self.last.lock().ok()?;
        if last.as_deref() == Some(bytes.as_slice()) {
            return None;
        }
        *last = Some(bytes.clone());
        drop(last);
        let text = String::from_utf8_lossy(&bytes);
        match RuntimeConfig::parse(&text, &self.path) {
            Ok(config) => Some(config.trading_state),
            Err(err) => {
                tracing::warn!(%err, "the updated config does not parse; keeping the trading state");
                None
            }
        }
    }
}
