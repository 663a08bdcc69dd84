//! A provider's daily spend limit, in US dollars, reset at UTC midnight, and the ledger
//! that makes it survive restarts and hold across replicas.
//!
//! Cost is computed from what the provider billed (`usage.prompt_tokens` and
//! `completion_tokens` times the configured per-million prices), so it matches the invoice,
//! not an estimate. The limit fails closed: once the day's spend reaches it, the provider is
//! skipped until the next UTC day. Concurrent calls that all started before the limit was
//! reached may overshoot it by their own cost; that bound (one call per in-flight analysis)
//! is accepted rather than serialising every call behind the budget.
//!
//! Memory alone would fail open: a pod that restarts would start the day at zero. So every
//! billed call goes to a [`SpendLedger`] — the journal for a trader, the pool's shared ledger
//! for a worker — and the day's spend is restored from it before the first call of the day.
//!
//! The same ledger keeps each provider's rate-limit hold (the end of a 429's `Retry-After`
//! or backoff, see [`super::ratelimit`]), restored alongside the spend: a restart must no
//! more call a provider that asked it to wait than spend a budget twice.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

use super::client::Usage;
pub use crate::domain::{LlmCall, SpendLedger};

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

tokio::task_local! {
    /// Dollars billed by the calls made inside [`tally_cost`], whichever provider made them.
    static CALL_COST: std::cell::Cell<f64>;
}

/// Runs `work` and returns what it billed: how a worker attributes a request's LLM spend to
/// the strategy that asked, though the providers are shared by every request.
pub async fn tally_cost<F: std::future::Future>(work: F) -> (F::Output, f64) {
    CALL_COST
        .scope(std::cell::Cell::new(0.0), async move {
            let output = work.await;
            (output, CALL_COST.with(|cost| cost.get()))
        })
        .await
}

/// Adds `cost_usd` to the enclosing [`tally_cost`], if any.
pub(super) fn tally(cost_usd: f64) {
    if cost_usd.is_finite() && cost_usd > 0.0 {
        let _ = CALL_COST.try_with(|cost| cost.set(cost.get() + cost_usd));
    }
}

/// One provider's budget for the current UTC day: what this process spent (`own`, restored
/// from the ledger at start and on a new day) plus what others sharing the budget spent
/// (`others`: the pool's other replicas, as last read from the shared ledger).
#[derive(Debug)]
pub struct DailyBudget {
    limit_usd: Option<f64>,
    own: Mutex<(NaiveDate, f64)>,
    others: Mutex<(NaiveDate, f64)>,
}

impl DailyBudget {
    /// `None` means no limit.
    pub fn new(limit_usd: Option<f64>) -> Self {
        Self {
            limit_usd,
            own: Mutex::new((NaiveDate::MIN, 0.0)),
            others: Mutex::new((NaiveDate::MIN, 0.0)),
        }
    }

    pub fn limit_usd(&self) -> Option<f64> {
        self.limit_usd
    }

    /// Spent so far on `now`'s UTC day, by everyone sharing the budget.
    pub fn spent(&self, now: DateTime<Utc>) -> f64 {
        self.own_spent(now) + on_day(&self.others, now.date_naive())
    }

    /// Spent so far on `now`'s UTC day by this process alone.
    pub fn own_spent(&self, now: DateTime<Utc>) -> f64 {
        on_day(&self.own, now.date_naive())
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
        let mut own = lock(&self.own);
        let today = now.date_naive();
        if own.0 != today {
            *own = (today, 0.0);
        }
        if cost_usd.is_finite() && cost_usd > 0.0 {
            own.1 += cost_usd;
        }
    }

    /// Sets this process's spend on `day` to what the ledger holds, unless more was already
    /// charged here (a restore never lowers what is known).
    pub fn restore(&self, day: NaiveDate, spent_usd: f64) {
        let mut own = lock(&self.own);
        if own.0 != day {
            *own = (day, 0.0);
        }
        if spent_usd.is_finite() && spent_usd > own.1 {
            own.1 = spent_usd;
        }
    }

    /// Sets what the others sharing this budget spent on `day` (as last read).
    pub fn set_others(&self, day: NaiveDate, spent_usd: f64) {
        let value = if spent_usd.is_finite() {
            spent_usd.max(0.0)
        } else {
            0.0
        };
        *lock(&self.others) = (day, value);
    }
}

fn on_day(cell: &Mutex<(NaiveDate, f64)>, day: NaiveDate) -> f64 {
    let spent = lock(cell);
    if spent.0 == day { spent.1 } else { 0.0 }
}

fn lock(cell: &Mutex<(NaiveDate, f64)>) -> std::sync::MutexGuard<'_, (NaiveDate, f64)> {
    // The data is two plain numbers: a panic elsewhere cannot leave them half-written.
    cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    fn a_restore_and_the_others_count_towards_the_limit() {
        let budget = DailyBudget::new(Some(1.0));
        let day = at(1, 10).date_naive();
        budget.restore(day, 0.5);
        budget.restore(day, 0.2);
        assert!(
            (budget.own_spent(at(1, 10)) - 0.5).abs() < 1e-9,
            "never lowered"
        );
        budget.set_others(day, 0.4);
        assert!(!budget.is_exhausted(at(1, 10)));
        budget.charge(0.1, at(1, 11));
        assert!(budget.is_exhausted(at(1, 11)), "0.6 own + 0.4 others");
        assert!(!budget.is_exhausted(at(2, 0)), "both reset on a new day");
    }

    #[test]
    fn no_limit_is_never_exhausted() {
        let budget = DailyBudget::new(None);
        budget.charge(1e9, at(1, 1));
        assert!(!budget.is_exhausted(at(1, 1)));
        assert_eq!(budget.remaining(at(1, 1)), None);
    }
}
