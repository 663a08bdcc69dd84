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
use kube::Resource;
use kube::core::PartialObjectMeta;
use kube::runtime::{Controller, WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::Context;
use super::relevant::rendered_changes;
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
        let api = self.scope.api::<PartialObjectMeta<C>>(&self.context.client);
        let (context, namespace, owner_kind) = (
            self.context.clone(),
            self.scope.namespace().map(str::to_string),
            self.owner_kind,
        );
        let events = watcher(api, self.selector.clone())
            .default_backoff()
            .inspect(move |event| {
                context
                    .children
                    .observe(owner_kind, namespace.as_deref(), event)
            });
        let changes = match wake {
            Wake::OnAnyChange => events.touched_objects().boxed(),
            Wake::OnRenderedChange => rendered_changes(events).boxed(),
        };
        let wakeups = self.wakeups.clone();
        controller.owns_stream(changes.inspect_ok(move |child| wakeups.touched_owners_of(child)))
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
