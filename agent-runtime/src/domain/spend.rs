//! Where an LLM provider's spend and rate-limit holds outlive the process: the ledger the
//! providers write to and the journal (a trader) or the pool's ConfigMap (a worker)
//! implements. A domain port, so the journal implements it without depending on `agents`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;

/// One billed LLM call, as a ledger records it.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCall {
    pub provider: String,
    pub role: String,
    pub at: DateTime<Utc>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

/// Where a process's spend outlives the process.
pub trait SpendLedger: Send + Sync + std::fmt::Debug {
    /// Records one billed call. An error is logged by the caller; the call has happened.
    fn record<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<(), String>>;

    /// What this process (this strategy; this pool replica) spent on `day`, per provider.
    fn spent_on(&self, day: NaiveDate) -> BoxFuture<'_, Result<BTreeMap<String, f64>, String>>;

    /// Records that `provider` asked to be left alone until `until` (the end of the hold a
    /// 429 put on its gate), so that a restarted process, or another replica sharing the
    /// ledger, waits it out too. Awaited before the 429 is acted on, so a process killed
    /// right after it still leaves the hold behind. A later end replaces an earlier one; an
    /// earlier one never shortens a later one.
    fn record_hold<'a>(
        &'a self,
        provider: &'a str,
        until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// The holds not yet ended at `now`, per provider (the latest end of each), as recorded
    /// by this process's earlier lives and, for a shared ledger, by the other replicas.
    fn holds(
        &self,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, String>>;

    /// Runs before each call: a shared ledger that holds too much unpublished spend
    /// publishes it (and reads the others') first, which is what bounds a pool's overshoot.
    fn before_call(&self) -> BoxFuture<'_, Result<(), String>> {
        futures::future::ready(Ok(())).boxed()
    }
}
