//! The watches a controller runs beside its own kind's: the metadata of its children, and the
//! metadata of objects its resources refer to.
//!
//! A child watch does three things with each event: the child cache learns what the child
//! looks like now (so an unchanged child is not read again), the owner is marked as woken (for
//! the queue-depth gauge), and the owner is queued. Watching metadata only keeps no Secret
//! contents and no pod templates in memory.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::core::PartialObjectMeta;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::Context;
use super::relevant::{relevant_changes, rendered, rendered_changes};
use super::rollout::Rollout;
use super::scope::Scope;
use super::wakeups::Wakeups;

/// A namespaced kind whose metadata a controller watches.
pub trait WatchedKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<C> WatchedKind for C where
    C: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// Which changes of a child wake its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Every change: the owner reads the child's status (a Deployment's rollout).
    OnAnyChange,
    /// Changes to what the operator renders into the child; status writes by the cluster's
    /// own controllers (a claim being bound, a CronJob's last schedule) do not wake it.
    OnRenderedChange,
}

/// The children of one owner kind `K`, found by the operator's labels.
pub struct OwnedChildren<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    context: Arc<Context>,
    scope: Scope,
    selector: watcher::Config,
    owner_kind: &'static str,
    wakeups: Arc<Wakeups<K>>,
}

impl<K> OwnedChildren<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// Children labelled `app.kubernetes.io/managed-by=tradeplane-operator` and carrying
    /// `owner_label`, in `scope`.
    pub fn new(
        context: &Arc<Context>,
        scope: &Scope,
        owner_label: &str,
        owner_kind: &'static str,
        wakeups: &Arc<Wakeups<K>>,
    ) -> Self {
        Self {
            context: context.clone(),
            scope: scope.clone(),
            selector: children_selector(owner_label),
            owner_kind,
            wakeups: wakeups.clone(),
        }
    }

    /// `controller`, also woken by changes of its children of kind `C`.
    pub fn own<C: WatchedKind>(&self, controller: Controller<K>, wake: Wake) -> Controller<K> {
        let events = self.observed(self.scope.api::<PartialObjectMeta<C>>(&self.context.client));
        let changes = match wake {
            Wake::OnAnyChange => events.touched_objects().boxed(),
            Wake::OnRenderedChange => rendered_changes(events).boxed(),
        };
        self.woken_by(controller, changes)
    }

    /// `controller`, also woken by its Deployments, but only when what its reconcile reports
    /// of one changes: what the operator renders into it, or its rollout ([`Rollout`]). The
    /// Deployment controller writes a Deployment's status and its own revision annotation
    /// three or four times while it rolls out, and each write woke the owner; most change
    /// nothing the owner reports. The rollout is in the status, which a metadata watch does
    /// not carry, so Deployments are watched whole here — and not kept: only a fingerprint of
    /// each is.
    pub fn own_deployments(&self, controller: Controller<K>) -> Controller<K> {
        let events = self.observed(self.scope.api::<Deployment>(&self.context.client));
        let changes = relevant_changes(events, |deployment: &Deployment| {
            (rendered(&deployment.metadata), Rollout::of(deployment))
        });
        self.woken_by(controller, changes)
    }

    /// The watch of this owner kind's children in `api`, each event shown to the child cache
    /// first (so an unchanged child is not read again).
    fn observed<C: WatchedKind>(
        &self,
        api: Api<C>,
    ) -> impl Stream<Item = Result<watcher::Event<C>, watcher::Error>> + Send + 'static {
        let (context, namespace, owner_kind) = (
            self.context.clone(),
            self.scope.namespace().map(str::to_string),
            self.owner_kind,
        );
        watcher(api, self.selector.clone())
            .default_backoff()
            .inspect(move |event| {
                context
                    .children
                    .observe(owner_kind, namespace.as_deref(), event)
            })
    }

    /// `controller`, also queued (and its queue depth counted) for the owners of each child in
    /// `changes` — but not for the echoes of its own applies, nor for versions of a child a
    /// reconcile already read ([`ChildCache::news`](super::child_cache::ChildCache::news)).
    fn woken_by<C: WatchedKind>(
        &self,
        controller: Controller<K>,
        changes: impl Stream<Item = Result<C, watcher::Error>> + Send + 'static,
    ) -> Controller<K> {
        let (context, owner_kind) = (self.context.clone(), self.owner_kind);
        let news = changes.try_filter(move |child| {
            futures::future::ready(context.children.news(owner_kind, child))
        });
        let wakeups = self.wakeups.clone();
        controller.owns_stream(news.inspect_ok(move |child| wakeups.touched_owners_of(child)))
    }
}

/// The watch configuration that finds the children of one owner kind: labelled
/// `app.kubernetes.io/managed-by=tradeplane-operator` and carrying `owner_label`.
pub fn children_selector(owner_label: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!(
        "app.kubernetes.io/managed-by={},{owner_label}",
        super::meta::MANAGED_BY
    ))
}

/// Every change of the metadata of `C` objects in `scope`: for kinds whose resources refer to
/// them by name (Secrets, say) and need no more than to know that they changed.
pub fn metadata_changes<C: WatchedKind>(
    context: &Context,
    scope: &Scope,
) -> impl Stream<Item = Result<PartialObjectMeta<C>, watcher::Error>> + Send + 'static {
    watcher(
        scope.api::<PartialObjectMeta<C>>(&context.client),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects()
}
