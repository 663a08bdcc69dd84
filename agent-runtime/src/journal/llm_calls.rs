//! LLM calls in the journal: the trader's spend ledger.
//!
//! Each billed call is one row (provider, role, tokens, cost, UTC day), written when the
//! provider's answer arrives — not at the end of the cycle — so a process killed mid-cycle
//! has already recorded what it spent. At start (and on each new UTC day) the providers sum
//! the day's rows back into their budgets; a restart therefore never resets the day's spend.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Journal, JournalError, with_pool};
use crate::agents::llm::{LlmCall, SpendLedger};

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

impl SpendLedger for Journal {
    fn record<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<(), String>> {
        async move { self.record_llm_call(call).await.map_err(|e| e.to_string()) }.boxed()
    }

    fn spent_on(&self, day: NaiveDate) -> BoxFuture<'_, Result<BTreeMap<String, f64>, String>> {
        async move { self.llm_spend_on(day).await.map_err(|e| e.to_string()) }.boxed()
    }
}
