//! What wakes a controller's reconciles, and how many objects are waiting for one.
//!
//! [`controller`] builds the controller of a kind with the one rule every kind shares: only
//! changes the reconcile acts on wake it (the spec, labels, annotations, deletion — not the
//! controller's own status writes, which would cost a second reconcile each).
//!
//! [`Wakeups`] counts the objects woken but not yet reconciled: the work-queue depth, which
//! kube-runtime keeps private. Every trigger stream is tapped — the kind's own, its children's
//! ([`super::watches`]) and those of what it refers to ([`Wakeups::matching`]); the start of a
//! reconcile clears the mark. Timed requeues (the periodic resync, the retry after an error)
//! are not changes and are not counted.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::{Stream, TryStreamExt};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::Context;
use super::feed::Feed;
use super::relevant::relevant_changes;
use crate::telemetry::Metrics;

/// A controller of every `K` in `api`, with the triggers of its own kind counted. Children and
/// referenced objects are counted by the caller through the returned [`Wakeups`].
pub fn controller<K>(
    kind: &'static str,
    api: Api<K>,
    context: &Context,
) -> (Controller<K>, Arc<Wakeups<K>>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
{
    let (store, watch) = cached(api);
    let wakeups = Wakeups::new(kind, store.clone(), context.metrics.clone());
    let tap = wakeups.clone();
    let changes = relevant_changes(watch.default_backoff(), wakes);
    let trigger = changes.inspect_ok(move |object| tap.touched(ObjectRef::from_obj(object)));
    let controller =
        Controller::for_stream(trigger, store).with_config(context.settings.controller_config());
    (controller, wakeups)
}

/// [`controller`] on a watch other controllers follow too: its cache and triggers come from
/// `feed`.
pub fn controller_on<K>(
    kind: &'static str,
    feed: &Feed<K>,
    context: &Context,
) -> (Controller<K>, Arc<Wakeups<K>>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
{
    let store = feed.store();
    let wakeups = Wakeups::new(kind, store.clone(), context.metrics.clone());
    let tap = wakeups.clone();
    let trigger = feed
        .subscribe(wakes)
        .inspect_ok(move |object| tap.touched(ObjectRef::from_obj(object)));
    let controller =
        Controller::for_stream(trigger, store).with_config(context.settings.controller_config());
    (controller, wakeups)
}

/// What of an object wakes its reconcile: generation, labels, annotations, being deleted.
type Wakes = (
    Option<i64>,
    Option<std::collections::BTreeMap<String, String>>,
    Option<std::collections::BTreeMap<String, String>>,
    bool,
);

/// Only changes the reconcile acts on wake it: the spec (the generation), labels, annotations
/// and deletion. The controller's own status writes come back through its watch and would
/// otherwise cost another full reconcile each.
fn wakes<K: Resource>(object: &K) -> Wakes {
    let meta = object.meta();
    (
        meta.generation,
        meta.labels.clone(),
        meta.annotations.clone(),
        meta.deletion_timestamp.is_some(),
    )
}

/// The cache of every `K` in `api` a controller reads its objects from, and the watch that
/// fills it (to be polled for the cache to fill). The cache keeps every object for the life of
/// the process; the field-ownership records are often the larger part of an object and
/// nothing here reads them, so they are dropped on arrival, and so is the copy of the whole
/// object a client-side `kubectl apply` leaves in an annotation. Public for the reconcile
/// benchmark, which weighs this very cache.
pub fn cached<K>(
    api: Api<K>,
) -> (
    Store<K>,
    impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
{
    let (store, writer) = reflector::store::<K>();
    let watch = watcher(api, watcher::Config::default()).modify(|object: &mut K| {
        let meta = object.meta_mut();
        meta.managed_fields = None;
        if let Some(annotations) = meta.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
    });
    (store, reflector::reflector(writer, watch))
}

/// The annotation in which a client-side `kubectl apply` keeps the whole object as applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub struct Wakeups<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    kind: &'static str,
    store: Store<K>,
    metrics: Arc<Metrics>,
    objects: Mutex<HashSet<ObjectRef<K>>>,
}

impl<K> Wakeups<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// `store` is the controller's cache: the controller drops a trigger for an object it does
    /// not hold, so such a trigger is not counted either.
    pub fn new(kind: &'static str, store: Store<K>, metrics: Arc<Metrics>) -> Arc<Self> {
        metrics.set_queue_depth(kind, 0);
        Arc::new(Self {
            kind,
            store,
            metrics,
            objects: Mutex::new(HashSet::new()),
        })
    }

    /// A trigger named `object`. One for an object gone from the cache (its deletion, say)
    /// clears its mark instead: nothing will reconcile it.
    pub fn touched(&self, object: ObjectRef<K>) {
        let cached = self.store.get(&object).is_some();
        self.update(|objects| {
            if cached {
                objects.insert(object);
            } else {
                objects.remove(&object);
            }
        });
    }

    /// A trigger named every object in `objects`; they are handed on unchanged.
    pub fn touched_all(&self, objects: Vec<ObjectRef<K>>) -> Vec<ObjectRef<K>> {
        for object in &objects {
            self.touched(object.clone());
        }
        objects
    }

    /// The cached objects in `namespace` for which `matches` holds, marked: how a watch of
    /// another kind finds the objects that refer to what changed.
    pub fn matching(
        &self,
        namespace: Option<String>,
        matches: impl Fn(&K) -> bool,
    ) -> Vec<ObjectRef<K>> {
        let objects = self
            .store
            .state()
            .iter()
            .filter(|object| object.meta().namespace == namespace && matches(object))
            .map(|object| ObjectRef::from_obj(&**object))
            .collect();
        self.touched_all(objects)
    }

    /// A child changed: its owners of kind `K` are due for a reconcile.
    pub fn touched_owners_of(&self, child: &impl Resource) {
        let namespace = child.meta().namespace.clone();
        for owner in child.meta().owner_references.iter().flatten() {
            if owner.kind == K::kind(&()) && owner.api_version == K::api_version(&()) {
                let mut object = ObjectRef::new(&owner.name);
                object.namespace = namespace.clone();
                self.touched(object);
            }
        }
    }

    /// A reconcile of `object` starts. Marks of objects gone from the cache since they were
    /// set are dropped here too.
    pub fn started(&self, object: &ObjectRef<K>) {
        self.update(|objects| {
            objects.remove(object);
            objects.retain(|o| self.store.get(o).is_some());
        });
    }

    /// How many objects are waiting.
    pub fn depth(&self) -> usize {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    fn update(&self, change: impl FnOnce(&mut HashSet<ObjectRef<K>>)) {
        // A panic elsewhere while holding the lock cannot leave the set half-changed in a way
        // that matters for a gauge, so a poisoned lock is used as it is.
        let mut objects = self
            .objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut objects);
        self.metrics.set_queue_depth(self.kind, objects.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    fn config_map(name: &str) -> ConfigMap {
        let mut object = ConfigMap::default();
        object.metadata.name = Some(name.into());
        object.metadata.namespace = Some("ns".into());
        object
    }

    fn cached(names: &[&str]) -> (Store<ConfigMap>, reflector::store::Writer<ConfigMap>) {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        for name in names {
            writer.apply_watcher_event(&Event::Apply(config_map(name)));
        }
        (store, writer)
    }

    fn depth_metric(metrics: &Metrics) -> String {
        metrics
            .render()
            .lines()
            .find(|l| l.starts_with("tradeplane_operator_queue_depth{kind=\"ConfigMap\"}"))
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn a_trigger_is_pending_until_its_reconcile_starts_and_counts_once() {
        let (store, _writer) = cached(&["a", "b"]);
        let metrics = Arc::new(Metrics::new().unwrap());
        let pending = Wakeups::new("ConfigMap", store, metrics.clone());
        pending.touched(ObjectRef::new("a").within("ns"));
        pending.touched(ObjectRef::new("a").within("ns"));
        pending.touched_all(vec![ObjectRef::new("b").within("ns")]);
        assert_eq!(pending.depth(), 2);
        assert_eq!(
            depth_metric(&metrics),
            "tradeplane_operator_queue_depth{kind=\"ConfigMap\"} 2"
        );
        pending.started(&ObjectRef::new("a").within("ns"));
        assert_eq!(pending.depth(), 1);
        assert_eq!(
            depth_metric(&metrics),
            "tradeplane_operator_queue_depth{kind=\"ConfigMap\"} 1"
        );
    }

    #[test]
    fn objects_the_controller_does_not_hold_are_not_counted() {
        let (store, mut writer) = cached(&["a"]);
        let pending = Wakeups::new("ConfigMap", store, Arc::new(Metrics::new().unwrap()));
        pending.touched(ObjectRef::new("missing").within("ns"));
        assert_eq!(pending.depth(), 0);

        // Marked, then deleted before its reconcile: the deletion's trigger clears the mark.
        pending.touched(ObjectRef::new("a").within("ns"));
        assert_eq!(pending.depth(), 1);
        writer.apply_watcher_event(&Event::Delete(config_map("a")));
        pending.touched(ObjectRef::new("a").within("ns"));
        assert_eq!(pending.depth(), 0);

        // Marked, then gone from the cache unseen: dropped at the next reconcile's start.
        writer.apply_watcher_event(&Event::Apply(config_map("b")));
        pending.touched(ObjectRef::new("b").within("ns"));
        writer.apply_watcher_event(&Event::Delete(config_map("b")));
        pending.started(&ObjectRef::new("other").within("ns"));
        assert_eq!(pending.depth(), 0);
    }

    #[test]
    fn a_child_marks_its_owners_of_the_controllers_kind_only() {
        let (store, _writer) = cached(&["owner"]);
        let pending = Wakeups::new("ConfigMap", store, Arc::new(Metrics::new().unwrap()));
        let mut child = k8s_openapi::api::core::v1::Secret::default();
        child.metadata.namespace = Some("ns".into());
        child.metadata.owner_references = Some(vec![
            OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: "1".into(),
                ..OwnerReference::default()
            },
            OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "owner".into(),
                uid: "2".into(),
                ..OwnerReference::default()
            },
        ]);
        pending.touched_owners_of(&child);
        assert_eq!(pending.depth(), 1);
    }

    #[test]
    fn matching_finds_and_marks_the_objects_in_the_namespace_that_match() {
        let (store, mut writer) = cached(&["keep", "skip"]);
        let mut elsewhere = config_map("keep");
        elsewhere.metadata.namespace = Some("other".into());
        writer.apply_watcher_event(&Event::Apply(elsewhere));
        let pending = Wakeups::new("ConfigMap", store, Arc::new(Metrics::new().unwrap()));
        let found = pending.matching(Some("ns".into()), |c| {
            c.metadata.name.as_deref() == Some("keep")
        });
        assert_eq!(found, vec![ObjectRef::new("keep").within("ns")]);
        assert_eq!(pending.depth(), 1);
    }
}
