//! A Deployment's rollout as a status reads it, and the `Ready`, `Reconciling` and `Stalled`
//! conditions it comes to. The strategy's trader and the pool's workers roll out the same
//! way and differ only in how they name their pods, so the rules are written once here.

use k8s_openapi::api::apps::v1::Deployment;

use super::conditions::Observed;
use super::error::Blocker;
use crate::api::common::condition_types::{READY, RECONCILING, STALLED};

/// How a Deployment's rollout stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rollout {
    /// The Deployment's replica count (set by the operator, or by an autoscaler).
    pub desired: i32,
    pub ready: i32,
    pub updated: i32,
    /// The Deployment controller has seen the latest spec.
    pub current: bool,
}

impl Rollout {
    /// The rollout of `deployment` as its status reports it; one replica when the spec
    /// leaves the count to the API server's default.
    pub fn of(deployment: &Deployment) -> Self {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        Self {
            desired,
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            current: status.observed_generation >= deployment.metadata.generation,
        }
    }

    /// Every desired pod runs the latest template and is ready.
    pub fn rolled_out(&self) -> bool {
        self.current && self.updated >= self.desired && self.ready >= self.desired
    }
}

/// How a kind names its pods in the conditions.
pub struct PodWords {
    /// `Ready`'s reason once rolled out, e.g. `TraderReady`.
    pub ready_reason: &'static str,
    /// The pods in a message, e.g. `runtime pods`.
    pub pods: &'static str,
    /// `Reconciling`'s message while rolling out, e.g. `waiting for the trader pods`.
    pub waiting: &'static str,
}

/// `Ready`, `Reconciling` and `Stalled` of a rollout; `not_ready_reason` is `Ready`'s reason
/// until it is rolled out.
pub fn conditions(
    rollout: &Rollout,
    words: &PodWords,
    not_ready_reason: &'static str,
) -> [Observed; 3] {
    let Rollout {
        desired,
        ready,
        updated,
        ..
    } = rollout;
    if rollout.rolled_out() {
        return settled(Observed::new(
            READY,
            true,
            words.ready_reason,
            format!("{ready}/{desired} {} ready", words.pods),
        ));
    }
    [
        Observed::new(
            READY,
            false,
            not_ready_reason,
            format!("{ready}/{desired} {} ready, {updated} updated", words.pods),
        ),
        Observed::new(RECONCILING, true, "RolloutInProgress", words.waiting),
        Observed::new(STALLED, false, "Progressing", ""),
    ]
}

/// `ready`, with nothing left to reconcile and nothing stalled.
pub fn settled(ready: Observed) -> [Observed; 3] {
    [
        ready,
        Observed::new(RECONCILING, false, "Reconciled", ""),
        Observed::new(STALLED, false, "Reconciled", ""),
    ]
}

/// Not ready and stalled until the user fixes what `blocker` names.
pub fn blocked(blocker: &Blocker) -> [Observed; 3] {
    [
        Observed::new(READY, false, blocker.reason, blocker.message.clone()),
        Observed::new(
            RECONCILING,
            false,
            blocker.reason,
            "waiting for the input to be fixed",
        ),
        Observed::new(STALLED, true, blocker.reason, blocker.message.clone()),
    ]
}

/// Nothing rendered yet.
pub fn rendering() -> [Observed; 3] {
    [
        Observed::new(READY, false, "Pending", "children not rendered yet"),
        Observed::new(RECONCILING, true, "Rendering", "rendering the children"),
        Observed::new(STALLED, false, "Progressing", ""),
    ]
}
