//! The strategy's runtime pods: the pod template (shared with cycle Jobs), the trader
//! Deployment and its PodDisruptionBudget.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimVolumeSource, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tradeplane_contract::command::PodMode;
use tradeplane_contract::layout::{CONFIG_DIR, CREDENTIALS_DIR, JOURNAL_DIR};

use super::{Names, STRATEGY_LABEL};
use crate::api::trading_strategy::TradingStrategy;
use crate::controllers::meta::{
    Component, INPUTS_HASH_ANNOTATION, RESTART_AT_ANNOTATION, REVISION_ANNOTATION, content_hash,
    selector_labels,
};
use crate::controllers::resources::ChildMeta;
use crate::controllers::resources::pod::{self, RuntimeContainer};

/// What every pod of the strategy is made from.
pub struct Pods<'a> {
    pub strategy: &'a TradingStrategy,
    pub meta: &'a ChildMeta<'a>,
    pub names: &'a Names,
    pub image: String,
    /// The hash of the config and credentials the pods read (see `ConfigFile::inputs_hash`).
    pub inputs_hash: String,
    /// Whether the journal is the SQLite volume, which the pods then mount.
    pub sqlite: bool,
}

impl Pods<'_> {
    /// The pod template of `component`, running the runtime in `mode`.
    pub fn template(&self, component: Component, mode: PodMode) -> PodTemplateSpec {
        let mut annotations =
            BTreeMap::from([(INPUTS_HASH_ANNOTATION.to_string(), self.inputs_hash.clone())]);
        if let Some(restart_at) = &self.strategy.spec.restart_at {
            annotations.insert(RESTART_AT_ANNOTATION.to_string(), restart_at.clone());
        }
        let (volumes, mounts) = self.volumes();
        let container = RuntimeContainer {
            image: self.image.clone(),
            mode,
            resources: self.strategy.spec.resources.as_ref(),
            mounts,
        }
        .build();
        let mut spec = pod::runtime_pod(container, volumes, self.strategy.spec.placement.as_ref());
        spec.service_account_name = Some(self.names.account.clone());
        spec.automount_service_account_token = Some(true);
        // The leader releases its Lease and finishes or abandons its cycle on SIGTERM.
        spec.termination_grace_period_seconds = Some(30);
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(self.meta.labels(component)),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            }),
            spec: Some(spec),
        };
        with_revision(template)
    }

    /// The config and credentials Secrets, `/tmp`, and the journal volume with SQLite.
    fn volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
        let mut volumes = vec![
            pod::secret_volume("config", &self.names.config),
            pod::secret_volume("credentials", &self.names.credentials),
            pod::scratch_volume(),
        ];
        let mut mounts = vec![
            pod::read_only_mount("config", CONFIG_DIR),
            pod::read_only_mount("credentials", CREDENTIALS_DIR),
            pod::scratch_mount(),
        ];
        if self.sqlite {
            volumes.push(Volume {
                name: "journal".to_string(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: self.names.journal.clone(),
                    read_only: None,
                }),
                ..Volume::default()
            });
            mounts.push(VolumeMount {
                name: "journal".to_string(),
                mount_path: JOURNAL_DIR.to_string(),
                ..VolumeMount::default()
            });
        }
        (volumes, mounts)
    }

    fn selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: Some(selector_labels(
                STRATEGY_LABEL,
                self.meta.owner(),
                Component::Trader,
            )),
            ..LabelSelector::default()
        }
    }
}

/// `template` with its own revision (the hash of everything else in it) as an annotation.
fn with_revision(mut template: PodTemplateSpec) -> PodTemplateSpec {
    // Serializing a PodTemplateSpec cannot fail (string keys, no non-finite floats).
    let bytes = serde_json::to_vec(&template).unwrap_or_default();
    let revision = content_hash(&[&bytes]);
    if let Some(annotations) = template
        .metadata
        .as_mut()
        .and_then(|m| m.annotations.as_mut())
    {
        annotations.insert(REVISION_ANNOTATION.to_string(), revision);
    }
    template
}

/// The revision a pod template carries (see [`REVISION_ANNOTATION`]).
pub fn revision(template: &PodTemplateSpec) -> Option<&str> {
    template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)
        .map(String::as_str)
}

/// The trader Deployment: `replicas` runtime pods, of which the Lease holder trades.
pub fn deployment(pods: &Pods<'_>) -> Deployment {
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
            replicas: Some(pods.strategy.spec.replicas.unwrap_or(1)),
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
