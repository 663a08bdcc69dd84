//! What the children's watches last said about each child, so that a reconcile reads a child
//! from the API server only when it may have changed since the operator last checked it.
//!
//! A child is "verified" when a reconcile read it (or applied it) and found it matching a
//! rendering; the record keeps the child's resourceVersion then and the rendering's hash. While
//! the watch still reports that resourceVersion and the rendering hashes the same, the child is
//! known to match without a GET. Any write to the child, by anyone, changes its
//! resourceVersion, reaches the watch, triggers a reconcile and so a fresh read: the shortcut
//! never hides a change for longer than the watch takes to deliver it.
//!
//! When a watch starts over (a relist after it fell too far behind), deletions it missed are not
//! reported, so every verification in its scope is dropped and the next reconciles read again.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use kube::Resource;
use kube::runtime::watcher;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ChildKey {
    owner_kind: &'static str,
    kind: String,
    namespace: String,
    name: String,
}

#[derive(Debug, Default)]
struct Entry {
    /// The resourceVersion the watch reported last.
    watched: Option<String>,
    /// The resourceVersion and rendering hash of the last check that found the child matching.
    verified: Option<(String, String)>,
}

/// The watch of children of kind `kind` owned by `owner_kind` objects, in one namespace or all.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Scope {
    owner_kind: &'static str,
    kind: String,
    namespace: Option<String>,
}

impl Scope {
    fn covers(&self, key: &ChildKey) -> bool {
        self.owner_kind == key.owner_kind
            && self.kind == key.kind
            && self
                .namespace
                .as_ref()
                .is_none_or(|namespace| *namespace == key.namespace)
    }
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<ChildKey, Entry>,
    /// Watches that have listed everything since they (re)started.
    synced: HashSet<Scope>,
}

#[derive(Debug, Default)]
pub struct ChildCache {
    state: Mutex<State>,
}

/// A child of one kind, as a reconcile names it.
pub struct Child<'a> {
    pub owner_kind: &'static str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl Child<'_> {
    fn key(&self) -> ChildKey {
        ChildKey {
            owner_kind: self.owner_kind,
            kind: self.kind.to_string(),
            namespace: self.namespace.to_string(),
            name: self.name.to_string(),
        }
    }
}

impl ChildCache {
    /// Feeds one event of the watch of `owner_kind`'s children of kind `K`, in `namespace`
    /// (or all namespaces for `None`).
    pub fn observe<K>(
        &self,
        owner_kind: &'static str,
        namespace: Option<&str>,
        event: &Result<watcher::Event<K>, watcher::Error>,
    ) where
        K: Resource<DynamicType = ()>,
    {
        let Ok(event) = event else { return };
        let scope = Scope {
            owner_kind,
            kind: K::kind(&()).into_owned(),
            namespace: namespace.map(str::to_string),
        };
        let key = |object: &K| ChildKey {
            owner_kind,
            kind: scope.kind.clone(),
            namespace: object.meta().namespace.clone().unwrap_or_default(),
            name: object.meta().name.clone().unwrap_or_default(),
        };
        let mut state = self.lock();
        match event {
            watcher::Event::Init => {
                state.synced.remove(&scope);
                for (_, entry) in state.entries.iter_mut().filter(|(k, _)| scope.covers(k)) {
                    entry.verified = None;
                }
            }
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                state.entries.entry(key(object)).or_default().watched =
                    object.meta().resource_version.clone();
            }
            watcher::Event::Delete(object) => {
                state.entries.remove(&key(object));
            }
            watcher::Event::InitDone => {
                state.synced.insert(scope);
            }
        }
    }

    /// Whether the child still is as the check that found it matching `hash` saw it.
    pub fn unchanged_since_verified(&self, child: &Child<'_>, hash: &str) -> bool {
        let state = self.lock();
        state.entries.get(&child.key()).is_some_and(|entry| {
            match (&entry.watched, &entry.verified) {
                (Some(watched), Some((verified, verified_hash))) => {
                    watched == verified && verified_hash == hash
                }
                _ => false,
            }
        })
    }

    /// Whether a watch event of `object`, a child of an `owner_kind` object, is news to its
    /// owner: not when it reports the very resourceVersion a reconcile of the owner last
    /// verified, i.e. the echo of the operator's own apply or a version a reconcile already
    /// read. A new strategy's ten creations come back as ten such echoes, and each woke the
    /// strategy for a reconcile that found nothing to do. Call it after [`Self::observe`] took
    /// the event; an echo that overtakes the apply's response is news (a reconcile too many,
    /// never one too few).
    pub fn news<K: Resource<DynamicType = ()>>(
        &self,
        owner_kind: &'static str,
        object: &K,
    ) -> bool {
        let meta = object.meta();
        let key = ChildKey {
            owner_kind,
            kind: K::kind(&()).into_owned(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        };
        let state = self.lock();
        let verified = state
            .entries
            .get(&key)
            .and_then(|entry| entry.verified.as_ref())
            .map(|(version, _)| version);
        meta.deletion_timestamp.is_some()
            || meta.resource_version.is_none()
            || verified != meta.resource_version.as_ref()
    }

    /// The resourceVersion the child's watch reported last, if it has seen the child.
    pub fn watched(&self, child: &Child<'_>) -> Option<String> {
        self.lock()
            .entries
            .get(&child.key())
            .and_then(|entry| entry.watched.clone())
    }

    /// Records that the child, at `resource_version`, matched the rendering hashed `hash`.
    pub fn verified(&self, child: &Child<'_>, resource_version: Option<String>, hash: String) {
        let Some(resource_version) = resource_version else {
            return;
        };
        self.lock().entries.entry(child.key()).or_default().verified =
            Some((resource_version, hash));
    }

    /// Whether the child's watch has listed everything and has not seen it: it does not exist,
    /// or it was created a moment ago and its event, on the way, will trigger a reconcile.
    pub fn known_absent(&self, child: &Child<'_>) -> bool {
        let state = self.lock();
        let key = child.key();
        let synced = state.synced.iter().any(|scope| scope.covers(&key));
        synced && !state.entries.contains_key(&key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a cache: after a panic elsewhere it is still safe to use.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use kube::core::PartialObjectMeta;
    use kube::runtime::watcher::Event;

    fn secret(name: &str, resource_version: &str) -> PartialObjectMeta<Secret> {
        let mut object = PartialObjectMeta::<Secret>::default();
        object.metadata.name = Some(name.into());
        object.metadata.namespace = Some("ns".into());
        object.metadata.resource_version = Some(resource_version.into());
        object
    }

    fn child(name: &str) -> Child<'_> {
        Child {
            owner_kind: "TradingStrategy",
            kind: "Secret",
            namespace: "ns",
            name,
        }
    }

    fn listed(cache: &ChildCache, objects: &[PartialObjectMeta<Secret>]) {
        cache.observe::<PartialObjectMeta<Secret>>("TradingStrategy", Some("ns"), &Ok(Event::Init));
        for object in objects {
            cache.observe(
                "TradingStrategy",
                Some("ns"),
                &Ok(Event::InitApply(object.clone())),
            );
        }
        cache.observe::<PartialObjectMeta<Secret>>(
            "TradingStrategy",
            Some("ns"),
            &Ok(Event::InitDone),
        );
    }

    #[test]
    fn a_verified_child_is_unchanged_until_its_resource_version_moves() {
        let cache = ChildCache::default();
        listed(&cache, &[secret("a", "1")]);
        assert!(!cache.unchanged_since_verified(&child("a"), "h1"));

        cache.verified(&child("a"), Some("1".into()), "h1".into());
        assert!(cache.unchanged_since_verified(&child("a"), "h1"));
        // Another rendering is not verified by the old check.
        assert!(!cache.unchanged_since_verified(&child("a"), "h2"));

        // Somebody wrote the child: the watch reports a new resourceVersion.
        cache.observe(
            "TradingStrategy",
            Some("ns"),
            &Ok(Event::Apply(secret("a", "2"))),
        );
        assert!(!cache.unchanged_since_verified(&child("a"), "h1"));
    }

    #[test]
    fn a_check_ahead_of_the_watch_counts_once_the_watch_catches_up() {
        let cache = ChildCache::default();
        listed(&cache, &[]);
        // Applied (created) at resourceVersion 5 before the watch delivered it.
        cache.verified(&child("a"), Some("5".into()), "h".into());
        assert!(!cache.unchanged_since_verified(&child("a"), "h"));
        cache.observe(
            "TradingStrategy",
            Some("ns"),
            &Ok(Event::Apply(secret("a", "5"))),
        );
        assert!(cache.unchanged_since_verified(&child("a"), "h"));
    }

    #[test]
    fn the_echo_of_a_verified_version_is_no_news_and_any_other_version_is() {
        let cache = ChildCache::default();
        listed(&cache, &[]);
        let event = |object: PartialObjectMeta<Secret>| {
            cache.observe(
                "TradingStrategy",
                Some("ns"),
                &Ok(Event::Apply(object.clone())),
            );
            cache.news("TradingStrategy", &object)
        };
        // Created by a reconcile at resourceVersion 5: the watch's report of 5 is its echo.
        cache.verified(&child("a"), Some("5".into()), "h".into());
        assert!(!event(secret("a", "5")));
        // Written since by someone else.
        assert!(event(secret("a", "6")));
        // Never verified at all (made by someone else, or the echo overtook the response).
        assert!(event(secret("b", "7")));
        // The same child for another owner kind's watch is that owner's news.
        let theirs = secret("a", "5");
        assert!(cache.news("AgentPool", &theirs));
        // Being deleted is always news, whatever the version.
        let mut deleting = secret("a", "5");
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert!(cache.news("TradingStrategy", &deleting));
    }

    #[test]
    fn a_deleted_child_is_not_verified_and_is_known_absent() {
        let cache = ChildCache::default();
        listed(&cache, &[secret("a", "1")]);
        cache.verified(&child("a"), Some("1".into()), "h".into());
        assert!(!cache.known_absent(&child("a")));
        cache.observe(
            "TradingStrategy",
            Some("ns"),
            &Ok(Event::Delete(secret("a", "1"))),
        );
        assert!(!cache.unchanged_since_verified(&child("a"), "h"));
        assert!(cache.known_absent(&child("a")));
    }

    #[test]
    fn nothing_is_known_absent_before_the_watch_has_listed_everything() {
        let cache = ChildCache::default();
        assert!(!cache.known_absent(&child("a")));
        cache.observe::<PartialObjectMeta<Secret>>("TradingStrategy", Some("ns"), &Ok(Event::Init));
        assert!(!cache.known_absent(&child("a")));
        cache.observe::<PartialObjectMeta<Secret>>(
            "TradingStrategy",
            Some("ns"),
            &Ok(Event::InitDone),
        );
        assert!(cache.known_absent(&child("a")));
        // Another owner kind's watch of the same kind says nothing about these children.
        let theirs = Child {
            owner_kind: "AgentPool",
            ..child("a")
        };
        assert!(!cache.known_absent(&theirs));
    }

    #[test]
    fn a_relist_drops_every_verification_in_its_scope() {
        let cache = ChildCache::default();
        listed(&cache, &[secret("a", "1")]);
        cache.verified(&child("a"), Some("1".into()), "h".into());
        // The watch fell behind and starts over; "a" was deleted meanwhile, unreported.
        listed(&cache, &[]);
        assert!(!cache.unchanged_since_verified(&child("a"), "h"));
    }
}
