//! The controllers: one per kind, each a pipeline of steps — resolve what the resource refers
//! to, validate, render the children (pure, in `render`), apply them, finish with the status —
//! where only resolve, apply and finish touch the API.
//!
//! Shared here: the context every reconcile gets and the error policy, and the pieces all three
//! controllers use — the scope of their `Api`s ([`scope`]), what wakes them ([`wakeups`],
//! [`watches`], [`relevant`], and the one strategy watch several follow, [`feed`]), typed errors and blockers ([`error`]), reading a Secret key
//! ([`secrets`]), shared builders of children ([`resources`]), applying children only when they differ
//! ([`children`], [`child_cache`]), the last step ([`finish`]), conditions that keep their
//! transition times ([`conditions`]), and labels and content hashes ([`meta`]).

pub mod agent_pool;
pub mod backtest;
pub mod broker_account;
pub mod child_cache;
pub mod children;
pub mod conditions;
pub mod error;
pub mod feed;
pub mod finish;
pub mod meta;
pub mod monitoring;
pub mod monitoring_files;
pub mod relevant;
pub mod resources;
pub mod rollout;
pub mod runtime_config;
pub mod scope;
pub mod secrets;
pub mod trading_strategy;
pub mod wakeups;
pub mod watches;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod test_support;

pub use error::{Blocker, Error, Step};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;

use crate::telemetry::Metrics;

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "tradeplane-operator";

/// The image the runtime pods run unless a resource overrides it.
pub const DEFAULT_RUNTIME_IMAGE: &str = concat!(
    "ghcr.io/tradeplane/agent-runtime:",
    env!("CARGO_PKG_VERSION")
);

/// Settings that come from the operator's flags, not from any resource.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Image of the runtime pods when a resource does not name one.
    pub runtime_image: String,
    /// Reconciles of one kind that run at the same time. Unbounded, a burst of a thousand new
    /// objects starts a thousand reconciles whose requests queue up in the API server together:
    /// slower for all of them, and every one holds its responses in memory meanwhile.
    pub concurrency: u16,
}

/// The default of [`Settings::concurrency`].
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// How long an object's triggers must pause before it is reconciled. A new strategy's
/// children, and then its Deployment's first status updates, arrive as a burst of watch
/// events within a moment; one reconcile after the burst reads and reports what all of them
/// would have, for a second's delay in reacting.
pub const DEBOUNCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Even with nothing changing, every object is looked at again this often: cheap (reads only)
/// and a guard against a missed watch event.
pub const RESYNC: Duration = Duration::from_secs(300);

impl Settings {
    /// The controller configuration every kind runs with.
    pub fn controller_config(&self) -> kube::runtime::controller::Config {
        kube::runtime::controller::Config::default()
            .concurrency(self.concurrency)
            .debounce(DEBOUNCE)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            runtime_image: DEFAULT_RUNTIME_IMAGE.to_string(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// What every reconcile of every kind gets.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    /// What the children's watches say, so unchanged children are not read again.
    pub children: child_cache::ChildCache,
    /// Whether the cluster serves the monitoring kinds (see `monitoring`).
    pub monitoring: monitoring::Discovery,
    /// Consecutive failures per object, for the exponential requeue of transient errors.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        settings: Settings,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_string(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            settings,
            children: child_cache::ChildCache::default(),
            monitoring: monitoring::Discovery::default(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes an Event about `regarding`. A failure to publish is logged, never fatal:
    /// Events are a courtesy to users, the conditions carry the truth.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish_related(regarding, None, warning, reason, action, note)
            .await;
    }

    /// [`Self::publish`] with a second object the Event is about. kube's recorder takes an
    /// Event with the same regarding object, reason, action and related object for a repeat
    /// of the last one and only counts it (the first note stays), so an Event whose note
    /// names something new each time needs that something as its related object.
    pub async fn publish_related(
        &self,
        regarding: &ObjectReference,
        related: Option<ObjectReference>,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(truncate(note, 1000)),
            action: action.to_string(),
            secondary: related,
        };
        if let Err(error) = self.recorder.publish(&event, regarding).await {
            tracing::warn!(%error, reason, "could not publish an Event");
        }
    }

    /// The requeue delay after the `n`th consecutive failure of one object: 1 s doubling to
    /// at most 5 minutes, so a flapping dependency is retried soon but never hammered.
    fn backoff(&self, key: String) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = failures.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        backoff_delay(*n)
    }

    /// Forgets the failures of `object`: its next failure is retried after 1 s again.
    pub fn reset_backoff<K: kube::Resource<DynamicType = ()>>(&self, object: &K) {
        let key = ObjectRef::from_obj(object).to_string();
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(&key);
    }
}

/// 1 s, 2 s, 4 s … capped at 300 s.
pub fn backoff_delay(consecutive_failures: u32) -> Duration {
    let exponent = consecutive_failures.saturating_sub(1).min(9);
    Duration::from_secs((1u64 << exponent).min(300))
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// The error policy shared by the controllers: count, log, requeue with backoff.
pub fn requeue_after_error<K>(object: Arc<K>, error: &Error, context: Arc<Context>) -> Action
where
    K: kube::Resource<DynamicType = ()>,
{
    let key = ObjectRef::from_obj(&*object).to_string();
    let delay = context.backoff(key.clone());
    let reason = error.reason();
    context
        .metrics
        .reconcile_error(K::kind(&()).as_ref(), reason);
    tracing::warn!(object = %key, %error, reason, retry_in_seconds = delay.as_secs(), "reconcile failed");
    // The error policy cannot wait; the Event goes out on its own task.
    let regarding = object.object_ref(&());
    let note = format!("{error}; retrying in {} s.", delay.as_secs());
    tokio::spawn(async move {
        context
            .publish(&regarding, true, reason, "Reconcile", note)
            .await;
    });
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_caps_at_five_minutes() {
        let delays: Vec<u64> = (1..=12).map(|n| backoff_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("ééé".to_string(), 3), "é");
        assert_eq!(truncate("abc".to_string(), 10), "abc");
    }
}
