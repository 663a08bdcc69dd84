//! What every pod of a strategy is made from — its image, config and credentials Secrets,
//! journal and identity — and the pod template of the trader and the cycle Jobs. The backup
//! and restore pods (`backup::render`) start from the same [`Pods`], so the two cannot drift.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimVolumeSource, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use tradeplane_contract::command::PodMode;
use tradeplane_contract::layout::{CONFIG_DIR, CREDENTIALS_DIR, JOURNAL_DIR};

use super::names::{Names, STRATEGY_LABEL};
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
            let (volume, mount) = self.journal_volume(false);
            volumes.push(volume);
            mounts.push(mount);
        }
        (volumes, mounts)
    }

    /// The SQLite journal volume and its mount, read-only for a backup.
    pub fn journal_volume(&self, read_only: bool) -> (Volume, VolumeMount) {
        let volume = Volume {
            name: "journal".to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: self.names.journal.clone(),
                read_only: read_only.then_some(true),
            }),
            ..Volume::default()
        };
        let mount = VolumeMount {
            name: "journal".to_string(),
            mount_path: JOURNAL_DIR.to_string(),
            read_only: read_only.then_some(true),
            ..VolumeMount::default()
        };
        (volume, mount)
    }

    /// The trader pods.
    pub fn selector(&self) -> LabelSelector {
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
pub fn with_revision(mut template: PodTemplateSpec) -> PodTemplateSpec {
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
