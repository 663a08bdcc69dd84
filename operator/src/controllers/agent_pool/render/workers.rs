//! The pool's workers: a Deployment of runtime pods in `worker` mode, and the disruption
//! budget that keeps most of them serving through a drain.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tradeplane_contract::command::PodMode;
use tradeplane_contract::layout::{CONFIG_DIR, CREDENTIALS_DIR};

use crate::api::agent_pool::AgentPool;
use crate::controllers::agent_pool::names::{Names, POOL_LABEL};
use crate::controllers::meta::{Component, INPUTS_HASH_ANNOTATION, selector_labels};
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::pod::{self, RuntimeContainer};

pub struct Workers<'a> {
    pub pool: &'a AgentPool,
    pub meta: &'a ChildMeta<'a>,
    pub names: &'a Names,
    /// The Deployment's count; `None` when the pool's autoscaler owns it.
    pub replicas: Option<i32>,
    pub image: String,
    /// The hash of the config and keys the workers read (see `ConfigFile::inputs_hash`).
    pub inputs_hash: String,
}

impl Workers<'_> {
    pub fn deployment(&self) -> Deployment {
        Deployment {
            metadata: self.meta.child(&self.names.workload, Component::Worker),
            spec: Some(DeploymentSpec {
                // `None` with autoscaling: the HorizontalPodAutoscaler sets the count.
                replicas: self.replicas,
                selector: self.selector(),
                // Workers are stateless: bring a new one up before an old one goes, so the
                // pool never serves with less than it had.
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".to_string()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString::Int(1)),
                        max_unavailable: Some(IntOrString::Int(0)),
                    }),
                }),
                revision_history_limit: Some(5),
                template: self.template(),
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        }
    }

    pub fn disruption_budget(&self) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: self.meta.child(&self.names.workload, Component::Worker),
            spec: Some(PodDisruptionBudgetSpec {
                selector: Some(self.selector()),
                // One worker at a time through a drain: the others keep serving (callers
                // retry a refused analysis elsewhere), and a pool of one can still be drained.
                max_unavailable: Some(IntOrString::Int(1)),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        }
    }

    fn template(&self) -> PodTemplateSpec {
        let container = RuntimeContainer {
            image: self.image.clone(),
            mode: PodMode::Worker,
            resources: self.pool.spec.resources.as_ref(),
            mounts: vec![
                pod::read_only_mount("config", CONFIG_DIR),
                pod::read_only_mount("credentials", CREDENTIALS_DIR),
                pod::scratch_mount(),
            ],
        }
        .build();
        let volumes = vec![
            pod::secret_volume("config", &self.names.config),
            pod::secret_volume("credentials", &self.names.keys),
            pod::scratch_volume(),
        ];
        let mut spec = pod::runtime_pod(container, volumes, self.pool.spec.placement.as_ref());
        // The token reaches only the pool's spend ledger (see `ledger`).
        spec.service_account_name = Some(self.names.ledger.clone());
        spec.automount_service_account_token = Some(true);
        // On SIGTERM a worker turns unready and finishes the analyses it has; LLM calls with
        // retries can take a while.
        spec.termination_grace_period_seconds = Some(60);
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(self.meta.labels(Component::Worker)),
                annotations: Some(BTreeMap::from([(
                    INPUTS_HASH_ANNOTATION.to_string(),
                    self.inputs_hash.clone(),
                )])),
                ..ObjectMeta::default()
            }),
            spec: Some(spec),
        }
    }

    fn selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: Some(selector_labels(
                POOL_LABEL,
                self.meta.owner(),
                Component::Worker,
            )),
            ..LabelSelector::default()
        }
    }
}
