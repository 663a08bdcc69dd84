//! One watch of a kind, shared by every controller that follows it.
//!
//! Three consumers follow TradingStrategies: the strategy controller itself, the backup
//! reports (`trading_strategy::backup::report_changes`) and the BrokerAccount controller (its
//! `boundStrategies`). Each used to list and watch every strategy on its own: three copies of
//! each object deserialised, three lists at a restart, and the live watches' buffers three
//! times over. A [`Feed`] runs one watch into one cache and hands each subscriber only the
//! objects whose fingerprint — what that subscriber acts on — changed, and every deletion.
//!
//! kube's own shared reflector (`reflector::store_shared`) was not used: its subscribers are
//! not told of deletions, which the BrokerAccount controller needs to drop a strategy from
//! `boundStrategies`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::wakeups::cached;

type Fingerprint<K> = Box<dyn Fn(&K) -> u64 + Send + Sync>;

/// One consumer: what it acts on, what it was last handed of each object, where to send.
struct Subscriber<K: Resource<DynamicType = ()> + 'static> {
    fingerprint: Fingerprint<K>,
    seen: HashMap<ObjectRef<K>, u64>,
    sender: mpsc::UnboundedSender<Result<K, watcher::Error>>,
}

type Subscribers<K> = Arc<Mutex<Vec<Subscriber<K>>>>;

/// A watch of every `K` in an `Api`, its cache, and the consumers it feeds. The watch runs on
/// its own task from [`Feed::start`] until the feed is dropped.
pub struct Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store: Store<K>,
    subscribers: Subscribers<K>,
    task: JoinHandle<()>,
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
{
    /// Starts watching `api` into the cache (field-ownership records dropped, see
    /// [`cached`]).
    pub fn start(api: Api<K>) -> Arc<Self> {
        let (store, events) = cached(api);
        let subscribers: Subscribers<K> = Arc::default();
        let task = tokio::spawn({
            let subscribers = subscribers.clone();
            let store_for_task = store.clone();
            async move {
                let mut events = std::pin::pin!(events.default_backoff());
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => dispatch(&subscribers, &store_for_task, event),
                        Err(error) => {
                            tracing::debug!(%error, kind = %K::kind(&()), "watch failed; retrying")
                        }
                    }
                }
            }
        });
        Arc::new(Self {
            store,
            subscribers,
            task,
        })
    }
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// The cache every subscriber reads from.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// The objects whose `fingerprint` changed since this subscriber last saw them, and every
    /// deletion. Subscribing late loses nothing: the objects already cached come first.
    pub fn subscribe<H: Hash>(
        &self,
        fingerprint: impl Fn(&K) -> H + Send + Sync + 'static,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static {
        let (sender, receiver) = mpsc::unbounded();
        let mut subscriber = Subscriber {
            fingerprint: Box::new(move |object: &K| {
                let mut hasher = DefaultHasher::new();
                fingerprint(object).hash(&mut hasher);
                hasher.finish()
            }),
            seen: HashMap::new(),
            sender,
        };
        // Under the lock the watch task dispatches with, after the cache took each event: an
        // object is either in this snapshot or dispatched to this subscriber afterwards (or
        // both, and then the fingerprint passes it once).
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for object in self.store.state() {
            subscriber.offer(&object);
        }
        subscribers.push(subscriber);
        receiver
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Drop for Feed<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Subscriber<K> {
    /// Sends `object` on if what this subscriber acts on changed.
    fn offer(&mut self, object: &K) {
        let hash = (self.fingerprint)(object);
        if self.seen.insert(ObjectRef::from_obj(object), hash) != Some(hash) {
            let _ = self.sender.unbounded_send(Ok(object.clone()));
        }
    }

    fn deleted(&mut self, object: &K) {
        self.seen.remove(&ObjectRef::from_obj(object));
        let _ = self.sender.unbounded_send(Ok(object.clone()));
    }
}

/// Hands one watch event to every subscriber still listening. At the end of a list every
/// cached object is offered again: a subscriber that came during the list (when the cache
/// still held the previous one) missed part of it, and the others pass nothing twice.
fn dispatch<K: Resource<DynamicType = ()> + Clone + 'static>(
    subscribers: &Subscribers<K>,
    store: &Store<K>,
    event: watcher::Event<K>,
) {
    let mut subscribers = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
    subscribers.retain(|s| !s.sender.is_closed());
    match event {
        watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
            for subscriber in subscribers.iter_mut() {
                subscriber.offer(&object);
            }
        }
        watcher::Event::Delete(object) => {
            for subscriber in subscribers.iter_mut() {
                subscriber.deleted(&object);
            }
        }
        watcher::Event::InitDone => {
            for object in store.state() {
                for subscriber in subscribers.iter_mut() {
                    subscriber.offer(&object);
                }
            }
        }
        watcher::Event::Init => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;

    fn map(name: &str, value: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"}, "data": {"v": value},
        }))
        .unwrap()
    }

    fn subscriber(
        fingerprint: Fingerprint<ConfigMap>,
    ) -> (
        Subscriber<ConfigMap>,
        mpsc::UnboundedReceiver<Result<ConfigMap, watcher::Error>>,
    ) {
        let (sender, receiver) = mpsc::unbounded();
        let subscriber = Subscriber {
            fingerprint,
            seen: HashMap::new(),
            sender,
        };
        (subscriber, receiver)
    }

    fn by_value() -> Fingerprint<ConfigMap> {
        Box::new(|m: &ConfigMap| {
            let mut hasher = DefaultHasher::new();
            m.data.hash(&mut hasher);
            hasher.finish()
        })
    }

    /// What a receiver holds now, as `name=value`.
    fn passed(
        receiver: &mut mpsc::UnboundedReceiver<Result<ConfigMap, watcher::Error>>,
    ) -> Vec<String> {
        let mut passed = Vec::new();
        while let Some(Some(Ok(object))) = receiver.next().now_or_never() {
            let value = object.data.unwrap_or_default()["v"].clone();
            passed.push(format!(
                "{}={value}",
                object.metadata.name.unwrap_or_default()
            ));
        }
        passed
    }

    /// Plays `events` as the watch task does: the cache takes each first, then the subscribers.
    fn play(subscribers: &Subscribers<ConfigMap>, events: Vec<watcher::Event<ConfigMap>>) {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        for event in events {
            writer.apply_watcher_event(&event);
            dispatch(subscribers, &store, event);
        }
    }

    #[test]
    fn each_subscriber_gets_the_changes_of_what_it_acts_on_and_every_deletion() {
        let (on_value, mut first) = subscriber(by_value());
        let (on_existence, mut second) = subscriber(Box::new(|_| 0));
        let subscribers: Subscribers<ConfigMap> =
            Arc::new(Mutex::new(vec![on_value, on_existence]));
        play(
            &subscribers,
            vec![
                watcher::Event::Init,
                watcher::Event::InitApply(map("a", "1")),
                watcher::Event::InitDone,
                watcher::Event::Apply(map("a", "1")),
                watcher::Event::Apply(map("a", "2")),
                watcher::Event::Delete(map("a", "2")),
                watcher::Event::Apply(map("a", "3")),
            ],
        );
        assert_eq!(passed(&mut first), ["a=1", "a=2", "a=2", "a=3"]);
        assert_eq!(passed(&mut second), ["a=1", "a=2", "a=3"]);
    }

    #[test]
    fn a_subscriber_that_came_during_a_list_gets_all_of_it_at_its_end() {
        let (early, mut early_rx) = subscriber(by_value());
        let subscribers: Subscribers<ConfigMap> = Arc::new(Mutex::new(vec![early]));
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let mut step = |event: watcher::Event<ConfigMap>| {
            writer.apply_watcher_event(&event);
            dispatch(&subscribers, &store, event);
        };
        step(watcher::Event::Init);
        step(watcher::Event::InitApply(map("a", "1")));
        let (late, mut late_rx) = subscriber(by_value());
        subscribers.lock().unwrap().push(late);
        step(watcher::Event::InitApply(map("b", "1")));
        step(watcher::Event::InitDone);
        assert_eq!(passed(&mut early_rx), ["a=1", "b=1"]);
        let mut late_passed = passed(&mut late_rx);
        late_passed.sort();
        assert_eq!(late_passed, ["a=1", "b=1"]);
    }

    #[test]
    fn a_subscriber_that_went_away_is_dropped() {
        let (gone, receiver) = subscriber(Box::new(|_| 0));
        let subscribers: Subscribers<ConfigMap> = Arc::new(Mutex::new(vec![gone]));
        drop(receiver);
        play(&subscribers, vec![watcher::Event::Apply(map("a", "1"))]);
        assert!(subscribers.lock().unwrap().is_empty());
    }
}
