//! LLM answers recorded and replayed, so a backtest rerun costs nothing and decides the same.
//!
//! An answer is keyed by what determines it: the provider, the model, the temperature and the
//! exact messages. The key's text is a canonical JSON of those four (fields in a fixed order,
//! serde_json's shortest round-trip floats), and its SHA-256 is the lookup; the full text is
//! stored beside the answer so a lookup can verify it found the same question, not a hash
//! collision. The store is the journal (`llm_answers`), so a live trader can record into it
//! too (`llm.record: true`) and any decision it made can be replayed later.
//!
//! The book sits around the one HTTP exchange ([`super::client::ChatClient::complete`]):
//! retries, failover and fallback stay where they are, and a missing answer or a refused
//! call is a failed exchange like any other — the seat falls back as it does for a dead
//! provider, and the book counts it.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use tradeplane_contract::command::LlmMode;

use super::budget::Pricing;
use super::client::{CallError, ChatRequest, Completion, Message, Usage};

/// What one answer is stored under.
#[derive(Clone, Debug, PartialEq)]
pub struct AnswerKey {
    /// Hex SHA-256 of `text`.
    pub hash: String,
    /// The canonical JSON of provider, model, temperature and messages.
    pub text: String,
    pub provider: String,
    pub model: String,
    pub temperature: f64,
}

/// The key's fields in the order they are written; a struct, not a map, so the order is fixed.
#[derive(Serialize)]
struct KeyText<'a> {
    provider: &'a str,
    model: &'a str,
    temperature: f64,
    messages: &'a [Message],
}

impl AnswerKey {
    pub fn new(provider: &str, request: &ChatRequest) -> Self {
        let text = serde_json::to_string(&KeyText {
            provider,
            model: &request.model,
            temperature: request.temperature,
            messages: &request.messages,
        })
        // Strings and a finite-or-not float: serde_json writes a non-finite float as null
        // rather than failing, so this cannot fail; an empty text would still be a valid key.
        .unwrap_or_default();
        let hash = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            hash,
            text,
            provider: provider.to_string(),
            model: request.model.clone(),
            temperature: request.temperature,
        }
    }
}

/// Where answers are kept (the journal); errors are reasons, as the spend ledger's are.
pub trait AnswerStore: Send + Sync + fmt::Debug {
    fn put<'a>(
        &'a self,
        key: &'a AnswerKey,
        completion: &'a Completion,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// The answer stored under `key.hash` whose key text is `key.text`, if any.
    fn get<'a>(&'a self, key: &'a AnswerKey) -> BoxFuture<'a, Result<Option<Completion>, String>>;
}

/// What a book did, for the backtest summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookCounts {
    /// Requests that went out to a provider and were answered.
    pub calls: u64,
    /// Answers served from the store.
    pub replayed: u64,
    /// Replay questions the store had no answer for (the seat fell back).
    pub replay_misses: u64,
    /// Calls not made because they could have passed the spending cap (the seat fell back).
    pub cap_refusals: u64,
    /// Dollars spent on the calls that went out.
    pub cost_usd: f64,
}

#[derive(Debug, Default)]
struct Spend {
    spent: f64,
    /// Estimates held by calls in flight, so concurrent seats cannot pass the cap together.
    reserved: f64,
    /// The dearest call so far: the estimate of the next one's cost.
    dearest: f64,
}

/// A process's record/replay mode, its store and its spending cap; shared by every provider.
#[derive(Debug)]
pub struct AnswerBook {
    mode: LlmMode,
    store: Option<Arc<dyn AnswerStore>>,
    cap_usd: Option<f64>,
    spend: Mutex<Spend>,
    calls: AtomicU64,
    replayed: AtomicU64,
    misses: AtomicU64,
    refusals: AtomicU64,
}

impl AnswerBook {
    /// `store` is needed by `Record` and `Replay` (without one, a replay misses every answer
    /// and a record stores nothing); `cap_usd` limits what the calls that go out may spend.
    pub fn new(mode: LlmMode, store: Option<Arc<dyn AnswerStore>>, cap_usd: Option<f64>) -> Self {
        Self {
            mode,
            store,
            cap_usd,
            spend: Mutex::default(),
            calls: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> LlmMode {
        self.mode
    }

    pub fn counts(&self) -> BookCounts {
        BookCounts {
            calls: self.calls.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            replay_misses: self.misses.load(Ordering::Relaxed),
            cap_refusals: self.refusals.load(Ordering::Relaxed),
            cost_usd: self.lock().spent,
        }
    }

    /// The answer to `request` for `provider`: from the store when replaying (usage zero),
    /// else from `call` when the cap allows it (stored when recording).
    pub async fn answer<F>(
        &self,
        provider: &str,
        pricing: &Pricing,
        request: &ChatRequest,
        call: impl FnOnce() -> F,
    ) -> Result<Completion, CallError>
    where
        F: Future<Output = Result<Completion, CallError>>,
    {
        if self.mode == LlmMode::Replay {
            return self.replay(provider, request).await;
        }
        let estimate = self.reserve()?;
        let result = call().await;
        let cost = result.as_ref().map_or(0.0, |c| pricing.cost(c.usage));
        self.settle(estimate, cost, result.is_ok());
        let completion = result?;
        if self.mode == LlmMode::Record {
            self.store(provider, request, &completion).await;
        }
        Ok(completion)
    }

    async fn replay(&self, provider: &str, request: &ChatRequest) -> Result<Completion, CallError> {
        let key = AnswerKey::new(provider, request);
        let found = match &self.store {
            Some(store) => store.get(&key).await,
            None => Err("no answer store".to_string()),
        };
        match found {
            Ok(Some(completion)) => {
                self.replayed.fetch_add(1, Ordering::Relaxed);
                // Nothing was billed for this answer: its cost in this run is zero.
                Ok(Completion {
                    content: completion.content,
                    usage: Usage::default(),
                })
            }
            Ok(None) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Err(CallError::NotRecorded(format!(
                    "no answer recorded for key {}",
                    key.hash
                )))
            }
            Err(reason) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Err(CallError::NotRecorded(format!(
                    "the answer store failed: {reason}"
                )))
            }
        }
    }

    /// Holds the estimate of one call against the cap, or refuses the call (counted).
    fn reserve(&self) -> Result<f64, CallError> {
        let Some(cap) = self.cap_usd else {
            return Ok(0.0);
        };
        let mut spend = self.lock();
        let committed = spend.spent + spend.reserved;
        let estimate = spend.dearest;
        // Fail closed: a call goes out only while the spend so far plus the dearest call yet
        // seen stays within the cap (and never once the cap is reached).
        if committed >= cap || committed + estimate > cap {
            drop(spend);
            self.refusals.fetch_add(1, Ordering::Relaxed);
            return Err(CallError::OverCap { cap_usd: cap });
        }
        spend.reserved += estimate;
        Ok(estimate)
    }

    fn settle(&self, estimate: f64, cost: f64, answered: bool) {
        let mut spend = self.lock();
        spend.reserved = (spend.reserved - estimate).max(0.0);
        spend.spent += cost.max(0.0);
        spend.dearest = spend.dearest.max(cost);
        drop(spend);
        if answered {
            self.calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn store(&self, provider: &str, request: &ChatRequest, completion: &Completion) {
        let Some(store) = &self.store else {
            return;
        };
        let key = AnswerKey::new(provider, request);
        if let Err(reason) = store.put(&key, completion).await {
            // The answer is used all the same; a replay of this question will miss (counted).
            tracing::warn!(provider, %reason, "LLM answer not recorded");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spend> {
        self.spend.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(user: &str, temperature: f64) -> ChatRequest {
        super::super::provider::verdict_request("m", temperature, "sys", user.to_string())
    }

    #[test]
    fn the_key_changes_with_each_part_and_only_with_them() {
        let base = AnswerKey::new("p", &request("u", 0.3));
        assert_eq!(base, AnswerKey::new("p", &request("u", 0.3)));
        assert_eq!(base.hash.len(), 64);
        assert_ne!(base.hash, AnswerKey::new("q", &request("u", 0.3)).hash);
        assert_ne!(base.hash, AnswerKey::new("p", &request("u ", 0.3)).hash);
        assert_ne!(base.hash, AnswerKey::new("p", &request("u", 0.2)).hash);
        assert!(
            base.text
                .starts_with(r#"{"provider":"p","model":"m","temperature":0.3,"#)
        );
    }

    #[test]
    fn the_cap_refuses_a_call_that_could_pass_it() {
        let book = AnswerBook::new(LlmMode::Off, None, Some(1.0));
        let first = book.reserve().unwrap();
        book.settle(first, 0.4, true);
        let second = book.reserve().unwrap();
        assert_eq!(second, 0.4);
        book.settle(second, 0.4, true);
        // 0.8 spent + 0.4 estimated > 1.0: refused.
        assert!(matches!(book.reserve(), Err(CallError::OverCap { .. })));
        let counts = book.counts();
        assert_eq!((counts.calls, counts.cap_refusals), (2, 1));
        assert!((counts.cost_usd - 0.8).abs() < 1e-12);
    }
}
