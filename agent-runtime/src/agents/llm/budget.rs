//! A provider's daily spend limit, in US dollars, reset at UTC midnight.
//!
//! Cost is computed from what the provider billed (`usage.prompt_tokens` and
//! `completion_tokens` times the configured per-million prices), so it matches the invoice,
//! not an estimate. The limit fails closed: once the day's spend reaches it, the provider is
//! skipped until the next UTC day. Concurrent calls that all started before the limit was
//! reached may overshoot it by their own cost; that bound (one call per in-flight analysis)
//! is accepted rather than serialising every call behind the budget.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

use super::client::Usage;

/// Prices per million tokens, US dollars.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pricing {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

impl Pricing {
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.prompt_tokens as f64 * self.input_per_million
            + usage.completion_tokens as f64 * self.output_per_million)
            / 1_000_000.0
    }
}

#[derive(Debug)]
pub struct DailyBudget {
    limit_usd: Option<f64>,
    spent: Mutex<(NaiveDate, f64)>,
}

impl DailyBudget {
    /// `None` means no limit.
    pub fn new(limit_usd: Option<f64>) -> Self {
        Self {
            limit_usd,
            spent: Mutex::new((NaiveDate::MIN, 0.0)),
        }
    }

    pub fn limit_usd(&self) -> Option<f64> {
        self.limit_usd
    }

    /// Spent so far on `now`'s UTC day.
    pub fn spent(&self, now: DateTime<Utc>) -> f64 {
        let spent = self.lock();
        if spent.0 == now.date_naive() {
            spent.1
        } else {
            0.0
        }
    }

    /// What is left today; `None` when there is no limit.
    pub fn remaining(&self, now: DateTime<Utc>) -> Option<f64> {
        self.limit_usd
            .map(|limit| (limit - self.spent(now)).max(0.0))
    }

    /// True once today's spend reached the limit.
    pub fn is_exhausted(&self, now: DateTime<Utc>) -> bool {
        self.remaining(now).is_some_and(|left| left <= 0.0)
    }

    /// Adds a call's cost to `now`'s day (starting a new day at UTC midnight).
    pub fn charge(&self, cost_usd: f64, now: DateTime<Utc>) {
        let mut spent = self.lock();
        let today = now.date_naive();
        if spent.0 != today {
            *spent = (today, 0.0);
        }
        if cost_usd.is_finite() && cost_usd > 0.0 {
            spent.1 += cost_usd;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (NaiveDate, f64)> {
        // The data is two plain numbers: a panic elsewhere cannot leave them half-written.
        self.spent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, day, hour, 59, 59)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn prices_usage_per_million_tokens() {
        let pricing = Pricing {
            input_per_million: 2.0,
            output_per_million: 8.0,
        };
        let usage = Usage {
            prompt_tokens: 500_000,
            completion_tokens: 250_000,
        };
        assert!((pricing.cost(usage) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn fails_closed_once_spent_and_reopens_at_utc_midnight() {
        let budget = DailyBudget::new(Some(1.0));
        assert!(!budget.is_exhausted(at(1, 10)));
        budget.charge(0.6, at(1, 10));
        assert_eq!(budget.remaining(at(1, 10)), Some(0.4));
        budget.charge(0.6, at(1, 23));
        assert!(budget.is_exhausted(at(1, 23)));
        assert_eq!(budget.remaining(at(1, 23)), Some(0.0));
        assert!(
            !budget.is_exhausted(at(2, 0)),
            "a new UTC day starts afresh"
        );
        budget.charge(0.1, at(2, 0));
        assert!((budget.spent(at(2, 1)) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn no_limit_is_never_exhausted() {
        let budget = DailyBudget::new(None);
        budget.charge(1e9, at(1, 1));
        assert!(!budget.is_exhausted(at(1, 1)));
        assert_eq!(budget.remaining(at(1, 1)), None);
    }
}
