//! The risk manager: deterministic limits between the decision and the broker.
//!
//! Whatever the analysts (LLM or not) conclude, an order reaches the broker only through
//! [`RiskManager::review`], which applies, in order:
//!
//! 1. **Trading state** — the stricter of the configured state (the operator maps
//!    `suspend: true` to `Halted`) and any tripped kill switch. `Halted` lets nothing through
//!    (not even a stop loss); `Reducing` lets through only orders that shrink a position.
//! 2. **Stop loss** — a long position down `stopLoss` or more from its average price is closed,
//!    whatever the decision said (unless `Halted`).
//! 3. **Allowed symbols**, then **max orders per minute** (a rolling window on the cycle clock,
//!    so replays are deterministic). Both reject.
//! 4. **Notional limits** — these *clip* rather than reject, because a smaller order is what
//!    the limit asks for: a buy is cut to the order limit, then to the position limit's
//!    headroom, then to available cash (no margin); a sell is cut to the order limit only
//!    (closing risk is never blocked by the position limit). An order clipped below one lot
//!    is rejected with the reason of the last clip.
//!
//! Kill switches are fed by [`RiskManager::observe_equity`] once per cycle: a drawdown from
//! the equity peak of `maxDrawdown` latches `Halted` until the process restarts with a config
//! that clears it; a loss of `maxDailyLoss` since the first equity seen that UTC day halts
//! until the next UTC day. Every rejection carries a typed [`RejectReason`] for the journal and
//! the `risk_rejections_total{reason}` metric.

use std::collections::VecDeque;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{RiskConfig, TradingState};
use crate::decision::{lot_size, round_down_to_lot};
use crate::domain::risk::drawdown_from_peak;
pub use crate::domain::risk::{Clip, Intent, RejectReason, Rejection, Trip};
use crate::domain::{Action, Decision, Side};

/// An order the risk manager let through; the cycle gives it its client order id.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovedOrder {
    pub symbol: String,
    pub side: Side,
    pub quantity: f64,
    pub reference_price: f64,
    pub intent: Intent,
    /// Limits that cut the order, with what was asked and what was kept.
    pub clips: Vec<Clip>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RiskOutcome {
    /// The decision needs no order (a hold, or already at target).
    NoOrder,
    Approved(ApprovedOrder),
    Rejected(Rejection),
}

/// The account as the risk manager needs it for one symbol.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposure {
    pub price: f64,
    pub cash: f64,
    /// Units held now (long only: ≥ 0).
    pub quantity: f64,
    pub average_price: f64,
}

pub struct RiskManager {
    config: RiskConfig,
    configured: TradingState,
    drawdown_trip: Option<Trip>,
    daily_trip: Option<(NaiveDate, Trip)>,
    peak_equity: Option<f64>,
    day_start: Option<(NaiveDate, f64)>,
    recent_orders: VecDeque<DateTime<Utc>>,
}

impl RiskManager {
    pub fn new(config: &RiskConfig, state: TradingState) -> Self {
        Self {
            config: config.clone(),
            configured: state,
            drawdown_trip: None,
            daily_trip: None,
            peak_equity: None,
            day_start: None,
            recent_orders: VecDeque::new(),
        }
    }

    /// Restores the equity peak (e.g. from the journal) so a restart does not forget it.
    pub fn restore_peak(&mut self, peak: f64) {
        if peak.is_finite() && peak > 0.0 {
            self.peak_equity = Some(self.peak_equity.map_or(peak, |p| p.max(peak)));
        }
    }

    /// The effective state now: the configured one, or stricter if a kill switch tripped.
    pub fn state(&self) -> TradingState {
        if self.drawdown_trip.is_some() || self.daily_trip.is_some() {
            TradingState::Halted
        } else {
            self.configured
        }
    }

    /// The state the config asks for (before any kill switch).
    pub fn configured_state(&self) -> TradingState {
        self.configured
    }

    /// Applies a new configured state (the config changed while running). A tripped kill
    /// switch stays tripped: [`state`](Self::state) is never looser than it.
    pub fn set_configured_state(&mut self, state: TradingState) {
        self.configured = state;
    }

    /// Whether the kill switch named `switch` (a [`Trip::as_str`]) holds trading halted now.
    pub fn tripped(&self, switch: &str) -> bool {
        let daily = self.daily_trip.as_ref().map(|(_, trip)| trip);
        [self.drawdown_trip.as_ref(), daily]
            .into_iter()
            .flatten()
            .any(|trip| trip.as_str() == switch)
    }

    /// Equity now minus the first equity seen on `now`'s UTC day (what `maxDailyLoss` is
    /// measured against); 0 before any equity was seen that day.
    pub fn daily_pnl(&self, now: DateTime<Utc>, equity: f64) -> f64 {
        match self.day_start {
            Some((day, start)) if day == now.date_naive() => equity - start,
            _ => 0.0,
        }
    }

    pub fn peak_equity(&self) -> Option<f64> {
        self.peak_equity
    }

    /// Drawdown from the peak as a fraction, 0 when at the peak.
    pub fn drawdown(&self, equity: f64) -> f64 {
        self.peak_equity
            .map_or(0.0, |peak| drawdown_from_peak(peak, equity))
    }

    /// Feeds the cycle's equity; returns a kill switch that tripped just now.
    pub fn observe_equity(&mut self, now: DateTime<Utc>, equity: f64) -> Option<Trip> {
        if !equity.is_finite() {
            return None;
        }
        let today = now.date_naive();
        if self
            .daily_trip
            .as_ref()
            .is_some_and(|(day, _)| *day != today)
        {
            self.daily_trip = None;
        }
        let day_start = match self.day_start {
            Some((day, start)) if day == today => start,
            _ => {
                self.day_start = Some((today, equity));
                equity
            }
        };
        let peak = self.peak_equity.map_or(equity, |p| p.max(equity));
        self.peak_equity = Some(peak);
        let mut tripped = None;
        if let Some(limit) = self.config.max_drawdown
            && self.drawdown_trip.is_none()
        {
            let drawdown = self.drawdown(equity);
            if drawdown >= limit {
                let trip = Trip::MaxDrawdown {
                    peak,
                    equity,
                    drawdown,
                };
                self.drawdown_trip = Some(trip.clone());
                tripped = Some(trip);
            }
        }
        if let Some(limit) = self.config.max_daily_loss
            && self.daily_trip.is_none()
            && day_start - equity >= limit
        {
            let trip = Trip::MaxDailyLoss {
                day: today,
                day_start,
                equity,
            };
            self.daily_trip = Some((today, trip.clone()));
            tripped = tripped.or(Some(trip));
        }
        tripped
    }

    /// Turns a decision into an order, or says why not. Records approved orders for the
    /// rate limit, so call it once per order actually sent.
    pub fn review(
        &mut self,
        now: DateTime<Utc>,
        decision: &Decision,
        exposure: &Exposure,
    ) -> RiskOutcome {
        let symbol = decision.symbol.as_str();
        let price = exposure.price;
        if !(price.is_finite() && price > 0.0) {
            return reject(
                RejectReason::InvalidPrice,
                format!("price {price} is not usable"),
            );
        }
        let Some((side, quantity, intent)) = self.order_wanted(decision, exposure) else {
            return RiskOutcome::NoOrder;
        };
        let lot = lot_size(symbol);
        let quantity = round_down_to_lot(quantity, lot);
        if quantity <= 0.0 {
            return RiskOutcome::NoOrder;
        }
        if let Err(rejected) = self.admit(now, symbol, side) {
            return rejected;
        }
        let (quantity, clips) = self.clip(side, quantity, exposure, lot);
        if quantity <= 0.0 {
            let last = clips
                .last()
                .map_or(RejectReason::InvalidPrice, |c| c.reason);
            return reject(
                last,
                format!("{} clipped to nothing by {}", side.as_str(), last.as_str()),
            );
        }
        self.recent_orders.push_back(now);
        RiskOutcome::Approved(ApprovedOrder {
            symbol: symbol.to_string(),
            side,
            quantity,
            reference_price: price,
            intent,
            clips,
        })
    }

    /// The order the position calls for before any limit: a stop loss closing it, else the
    /// decision's move to its target; `None` for a hold.
    fn order_wanted(
        &self,
        decision: &Decision,
        exposure: &Exposure,
    ) -> Option<(Side, f64, Intent)> {
        let held = exposure.quantity.max(0.0);
        match self.stop_loss_hit(exposure) {
            Some(loss) => {
                let symbol = decision.symbol.as_str();
                tracing::warn!(symbol, loss, "stop loss: closing the position");
                Some((Side::Sell, held, Intent::StopLoss))
            }
            None => match decision.action {
                Action::Hold => None,
                Action::Buy => Some((Side::Buy, decision.target_quantity - held, Intent::Decision)),
                Action::Sell => Some((
                    Side::Sell,
                    held - decision.target_quantity.max(0.0),
                    Intent::Decision,
                )),
            },
        }
    }

    /// The limits that refuse an order outright: the trading state, `allowedSymbols` and
    /// `maxOrdersPerMinute` (whose window this moves on).
    fn admit(&mut self, now: DateTime<Utc>, symbol: &str, side: Side) -> Result<(), RiskOutcome> {
        match self.state() {
            TradingState::Halted => {
                let why = match (&self.drawdown_trip, &self.daily_trip) {
                    (Some(trip), _) | (None, Some((_, trip))) => format!("kill switch: {trip}"),
                    (None, None) => "trading state is Halted".to_string(),
                };
                return Err(reject(RejectReason::Halted, why));
            }
            TradingState::Reducing if side == Side::Buy => {
                return Err(reject(
                    RejectReason::ReducingOnly,
                    "trading state is Reducing: buys would add exposure".into(),
                ));
            }
            _ => {}
        }
        if !self.config.allowed_symbols.is_empty()
            && !self.config.allowed_symbols.iter().any(|s| s == symbol)
        {
            return Err(reject(
                RejectReason::SymbolNotAllowed,
                format!("{symbol} is not in allowedSymbols"),
            ));
        }
        if let Some(limit) = self.config.max_orders_per_minute {
            let window_start = now - chrono::Duration::minutes(1);
            while self
                .recent_orders
                .front()
                .is_some_and(|t| *t <= window_start)
            {
                self.recent_orders.pop_front();
            }
            if self.recent_orders.len() >= limit as usize {
                return Err(reject(
                    RejectReason::RateLimited,
                    format!("{limit} orders in the last minute"),
                ));
            }
        }
        Ok(())
    }

    /// The limits that cut an order down (order and position notional, cash for a buy), in
    /// that order, with a [`Clip`] for each that did.
    fn clip(&self, side: Side, quantity: f64, exposure: &Exposure, lot: f64) -> (f64, Vec<Clip>) {
        let price = exposure.price;
        let held = exposure.quantity.max(0.0);
        let mut clips = Vec::new();
        let mut quantity = quantity;
        let mut cap = |reason: RejectReason, max_notional: f64, quantity: &mut f64| {
            let max_quantity = round_down_to_lot(max_notional.max(0.0) / price, lot);
            if *quantity > max_quantity {
                clips.push(Clip {
                    reason,
                    from_quantity: *quantity,
                    to_quantity: max_quantity,
                });
                *quantity = max_quantity;
            }
        };
        if let Some(limit) = self.config.max_order_notional {
            cap(RejectReason::OrderNotional, limit, &mut quantity);
        }
        if side == Side::Buy {
            if let Some(limit) = self.config.max_position_notional {
                cap(
                    RejectReason::PositionNotional,
                    limit - held * price,
                    &mut quantity,
                );
            }
            cap(RejectReason::InsufficientCash, exposure.cash, &mut quantity);
        }
        (quantity, clips)
    }

    /// The loss fraction when the stop loss should close the position.
    pub fn stop_loss_hit(&self, exposure: &Exposure) -> Option<f64> {
        let stop = self.config.stop_loss?;
        if exposure.quantity <= 0.0 || exposure.average_price <= 0.0 {
            return None;
        }
        let loss = (exposure.average_price - exposure.price) / exposure.average_price;
        (loss >= stop).then_some(loss)
    }
}

fn reject(reason: RejectReason, detail: String) -> RiskOutcome {
    RiskOutcome::Rejected(Rejection { reason, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Metric labels, gauge values and journal strings: a renamed or reordered variant must
    // not change them.
    #[test]
    fn reject_reason_labels_are_pinned() {
        for (reason, label) in [
            (RejectReason::Halted, "halted"),
            (RejectReason::ReducingOnly, "reducing_only"),
            (RejectReason::SymbolNotAllowed, "symbol_not_allowed"),
            (RejectReason::RateLimited, "rate_limited"),
            (RejectReason::OrderNotional, "order_notional"),
            (RejectReason::PositionNotional, "position_notional"),
            (RejectReason::InsufficientCash, "insufficient_cash"),
            (RejectReason::InvalidPrice, "invalid_price"),
        ] {
            assert!(RejectReason::ALL.contains(&reason));
            assert_eq!(reason.as_str(), label);
            assert_eq!(serde_json::to_value(reason).ok(), Some(label.into()));
        }
    }

    #[test]
    fn trading_state_names_and_gauge_values_are_pinned() {
        for (state, name, gauge) in [
            (TradingState::Active, "Active", 0),
            (TradingState::Reducing, "Reducing", 1),
            (TradingState::Halted, "Halted", 2),
        ] {
            assert_eq!(state.as_str(), name);
            assert_eq!(serde_json::to_value(state).ok(), Some(name.into()));
            // `trading_state` gauge: "0 Active, 1 Reducing, 2 Halted".
            assert_eq!(state as i64, gauge);
        }
    }

    #[test]
    fn trips_read_as_the_kill_switch_and_its_figures() {
        let drawdown = Trip::MaxDrawdown {
            peak: 100_000.0,
            equity: 80_000.0,
            drawdown: 0.2,
        };
        assert_eq!(drawdown.as_str(), "max_drawdown");
        assert_eq!(
            drawdown.to_string(),
            "max_drawdown: equity 80000.00 is 20.00% below the peak 100000.00"
        );
        let daily = Trip::MaxDailyLoss {
            day: NaiveDate::from_ymd_opt(2024, 3, 1).expect("a date"),
            day_start: 50_000.0,
            equity: 48_500.0,
        };
        assert_eq!(daily.as_str(), "max_daily_loss");
        assert_eq!(
            daily.to_string(),
            "max_daily_loss: equity 48500.00 is 1500.00 below the 2024-03-01 start of 50000.00"
        );
    }
}
