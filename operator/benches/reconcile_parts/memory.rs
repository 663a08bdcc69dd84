//! Where the operator's memory goes, weighed rather than guessed: the bench process builds the
//! caches the operator keeps for N strategies — with the operator's own functions where they
//! are public, the same watches otherwise — against the same cluster, and counts the heap
//! bytes each one still holds once its watch has listed everything (a counting global
//! allocator). Beside them, what the caches the operator does not keep would cost: full child
//! objects, as `Controller::owns` would hold them.

use std::alloc::System;
use std::fmt::Debug;
use std::pin::pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::sync::Notify;
use tradeplane_operator::api::TradingStrategy;
use tradeplane_operator::controllers::child_cache::{Child, ChildCache};
use tradeplane_operator::controllers::feed::Feed;
use tradeplane_operator::controllers::meta::content_hash;
use tradeplane_operator::controllers::relevant::rendered_changes;
use tradeplane_operator::controllers::scope::Scope;
use tradeplane_operator::controllers::trading_strategy::backup::report_changes;
use tradeplane_operator::controllers::trading_strategy::leadership::LeaseHistory;
use tradeplane_operator::controllers::trading_strategy::lease_changes;
use tradeplane_operator::controllers::trading_strategy::names::STRATEGY_LABEL;
use tradeplane_operator::controllers::watches::children_selector;

#[global_allocator]
static HEAP: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not yet freed by this process.
fn live_heap() -> i64 {
    let stats = HEAP.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64 + stats.bytes_reallocated as i64
}

/// One row of the table: a cache and the heap bytes it holds.
pub struct Row {
    pub what: String,
    pub bytes: i64,
}

/// The caches the operator keeps, and the full-object caches it does not.
pub struct Weights {
    pub kept: Vec<Row>,
    pub full_children: Vec<Row>,
    pub metadata_children: Vec<Row>,
}

/// Polls `stream` until `listed` is notified (its watch's InitDone went through), then hands
/// the stream back: a stream that keeps state (the change fingerprints) is weighed alive.
async fn until_listed<S: Stream + Unpin>(mut stream: S, listed: &Notify) -> S {
    loop {
        tokio::select! {
            item = stream.next() => if item.is_none() { return stream },
            () = listed.notified() => return stream,
        }
    }
}

/// `events`, notifying `listed` once its initial list is complete.
fn noting_listed<K, S>(
    events: S,
    listed: Arc<Notify>,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send,
{
    events.inspect(move |event| {
        if matches!(event, Ok(Event::InitDone)) {
            listed.notify_one();
        }
    })
}

/// The heap bytes `build` leaves allocated, and what it built.
async fn weigh<T>(build: impl Future<Output = T>) -> (T, i64) {
    let before = live_heap();
    let kept = build.await;
    (kept, live_heap() - before)
}

/// The one watch and cache of strategies the controllers share (managedFields dropped), once
/// it listed them all.
async fn strategy_feed(api: Api<TradingStrategy>) -> Arc<Feed<TradingStrategy>> {
    let feed = Feed::start(api);
    feed.store().wait_until_ready().await.unwrap();
    feed
}

/// The three consumers' fingerprints of every strategy (the controller's own triggers, the
/// backup reports', the BrokerAccount controller's), each subscription drained of the objects
/// it was handed as the operator's controllers drain theirs.
async fn strategy_subscriptions(feed: &Feed<TradingStrategy>, n: usize) -> impl Send + use<> {
    let mut subscriptions = vec![
        feed.subscribe(|s: &TradingStrategy| s.metadata.generation)
            .boxed(),
        report_changes(feed).boxed(),
        feed.subscribe(|s: &TradingStrategy| s.spec.broker_account_ref.name.clone())
            .boxed(),
    ];
    for subscription in &mut subscriptions {
        for _ in 0..n {
            subscription.next().await;
        }
    }
    subscriptions
}

/// The Lease store with its holder fingerprints and history, built by the operator's function.
async fn lease_store(client: &Client, scope: &Scope, n: usize) -> impl Send {
    let history = LeaseHistory::default();
    let (store, changes) = lease_changes(client, scope, &history);
    let mut changes = changes.boxed();
    // Each Lease passes once as it is listed: its holder is news to an empty fingerprint map.
    for _ in 0..n {
        changes.next().await;
    }
    (store, changes, history)
}

/// A child's name and resourceVersion as its watch listed it.
type Listed = (String, Option<String>);

/// What the TradingStrategy controller keeps of its children of kind `C`: the child cache's
/// entries (each verified once, as after a reconcile) and, for kinds whose status others write,
/// the fingerprints of what the operator renders (the returned stream holds them).
async fn child_watch<C>(
    client: &Client,
    ns: &str,
    cache: &Arc<ChildCache>,
    rendered: bool,
) -> Option<impl Send + use<C>>
where
    C: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let listed = Arc::new(Notify::new());
    let api: Api<PartialObjectMeta<C>> = Api::namespaced(client.clone(), ns);
    let seen: Arc<std::sync::Mutex<Vec<Listed>>> = Arc::default();
    let events = noting_listed(
        watcher::watcher(api, children_selector(STRATEGY_LABEL)),
        listed.clone(),
    )
    .inspect({
        let (cache, seen, ns) = (cache.clone(), seen.clone(), ns.to_string());
        move |event| {
            cache.observe("TradingStrategy", Some(&ns), event);
            if let Ok(Event::InitApply(child)) = event {
                let name = child.metadata.name.clone().unwrap_or_default();
                let version = child.metadata.resource_version.clone();
                seen.lock().unwrap().push((name, version));
            }
        }
    });
    let kept = if rendered {
        Some(until_listed(rendered_changes(events).boxed(), &listed).await)
    } else {
        let _ = until_listed(events.boxed(), &listed).await;
        None
    };
    let kind = C::kind(&());
    for (name, version) in seen.lock().unwrap().drain(..) {
        let child = Child {
            owner_kind: "TradingStrategy",
            kind: &kind,
            namespace: ns,
            name: &name,
        };
        cache.verified(&child, version, content_hash(&[name.as_bytes()]));
    }
    kept
}

/// The child cache and fingerprints of all ten kinds of children, as one cache.
async fn children_kept(client: &Client, ns: &str) -> impl Send {
    let cache = Arc::new(ChildCache::default());
    let kept = (
        child_watch::<Secret>(client, ns, &cache, false).await,
        // The operator watches Deployments whole, keeping a fingerprint of each as here.
        child_watch::<Deployment>(client, ns, &cache, true).await,
        child_watch::<Service>(client, ns, &cache, false).await,
        child_watch::<PersistentVolumeClaim>(client, ns, &cache, true).await,
        child_watch::<CronJob>(client, ns, &cache, true).await,
        child_watch::<PodDisruptionBudget>(client, ns, &cache, true).await,
        child_watch::<ServiceAccount>(client, ns, &cache, false).await,
        child_watch::<Role>(client, ns, &cache, false).await,
        child_watch::<RoleBinding>(client, ns, &cache, false).await,
        child_watch::<Lease>(client, ns, &cache, true).await,
    );
    (cache, kept)
}

/// A reflector store of `K` over the strategies' children, listed and then left alone.
async fn child_store<K>(api: Api<K>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let listed = Arc::new(Notify::new());
    let (store, writer) = reflector::store::<K>();
    let events = reflector::reflector(
        writer,
        watcher::watcher(api, children_selector(STRATEGY_LABEL)),
    );
    let _ = until_listed(pin!(noting_listed(events, listed.clone())), &listed).await;
    store
}

/// The heap bytes of a full store and of a metadata-only store of the children of kind `K`.
async fn child_stores<K>(client: &Client, ns: &str, weights: &mut Weights)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let kind = K::kind(&()).into_owned();
    let (full, bytes) = weigh(child_store(Api::<K>::namespaced(client.clone(), ns))).await;
    drop(full);
    weights.full_children.push(Row {
        what: kind.clone(),
        bytes,
    });
    let api = Api::<PartialObjectMeta<K>>::namespaced(client.clone(), ns);
    let (metadata, bytes) = weigh(child_store(api)).await;
    drop(metadata);
    weights.metadata_children.push(Row { what: kind, bytes });
}

/// Weighs every cache the operator keeps for the strategies in `ns` (N of them, each with its
/// children), and the full and metadata-only child stores it does not keep.
pub async fn weigh_caches(client: &Client, ns: &str, n: usize) -> Weights {
    let scope = Scope::new(Some(ns));
    let strategies = || Api::<TradingStrategy>::namespaced(client.clone(), ns);
    let mut weights = Weights {
        kept: Vec::new(),
        full_children: Vec::new(),
        metadata_children: Vec::new(),
    };
    let mut kept = |what: &str, bytes: i64| {
        weights.kept.push(Row {
            what: what.to_string(),
            bytes,
        })
    };
    let (feed, bytes) = weigh(strategy_feed(strategies())).await;
    kept(
        "TradingStrategy watch and store, one for 3 consumers (managedFields dropped)",
        bytes,
    );
    let (subscriptions, bytes) = weigh(strategy_subscriptions(&feed, n)).await;
    drop(subscriptions);
    drop(feed);
    kept(
        "TradingStrategy change fingerprints of the 3 consumers",
        bytes,
    );
    let (leases, bytes) = weigh(lease_store(client, &scope, n)).await;
    drop(leases);
    kept("Lease store, holder fingerprints and history", bytes);
    let (children, bytes) = weigh(children_kept(client, ns)).await;
    drop(children);
    kept("child cache (10 kinds, metadata watches)", bytes);
    child_stores::<Deployment>(client, ns, &mut weights).await;
    child_stores::<Secret>(client, ns, &mut weights).await;
    child_stores::<Service>(client, ns, &mut weights).await;
    child_stores::<PersistentVolumeClaim>(client, ns, &mut weights).await;
    child_stores::<CronJob>(client, ns, &mut weights).await;
    child_stores::<PodDisruptionBudget>(client, ns, &mut weights).await;
    child_stores::<ServiceAccount>(client, ns, &mut weights).await;
    child_stores::<Role>(client, ns, &mut weights).await;
    child_stores::<RoleBinding>(client, ns, &mut weights).await;
    child_stores::<Lease>(client, ns, &mut weights).await;
    weights
}
