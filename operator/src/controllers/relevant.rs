//! Filters a watch down to the changes another controller cares about.
//!
//! A strategy's status changes every time its pods move, and an account's status every time a
//! strategy binds to it. Without a filter, every such write re-queues every object that refers
//! across: N strategies binding to one account became N² reconciles. Deletions always pass
//! (the fingerprint of a deleted object often equals its last one, yet its absence matters).

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::watcher;

/// The prefix of every annotation the operator puts on a child's metadata.
const OWN_ANNOTATION_PREFIX: &str = "tradeplane.io/";

/// The objects of `events` whose `fingerprint` changed since they were last seen, and every
/// deleted one.
pub fn relevant_changes<K, S, F, H>(
    events: S,
    fingerprint: F,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    F: Fn(&K) -> H + Send + 'static,
    H: Hash,
{
    let mut seen: HashMap<(Option<String>, Option<String>), u64> = HashMap::new();
    events.flat_map(move |event| {
        let passed: Vec<Result<K, watcher::Error>> = match event {
            Err(error) => vec![Err(error)],
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                let key = (object.meta().namespace.clone(), object.meta().name.clone());
                let mut hasher = DefaultHasher::new();
                fingerprint(&object).hash(&mut hasher);
                let hash = hasher.finish();
                if seen.insert(key, hash) == Some(hash) {
                    vec![]
                } else {
                    vec![Ok(object)]
                }
            }
            Ok(watcher::Event::Delete(object)) => {
                seen.remove(&(object.meta().namespace.clone(), object.meta().name.clone()));
                vec![Ok(object)]
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => vec![],
        };
        futures::stream::iter(passed)
    })
}

/// The changes of a child to what the operator renders into it (its spec, as the generation
/// counts it, its labels, its own `tradeplane.io/` annotations and its owners) and its
/// deletion. Writes of the child's status by the cluster's own controllers are dropped, and so
/// are their annotations: binding a claim, for one, annotates it twice.
pub fn rendered_changes<K, S>(events: S) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    relevant_changes(events, |child: &K| rendered(child.meta()))
}

/// What [`rendered_changes`] compares of a child's metadata.
pub type Rendered = (
    Option<i64>,
    Option<BTreeMap<String, String>>,
    Vec<(String, String)>,
    Vec<String>,
    bool,
);

/// The part of a child's metadata the operator renders or acts on: the generation (its spec),
/// labels, its own `tradeplane.io/` annotations, owners and whether it is being deleted.
pub fn rendered(meta: &ObjectMeta) -> Rendered {
    let owners: Vec<String> = meta
        .owner_references
        .iter()
        .flatten()
        .map(|owner| owner.uid.clone())
        .collect();
    let own_annotations: Vec<(String, String)> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(key, _)| key.starts_with(OWN_ANNOTATION_PREFIX))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    (
        meta.generation,
        meta.labels.clone(),
        own_annotations,
        owners,
        meta.deletion_timestamp.is_some(),
    )
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
    use kube::runtime::watcher::Event;

    use super::{relevant_changes, rendered_changes};

    fn map(name: &str, value: &str) -> ConfigMap {
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": name}, "data": {"v": value}}),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn only_changed_fingerprints_and_every_deletion_pass() {
        let events = futures::stream::iter(vec![
            Ok(Event::InitApply(map("a", "1"))),
            Ok(Event::InitDone),
            Ok(Event::Apply(map("a", "1"))),
            Ok(Event::Apply(map("a", "2"))),
            Ok(Event::Apply(map("b", "2"))),
            Ok(Event::Delete(map("a", "2"))),
            Ok(Event::Apply(map("a", "2"))),
        ]);
        let passed: Vec<String> = relevant_changes(events, |m: &ConfigMap| m.data.clone())
            .map(|r| {
                let m = r.unwrap();
                format!("{}={}", m.metadata.name.unwrap(), m.data.unwrap()["v"])
            })
            .collect()
            .await;
        assert_eq!(passed, ["a=1", "a=2", "b=2", "a=2", "a=2"]);
    }

    #[tokio::test]
    async fn a_claim_annotated_by_the_volume_controllers_does_not_wake_its_owner() {
        let claim = |annotations: serde_json::Value| -> PersistentVolumeClaim {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "journal", "annotations": annotations},
            }))
            .unwrap()
        };
        let ours = serde_json::json!({"tradeplane.io/rendered-hash": "h1"});
        let bound = serde_json::json!({
            "tradeplane.io/rendered-hash": "h1",
            "pv.kubernetes.io/bind-completed": "yes",
        });
        let edited = serde_json::json!({
            "tradeplane.io/rendered-hash": "h2",
            "pv.kubernetes.io/bind-completed": "yes",
        });
        let events = futures::stream::iter(vec![
            Ok(Event::Apply(claim(ours))),
            Ok(Event::Apply(claim(bound))),
            Ok(Event::Apply(claim(edited))),
        ]);
        let passed: Vec<String> = rendered_changes(events)
            .map(|r| {
                r.unwrap().metadata.annotations.unwrap()["tradeplane.io/rendered-hash"].clone()
            })
            .collect()
            .await;
        assert_eq!(passed, ["h1", "h2"]);
    }
}
