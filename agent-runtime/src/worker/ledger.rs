//! The pool-wide spend ledger: how `dailyBudgetUsd` on an AgentPool holds for the whole pool,
//! across replicas and restarts, with the API server as the only shared component.
//!
//! One ConfigMap per pool (the operator creates it; format in
//! [`tradeplane_contract::config::ledger`]). Each replica owns one key, its pod name, written
//! by server-side apply under its own field manager — so replicas never conflict and the
//! Role needs only `get` and `patch` on that one named object. Each replica
//! - adds every billed call to its own total in memory at once (a call costs no request);
//! - publishes its total and reads the whole ConfigMap back (one PATCH, one GET) every
//!   `refreshSeconds`, and before its next call once `publishEveryUsd` went unpublished;
//! - refuses calls once its own total plus the others' last-read totals reach the budget;
//! - at start, restores its own key's total for today (a container restart keeps the pod
//!   name), and counts every other key of today — including those of pods that are gone.
//!
//! Provider holds (until when a provider asked, with a 429, not to be called) take the same
//! path: a replica puts each hold its gate takes into its key and publishes it at once —
//! before the 429 is acted on, bounded by [`HOLD_PUBLISH_WITHIN`] — and closes its gates
//! until the others' holds end as it reads them, at every sync and at start (its own key's
//! too, so a restarted container waits out what its previous life was told). A replica
//! therefore learns another's hold within one refresh; until then it may collect a 429 of
//! its own, which it then holds and publishes in turn.
//!
//! # The overshoot bound
//!
//! With `R` replicas, `X` = `publishEveryUsd`, `K` = calls one replica can have in flight
//! (max in-flight analyses × LLM seats) and `C` = the most one call can cost: a replica
//! starts no call while `X` or more of its spend is unpublished — it publishes and re-reads
//! first ([`SpendLedger::before_call`]) — so its unpublished spend never exceeds `X + K·C`.
//! Let `P` be the published total. When `P` first reaches the budget `B`, it is at most
//! `B + X + K·C` (one publication's worth past it) and the true total at most
//! `P + R·(X + K·C)`. After that, a replica's next sync (due before its unpublished spend
//! passes `X`, plus what is in flight) reads `P ≥ B` and it stops. Hence the pool spends at
//! most
//!
//! ```text
//!   B + (R + 1) · (X + K·C)
//! ```
//!
//! The operator sets `X = B / (100 · maxReplicas)`, so the `X` terms add at most 2 % of `B`;
//! the `K·C` terms are the concurrency a budget cannot see without serialising every call.
//! The time-based refresh only keeps the others' totals and the status fresh.
//!
//! If the API server is unreachable, a replica keeps the others' last-read totals and
//! retries each refresh; once `X` of its own spend is unpublished, its budgeted providers
//! fail closed (as they do when the ledger cannot be read at start).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use tokio::sync::Notify;
use tradeplane_contract::config::SpendLedgerConfig;
use tradeplane_contract::config::ledger::{
    ReplicaSpend, entries, holds_after, spend_on, strategy_spend_on,
};

use crate::agents::llm::{LlmCall, ProviderPool, SpendLedger};

/// What each strategy (`namespace/name`) spent through the pool today: this replica's part
/// and, with a ledger, the other replicas' (as last read) — a strategy's share of the pool.
#[derive(Debug, Default)]
pub struct StrategySpend {
    own: Mutex<(Option<NaiveDate>, BTreeMap<String, f64>)>,
    others: Mutex<(Option<NaiveDate>, BTreeMap<String, f64>)>,
}

impl StrategySpend {
    /// Dollars `strategy` spent on `day`, all replicas together.
    pub fn spent(&self, strategy: &str, day: NaiveDate) -> f64 {
        let of = |cell: &Mutex<(Option<NaiveDate>, BTreeMap<String, f64>)>| {
            let guard = lock_map(cell);
            if guard.0 == Some(day) {
                guard.1.get(strategy).copied().unwrap_or(0.0)
            } else {
                0.0
            }
        };
        of(&self.own) + of(&self.others)
    }

    /// Adds `cost_usd` to `strategy`'s spend on `day` by this replica.
    pub fn charge(&self, strategy: &str, cost_usd: f64, day: NaiveDate) {
        let mut own = lock_map(&self.own);
        if own.0 != Some(day) {
            *own = (Some(day), BTreeMap::new());
        }
        if cost_usd.is_finite() && cost_usd > 0.0 {
            *own.1.entry(strategy.to_string()).or_insert(0.0) += cost_usd;
        }
    }

    fn own_on(&self, day: NaiveDate) -> BTreeMap<String, f64> {
        let own = lock_map(&self.own);
        if own.0 == Some(day) {
            own.1.clone()
        } else {
            BTreeMap::new()
        }
    }

    fn restore(&self, day: NaiveDate, restored: &BTreeMap<String, f64>) {
        let mut own = lock_map(&self.own);
        if own.0 != Some(day) {
            *own = (Some(day), BTreeMap::new());
        }
        for (strategy, spent) in restored {
            let mine = own.1.entry(strategy.clone()).or_insert(0.0);
            *mine = mine.max(*spent);
        }
    }

    fn set_others(&self, day: NaiveDate, others: BTreeMap<String, f64>) {
        *lock_map(&self.others) = (Some(day), others);
    }
}

type DayMap = (Option<NaiveDate>, BTreeMap<String, f64>);

fn lock_map(cell: &Mutex<DayMap>) -> std::sync::MutexGuard<'_, DayMap> {
    cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The longest a 429's handling waits for the hold's publication: past it the call goes on
/// and the publisher retries (the hold is in force in this replica either way), so an API
/// server that is slow to answer cannot keep a seat from falling back in time.
pub const HOLD_PUBLISH_WITHIN: Duration = Duration::from_secs(2);

/// This replica's own spend of the day, and its providers' holds.
#[derive(Debug)]
struct Own {
    day: NaiveDate,
    spent: BTreeMap<String, f64>,
    unpublished: f64,
    dirty: bool,
    /// Until when each provider asked this replica not to be called (kept across days: a
    /// hold may run past midnight).
    holds: BTreeMap<String, DateTime<Utc>>,
}

#[derive(Debug)]
pub struct PoolLedger {
    api: Api<ConfigMap>,
    config_map: String,
    replica: String,
    publish_every_usd: f64,
    refresh: Duration,
    own: Mutex<Own>,
    strategies: std::sync::Arc<StrategySpend>,
    wake: Notify,
    /// One sync at a time; a call that must wait for a sync waits here.
    syncing: tokio::sync::Mutex<()>,
    /// The providers whose budgets the reads update (set by [`PoolLedger::run`]).
    providers: std::sync::OnceLock<ProviderPool>,
    requests: IntCounterVec,
    sync_seconds: Histogram,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("spend ledger {config_map}: {source}")]
    Api {
        config_map: String,
        source: kube::Error,
    },
    #[error("spend ledger metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl PoolLedger {
    /// The ledger `config` names, in `namespace`, written as `replica` (the pod name), with
    /// its request counter and sync timing registered in `registry`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        config: &SpendLedgerConfig,
        replica: &str,
        strategies: std::sync::Arc<StrategySpend>,
        registry: &Registry,
    ) -> Result<Self, LedgerError> {
        let requests = IntCounterVec::new(
            Opts::new(
                "llm_ledger_requests_total",
                "Requests this replica sent to the API server for the pool's spend ledger.",
            ),
            &["verb", "outcome"],
        )?;
        let sync_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "llm_ledger_sync_duration_seconds",
                "Seconds to publish this replica's spend and read the pool's.",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(sync_seconds.clone()))?;
        Ok(Self {
            api: Api::namespaced(client, namespace),
            config_map: config.config_map.clone(),
            replica: replica.to_string(),
            publish_every_usd: config.publish_every_usd,
            refresh: Duration::from_secs(config.refresh_seconds.max(1)),
            own: Mutex::new(Own {
                day: Utc::now().date_naive(),
                spent: BTreeMap::new(),
                unpublished: 0.0,
                dirty: false,
                holds: BTreeMap::new(),
            }),
            strategies,
            wake: Notify::new(),
            syncing: tokio::sync::Mutex::new(()),
            providers: std::sync::OnceLock::new(),
            requests,
            sync_seconds,
        })
    }

    /// The field manager this replica writes its key under.
    pub fn field_manager(&self) -> String {
        format!("tradeplane-ledger-{}", self.replica)
    }

    /// Publishes and reads until `shutdown`, then publishes once more.
    pub async fn run(&self, pool: ProviderPool, shutdown: impl std::future::Future<Output = ()>) {
        let _ = self.providers.set(pool.clone());
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.sync(&pool).await {
                tracing::warn!(%error, "spend ledger not synced; retrying");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.refresh) => {}
                _ = self.wake.notified() => {}
            }
        }
        if let Err(error) = self.publish().await {
            tracing::warn!(%error, "spend ledger: last publication failed");
        }
    }

    /// Publishes this replica's spend (when it changed) and sets every provider's share of
    /// the others from the ledger as read back.
    pub async fn sync(&self, pool: &ProviderPool) -> Result<(), LedgerError> {
        let _one_at_a_time = self.syncing.lock().await;
        self.sync_locked(pool).await
    }

    async fn sync_locked(&self, pool: &ProviderPool) -> Result<(), LedgerError> {
        let started = Instant::now();
        self.publish().await?;
        let entries = self.read().await?;
        let today = Utc::now().date_naive();
        self.prune(&entries, today).await;
        let others = spend_on(&entries, today, |replica| replica != self.replica);
        self.strategies.set_others(
            today,
            strategy_spend_on(&entries, today, |replica| replica != self.replica),
        );
        let held = holds_after(&entries, Utc::now(), |replica| replica != self.replica);
        for provider in pool.providers() {
            let spent = others.get(provider.name()).copied().unwrap_or(0.0);
            provider.budget().set_others(today, spent);
            if let Some(until) = held.get(provider.name()) {
                provider.restore_hold(*until);
            }
        }
        self.sync_seconds.observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// One server-side apply of this replica's key, when there is something new to say.
    pub async fn publish(&self) -> Result<(), LedgerError> {
        let entry = {
            let mut own = self.lock();
            if !own.dirty {
                return Ok(());
            }
            own.dirty = false;
            own.unpublished = 0.0;
            // Ended holds are dropped rather than published: they would only grow the key.
            let now = Utc::now();
            own.holds.retain(|_, until| *until > now);
            ReplicaSpend {
                day: own.day,
                spent_usd: own.spent.clone(),
                strategies_usd: self.strategies.own_on(own.day),
                holds: own.holds.clone(),
            }
        };
        let value = serde_json::to_string(&entry).unwrap_or_default();
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.config_map},
            "data": {self.replica.clone(): value},
        });
        let params = PatchParams::apply(&self.field_manager()).force();
        let result = self
            .api
            .patch(&self.config_map, &params, &Patch::Apply(&patch))
            .await;
        self.count("patch", result.is_ok());
        if let Err(source) = result {
            // Publish again next time: nothing was lost but the moment.
            self.lock().dirty = true;
            return Err(self.error(source));
        }
        Ok(())
    }

    /// Removes the keys of earlier days — replicas long gone, or the days before midnight —
    /// so the ConfigMap does not grow with every rollout. A merge patch with `null` deletes a
    /// key whoever wrote it; a replica whose key goes writes it again at its next publication.
    /// A key still holding a hold in force stays until the hold ends.
    async fn prune(&self, entries: &BTreeMap<String, ReplicaSpend>, today: NaiveDate) {
        let now = Utc::now();
        let stale: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .filter(|(_, entry)| entry.day < today && entry.holds.values().all(|end| *end <= now))
            .map(|(replica, _)| (replica.clone(), serde_json::Value::Null))
            .collect();
        if stale.is_empty() {
            return;
        }
        let patch = serde_json::json!({"data": stale});
        let result = self
            .api
            .patch(
                &self.config_map,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await;
        self.count("patch", result.is_ok());
        match result {
            Ok(_) => tracing::info!(keys = stale.len(), "spend ledger: earlier days pruned"),
            Err(error) => tracing::warn!(%error, "spend ledger: earlier days not pruned"),
        }
    }

    async fn read(&self) -> Result<BTreeMap<String, ReplicaSpend>, LedgerError> {
        let result = self.api.get(&self.config_map).await;
        self.count("get", result.is_ok());
        let config_map = result.map_err(|source| self.error(source))?;
        Ok(entries(&config_map.data.unwrap_or_default()))
    }

    fn count(&self, verb: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.requests.with_label_values(&[verb, outcome]).inc();
    }

    fn error(&self, source: kube::Error) -> LedgerError {
        LedgerError::Api {
            config_map: self.config_map.clone(),
            source,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Own> {
        // Plain numbers: a panic elsewhere cannot leave them half-written.
        self.own
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a call to this replica's total; `true` when enough went unpublished that the
    /// caller should publish now.
    fn add(&self, call: &LlmCall) -> bool {
        let mut own = self.lock();
        let day = call.at.date_naive();
        if own.day != day {
            own.day = day;
            own.spent.clear();
            own.unpublished = 0.0;
        }
        if call.cost_usd.is_finite() && call.cost_usd > 0.0 {
            *own.spent.entry(call.provider.clone()).or_insert(0.0) += call.cost_usd;
            own.unpublished += call.cost_usd;
        }
        own.dirty = true;
        own.unpublished >= self.publish_every_usd
    }
}

impl PoolLedger {
    /// Puts a provider's hold into this replica's key; `true` when it lengthened it (and so
    /// must be published).
    fn add_hold(&self, provider: &str, until: DateTime<Utc>) -> bool {
        let mut own = self.lock();
        match own.holds.get(provider) {
            Some(current) if *current >= until => false,
            _ => {
                own.holds.insert(provider.to_string(), until);
                own.dirty = true;
                true
            }
        }
    }

    /// Adds an analysis's cost to the asking strategy's share (published with the rest).
    pub fn charge_strategy(&self, strategy: &str, cost_usd: f64, day: NaiveDate) {
        self.strategies.charge(strategy, cost_usd, day);
        self.lock().dirty = true;
    }
}

impl SpendLedger for PoolLedger {
    fn record<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<(), String>> {
        if self.add(call) {
            // The publisher runs it; the call that crossed the line does not wait for it.
            self.wake.notify_one();
        }
        futures::future::ready(Ok(())).boxed()
    }

    fn before_call(&self) -> BoxFuture<'_, Result<(), String>> {
        async move {
            if self.lock().unpublished < self.publish_every_usd {
                return Ok(());
            }
            // Too much unpublished: no new call until it is published and the others' spend
            // re-read. Calls already waiting find it done and go on.
            let Some(pool) = self.providers.get() else {
                return self.publish().await.map_err(|e| e.to_string());
            };
            let _one_at_a_time = self.syncing.lock().await;
            if self.lock().unpublished < self.publish_every_usd {
                return Ok(());
            }
            self.sync_locked(pool).await.map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn record_hold<'a>(
        &'a self,
        provider: &'a str,
        until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move {
            if !self.add_hold(provider, until) {
                return Ok(());
            }
            // Published now, not at the next refresh: the other replicas are about to call
            // the same provider, and this replica's pod may be about to be killed. One sync
            // at a time, so an older publication cannot land after this one.
            let within = (until - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(HOLD_PUBLISH_WITHIN);
            let published = tokio::time::timeout(within, async {
                let _one_at_a_time = self.syncing.lock().await;
                self.publish().await
            })
            .await;
            match published {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => {
                    // Cut short mid-publication: publish again, from the publisher's loop.
                    self.lock().dirty = true;
                    self.wake.notify_one();
                    Err(format!(
                        "the hold was not published within {} ms; the publisher retries",
                        within.as_millis()
                    ))
                }
            }
        }
        .boxed()
    }

    fn holds(
        &self,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, String>> {
        async move {
            let entries = self.read().await.map_err(|e| e.to_string())?;
            // This replica's own key keeps what it publishes: a restarted container would
            // otherwise write its key without the hold its previous life recorded.
            for (provider, until) in holds_after(&entries, now, |replica| replica == self.replica) {
                self.add_hold(&provider, until);
            }
            Ok(holds_after(&entries, now, |_| true))
        }
        .boxed()
    }

    fn spent_on(&self, day: NaiveDate) -> BoxFuture<'_, Result<BTreeMap<String, f64>, String>> {
        async move {
            let entries = self.read().await.map_err(|e| e.to_string())?;
            let restored = spend_on(&entries, day, |replica| replica == self.replica);
            let mine = |replica: &str| replica == self.replica;
            self.strategies
                .restore(day, &strategy_spend_on(&entries, day, mine));
            // What is restored becomes part of what this replica publishes, so the next
            // publication never writes a smaller total than the ledger already holds.
            let mut own = self.lock();
            if own.day != day {
                own.day = day;
                own.spent.clear();
            }
            for (provider, spent) in &restored {
                let mine = own.spent.entry(provider.clone()).or_insert(0.0);
                *mine = mine.max(*spent);
            }
            Ok(restored)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(publish_every_usd: f64) -> PoolLedger {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        PoolLedger::new(
            client,
            "ns",
            &SpendLedgerConfig {
                config_map: "pool-llm-ledger".into(),
                refresh_seconds: 10,
                publish_every_usd,
            },
            "pool-abc",
            Default::default(),
            &Registry::new(),
        )
        .unwrap()
    }

    fn call(cost_usd: f64) -> LlmCall {
        LlmCall {
            provider: "p".into(),
            role: "r".into(),
            at: Utc::now(),
            prompt_tokens: 1,
            completion_tokens: 1,
            cost_usd,
        }
    }

    #[tokio::test]
    async fn a_hold_the_api_server_did_not_take_stays_to_be_published() {
        let ledger = ledger(0.5);
        let until = Utc::now() + chrono::Duration::seconds(30);
        assert!(
            ledger.record_hold("p", until).await.is_err(),
            "no API server"
        );
        {
            let own = ledger.lock();
            assert_eq!(own.holds.get("p"), Some(&until));
            assert!(own.dirty, "the publisher publishes it next");
        }
        ledger.lock().dirty = false;
        let earlier = until - chrono::Duration::seconds(10);
        assert_eq!(ledger.record_hold("p", earlier).await, Ok(()));
        let own = ledger.lock();
        assert_eq!(own.holds.get("p"), Some(&until), "never shortened");
        assert!(!own.dirty, "nothing new to publish");
    }

    #[tokio::test]
    async fn asks_for_a_publication_once_the_threshold_went_unpublished() {
        let ledger = ledger(0.5);
        assert!(!ledger.add(&call(0.2)));
        assert!(!ledger.add(&call(0.2)));
        assert!(ledger.add(&call(0.2)));
        let own = ledger.lock();
        assert!((own.spent["p"] - 0.6).abs() < 1e-9);
        assert!(own.dirty);
    }
}
