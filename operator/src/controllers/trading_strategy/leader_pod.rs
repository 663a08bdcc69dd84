//! The leader's pod carries a pod deletion cost, so that whenever the trader's ReplicaSet
//! removes pods — the old ones in a rolling upgrade, or some when `replicas` is lowered — it
//! removes the standbys first and the leader last.
//!
//! Without it the ReplicaSet ranks pods that have been ready for about as long (the same
//! power-of-two bucket of age) by UID, so a roll could remove the leader first (once in about
//! five real-node runs) and the strategy paid a handover it did not need. The cost is an
//! annotation the ReplicaSet controller reads (`controller.kubernetes.io/pod-deletion-cost`,
//! on by default since Kubernetes 1.22) and ranks before age; a pod without it counts as 0.
//!
//! The operator writes it, not the runtime: marking a pod needs `patch` on pods, and a
//! trading pod with that right could change its neighbours. The operator has it (patch only,
//! no read) and each patch first tests the pod's labels, so only this strategy's trader pods
//! are ever touched, whatever the Lease names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::names::STRATEGY_LABEL;
use crate::controllers::meta::{COMPONENT_LABEL, Component};

/// The annotation the ReplicaSet controller orders its removals by (lowest first).
pub const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The leader's cost: any value above the standbys' 0 puts it last.
pub const LEADER_COST: &str = "1000";

/// The pods whose mark changes: the leader to mark, and pods that no longer lead.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Marking {
    pub mark: Option<String>,
    pub unmark: Vec<String>,
}

impl Marking {
    pub fn is_empty(&self) -> bool {
        self.mark.is_none() && self.unmark.is_empty()
    }
}

/// What to change when `leader` leads, this process last marked `marked`, and the status
/// named `previous_leader`. Nothing while nobody leads: the mark stays on the last leader,
/// whose pod is usually the one going away.
///
/// The status's leader is unmarked too because after an operator restart `marked` is empty,
/// while the pod an earlier process marked may have stopped leading in between.
pub fn plan(leader: Option<&str>, marked: Option<&str>, previous_leader: Option<&str>) -> Marking {
    let Some(leader) = leader else {
        return Marking::default();
    };
    if marked == Some(leader) {
        return Marking::default();
    }
    let mut unmark: Vec<String> = [marked, previous_leader]
        .into_iter()
        .flatten()
        .filter(|pod| *pod != leader)
        .map(str::to_string)
        .collect();
    unmark.dedup();
    Marking {
        mark: Some(leader.to_string()),
        unmark,
    }
}

/// The pod each strategy's leader mark was last put on by this process, by (namespace,
/// strategy). In memory: after a restart every leader is marked again once.
#[derive(Clone, Default)]
pub struct LeaderMarks {
    marked: Arc<Mutex<HashMap<(String, String), String>>>,
}

impl LeaderMarks {
    pub fn get(&self, namespace: &str, strategy: &str) -> Option<String> {
        let marked = self.marked.lock().ok()?;
        marked
            .get(&(namespace.to_string(), strategy.to_string()))
            .cloned()
    }

    fn set(&self, namespace: &str, strategy: &str, pod: String) {
        if let Ok(mut marked) = self.marked.lock() {
            marked.insert((namespace.to_string(), strategy.to_string()), pod);
        }
    }

    /// Drops a deleted strategy's entry.
    pub fn forget(&self, namespace: &str, strategy: &str) {
        if let Ok(mut marked) = self.marked.lock() {
            marked.remove(&(namespace.to_string(), strategy.to_string()));
        }
    }
}

/// A mark the API server refused for a reason other than the pod being gone or not the
/// strategy's (RBAC, a timeout): the reconcile carries on and looks again soon.
#[derive(Debug, thiserror::Error)]
#[error("pod {pod}: {source}")]
pub struct MarkError {
    pub pod: String,
    #[source]
    pub source: kube::Error,
}

/// Applies `marking` to the pods of `strategy` in `namespace`, the new leader first, and
/// remembers the leader once every pod is done.
pub async fn apply(
    pods: &Api<Pod>,
    marks: &LeaderMarks,
    namespace: &str,
    strategy: &str,
    marking: Marking,
) -> Result<(), MarkError> {
    let Some(leader) = marking.mark else {
        return Ok(());
    };
    patch(pods, &leader, &mark_patch(strategy)).await?;
    for pod in &marking.unmark {
        patch(pods, pod, &unmark_patch(strategy)).await?;
    }
    marks.set(namespace, strategy, leader);
    Ok(())
}

/// Sends one JSON patch. A pod that is gone (404), not one of the strategy's trader pods, or
/// already without the mark (422: a `test` or `remove` failed) needs nothing more.
async fn patch(pods: &Api<Pod>, pod: &str, ops: &json_patch::Patch) -> Result<(), MarkError> {
    match pods
        .patch(
            pod,
            &PatchParams::default(),
            &Patch::Json::<()>(ops.clone()),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 422 => Ok(()),
        Err(source) => Err(MarkError {
            pod: pod.to_string(),
            source,
        }),
    }
}

/// The checks every patch starts with: the pod is a trader pod of `strategy`.
fn ownership_tests(strategy: &str) -> Vec<serde_json::Value> {
    vec![
        json!({"op": "test", "path": label_path(STRATEGY_LABEL), "value": strategy}),
        json!({"op": "test", "path": label_path(COMPONENT_LABEL),
               "value": Component::Trader.as_str()}),
    ]
}

/// Sets the leader's cost. The trader's pod template always has annotations (its revision),
/// so `add` has a map to add to.
pub fn mark_patch(strategy: &str) -> json_patch::Patch {
    let mut ops = ownership_tests(strategy);
    ops.push(json!({"op": "add", "path": annotation_path(), "value": LEADER_COST}));
    to_patch(ops)
}

/// Removes the cost; a pod without it fails the `remove` (422), which is fine.
pub fn unmark_patch(strategy: &str) -> json_patch::Patch {
    let mut ops = ownership_tests(strategy);
    ops.push(json!({"op": "remove", "path": annotation_path()}));
    to_patch(ops)
}

fn to_patch(ops: Vec<serde_json::Value>) -> json_patch::Patch {
    // Every op above is a well-formed test, add or remove: this cannot fail.
    serde_json::from_value(serde_json::Value::Array(ops)).unwrap_or(json_patch::Patch(vec![]))
}

/// A JSON pointer to a label.
fn label_path(key: &str) -> String {
    format!("/metadata/labels/{}", escape(key))
}

fn annotation_path() -> String {
    format!("/metadata/annotations/{}", escape(DELETION_COST_ANNOTATION))
}

/// A map key as one JSON pointer token (RFC 6901): `~` is `~0`, `/` is `~1`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_leader_is_marked_and_the_pods_that_led_before_are_unmarked() {
        assert_eq!(
            plan(Some("b"), Some("a"), Some("a")),
            Marking {
                mark: Some("b".into()),
                unmark: vec!["a".into()]
            }
        );
        // After an operator restart nothing is remembered; the status still names the old one.
        assert_eq!(
            plan(Some("b"), None, Some("a")),
            Marking {
                mark: Some("b".into()),
                unmark: vec!["a".into()]
            }
        );
        // Marked by this process, then a status written by an older one: both go.
        assert_eq!(
            plan(Some("c"), Some("b"), Some("a")),
            Marking {
                mark: Some("c".into()),
                unmark: vec!["b".into(), "a".into()]
            }
        );
    }

    #[test]
    fn a_leader_already_marked_or_no_leader_changes_nothing() {
        assert!(plan(Some("a"), Some("a"), Some("a")).is_empty());
        assert!(plan(Some("a"), Some("a"), None).is_empty());
        assert!(plan(None, Some("a"), Some("a")).is_empty());
        assert!(plan(None, None, None).is_empty());
        // First sight after a restart: marked again (idempotent), nobody else touched.
        assert_eq!(
            plan(Some("a"), None, Some("a")),
            Marking {
                mark: Some("a".into()),
                unmark: vec![]
            }
        );
    }

    #[test]
    fn the_patches_touch_only_the_strategys_trader_pods_and_only_the_cost() {
        let mark = serde_json::to_value(mark_patch("up")).unwrap();
        assert_eq!(
            mark,
            json!([
                {"op": "test", "path": "/metadata/labels/tradeplane.io~1strategy", "value": "up"},
                {"op": "test", "path": "/metadata/labels/app.kubernetes.io~1component",
                 "value": "trader"},
                {"op": "add",
                 "path": "/metadata/annotations/controller.kubernetes.io~1pod-deletion-cost",
                 "value": "1000"},
            ])
        );
        let unmark = serde_json::to_value(unmark_patch("up")).unwrap();
        assert_eq!(unmark[0], mark[0]);
        assert_eq!(unmark[1], mark[1]);
        assert_eq!(
            unmark[2],
            json!({"op": "remove",
                   "path": "/metadata/annotations/controller.kubernetes.io~1pod-deletion-cost"})
        );
    }

    #[test]
    fn a_mark_is_remembered_per_strategy() {
        let marks = LeaderMarks::default();
        marks.set("ns", "up", "up-trader-1".into());
        assert_eq!(marks.get("ns", "up").as_deref(), Some("up-trader-1"));
        assert_eq!(marks.get("ns", "down"), None);
        assert_eq!(marks.get("other", "up"), None);
        marks.forget("ns", "up");
        assert_eq!(marks.get("ns", "up"), None);
    }
}
