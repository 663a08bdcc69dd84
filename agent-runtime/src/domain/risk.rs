//! What risk says about an order, in the journal's words: why it refused or cut one
//! ([`RejectReason`], [`Rejection`], [`Clip`]), why an order exists ([`Intent`]) and which kill
//! switch fired ([`Trip`]). Here rather than in `risk` so the cycle's ports and the journal
//! can name them without depending on the risk manager.

use chrono::NaiveDate;

/// How far `equity` stands below `peak`, as a fraction of the peak; 0 at or above it (or
/// with no positive peak). The one definition the kill switch, the journal API's summary and
/// a backtest's maximum drawdown all use.
pub fn drawdown_from_peak(peak: f64, equity: f64) -> f64 {
    if peak > 0.0 && equity < peak {
        (peak - equity) / peak
    } else {
        0.0
    }
}

/// Why the risk manager refused or cut an order. `as_str` is a stable metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    Halted,
    ReducingOnly,
    SymbolNotAllowed,
    RateLimited,
    OrderNotional,
    PositionNotional,
    InsufficientCash,
    InvalidPrice,
}

impl RejectReason {
    /// Every reason, so `risk_rejections_total` can show each at zero from the start.
    pub const ALL: [RejectReason; 8] = [
        Self::Halted,
        Self::ReducingOnly,
        Self::SymbolNotAllowed,
        Self::RateLimited,
        Self::OrderNotional,
        Self::PositionNotional,
        Self::InsufficientCash,
        Self::InvalidPrice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Halted => "halted",
            Self::ReducingOnly => "reducing_only",
            Self::SymbolNotAllowed => "symbol_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::OrderNotional => "order_notional",
            Self::PositionNotional => "position_notional",
            Self::InsufficientCash => "insufficient_cash",
            Self::InvalidPrice => "invalid_price",
        }
    }
}

/// Why an order exists; part of its client order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// The decision's buy or sell.
    Decision,
    /// A forced close by the stop loss.
    StopLoss,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "decision",
            Self::StopLoss => "stop_loss",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Clip {
    pub reason: RejectReason,
    pub from_quantity: f64,
    pub to_quantity: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

/// A kill switch that fired.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Trip {
    MaxDrawdown {
        peak: f64,
        equity: f64,
        drawdown: f64,
    },
    MaxDailyLoss {
        day: NaiveDate,
        day_start: f64,
        equity: f64,
    },
}

impl Trip {
    /// The stable name of the kill switch that fired.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::MaxDrawdown { .. } => "max_drawdown",
            Self::MaxDailyLoss { .. } => "max_daily_loss",
        }
    }
}

/// What the journal says about a trip: which kill switch, and the figures that fired it.
impl std::fmt::Display for Trip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MaxDrawdown {
                peak,
                equity,
                drawdown,
            } => write!(
                f,
                "{}: equity {equity:.2} is {:.2}% below the peak {peak:.2}",
                self.as_str(),
                drawdown * 100.0
            ),
            Self::MaxDailyLoss {
                day,
                day_start,
                equity,
            } => write!(
                f,
                "{}: equity {equity:.2} is {:.2} below the {day} start of {day_start:.2}",
                self.as_str(),
                day_start - equity
            ),
        }
    }
}
