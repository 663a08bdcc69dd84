//! What an analyst sees of one symbol at decision time: the input of every analyst, of the
//! debate and of the cycle's ports, so it lives with the other domain types.

use super::{Bar, Position};

/// What an analyst sees of one symbol at decision time.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub symbol: String,
    /// Oldest first; the last bar is the latest price.
    pub bars: Vec<Bar>,
    /// The strategy's current position in the symbol, if any.
    pub position: Option<Position>,
}

impl Snapshot {
    /// Close of the latest bar.
    pub fn last_price(&self) -> Option<f64> {
        self.bars.last().map(|bar| bar.close)
    }
}
