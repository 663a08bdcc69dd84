//! The Tradeplane operator.
