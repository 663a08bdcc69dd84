//! The children of an AgentPool, rendered from it and the provider keys it references. Pure:
//! the reconcile reads the key Secrets, this module decides what the children look like, and
//! unit tests check them without a cluster.
//!
//! Children: the worker config Secret, the provider-keys Secret, the Service strategies call
//! (named by `runtime_config::agent_pool_service`, since strategies render its
//! URL), and one builder per remaining kind: [`workers`] (the Deployment and its
//! PodDisruptionBudget) and [`autoscaler`] (with `spec.autoscaling`, a HorizontalPodAutoscaler,
//! which then owns the Deployment's replica count), and [`ledger`] (the pool's spend ledger
//! ConfigMap and the workers' ServiceAccount, Role and RoleBinding that reach only it).

pub mod alerts;
pub mod autoscaler;
pub mod ledger;
pub mod workers;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use tradeplane_contract::command::PodMode;

use super::names::{POOL_LABEL, names};
use super::scale::Scale;
use super::validate::ValidPool;
use crate::api::agent_pool::AgentPool;
use crate::controllers::meta::{Component, selector_labels};
use crate::controllers::resources::secret::{ConfigFile, opaque};
use crate::controllers::resources::{ChildMeta, service};

/// The gauge each worker exports for the number of analyses it is running
/// (agent-runtime/src/worker: `worker_inflight_analyses` in the `tradeplane` registry), which
/// the HorizontalPodAutoscaler reads through the custom metrics API as a Pods metric.
pub const IN_FLIGHT_METRIC: &str = "tradeplane_worker_inflight_analyses";

/// Everything the pure rendering needs beyond the pool itself.
pub struct Inputs<'a> {
    /// The pool as validated: its defaults applied, the worker config checked.
    pub valid: &'a ValidPool,
    /// Provider API keys by file name (`provider_key(name)`), copied from the user's Secrets.
    pub keys: BTreeMap<String, Vec<u8>>,
}

/// All children. `autoscaler: None` means "must not exist" (the reconcile deletes it).
#[derive(Clone, Debug)]
pub struct Children {
    pub config: Secret,
    pub keys: Secret,
    pub deployment: Deployment,
    pub service: Service,
    pub disruption_budget: PodDisruptionBudget,
    pub autoscaler: Option<HorizontalPodAutoscaler>,
    /// The spend ledger and the identity that may write it (see [`ledger`]).
    pub ledger: ConfigMap,
    pub account: ServiceAccount,
    pub role: Role,
    pub role_binding: RoleBinding,
}

impl Children {
    /// The pod modes of every container rendered, with their arguments: what the contract
    /// test runs through the runtime's own parser.
    pub fn pod_modes(&self) -> Vec<(PodMode, Vec<String>)> {
        self.deployment
            .spec
            .iter()
            .flat_map(|s| s.template.spec.iter())
            .flat_map(|s| s.containers.iter())
            .map(|c| (PodMode::Worker, c.args.clone().unwrap_or_default()))
            .collect()
    }
}

/// Renders every child. Fails only if the config cannot be serialized, which would be a bug.
pub fn render(pool: &AgentPool, inputs: &Inputs<'_>) -> Result<Children, serde_yaml::Error> {
    let meta = ChildMeta::new(pool, POOL_LABEL);
    let names = names(meta.owner());
    let file = ConfigFile::render(&inputs.valid.runtime_config)?;
    let workers = workers::Workers {
        pool,
        meta: &meta,
        names: &names,
        replicas: inputs.valid.scale.fixed(),
        image: inputs.valid.image.clone(),
        inputs_hash: file.inputs_hash(&inputs.keys),
    };
    let ledger = ledger::Ledger {
        meta: &meta,
        names: &names,
    };
    Ok(Children {
        ledger: ledger.config_map(),
        account: ledger.service_account(),
        role: ledger.role(),
        role_binding: ledger.role_binding(),
        config: file.secret(meta.child(&names.config, Component::Worker)),
        keys: opaque(meta.child(&names.keys, Component::Worker), &inputs.keys),
        deployment: workers.deployment(),
        service: service::http(
            meta.child(&names.workload, Component::Worker),
            selector_labels(POOL_LABEL, meta.owner(), Component::Worker),
            "http",
        ),
        disruption_budget: workers.disruption_budget(),
        autoscaler: match inputs.valid.scale {
            Scale::Fixed(_) => None,
            Scale::Autoscaled(autoscaled) => Some(autoscaler::build(&meta, &names, autoscaled)),
        },
    })
}
