//! The trader Deployment and its PodDisruptionBudget, of the pods `pods::Pods` makes.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tradeplane_contract::command::PodMode;

use crate::controllers::meta::Component;
use crate::controllers::trading_strategy::pods::Pods;

/// The trader Deployment: `replicas` runtime pods, of which the Lease holder trades.
pub fn deployment(pods: &Pods<'_>, replicas: i32) -> Deployment {
    // A SQLite journal is one file on a ReadWriteOnce volume: the old pod must be gone before
    // the new one opens it. With Postgres, surge and hand over the Lease.
    let rollout = if pods.sqlite {
        "Recreate"
    } else {
        "RollingUpdate"
    };
    Deployment {
        metadata: pods.meta.child(&pods.names.deployment, Component::Trader),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: pods.selector(),
            strategy: Some(DeploymentStrategy {
                type_: Some(rollout.to_string()),
                // One new pod at a time beside the old ones, none taken away before it is
                // ready: the standby-to-be starts, becomes ready, and only then does an old
                // pod (eventually the leader, which hands the Lease over) go.
                rolling_update: (!pods.sqlite).then_some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            revision_history_limit: Some(5),
            template: pods.template(Component::Trader, PodMode::Trader),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The disruption budget of the trader pods.
pub fn disruption_budget(pods: &Pods<'_>, deployment: &Deployment) -> PodDisruptionBudget {
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    PodDisruptionBudget {
        metadata: pods.meta.child(&pods.names.deployment, Component::Trader),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(pods.selector()),
            // With a standby, keep one pod through a drain. A single pod may always be
            // evicted: a budget of one would block node drains forever.
            min_available: (replicas > 1).then_some(IntOrString::Int(1)),
            max_unavailable: (replicas <= 1).then_some(IntOrString::Int(1)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}
