//! LLM calls in the journal: the trader's spend ledger.
//!
//! Each billed call is one row (provider, role, tokens, cost, UTC day), written when the
//! provider's answer arrives — not at the end of the cycle — so a process killed mid-cycle
//! has already recorded what it spent. At start (and on each new UTC day) the providers sum
//! the day's rows back into their budgets; a restart therefore never resets the day's spend.
//!
//! Each provider's rate-limit hold is kept beside the spend (`provider_holds`, one row per
//! provider): written when a 429 closes the provider's gate, before the call goes on, and
//! read back with the spend, so a restarted trader does not call a provider before the end
//! it gave. A PostgreSQL journal is shared by the strategy's replicas, and so is the hold.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Journal, JournalError, with_pool};
use crate::domain::{LlmCall, SpendLedger};

impl Journal {
    /// Journals one billed LLM call.
    pub async fn record_llm_call(&self, call: &LlmCall) -> Result<(), JournalError> {
        let sql = "INSERT INTO llm_calls \
                   (day, provider, role, prompt_tokens, completion_tokens, cost_usd, called_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let day = call.at.date_naive().to_string();
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        with_pool!(self, pool => sqlx::query(sql)
            .bind(&day)
            .bind(&call.provider)
            .bind(&call.role)
            .bind(tokens(call.prompt_tokens))
            .bind(tokens(call.completion_tokens))
            .bind(call.cost_usd)
            .bind(call.at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Dollars spent per provider on the UTC `day`.
    pub async fn llm_spend_on(
        &self,
        day: NaiveDate,
    ) -> Result<BTreeMap<String, f64>, JournalError> {
        let sql = "SELECT provider, SUM(cost_usd) FROM llm_calls WHERE day = $1 \
                   GROUP BY provider ORDER BY provider";
        let day = day.to_string();
        let rows: Vec<(String, Option<f64>)> =
            with_pool!(self, pool => sqlx::query_as(sql).bind(&day).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(provider, spent)| (provider, spent.unwrap_or(0.0)))
            .collect())
    }

    /// Tokens (prompt, completion) and calls per provider on `day`, for reports and tests.
    pub async fn llm_usage_on(
        &self,
        day: NaiveDate,
    ) -> Result<BTreeMap<String, (i64, i64, i64)>, JournalError> {
        let sql = "SELECT provider, COUNT(*), CAST(SUM(prompt_tokens) AS BIGINT), \
                   CAST(SUM(completion_tokens) AS BIGINT) \
                   FROM llm_calls WHERE day = $1 GROUP BY provider ORDER BY provider";
        let day = day.to_string();
        let rows: Vec<(String, i64, Option<i64>, Option<i64>)> =
            with_pool!(self, pool => sqlx::query_as(sql).bind(&day).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(p, calls, prompt, completion)| {
                (p, (calls, prompt.unwrap_or(0), completion.unwrap_or(0)))
            })
            .collect())
    }
}

impl Journal {
    /// Journals that `provider` is not to be called before `until`, unless a later end is
    /// already journalled (a hold is never shortened).
    pub async fn record_provider_hold(
        &self,
        provider: &str,
        until: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        // The greater end wins in SQL, so two writers (concurrent seats, or a process and its
        // successor, each with a 429 of its own) cannot shorten a hold whatever their order.
        let sql = "INSERT INTO provider_holds (provider, held_until_ms, recorded_at) \
                   VALUES ($1, $2, $3) \
                   ON CONFLICT (provider) DO UPDATE \
                   SET held_until_ms = excluded.held_until_ms, recorded_at = excluded.recorded_at \
                   WHERE excluded.held_until_ms > provider_holds.held_until_ms";
        let until_ms = millis_rounded_up(until);
        let now = Utc::now();
        with_pool!(self, pool => sqlx::query(sql)
            .bind(provider)
            .bind(until_ms)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The journalled holds that have not ended at `now`, per provider.
    pub async fn provider_holds(
        &self,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, JournalError> {
        let sql = "SELECT provider, held_until_ms FROM provider_holds \
                   WHERE held_until_ms > $1 ORDER BY provider";
        let rows: Vec<(String, i64)> = with_pool!(self, pool => sqlx::query_as(sql)
            .bind(now.timestamp_millis())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(provider, until_ms)| {
                let until = DateTime::from_timestamp_millis(until_ms).ok_or_else(|| {
                    JournalError::Corrupt {
                        what: "provider hold end",
                        value: until_ms.to_string(),
                    }
                })?;
                Ok((provider, until))
            })
            .collect()
    }
}

/// `at` in Unix milliseconds, rounded up: a stored hold may end a little late, never early.
fn millis_rounded_up(at: DateTime<Utc>) -> i64 {
    let millis = at.timestamp_millis();
    if at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        millis
    } else {
        millis.saturating_add(1)
    }
}

impl SpendLedger for Journal {
    fn record<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<(), String>> {
        async move { self.record_llm_call(call).await.map_err(|e| e.to_string()) }.boxed()
    }

    fn spent_on(&self, day: NaiveDate) -> BoxFuture<'_, Result<BTreeMap<String, f64>, String>> {
        async move { self.llm_spend_on(day).await.map_err(|e| e.to_string()) }.boxed()
    }

    fn record_hold<'a>(
        &'a self,
        provider: &'a str,
        until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move {
            self.record_provider_hold(provider, until)
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn holds(
        &self,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, String>> {
        async move { self.provider_holds(now).await.map_err(|e| e.to_string()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_hold_end_is_rounded_up_to_the_millisecond() {
        let whole = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        assert_eq!(millis_rounded_up(whole), 1_700_000_000_123);
        let between = whole + chrono::Duration::microseconds(1);
        assert_eq!(millis_rounded_up(between), 1_700_000_000_124);
    }
}
