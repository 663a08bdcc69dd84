//! The run's statistics as pure functions of a few running totals, each defined in
//! `docs/backtest.md` and unit-tested against hand-computed values.
//!
//! Nothing here keeps a series: returns are summarised by [`Moments`] as they arrive and
//! trades by [`TradeTotals`], so a million-bar run needs the same memory as a hundred-bar one.

use crate::domain::risk::drawdown_from_peak;

/// Running totals of per-bar returns: count, mean and squared deviations (Welford), and the
/// sum of squared negative returns (for the downside deviation).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub count: u64,
    pub mean: f64,
    pub squared_deviations: f64,
    pub downside_squares: f64,
}

impl Moments {
    pub fn push(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.squared_deviations += delta * (value - self.mean);
        if value < 0.0 {
            self.downside_squares += value * value;
        }
    }

    /// Sample standard deviation (n − 1); `None` below two values.
    pub fn std(&self) -> Option<f64> {
        (self.count >= 2).then(|| (self.squared_deviations / (self.count - 1) as f64).sqrt())
    }

    /// Downside deviation: √(Σ min(r, 0)² / n).
    pub fn downside(&self) -> Option<f64> {
        (self.count >= 1).then(|| (self.downside_squares / self.count as f64).sqrt())
    }
}

/// Closed round trips (flat → position → flat) of every symbol.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TradeTotals {
    pub closed: u64,
    pub wins: u64,
    pub gross_profit: f64,
    /// As a positive number.
    pub gross_loss: f64,
}

impl TradeTotals {
    pub fn close(&mut self, profit: f64) {
        self.closed += 1;
        if profit > 0.0 {
            self.wins += 1;
            self.gross_profit += profit;
        } else {
            self.gross_loss -= profit;
        }
    }
}

/// final / start − 1.
pub fn total_return(start: f64, end: f64) -> Option<f64> {
    (start > 0.0).then(|| end / start - 1.0)
}

/// (final / start)^(1 / years) − 1.
pub fn cagr(start: f64, end: f64, years: f64) -> Option<f64> {
    (start > 0.0 && end >= 0.0 && years > 0.0).then(|| (end / start).powf(1.0 / years) - 1.0)
}

/// Return observations per year over the run: what annualises volatility and the ratios.
pub fn periods_per_year(returns: u64, years: f64) -> Option<f64> {
    (years > 0.0 && returns > 0).then(|| returns as f64 / years)
}

/// Sample standard deviation of the per-bar returns × √(periods per year).
pub fn volatility(returns: &Moments, per_year: f64) -> Option<f64> {
    Some(returns.std()? * per_year.sqrt())
}

/// Mean per-bar return / its sample standard deviation × √(periods per year); risk-free 0.
pub fn sharpe(returns: &Moments, per_year: f64) -> Option<f64> {
    let std = returns.std().filter(|s| *s > 0.0)?;
    Some(returns.mean / std * per_year.sqrt())
}

/// Mean per-bar return / downside deviation × √(periods per year).
pub fn sortino(returns: &Moments, per_year: f64) -> Option<f64> {
    let downside = returns.downside().filter(|d| *d > 0.0)?;
    Some(returns.mean / downside * per_year.sqrt())
}

/// Winning closed trades / closed trades.
pub fn win_rate(trades: &TradeTotals) -> Option<f64> {
    (trades.closed > 0).then(|| trades.wins as f64 / trades.closed as f64)
}

/// Gross profit / gross loss of closed trades; `None` without a losing trade.
pub fn profit_factor(trades: &TradeTotals) -> Option<f64> {
    (trades.gross_loss > 0.0).then(|| trades.gross_profit / trades.gross_loss)
}

/// Running peak and the largest fall from it, as a fraction of the peak.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Drawdown {
    pub peak: f64,
    pub max: f64,
}

impl Drawdown {
    pub fn push(&mut self, equity: f64) {
        self.peak = self.peak.max(equity);
        self.max = self.max.max(drawdown_from_peak(self.peak, equity));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn moments(values: &[f64]) -> Moments {
        let mut m = Moments::default();
        values.iter().for_each(|v| m.push(*v));
        m
    }

    #[test]
    fn moments_by_hand() {
        // Returns 0.1, −0.1, 0.2, 0: mean 0.05; deviations .05 −.15 .15 −.05 → Σ² = .05;
        // sample variance .05 / 3; downside Σ min(r,0)² / n = .01 / 4.
        let m = moments(&[0.1, -0.1, 0.2, 0.0]);
        assert!(close(m.mean, 0.05));
        assert!(close(m.std().unwrap(), (0.05_f64 / 3.0).sqrt()));
        assert!(close(m.downside().unwrap(), 0.05));
        assert!(close(
            volatility(&m, 4.0).unwrap(),
            (0.05_f64 / 3.0).sqrt() * 2.0
        ));
        assert!(close(
            sharpe(&m, 4.0).unwrap(),
            0.05 / (0.05_f64 / 3.0).sqrt() * 2.0
        ));
        assert!(close(sortino(&m, 4.0).unwrap(), 0.05 / 0.05 * 2.0));
    }

    #[test]
    fn ratios_are_undefined_without_dispersion() {
        let flat = moments(&[0.01, 0.01]);
        assert_eq!(sharpe(&flat, 252.0), None, "zero standard deviation");
        assert_eq!(sortino(&flat, 252.0), None, "no down bar");
        assert_eq!(moments(&[0.01]).std(), None);
    }

    #[test]
    fn returns_and_growth_by_hand() {
        assert!(close(total_return(100.0, 121.0).unwrap(), 0.21));
        // 21% over two years is 10% a year.
        assert!(close(cagr(100.0, 121.0, 2.0).unwrap(), 0.1));
        assert_eq!(cagr(100.0, 121.0, 0.0), None);
        assert_eq!(total_return(0.0, 1.0), None);
        assert!(close(periods_per_year(504, 2.0).unwrap(), 252.0));
    }

    #[test]
    fn trades_by_hand() {
        let mut t = TradeTotals::default();
        for profit in [30.0, -10.0, 20.0, -5.0, 0.0] {
            t.close(profit);
        }
        assert_eq!((t.closed, t.wins), (5, 2));
        assert!(close(win_rate(&t).unwrap(), 0.4));
        assert!(close(profit_factor(&t).unwrap(), 50.0 / 15.0));
        assert_eq!(profit_factor(&TradeTotals::default()), None);
        assert_eq!(win_rate(&TradeTotals::default()), None);
    }

    #[test]
    fn drawdown_by_hand() {
        let mut d = Drawdown::default();
        for equity in [100.0, 120.0, 90.0, 130.0, 117.0] {
            d.push(equity);
        }
        // 120 → 90 is 25%; 130 → 117 only 10%.
        assert!(close(d.max, 0.25));
        assert!(close(d.peak, 130.0));
    }
}
