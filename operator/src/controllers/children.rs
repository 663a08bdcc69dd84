//! Writing children: server-side apply under one field manager, and only when the child
//! differs from what is rendered, so that a reconcile that changes nothing writes nothing.
//!
//! "Differs" is decided from two facts about the live object: the hash of the last rendered
//! object, kept in an annotation (catches fields the rendering dropped, which a comparison of
//! present fields cannot see), and whether every rendered field still holds the rendered value
//! (catches hand edits). Fields the API server or other controllers add are not ours to judge.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, DeleteParams, GetParams, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::child_cache::{Child, ChildCache};
use super::meta::{RENDERED_HASH_ANNOTATION, content_hash};
use super::{Error, FIELD_MANAGER};

/// A namespaced kind the operator reads and writes whole: the children it renders, and its
/// own kinds when it writes their status.
pub trait ChildKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
{
}

impl<K> ChildKind for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
{
}

/// What [`ensure`] did.
#[derive(Debug)]
pub enum Outcome<K> {
    /// The live child already matched; nothing was written.
    Unchanged(K),
    /// The child was created or updated.
    Applied(K),
}

impl<K> Outcome<K> {
    pub fn object(&self) -> &K {
        match self {
            Self::Unchanged(object) | Self::Applied(object) => object,
        }
    }
    pub fn changed(&self) -> bool {
        matches!(self, Self::Applied(_))
    }
}

/// Makes the child `desired` of an `owner_kind` object exist as rendered, in `namespace`, and
/// returns the live object (for a child whose status the reconcile reports).
pub async fn ensure<K>(
    client: &Client,
    cache: &ChildCache,
    owner_kind: &'static str,
    namespace: &str,
    desired: K,
) -> Result<Outcome<K>, Error>
where
    K: ChildKind,
{
    let stamped = Stamped::new(desired)?;
    let (kind, name) = (K::kind(&()), stamped.name());
    let child = Child {
        owner_kind,
        kind: &kind,
        namespace,
        name: &name,
    };
    stamped
        .ensure_child(client, cache, &child)
        .await
        .map_err(|source| Error::apply::<K>(&name, source))
}

/// Makes the child `desired` of an `owner_kind` object exist as rendered, in `namespace`;
/// `true` when it wrote. A child the cache knows to match is not read at all.
pub async fn ensure_known<K>(
    client: &Client,
    cache: &ChildCache,
    owner_kind: &'static str,
    namespace: &str,
    desired: K,
) -> Result<bool, Error>
where
    K: ChildKind,
{
    let stamped = Stamped::new(desired)?;
    let (kind, name) = (K::kind(&()), stamped.name());
    let child = Child {
        owner_kind,
        kind: &kind,
        namespace,
        name: &name,
    };
    if cache.unchanged_since_verified(&child, &stamped.hash) {
        return Ok(false);
    }
    let outcome = stamped
        .ensure_child(client, cache, &child)
        .await
        .map_err(|source| Error::apply::<K>(&name, source))?;
    Ok(outcome.changed())
}

/// Reads the child `name`, preferring the API server's watch cache (`resourceVersion=0`),
/// which spares etcd a quorum read. That copy can trail the operator's own watch (another API
/// server behind the same address, or a cache a moment behind): when it is older than the
/// resourceVersion the watch reported as `watched`, the read goes to etcd instead.
async fn read<K>(api: &Api<K>, name: &str, watched: Option<&str>) -> Result<Option<K>, kube::Error>
where
    K: ChildKind,
{
    let cached = match api.get_with(name, &GetParams::any()).await {
        Ok(live) => Some(live),
        Err(kube::Error::Api(status)) if status.code == 404 => None,
        Err(error) => return Err(error),
    };
    let behind_watch = match (watched, &cached) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(watched), Some(live)) => older(
            live.meta().resource_version.as_deref().unwrap_or(""),
            watched,
        ),
    };
    if behind_watch {
        Ok(api.get_opt(name).await?)
    } else {
        Ok(cached)
    }
}

/// Whether resourceVersion `a` comes before `b`. Since Kubernetes 1.35 the versions of one
/// resource type compare as integers; anything else that differs counts as older, which costs
/// at most one extra read.
fn older(a: &str, b: &str) -> bool {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => a < b,
        _ => a != b,
    }
}

/// A rendered child with the hash of its rendering in its annotations.
struct Stamped<K> {
    object: K,
    rendered: Value,
    hash: String,
}

impl<K> Stamped<K>
where
    K: ChildKind,
{
    fn new(mut object: K) -> Result<Self, Error> {
        let name = object.meta().name.clone().unwrap_or_default();
        let rendered = serde_json::to_value(&object)
            .map_err(|source| Error::apply::<K>(&name, kube::Error::SerdeError(source)))?;
        let hash = content_hash(&[rendered.to_string().as_bytes()]);
        object
            .meta_mut()
            .annotations
            .get_or_insert_with(Default::default)
            .insert(RENDERED_HASH_ANNOTATION.to_string(), hash.clone());
        Ok(Self {
            object,
            rendered,
            hash,
        })
    }

    fn name(&self) -> String {
        self.object.meta().name.clone().unwrap_or_default()
    }

    /// Makes `child` match this rendering and records in `cache` what was verified.
    async fn ensure_child(
        self,
        client: &Client,
        cache: &ChildCache,
        child: &Child<'_>,
    ) -> Result<Outcome<K>, kube::Error> {
        let hash = self.hash.clone();
        // A child the synced watch has never seen is created without looking for it first;
        // should it exist after all (made a moment ago), the apply is still right, only not
        // needed.
        let outcome = if cache.known_absent(child) {
            self.apply(client, child.namespace).await?
        } else {
            let watched = cache.watched(child);
            self.ensure(client, child.namespace, watched.as_deref())
                .await?
        };
        cache.verified(
            child,
            outcome.object().meta().resource_version.clone(),
            hash,
        );
        Ok(outcome)
    }

    /// Reads the live child and applies the rendering when the live one differs.
    async fn ensure(
        self,
        client: &Client,
        namespace: &str,
        watched: Option<&str>,
    ) -> Result<Outcome<K>, kube::Error> {
        let name = self.name();
        let api: Api<K> = Api::namespaced(client.clone(), namespace);
        let live = read(&api, &name, watched).await?;
        if let Some(live) = live {
            let same_rendering = live
                .meta()
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.get(RENDERED_HASH_ANNOTATION))
                == Some(&self.hash);
            let live_value = serde_json::to_value(&live).map_err(kube::Error::SerdeError)?;
            if same_rendering && is_subset(&self.rendered, &live_value) {
                return Ok(Outcome::Unchanged(live));
            }
        }
        self.apply(client, namespace).await
    }

    /// Applies the rendering without looking at the live child.
    async fn apply(self, client: &Client, namespace: &str) -> Result<Outcome<K>, kube::Error> {
        let name = self.name();
        let api: Api<K> = Api::namespaced(client.clone(), namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api
            .patch(&name, &params, &Patch::Apply(&self.object))
            .await?;
        Ok(Outcome::Applied(applied))
    }
}

/// Deletes the child `name` of an `owner_kind` object if it exists; `true` when it deleted.
/// A child its watch has never seen is not looked for.
pub async fn remove_known<K>(
    client: &Client,
    cache: &ChildCache,
    owner_kind: &'static str,
    namespace: &str,
    name: &str,
) -> Result<bool, Error>
where
    K: ChildKind,
{
    let kind = K::kind(&());
    let child = Child {
        owner_kind,
        kind: &kind,
        namespace,
        name,
    };
    if cache.known_absent(&child) {
        return Ok(false);
    }
    remove::<K>(client, namespace, name).await
}

/// Deletes the child `name` of kind `K` if it exists, e.g. a CronJob whose schedule was
/// removed from the spec. Returns whether a delete request was made.
pub async fn remove<K>(client: &Client, namespace: &str, name: &str) -> Result<bool, Error>
where
    K: ChildKind,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let failed = |source| Error::apply::<K>(name, source);
    if api.get_metadata_opt(name).await.map_err(failed)?.is_none() {
        return Ok(false);
    }
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(failed(error)),
    }
}

/// True when every field present in `rendered` holds the same value in `live`. Objects are
/// compared key by key (extra keys in `live` are fine: defaults, status, other managers),
/// arrays element by element with equal length (a removed element is a difference), and
/// scalars by equality.
pub fn is_subset(rendered: &Value, live: &Value) -> bool {
    match (rendered, live) {
        (Value::Object(want), Value::Object(have)) => {
            want.iter().all(|(key, value)| match have.get(key) {
                Some(found) => is_subset(value, found),
                // An empty map or list, or null, rendered but absent live: the API server drops
                // empty values, so they are the same thing.
                None => is_empty(value),
            })
        }
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| is_subset(w, h))
        }
        (Value::Number(want), Value::Number(have)) => want.as_f64() == have.as_f64(),
        _ => rendered == live,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{is_subset, older};

    #[test]
    fn resource_versions_compare_as_integers_and_anything_else_differing_counts_as_older() {
        assert!(older("99", "100"));
        assert!(!older("100", "99"));
        assert!(!older("100", "100"));
        assert!(older("a", "b"));
        assert!(!older("a", "a"));
    }

    #[test]
    fn defaults_added_by_the_server_do_not_count_as_a_difference() {
        let rendered =
            json!({"spec": {"replicas": 1, "template": {"containers": [{"name": "a"}]}}});
        let live = json!({"spec": {"replicas": 1, "revisionHistoryLimit": 10,
            "template": {"containers": [{"name": "a", "terminationMessagePath": "/dev/x"}]}},
            "status": {"readyReplicas": 1}});
        assert!(is_subset(&rendered, &live));
    }

    #[test]
    fn a_hand_edit_of_a_rendered_field_is_a_difference() {
        let rendered = json!({"spec": {"replicas": 1}});
        assert!(!is_subset(&rendered, &json!({"spec": {"replicas": 3}})));
        assert!(!is_subset(&rendered, &json!({"spec": {}})));
    }

    #[test]
    fn list_elements_added_or_removed_are_differences() {
        let rendered = json!({"env": [{"name": "A"}]});
        assert!(!is_subset(
            &rendered,
            &json!({"env": [{"name": "A"}, {"name": "B"}]})
        ));
        assert!(!is_subset(&rendered, &json!({"env": []})));
    }

    #[test]
    fn empty_rendered_values_match_absent_live_ones_and_numbers_compare_by_value() {
        assert!(is_subset(
            &json!({"labels": {}, "items": [], "x": null}),
            &json!({})
        ));
        assert!(is_subset(&json!({"n": 1}), &json!({"n": 1.0})));
    }
}
